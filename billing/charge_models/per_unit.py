"""Per unit: `quantity * unit_price` (the seed's "EUR 0.05/GB")."""

from __future__ import annotations

from decimal import Decimal

from billing.catalog import PerUnitUsageComponent
from billing.charge_models.base import ChargeModel, ChargeResult
from billing.money import EXACT, format_decimal


class PerUnit(ChargeModel[PerUnitUsageComponent]):
    name = "per_unit"

    def amount(self, component: PerUnitUsageComponent, quantity: Decimal) -> Decimal:
        return EXACT.multiply(quantity, component.unit_price)

    def charge(self, component: PerUnitUsageComponent, quantity: Decimal) -> ChargeResult:
        return ChargeResult(
            amount=self.amount(component, quantity),
            detail=f"{format_decimal(quantity)} x {format_decimal(component.unit_price)}",
        )
