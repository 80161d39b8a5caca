"""Builders shared by the unit tests of the pure domain core."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from billing import seed
from billing.catalog import Pricing, TieredUsageComponent

#: The seed's step 2, as the guide writes it (JSON numbers, `null` as infinity).
SEED_PRICING: dict[str, Any] = seed.HYBRID_PRICING


def tiered(
    tiers: Sequence[tuple[Any, ...]],
    *,
    mode: str = "graduated",
    meter_id: str = "units",
) -> TieredUsageComponent:
    """A tiered component from `(up_to, unit_price[, flat_price])` rows."""
    rows = [
        {"up_to": row[0], "unit_price": row[1], **({"flat_price": row[2]} if len(row) > 2 else {})}
        for row in tiers
    ]
    return TieredUsageComponent.model_validate(
        {"meter_id": meter_id, "tiers": rows, "tiers_mode": mode}
    )


def pricing(*components: dict[str, Any], currency: str = "EUR") -> Pricing:
    return Pricing.model_validate(
        {"product_id": "prod_test", "currency": currency, "components": list(components)}
    )


def d(value: str | int) -> Decimal:
    return Decimal(value)
