"""Volume tiers: every unit at the unit price of the tier containing the total quantity,
plus that tier's flat fee (the first tier's at quantity 0). Stripe's "volume", Lago's "volume".
"""

from __future__ import annotations

from decimal import Decimal

from billing.catalog import TieredUsageComponent
from billing.charge_models.base import ChargeModel, ChargeResult, TierCharge
from billing.money import EXACT


class Volume(ChargeModel[TieredUsageComponent]):
    name = "volume"

    def amount(self, component: TieredUsageComponent, quantity: Decimal) -> Decimal:
        table = component.table
        index = table.index_of(quantity)
        return EXACT.add(EXACT.multiply(quantity, table.unit_price[index]), table.flat_price[index])

    def charge(self, component: TieredUsageComponent, quantity: Decimal) -> ChargeResult:
        table = component.table
        index = table.index_of(quantity)
        amount = self.amount(component, quantity)
        tier = TierCharge(
            tier=index + 1,
            from_units=table.lower[index],
            up_to=table.upper[index],
            quantity=quantity,
            unit_price=table.unit_price[index],
            flat_price=table.flat_price[index],
            amount=amount,
        )
        return ChargeResult(amount=amount, tiers=[tier])
