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
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from billing.aggregation import UsageRecord, property_key
from billing.catalog import Meter
from billing.money import EXACT, ZERO, DecimalValue
from billing.periods import Period, UtcDatetime, period_of

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


def _sketch_quantity(sketch: list[int], estimated: bool) -> Decimal:
    """Distinct values: the sketch's size while exact, else the K-minimum-values estimate."""
    if estimated:
        return Decimal(round((SKETCH_SIZE - 1) * _HASHES / (sketch[-1] + 1)))
    return Decimal(len(sketch))


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
    quantity = _sketch_quantity(sketch, estimated)
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
    """The running usage of new events, folded in the order given (sum, count and max without
    a model per event: a ledger read folds tens of thousands of rows at a time)."""
    records = list(records)
    if not records:
        return MeterUsage()
    match meter.aggregation:
        case "sum":
            quantity = ZERO
            for record in records:
                quantity = EXACT.add(quantity, record.quantity)
            return MeterUsage(quantity=quantity, events=len(records))
        case "count":
            return MeterUsage(quantity=Decimal(len(records)), events=len(records))
        case "max":
            return MeterUsage(quantity=max(r.quantity for r in records), events=len(records))
        case _:
            usage = MeterUsage()
            for record in records:
                usage = accumulate(usage, record, meter)
            return usage


def merge(earlier: MeterUsage, later: MeterUsage, meter: Meter) -> MeterUsage:
    """The running usage of two disjoint sets of events, as if folded one after the other."""
    if later.events == 0:
        return earlier
    if earlier.events == 0:
        return later
    events = earlier.events + later.events
    match meter.aggregation:
        case "sum" | "count":
            quantity = EXACT.add(earlier.quantity, later.quantity)
            return earlier.model_copy(update={"quantity": quantity, "events": events})
        case "max":
            quantity = max(earlier.quantity, later.quantity)
            return earlier.model_copy(update={"quantity": quantity, "events": events})
        case "latest":
            newest = max(
                (earlier, later),
                key=lambda usage: (
                    usage.latest_at is not None,
                    usage.latest_at,
                    usage.latest_event_id or "",
                ),
            )
            return newest.model_copy(update={"events": events})
        case "unique_count":
            mine, estimated = _sketched(earlier)
            theirs, also_estimated = _sketched(later)
            union = sorted({*mine, *theirs})
            estimated = estimated or also_estimated or len(union) > SKETCH_SIZE
            sketch = union[:SKETCH_SIZE]
            return MeterUsage(
                quantity=_sketch_quantity(sketch, estimated),
                events=events,
                sketch=sketch,
                estimated=estimated,
            )


def by_period(
    records: Iterable[UsageRecord],
    meters: Mapping[str, Meter],
    *,
    current: Period,
    closing_at: datetime | None,
    invoice_day: int,
    tz: str,
) -> tuple[dict[Period, dict[str, MeterUsage]], int]:
    """New events' running usage per period of their timestamp (`billing.periods.period_of`,
    seen from `current`), and how many are late (before `current`). Events of a meter not in
    `meters` (no longer priced) are left out."""
    grouped: dict[Period, dict[str, list[UsageRecord]]] = {}
    late = 0
    for record in records:
        if record.meter_id not in meters:
            continue
        period = period_of(
            record.timestamp, current=current, closing_at=closing_at, invoice_day=invoice_day, tz=tz
        )
        if period is None:
            late += 1
            continue
        grouped.setdefault(period, {}).setdefault(record.meter_id, []).append(record)
    usage = {
        period: {
            meter_id: running(rows, meters[meter_id]) for meter_id, rows in sorted(by_meter.items())
        }
        for period, by_meter in grouped.items()
    }
    return usage, late
