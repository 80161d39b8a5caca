"""Running usage: a meter's period aggregate, kept current one new event at a time.

The same semantics as `billing.aggregation.aggregate()` (property-tested against it), for the live
view of a period: the `status` query, the upcoming invoice and usage thresholds. Invoices never use
it: they aggregate the period from the database.

State stays bounded at any volume. `unique_count` keeps a K-minimum-values sketch (the
`SKETCH_SIZE` smallest 64-bit hashes of the distinct values): exact up to `SKETCH_SIZE` distinct
values, beyond that an estimate (typical error about 6 %), flagged `estimated`.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from billing.aggregation import UsageRecord, property_key
from billing.catalog import Meter
from billing.money import EXACT, ZERO, DecimalValue
from billing.periods import UtcDatetime

SKETCH_SIZE = 256
_HASHES = 2**64


class MeterUsage(BaseModel):
    """Running usage of one meter in one period, as accepted so far."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    quantity: DecimalValue = ZERO
    events: int = 0
    latest_at: UtcDatetime | None = None
    latest_event_id: str | None = None
    distinct: list[str] = Field(default_factory=list)
    """Kept empty; older runs carried every distinct value here (read once, then sketched)."""
    sketch: list[int] = Field(default_factory=list)
    """`unique_count`: the smallest hashes of the distinct values, at most SKETCH_SIZE."""
    estimated: bool = False
    """`unique_count` beyond SKETCH_SIZE distinct values: `quantity` is an estimate."""


def _hash(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")


def _sketched(usage: MeterUsage) -> tuple[list[int], bool]:
    """The sketch, taking over the distinct values an older run carried."""
    if not usage.distinct:
        return list(usage.sketch), usage.estimated
    hashes = sorted({*usage.sketch, *(_hash(key) for key in usage.distinct)})
    return hashes[:SKETCH_SIZE], usage.estimated or len(hashes) > SKETCH_SIZE


def _unique(usage: MeterUsage, key: str | None) -> MeterUsage:
    sketch, estimated = _sketched(usage)
    if key is not None:
        value = _hash(key)
        at = bisect.bisect_left(sketch, value)
        if at == len(sketch) or sketch[at] != value:
            if len(sketch) < SKETCH_SIZE:
                sketch.insert(at, value)
            else:
                estimated = True
                if at < len(sketch):
                    sketch.insert(at, value)
                    sketch.pop()
    if estimated:
        quantity = Decimal(round((SKETCH_SIZE - 1) * _HASHES / (sketch[-1] + 1)))
    else:
        quantity = Decimal(len(sketch))
    return usage.model_copy(
        update={
            "quantity": quantity,
            "events": usage.events + 1,
            "distinct": [],
            "sketch": sketch,
            "estimated": estimated,
        }
    )


def accumulate(usage: MeterUsage, record: UsageRecord, meter: Meter) -> MeterUsage:
    """The running usage after one more event, which the caller knows is new (not a re-send)."""
    events = usage.events + 1
    match meter.aggregation:
        case "sum":
            quantity = EXACT.add(usage.quantity, record.quantity)
            return usage.model_copy(update={"quantity": quantity, "events": events})
        case "count":
            return usage.model_copy(update={"quantity": Decimal(events), "events": events})
        case "max":
            first = usage.events == 0
            quantity = record.quantity if first else max(usage.quantity, record.quantity)
            return usage.model_copy(update={"quantity": quantity, "events": events})
        case "latest":
            newer = usage.latest_at is None or (record.timestamp, record.event_id) > (
                usage.latest_at,
                usage.latest_event_id or "",
            )
            if not newer:
                return usage.model_copy(update={"events": events})
            return usage.model_copy(
                update={
                    "quantity": record.quantity,
                    "events": events,
                    "latest_at": record.timestamp,
                    "latest_event_id": record.event_id,
                }
            )
        case "unique_count":
            return _unique(usage, property_key(record.properties.get(meter.field_name or "")))


def running(records: Iterable[UsageRecord], meter: Meter) -> MeterUsage:
    """The running usage of new events, folded in the order given."""
    usage = MeterUsage()
    for record in records:
        usage = accumulate(usage, record, meter)
    return usage
