"""Recurring fee: `amount * proration`, where the "quantity" is the proration factor (1 = full).

A proration factor is a ratio of day counts (`billing.periods.proration_factor`), e.g. 1/30,
which a Decimal cannot hold exactly. Multiplying by a 64-digit approximation could move an exact
half-cent (79.95 * 1/30 = 2.665) below the tie and round it the wrong way. So a factor within
1e-50 of a ratio with a denominator up to 10,000 is taken as that ratio, and the amount is
computed as `amount * days / total_days`: exact whenever the result terminates, which every
half-cent tie does. Any other factor (0.5, 0.123456) is used exactly as given.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from billing.catalog import RecurringComponent
from billing.charge_models.base import ChargeModel, ChargeResult
from billing.money import DIVISION, ONE

_MAX_DENOMINATOR = 10_000
_SNAP = Fraction(1, 10**50)


def proration_ratio(factor: Decimal) -> Fraction:
    """The exact ratio a proration factor stands for (see the module docstring)."""
    exact = Fraction(factor)
    near = exact.limit_denominator(_MAX_DENOMINATOR)
    return near if abs(near - exact) < _SNAP else exact


def prorate(amount: Decimal, factor: Decimal) -> Decimal:
    """`amount * factor`, exact when it terminates, else to 64 significant digits."""
    if factor == ONE:
        return amount
    product = Fraction(amount) * proration_ratio(factor)
    return DIVISION.divide(Decimal(product.numerator), Decimal(product.denominator))


class Recurring(ChargeModel[RecurringComponent]):
    name = "recurring"

    def amount(self, component: RecurringComponent, quantity: Decimal) -> Decimal:
        return prorate(component.amount, quantity)

    def charge(self, component: RecurringComponent, quantity: Decimal) -> ChargeResult:
        if quantity == ONE:
            return ChargeResult(amount=component.amount)
        ratio = proration_ratio(quantity)
        return ChargeResult(
            amount=prorate(component.amount, quantity),
            detail=f"prorated {ratio.numerator}/{ratio.denominator}",
        )
