"""Packages: `ceil(max(q - free_units, 0) / package_size) * package_price` (Lago's package).

A started package is paid in full; the free units come off the quantity first.
"""

from __future__ import annotations

from decimal import Decimal

from billing.catalog import PackageUsageComponent
from billing.charge_models.base import ChargeModel, ChargeResult
from billing.money import EXACT, ZERO, format_decimal


def packages(component: PackageUsageComponent, quantity: Decimal) -> Decimal:
    """How many packages `quantity` needs, after the free units."""
    billable = EXACT.subtract(quantity, component.free_units)
    if billable <= 0:
        return ZERO
    whole = EXACT.divide_int(billable, component.package_size)
    if EXACT.remainder(billable, component.package_size) != 0:
        whole = EXACT.add(whole, 1)
    return whole


class Package(ChargeModel[PackageUsageComponent]):
    name = "package"

    def amount(self, component: PackageUsageComponent, quantity: Decimal) -> Decimal:
        return EXACT.multiply(packages(component, quantity), component.package_price)

    def charge(self, component: PackageUsageComponent, quantity: Decimal) -> ChargeResult:
        count = packages(component, quantity)
        detail = (
            f"{format_decimal(count)} x {format_decimal(component.package_size)} units "
            f"at {format_decimal(component.package_price)}"
        )
        if component.free_units:
            detail += f", first {format_decimal(component.free_units)} units free"
        return ChargeResult(amount=EXACT.multiply(count, component.package_price), detail=detail)
