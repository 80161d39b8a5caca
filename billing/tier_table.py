"""Tier boundaries precomputed once per tiered component, so rating a quantity is a bisect.

Tier i covers `lower[i] < q <= upper[i]` (`upper[i] is None` is infinity); `lower[0]` is 0 and
tier 0 also holds q = 0. `graduated_base[i]` is what a graduated rule charges for exactly
`lower[i]` units plus tier i's flat fee: the whole of every tier below i, and every flat fee up
to and including tier i. All sums are exact (`billing.money.EXACT`).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from billing.money import EXACT, ZERO


class TierLike(Protocol):
    @property
    def up_to(self) -> Decimal | None: ...
    @property
    def unit_price(self) -> Decimal: ...
    @property
    def flat_price(self) -> Decimal: ...


@dataclass(frozen=True, slots=True)
class TierTable:
    lower: tuple[Decimal, ...]
    upper: tuple[Decimal | None, ...]
    finite_upper: tuple[Decimal, ...]
    unit_price: tuple[Decimal, ...]
    flat_price: tuple[Decimal, ...]
    graduated_base: tuple[Decimal, ...]

    @classmethod
    def from_tiers(cls, tiers: Sequence[TierLike]) -> TierTable:
        lower: list[Decimal] = []
        base: list[Decimal] = []
        previous = ZERO
        running = ZERO
        for tier in tiers:
            lower.append(previous)
            running = EXACT.add(running, tier.flat_price)
            base.append(running)
            if tier.up_to is not None:
                width = EXACT.subtract(tier.up_to, previous)
                running = EXACT.add(running, EXACT.multiply(width, tier.unit_price))
                previous = tier.up_to
        upper = tuple(tier.up_to for tier in tiers)
        return cls(
            lower=tuple(lower),
            upper=upper,
            finite_upper=tuple(bound for bound in upper if bound is not None),
            unit_price=tuple(tier.unit_price for tier in tiers),
            flat_price=tuple(tier.flat_price for tier in tiers),
            graduated_base=tuple(base),
        )

    def index_of(self, quantity: Decimal) -> int:
        """0-based index of the tier containing `quantity` (the first tier for 0)."""
        index = bisect_left(self.finite_upper, quantity)
        return min(index, len(self.upper) - 1)
