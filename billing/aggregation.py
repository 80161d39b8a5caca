"""A period's usage events become one quantity per meter: a pure function over records.

Semantics (the database implements the same ones in SQL and is tested against these):

- only records of `meter.id` count (and, when `period` is given, those with `start <= t < end`);
- records sharing an `event_id` count once (the first one seen): an idempotency key;
- `sum`: the sum of quantities; `count`: the number of records; `max`: the greatest quantity;
- `unique_count`: the number of distinct values of `properties[meter.field_name]`, compared as
  JSON text (`"42"` and `42` are the same value, `true` is `"true"`); records without the property,
  or with null, are not counted;
- `latest`: the quantity of the record with the greatest `(timestamp, event_id)`;
- no records: 0.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from billing.catalog import Identifier, Meter
from billing.money import EXACT, ZERO, Quantity
from billing.periods import Period, UtcDatetime

PropertyValue = str | int | float | bool | None


class UsageRecord(BaseModel):
    """One usage event, identified by its idempotency key `event_id`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str = Field(min_length=1, max_length=256)
    meter_id: Identifier
    quantity: Quantity
    timestamp: UtcDatetime
    properties: dict[str, PropertyValue] = Field(default_factory=dict)


def property_key(value: PropertyValue) -> str | None:
    """The text a property value is compared by in `unique_count` (None: not counted)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _distinct(
    records: Iterable[UsageRecord], meter: Meter, period: Period | None
) -> list[UsageRecord]:
    seen: set[str] = set()
    kept: list[UsageRecord] = []
    for record in records:
        if record.meter_id != meter.id or record.event_id in seen:
            continue
        seen.add(record.event_id)
        if period is None or period.start <= record.timestamp < period.end:
            kept.append(record)
    return kept


def aggregate(
    records: Iterable[UsageRecord], *, meter: Meter, period: Period | None = None
) -> Decimal:
    """The meter's quantity for the records (see the module docstring for each aggregation)."""
    kept = _distinct(records, meter, period)
    if not kept:
        return ZERO
    match meter.aggregation:
        case "sum":
            total = ZERO
            for record in kept:
                total = EXACT.add(total, record.quantity)
            return total
        case "count":
            return Decimal(len(kept))
        case "max":
            return max(record.quantity for record in kept)
        case "unique_count":
            field = meter.field_name or ""
            keys = {property_key(record.properties.get(field)) for record in kept}
            keys.discard(None)
            return Decimal(len(keys))
        case "latest":
            return max(kept, key=lambda record: (record.timestamp, record.event_id)).quantity
