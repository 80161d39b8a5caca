"""Usage events: record batches exactly once, aggregate them in SQL, find a period's usage.

Aggregations run in the database (never by loading rows into Python) with the semantics of
`billing.aggregation.aggregate`: sum, count, max, `latest` (the quantity of the greatest
`(timestamp, event_id)`, compared by code point) and `unique_count` (distinct values of
`properties[meter.field_name]` compared as JSON text; strings as themselves; absent or null
values not counted). An empty selection is 0. Sum, count, max and latest of whole UTC hours
come from the hourly rollups (`billing_db.repo_usage_rollups`, kept in each insert batch's
transaction and the billing UPDATE's), partial hours at the edges and unique_count from the
rows; `rollups=False` reads the rows alone (tests compare the two).

The watermark: `period_usage` holds a row lock on the subscription (PostgreSQL: FOR NO KEY
UPDATE, which waits for every `record_usage` in flight, since those hold FOR SHARE), so every
usage row with an id up to the watermark it returns is committed and counted, and rows recorded
later get higher ids. `create_invoice` marks exactly those rows as billed (under the same lock,
recomputing the rollups' unbilled part). SQLite serialises writers, so ids there are committed
in order anyway. So under the lock the rollups hold exactly the subscription's rows up to the
watermark, and `period_usage` reads them; a watermark below a rollup's highest row id falls
back to the rows.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

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
from sqlalchemy.exc import OperationalError

from billing.aggregation import UsageRecord
from billing.catalog import Meter, Pricing
from billing.errors import BillingError
from billing.invoice import LateUsage
from billing.money import ZERO, format_decimal, trimmed
from billing.periods import Period
from billing_db.engine import is_sqlite, transaction
from billing_db.errors import (
    InvalidUsageEventError,
    QuantityOverflowError,
    UnknownSubscriptionError,
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
from billing_db.repo_common import check_aware, multi_row_insert, utcnow
from billing_db.repo_usage_rollups import (
    Billed,
    add_rows,
    bind_processor,
    combine,
    middle_part,
    whole_hours,
)
from billing_db.tables import invoices, subscriptions, usage_events
from billing_db.types import InexactSumError, check_decimal6

#: Rows per INSERT statement (SQLite and psycopg both cap bound parameters per statement).
INSERT_CHUNK = 1000
MAX_EVENT_ID_LENGTH = 255


class Storable(Protocol):
    """What `check_storable` reads of an event (a `UsageEventInput` or a checked `UsageEvent`)."""

    @property
    def event_id(self) -> str: ...
    @property
    def quantity(self) -> Decimal: ...


def check_storable(event: Storable, *, index: int) -> None:
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


LedgerRow = tuple[str, str, str, Decimal, datetime, dict[str, Any] | None]
"""One checked event as the ledger stores it: (subscription_id, event_id, meter_id, quantity,
timestamp, properties or None)."""

_COLUMNS = (
    "subscription_id",
    "event_id",
    "meter_id",
    "quantity",
    "timestamp",
    "received_at",
    "properties",
)


def _ledger_row(subscription_id: str, event: UsageEventInput) -> LedgerRow:
    return (
        subscription_id,
        event.event_id,
        event.meter_id,
        event.quantity,
        event.timestamp,
        event.properties or None,
    )


def _checked_rows(events: Sequence[UsageEventInput], subscription_id: str) -> list[LedgerRow]:
    """Validate every event (nothing is written when one fails); drop repeats in the batch."""
    rows: dict[str, LedgerRow] = {}
    for index, event in enumerate(events):
        check_storable(event, index=index)
        rows.setdefault(event.event_id, _ledger_row(subscription_id, event))
    return [rows[event_id] for event_id in sorted(rows)]  # key order, as `ingest_rows`


#: What the intake's INSERT does with a duplicate, and what it answers for the new rows.
_ON_CONFLICT = (
    "ON CONFLICT (subscription_id, event_id) DO NOTHING RETURNING id, subscription_id, event_id"
)


def _inserted(
    connection: Connection, rows: Sequence[LedgerRow], received_at: datetime
) -> list[NewUsageRow]:
    """INSERT ... ON CONFLICT (subscription_id, event_id) DO NOTHING, one multi-row statement
    per `INSERT_CHUNK` rows, and the new rows added to their hourly rollups in the same
    transaction; the rows that were new.

    The driver's SQL and cursor directly, values converted by the columns' own bind processors
    (each distinct quantity and timestamp once): the intake's hot path, where SQLAlchemy's
    statement and result machinery cost as much as the database."""
    dialect = connection.dialect
    columns = usage_events.c
    quantity = bind_processor(columns.quantity.type, dialect)
    timestamp = bind_processor(columns.timestamp.type, dialect)
    properties = bind_processor(columns.properties.type, dialect)
    quantities: dict[Decimal, Any] = {}
    timestamps: dict[datetime, Any] = {}
    received = timestamp(received_at)
    new: list[NewUsageRow] = []
    stored: list[tuple[int, str, str, str, Decimal, datetime]] = []
    for start in range(0, len(rows), INSERT_CHUNK):
        chunk = rows[start : start + INSERT_CHUNK]
        values: list[Any] = []
        for subscription_id, event_id, meter_id, amount, at, extra in chunk:
            stored_quantity = quantities.get(amount)
            if stored_quantity is None:
                stored_quantity = quantities[amount] = quantity(amount)
            stored_at = timestamps.get(at)
            if stored_at is None:
                stored_at = timestamps[at] = timestamp(at)
            values += (subscription_id, event_id, meter_id, stored_quantity, stored_at, received)
            values.append(None if extra is None else properties(extra))
        cursor = connection.connection.cursor()  # the driver's, in this transaction
        try:
            cursor.execute(
                multi_row_insert(dialect, usage_events, _COLUMNS, len(chunk), _ON_CONFLICT), values
            )
            returned = cursor.fetchall()
        finally:
            cursor.close()
        by_key = {(row[0], row[1]): row for row in chunk}
        for row_id, subscription_id, event_id in returned:
            row = by_key[subscription_id, event_id]
            new.append(NewUsageRow(row_id, subscription_id))
            stored.append((row_id, subscription_id, row[2], event_id, row[3], row[4]))
    add_rows(connection, stored)
    return new


def _lock_subscriptions(connection: Connection, subscription_ids: Sequence[str]) -> None:
    """The share lock of `record_usage` on every named subscription, in one statement and in id
    order (so two batches never deadlock); `UnknownSubscriptionError` names a missing one."""
    wanted = sorted(set(subscription_ids))
    query = (
        select(subscriptions.c.id)
        .where(subscriptions.c.id.in_(wanted))
        .order_by(subscriptions.c.id)
        .with_for_update(read=True)
    )
    found = set(connection.execute(query).scalars())
    missing = [subscription_id for subscription_id in wanted if subscription_id not in found]
    if missing:
        raise UnknownSubscriptionError(f"subscription_id: no subscription {missing[0]!r}")


def ingest_rows(
    engine: Engine, rows: Iterable[LedgerRow], *, received_at: datetime
) -> list[NewUsageRow]:
    """Commit checked ledger rows of any subscriptions in one transaction, ignoring every
    `(subscription_id, event_id)` already stored or repeated; the new rows.

    Takes the same share lock on each subscription as `record_usage` (in id order, so two
    batches never deadlock), so the invoice watermark of `period_usage` covers these rows
    exactly as it covers the workflow's: a row is committed below the watermark an invoice
    records (and billed by it) or gets a higher id (and is late usage of the next invoice).
    The caller has checked the events (`billing.usage_intake`, `check_storable`).
    """
    received = check_aware(received_at, field="received_at")
    unique: dict[tuple[str, str], LedgerRow] = {}
    for row in rows:
        unique.setdefault((row[0], row[1]), row)
    if not unique:
        return []
    # In key order: on PostgreSQL two batches inserting the same (subscription, event_id) pairs
    # in different orders wait on each other's index entries (a deadlock, seen with 10 % re-sent
    # events and concurrent requests); in one order, one simply waits for the other.
    ordered = [unique[key] for key in sorted(unique)]
    if is_sqlite(engine):
        # One writer at a time already (BEGIN IMMEDIATE), and rows get ids in commit order; a
        # lock in the process lets the next batch in the moment one commits, where SQLite's busy
        # handler would sleep up to 100 ms between tries. Subscriptions are never deleted and the
        # foreign key stands behind the caller's check that they exist.
        with _sqlite_writer(engine), transaction(engine) as connection:
            return _inserted(connection, ordered, received)
    with transaction(engine) as connection:
        _lock_subscriptions(connection, [key[0] for key in unique])
        return _inserted(connection, ordered, received)


_WRITERS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_WRITERS_LOCK = threading.Lock()


def _sqlite_writer(engine: Engine) -> threading.Lock:
    """The engine's in-process write lock (batch intake on SQLite)."""
    with _WRITERS_LOCK:
        lock = _WRITERS.get(engine)
        if lock is None:
            lock = _WRITERS[engine] = threading.Lock()
        return lock


def ingest_usage(
    engine: Engine,
    events: Sequence[tuple[str, UsageEventInput]],
    *,
    received_at: datetime,
) -> list[NewUsageRow]:
    """`ingest_rows` for checked `(subscription_id, event)` pairs."""
    rows = (_ledger_row(subscription_id, event) for subscription_id, event in events)
    return ingest_rows(engine, rows, received_at=received_at)


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
    rows = _checked_rows(events, subscription_id)
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
        new = len(_inserted(connection, rows, received)) if rows else 0
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


def _stored(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(value)


def _from_rows(
    connection: Connection,
    meter: Meter,
    where: ColumnElement[bool],
    *,
    start: datetime,
    end: datetime,
) -> Decimal:
    """The aggregate computed from the ledger rows alone."""
    try:
        value = connection.execute(_aggregate_query(connection, meter, where)).scalar()
    except OperationalError as error:
        if "integer overflow" in str(error.orig):
            raise QuantityOverflowError(
                f"the {meter.aggregation} of meter {meter.id!r} over {start.isoformat()}.."
                f"{end.isoformat()} exceeds what SQLite sums exactly; use PostgreSQL"
            ) from None
        raise
    return ZERO if value is None else _stored(value)


def _from_rollups(
    connection: Connection,
    *,
    subscription_id: str,
    meter: Meter,
    start: datetime,
    end: datetime,
    billed: Billed,
    max_row_id: int | None,
) -> Decimal | None:
    """The aggregate from the hourly rollups of the whole hours and the rows of the partial
    hours at the edges, in one statement (one snapshot); None when the rollups cannot answer
    exactly: no whole hour, an aggregation or filter they do not keep, a part holding rows
    above `max_row_id`, or (SQLite) a sum past 64 bits."""
    hours = whole_hours(start, end)
    if hours is None:
        return None
    first_hour, end_hour = hours
    middle = middle_part(
        meter,
        subscription_id=subscription_id,
        first_hour=first_hour,
        end_hour=end_hour,
        billed=billed,
    )
    if middle is None:
        return None

    def edge(edge_start: datetime, edge_end: datetime) -> Any:
        where = _filters(
            subscription_id=subscription_id,
            meter_id=meter.id,
            start=edge_start,
            end=edge_end,
            billed=billed,
            max_row_id=max_row_id,
        )
        return _aggregate_query(connection, meter, where).scalar_subquery()

    parts = [edge(start, first_hour), middle.value, edge(end_hour, end)]
    try:
        row = connection.execute(select(middle.last_row_id, *parts)).one()
    except InexactSumError:
        return None
    except OperationalError as error:
        if connection.dialect.name == "sqlite" and "integer overflow" in str(error.orig):
            return None  # the rows say whether the sum really overflows
        raise
    last_row_id, *values = row
    if max_row_id is not None and last_row_id is not None and last_row_id > max_row_id:
        return None
    value = combine(meter.aggregation, [None if v is None else _stored(v) for v in values])
    return ZERO if value is None else value


def aggregate_in(
    connection: Connection,
    *,
    subscription_id: str,
    meter: Meter,
    start: datetime,
    end: datetime,
    billed: Billed = "any",
    max_row_id: int | None = None,
    rollups: bool = True,
) -> Decimal:
    """The meter's aggregate over `[start, end)`, computed by the database: from the hourly
    rollups where they answer exactly (`repo_usage_rollups`), else (or with `rollups=False`)
    from the rows."""
    if rollups:
        value = _from_rollups(
            connection,
            subscription_id=subscription_id,
            meter=meter,
            start=start,
            end=end,
            billed=billed,
            max_row_id=max_row_id,
        )
        if value is not None:
            return value
    where = _filters(
        subscription_id=subscription_id,
        meter_id=meter.id,
        start=start,
        end=end,
        billed=billed,
        max_row_id=max_row_id,
    )
    return _from_rows(connection, meter, where, start=start, end=end)


def aggregate_usage(
    engine: Engine,
    *,
    subscription_id: str,
    meter: Meter,
    start: datetime,
    end: datetime,
    unbilled_only: bool = False,
    max_row_id: int | None = None,
    rollups: bool = True,
) -> Decimal:
    """Aggregate a meter's events in `[start, end)` in SQL (optionally only the unbilled ones,
    and only rows up to `max_row_id`; `rollups=False` reads the rows alone)."""
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
            rollups=rollups,
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
    "ingest_rows",
    "ingest_usage",
    "period_usage",
    "priced_meters",
    "record_usage",
    "recorded_since",
]
