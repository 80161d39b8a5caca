"""Usage events: record batches exactly once, aggregate them in SQL, find a period's usage.

Aggregations run in the database (never by loading rows into Python) with the semantics of
`billing.aggregation.aggregate`: sum, count, max, `latest` (the quantity of the greatest
`(timestamp, event_id)`, compared by code point) and `unique_count` (distinct values of
`properties[meter.field_name]` compared as JSON text; strings as themselves; absent or null
values not counted). An empty selection is 0.

The watermark: `period_usage` holds a row lock on the subscription (PostgreSQL: FOR NO KEY
UPDATE, which waits for every `record_usage` in flight, since those hold FOR SHARE), so every
usage row with an id up to the watermark it returns is committed and counted, and rows recorded
later get higher ids. `create_invoice` marks exactly those rows as billed. SQLite serialises
writers, so ids there are committed in order anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Select,
    String,
    and_,
    case,
    distinct,
    func,
    literal,
    select,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import OperationalError

from billing.aggregation import UsageRecord
from billing.catalog import Meter, Pricing
from billing.errors import BillingError
from billing.invoice import LateUsage
from billing.money import ZERO, format_decimal, trimmed
from billing.periods import Period
from billing_db.engine import transaction
from billing_db.errors import (
    InvalidUsageEventError,
    QuantityOverflowError,
    UnpricedMeterError,
)
from billing_db.records import (
    LedgerRows,
    NewUsageRow,
    PeriodUsage,
    UsageEventInput,
    UsageRecorded,
)
from billing_db.repo_catalog import read_pricing_version, read_subscription
from billing_db.repo_common import check_aware, utcnow
from billing_db.tables import invoices, usage_events
from billing_db.types import check_decimal6

#: Rows per INSERT statement (SQLite and psycopg both cap bound parameters per statement).
INSERT_CHUNK = 1000
MAX_EVENT_ID_LENGTH = 255

Billed = Literal["any", "unbilled", "billed"]


def check_storable(event: UsageEventInput, *, index: int) -> None:
    """Refuse (`InvalidUsageEventError`) what the ledger cannot store: a bad event id, a negative
    quantity, more than 6 decimal places."""
    if not event.event_id or len(event.event_id) > MAX_EVENT_ID_LENGTH:
        raise InvalidUsageEventError(
            f"event_id: 1 to {MAX_EVENT_ID_LENGTH} characters",
            index=index,
            event_id=event.event_id,
        )
    if event.quantity < 0:
        raise InvalidUsageEventError(
            f"quantity: must not be negative, got {format_decimal(event.quantity)}",
            index=index,
            event_id=event.event_id,
        )
    try:
        check_decimal6(event.quantity, field="quantity")
    except BillingError as error:
        raise InvalidUsageEventError(str(error), index=index, event_id=event.event_id) from None


def _row(subscription_id: str, event: UsageEventInput, received_at: datetime) -> dict[str, Any]:
    return {
        "subscription_id": subscription_id,
        "event_id": event.event_id,
        "meter_id": event.meter_id,
        "quantity": event.quantity,
        "timestamp": event.timestamp,
        "received_at": received_at,
        "properties": event.properties or None,
    }


def _checked_rows(
    events: Sequence[UsageEventInput], subscription_id: str, received_at: datetime
) -> list[dict[str, Any]]:
    """Validate every event (nothing is written when one fails); drop repeats in the batch."""
    rows: dict[str, dict[str, Any]] = {}
    for index, event in enumerate(events):
        check_storable(event, index=index)
        rows.setdefault(event.event_id, _row(subscription_id, event, received_at))
    return list(rows.values())


def _insert_ignoring_duplicates(connection: Connection, rows: list[dict[str, Any]]) -> int:
    """INSERT ... ON CONFLICT (subscription_id, event_id) DO NOTHING; how many were new."""
    return len(_inserted(connection, rows))


def _inserted(connection: Connection, rows: list[dict[str, Any]]) -> list[NewUsageRow]:
    """INSERT ... ON CONFLICT (subscription_id, event_id) DO NOTHING, one multi-row statement
    per `INSERT_CHUNK` rows; the rows that were new."""
    insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
    columns = usage_events.c
    statement = (
        insert(usage_events)
        .on_conflict_do_nothing(index_elements=["subscription_id", "event_id"])
        .returning(columns.id, columns.subscription_id, columns.meter_id, columns.quantity)
    )
    new: list[NewUsageRow] = []
    for start in range(0, len(rows), INSERT_CHUNK):
        chunk = rows[start : start + INSERT_CHUNK]
        new.extend(
            NewUsageRow(
                id=row[0], subscription_id=row[1], meter_id=row[2], quantity=Decimal(row[3])
            )
            for row in connection.execute(statement, chunk)
        )
    return new


def ingest_usage(
    engine: Engine,
    events: Sequence[tuple[str, UsageEventInput]],
    *,
    received_at: datetime,
) -> list[NewUsageRow]:
    """Commit checked `(subscription_id, event)` pairs of any subscriptions in one transaction,
    ignoring every `(subscription_id, event_id)` already stored or repeated; the new rows.

    Takes the same share lock on each subscription as `record_usage` (in id order, so two
    batches never deadlock), so the invoice watermark of `period_usage` covers these rows
    exactly as it covers the workflow's: a row is committed below the watermark an invoice
    records (and billed by it) or gets a higher id (and is late usage of the next invoice).
    The caller has checked the events (`billing.usage_intake`, `check_storable`).
    """
    received = check_aware(received_at, field="received_at")
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for subscription_id, event in events:
        rows.setdefault((subscription_id, event.event_id), _row(subscription_id, event, received))
    if not rows:
        return []
    with transaction(engine) as connection:
        for subscription_id in sorted({key[0] for key in rows}):
            read_subscription(connection, subscription_id, lock="share")
        return _inserted(connection, list(rows.values()))


def record_usage(
    engine: Engine,
    *,
    subscription_id: str,
    events: Sequence[UsageEventInput],
    received_at: datetime | None = None,
) -> UsageRecorded:
    """Record a batch of usage events once each (one transaction).

    An `event_id` already recorded for the subscription, or repeated inside the batch, counts
    as a duplicate. Raises (writing nothing) `UnknownSubscriptionError`, `UnpricedMeterError`
    for a meter the subscription's pricing does not charge, and `InvalidUsageEventError` for a
    negative quantity, more than 6 decimal places, or a bad event id.
    """
    received = check_aware(received_at or utcnow(), field="received_at")
    rows = _checked_rows(events, subscription_id, received)
    with transaction(engine) as connection:
        subscription = read_subscription(connection, subscription_id, lock="share")
        pricing = read_pricing_version(connection, subscription.pricing_version_id).pricing
        priced = pricing.meter_ids()
        for index, event in enumerate(events):
            if event.meter_id not in priced:
                raise UnpricedMeterError(
                    f"meter_id: {event.meter_id!r} is not priced by {pricing.product_id} "
                    f"(priced meters: {', '.join(sorted(priced)) or 'none'})",
                    index=index,
                    event_id=event.event_id,
                )
        new = _insert_ignoring_duplicates(connection, rows) if rows else 0
    return UsageRecorded(new=new, duplicates=len(events) - new)


# --- aggregation in SQL ----------------------------------------------------------------------


def _property_key(connection: Connection, field: str) -> ColumnElement[Any]:
    """`properties[field]` as the text `billing.aggregation.property_key` compares by."""
    properties = usage_events.c.properties
    if connection.dialect.name == "postgresql":
        return properties.op("->>", return_type=String)(literal(field, String))
    path = literal('$."' + field.replace("\\", "\\\\").replace('"', '\\"') + '"', String)
    kind = func.json_type(properties, path)
    return case(
        (kind == "text", func.json_extract(properties, path)),
        (kind == "null", None),
        else_=properties.op("->", return_type=String)(path),
    )


def _filters(
    *,
    subscription_id: str,
    meter_id: str,
    start: datetime,
    end: datetime,
    billed: Billed,
    max_row_id: int | None,
) -> ColumnElement[bool]:
    conditions = [
        usage_events.c.subscription_id == subscription_id,
        usage_events.c.meter_id == meter_id,
        usage_events.c.timestamp >= start,
        usage_events.c.timestamp < end,
    ]
    if billed == "unbilled":
        conditions.append(usage_events.c.invoice_id.is_(None))
    elif billed == "billed":
        conditions.append(usage_events.c.invoice_id.is_not(None))
    if max_row_id is not None:
        conditions.append(usage_events.c.id <= max_row_id)
    return and_(*conditions)


def _aggregate_query(
    connection: Connection, meter: Meter, where: ColumnElement[bool]
) -> Select[Any]:
    quantity = usage_events.c.quantity
    match meter.aggregation:
        case "sum":
            return select(func.sum(quantity)).where(where)
        case "count":
            return select(func.count()).where(where)
        case "max":
            return select(func.max(quantity)).where(where)
        case "unique_count":
            key = _property_key(connection, meter.field_name or "")
            return select(func.count(distinct(key))).where(where)
        case "latest":
            event_id: ColumnElement[str] = usage_events.c.event_id
            if connection.dialect.name == "postgresql":
                event_id = event_id.collate("C")  # code point order, as Python compares
            return (
                select(quantity)
                .where(where)
                .order_by(usage_events.c.timestamp.desc(), event_id.desc())
                .limit(1)
            )


def aggregate_in(
    connection: Connection,
    *,
    subscription_id: str,
    meter: Meter,
    start: datetime,
    end: datetime,
    billed: Billed = "any",
    max_row_id: int | None = None,
) -> Decimal:
    """The meter's aggregate over `[start, end)`, computed by the database."""
    where = _filters(
        subscription_id=subscription_id,
        meter_id=meter.id,
        start=start,
        end=end,
        billed=billed,
        max_row_id=max_row_id,
    )
    try:
        value = connection.execute(_aggregate_query(connection, meter, where)).scalar()
    except OperationalError as error:
        if "integer overflow" in str(error.orig):
            raise QuantityOverflowError(
                f"the {meter.aggregation} of meter {meter.id!r} over {start.isoformat()}.."
                f"{end.isoformat()} exceeds what SQLite sums exactly; use PostgreSQL"
            ) from None
        raise
    if value is None:
        return ZERO
    return value if isinstance(value, Decimal) else Decimal(value)


def aggregate_usage(
    engine: Engine,
    *,
    subscription_id: str,
    meter: Meter,
    start: datetime,
    end: datetime,
    unbilled_only: bool = False,
    max_row_id: int | None = None,
) -> Decimal:
    """Aggregate a meter's events in `[start, end)` in SQL (optionally only the unbilled ones,
    and only rows up to `max_row_id`)."""
    with transaction(engine, write=False) as connection:
        read_subscription(connection, subscription_id)
        return aggregate_in(
            connection,
            subscription_id=subscription_id,
            meter=meter,
            start=check_aware(start, field="start"),
            end=check_aware(end, field="end"),
            billed="unbilled" if unbilled_only else "any",
            max_row_id=max_row_id,
        )


# --- a period's usage ------------------------------------------------------------------------


def _watermark(connection: Connection) -> int:
    """The highest usage row id committed (any subscription: one index probe on either
    dialect). Under the subscription lock, none of this subscription's rows below it is
    still in flight."""
    return int(connection.execute(select(func.max(usage_events.c.id))).scalar() or 0)


def _late_groups(
    connection: Connection, *, subscription_id: str, before: datetime, watermark: int
) -> list[tuple[datetime, datetime, str]]:
    """(invoiced period start, end, meter) of unbilled events older than `before`."""
    query = (
        select(invoices.c.period_start, invoices.c.period_end, usage_events.c.meter_id)
        .distinct()
        .select_from(usage_events)
        .join(
            invoices,
            and_(
                invoices.c.subscription_id == usage_events.c.subscription_id,
                invoices.c.period_start <= usage_events.c.timestamp,
                invoices.c.period_end > usage_events.c.timestamp,
            ),
        )
        .where(
            usage_events.c.subscription_id == subscription_id,
            usage_events.c.invoice_id.is_(None),
            usage_events.c.id <= watermark,
            usage_events.c.timestamp < before,
        )
    )
    return sorted((row[0], row[1], row[2]) for row in connection.execute(query))


def _by_id(meters: Mapping[str, Meter] | Iterable[Meter]) -> dict[str, Meter]:
    if isinstance(meters, Mapping):
        return {meter.id: meter for meter in meters.values()}
    return {meter.id: meter for meter in meters}


def period_usage(
    engine: Engine,
    *,
    subscription_id: str,
    period: Period,
    meters: Mapping[str, Meter] | Iterable[Meter],
) -> PeriodUsage:
    """The period's unbilled usage per meter, the late usage of earlier invoiced periods, and
    the watermark (highest usage row id) both were computed up to.

    Late usage: unbilled events timestamped in an earlier period that already has an invoice.
    For each such (period, meter): `billed_quantity` is the aggregate of that period's events
    already billed (the original invoice line's quantity, plus any late usage billed since) and
    `new_quantity` the aggregate of all its events, so `rate(new) - rate(billed)` is what is
    still owed, however many times late usage arrives.
    """
    wanted = _by_id(meters)
    with transaction(engine, write=False) as connection:
        read_subscription(connection, subscription_id, lock="update")
        watermark = _watermark(connection)
        quantities = {
            meter_id: aggregate_in(
                connection,
                subscription_id=subscription_id,
                meter=meter,
                start=period.start,
                end=period.end,
                billed="unbilled",
                max_row_id=watermark,
            )
            for meter_id, meter in sorted(wanted.items())
        }
        late: list[LateUsage] = []
        groups = _late_groups(
            connection, subscription_id=subscription_id, before=period.start, watermark=watermark
        )
        for start, end, meter_id in groups:
            meter = wanted.get(meter_id)
            if meter is None:
                continue
            common: dict[str, Any] = {
                "subscription_id": subscription_id,
                "meter": meter,
                "start": start,
                "end": end,
                "max_row_id": watermark,
            }
            late.append(
                LateUsage(
                    meter_id=meter_id,
                    period=Period(start=start, end=end),
                    billed_quantity=aggregate_in(connection, billed="billed", **common),
                    new_quantity=aggregate_in(connection, billed="any", **common),
                )
            )
    return PeriodUsage(quantities=quantities, late=late, watermark=watermark)


#: Rows per ledger read: the workflow asks again while more remain.
LEDGER_SLICE = 20_000


def recorded_since(
    engine: Engine,
    *,
    subscription_id: str,
    after_row_id: int,
    since: datetime,
    limit: int = LEDGER_SLICE,
) -> LedgerRows:
    """The subscription's rows with ids above `after_row_id`, in id order, at most `limit`:
    those timestamped from `since` on, and earlier ones not billed yet (late usage).

    Holds the invoice's lock on the subscription (it waits for every insert in flight), so no
    row with an id up to `latest_row_id` can commit after this read: a reader that goes on from
    `up_to_row_id` never skips one."""
    columns = usage_events.c
    with transaction(engine, write=False) as connection:
        read_subscription(connection, subscription_id, lock="update")
        latest = _watermark(connection)
        query = (
            select(
                columns.id,
                columns.event_id,
                columns.meter_id,
                columns.quantity,
                columns.timestamp,
                columns.properties,
            )
            .where(
                columns.subscription_id == subscription_id,
                columns.id > after_row_id,
                columns.id <= latest,
                (columns.timestamp >= since) | columns.invoice_id.is_(None),
            )
            .order_by(columns.id)
            .limit(limit)
        )
        found = connection.execute(query).all()
    rows = [
        UsageRecord.model_construct(
            event_id=row.event_id,
            meter_id=row.meter_id,
            quantity=trimmed(Decimal(row.quantity)),
            timestamp=row.timestamp,
            properties=row.properties or {},
        )
        for row in found
    ]
    up_to = found[-1].id if len(found) == limit else max(latest, after_row_id)
    return LedgerRows(rows=rows, up_to_row_id=up_to, latest_row_id=max(latest, after_row_id))


def priced_meters(pricing: Pricing, meters: Mapping[str, Meter]) -> dict[str, Meter]:
    """The meters among `meters` that `pricing` charges for."""
    return {meter_id: meters[meter_id] for meter_id in pricing.meter_ids() if meter_id in meters}


__all__ = [
    "INSERT_CHUNK",
    "aggregate_in",
    "aggregate_usage",
    "check_storable",
    "ingest_usage",
    "period_usage",
    "priced_meters",
    "record_usage",
    "recorded_since",
]
