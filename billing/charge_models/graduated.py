"""Graduated tiers: each unit is priced at the tier it falls in (Stripe's and Lago's graduated).

Every tier holding part of the quantity adds its flat fee once; at quantity 0 the first tier's
flat fee is still charged.
"""

from __future__ import annotations

from decimal import Decimal

from billing.catalog import TieredUsageComponent
from billing.charge_models.base import ChargeModel, ChargeResult, TierCharge
from billing.money import EXACT, ZERO


class Graduated(ChargeModel[TieredUsageComponent]):
    name = "graduated"

    def amount(self, component: TieredUsageComponent, quantity: Decimal) -> Decimal:
        table = component.table
        index = table.index_of(quantity)
        above = EXACT.subtract(quantity, table.lower[index])
        return EXACT.add(
            table.graduated_base[index], EXACT.multiply(above, table.unit_price[index])
        )

    def charge(self, component: TieredUsageComponent, quantity: Decimal) -> ChargeResult:
        table = component.table
        last = table.index_of(quantity)
        tiers: list[TierCharge] = []
        total = ZERO
        for index in range(last + 1):
            upper = table.upper[index]
            top = quantity if index == last or upper is None else upper
            units = EXACT.subtract(top, table.lower[index])
            amount = EXACT.add(
                EXACT.multiply(units, table.unit_price[index]), table.flat_price[index]
            )
            total = EXACT.add(total, amount)
            tiers.append(
                TierCharge(
                    tier=index + 1,
                    from_units=table.lower[index],
                    up_to=upper,
                    quantity=units,
                    unit_price=table.unit_price[index],
                    flat_price=table.flat_price[index],
                    amount=amount,
                )
            )
        return ChargeResult(amount=total, tiers=tiers)
