"""What every charge model returns, and the interface a charge model implements.

A charge model turns one component and one quantity into an UNROUNDED amount (exact Decimal);
rounding to the currency's minor unit happens once per invoice line, in `billing.invoice`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from decimal import Decimal
from typing import ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from billing.errors import InvalidUsageError
from billing.money import DecimalValue, format_decimal

C = TypeVar("C")


class TierCharge(BaseModel):
    """The part of a charge that falls in one tier: `from_units < q <= up_to`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tier: int = Field(ge=1, description="1-based tier number")
    from_units: DecimalValue = Field(description="exclusive lower bound")
    up_to: DecimalValue | None = Field(description="inclusive upper bound; None is infinity")
    quantity: DecimalValue
    unit_price: DecimalValue
    flat_price: DecimalValue
    amount: DecimalValue


class ChargeResult(BaseModel):
    """An unrounded amount, its tier breakdown (tiered rules) and a short explanation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    amount: DecimalValue
    tiers: list[TierCharge] = Field(default_factory=list)
    detail: str | None = None


class ChargeModel(ABC, Generic[C]):
    """One pricing rule. `amount` is the fast path; `charge` adds the breakdown."""

    name: ClassVar[str]

    @abstractmethod
    def amount(self, component: C, quantity: Decimal) -> Decimal:
        """The exact, unrounded amount for `quantity`."""

    def charge(self, component: C, quantity: Decimal) -> ChargeResult:
        """The amount with its breakdown (rules without tiers have none)."""
        return ChargeResult(amount=self.amount(component, quantity))


def check_quantity(quantity: Decimal) -> Decimal:
    """Refuse a negative or non-finite quantity with `InvalidUsageError`."""
    if not quantity.is_finite() or quantity < 0:
        raise InvalidUsageError(
            f"quantity must be a finite number >= 0, got {format_decimal(quantity)}"
        )
    return quantity
