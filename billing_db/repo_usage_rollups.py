"""Hourly usage rollups: the ledger summed per (subscription, meter, UTC hour), kept exact.

The ledger rows (`usage_events`) stay the truth; `usage_rollups` is derived from them in the
same transaction as every change of the ledger:

- an insert batch adds its new rows (`add_rows`, one upsert, keys in sorted order: on
  PostgreSQL two batches upserting the same hours wait for each other, never deadlock);
- an invoice that bills rows recomputes the unbilled part of every hour it may touch from the
  unbilled rows left (`refresh_unbilled`), holding the subscription's invoice lock, so no
  insert of that subscription is in flight.

Each hour keeps two parts, all rows and unbilled rows (billed = all - unbilled for sum and
count), each with count, sum, max, the highest row id counted, and the row with the greatest
`(timestamp, event_id)` (`latest`, ties broken by the event id's code points as
`billing.aggregation`). Rows are folded in Python (`fold`), exactly, by the one rule here; SQL
only merges folded parts, in `MERGE_RULES`.

`middle_part` answers the whole hours of an aggregation: sum, count, max and latest of all or
unbilled rows, sum and count of billed rows; None where rollups cannot (unique_count; max or
latest of billed rows). The caller reads partial hours at the edges from the rows, in the same
statement (one snapshot), and falls back to the rows when the part's highest row id is above
the watermark it was asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from operator import itemgetter
from typing import Any, Literal

from sqlalchemy import ColumnElement, Connection, ScalarSelect, bindparam, func, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.expression import type_coerce
from sqlalchemy.types import TypeEngine

from billing.catalog import Meter
from billing.money import EXACT
from billing_db.repo_common import multi_row_insert
from billing_db.tables import usage_events, usage_rollups
from billing_db.types import Decimal6Sum

HOUR = timedelta(hours=1)
Part = Literal["all", "unbilled"]
Billed = Literal["any", "unbilled", "billed"]
RollupKey = tuple[str, str, datetime]
"""(subscription_id, meter_id, hour)."""
RollupRow = tuple[int, str, str, str, Decimal, datetime]
"""What `fold` reads of a ledger row: (id, subscription_id, meter_id, event_id, quantity,
timestamp)."""


def ledger_columns() -> list[ColumnElement[Any]]:
    """The ledger's columns `fold` reads, in its order (`RollupRow`)."""
    ledger = usage_events.c
    return [
        ledger.id,
        ledger.subscription_id,
        ledger.meter_id,
        ledger.event_id,
        ledger.quantity,
        ledger.timestamp,
    ]


def hour_of(instant: datetime) -> datetime:
    """The UTC hour that contains `instant`."""
    if instant.tzinfo is not UTC:
        instant = instant.astimezone(UTC)
    return instant.replace(minute=0, second=0, microsecond=0)


def hour_from(instant: datetime) -> datetime:
    """The first whole UTC hour that starts at or after `instant`."""
    hour = hour_of(instant)
    return hour if hour == instant else hour + HOUR


@dataclass(frozen=True, slots=True)
class Totals:
    """One part of one hour: what the rollup stores for it."""

    count: int
    total: Decimal
    largest: Decimal
    last_row_id: int
    latest: tuple[datetime, str, Decimal]


def _totals(rows: list[RollupRow]) -> Totals:
    with localcontext(EXACT):  # exact or an error, never rounded
        total = sum([row[4] for row in rows], Decimal(0))
    latest = max(rows, key=_LATEST_ORDER)
    return Totals(
        count=len(rows),
        total=total,
        largest=max([row[4] for row in rows]),
        last_row_id=max([row[0] for row in rows]),
        latest=(latest[5], latest[3], latest[4]),
    )


#: `latest`'s order (`billing.aggregation`): timestamp, then event id by code point.
_LATEST_ORDER = itemgetter(5, 3)


def fold(rows: Iterable[RollupRow]) -> dict[RollupKey, Totals]:
    """The rows summed per (subscription, meter, hour): the one rule of what a part holds."""
    groups: dict[tuple[str, str, int, int, int, int], list[RollupRow]] = {}
    for row in rows:  # the intake's hot path: plain tuples, no datetime built per row
        at = row[5]
        if at.tzinfo is not UTC:
            at = at.astimezone(UTC)
        key = (row[1], row[2], at.year, at.month, at.day, at.hour)
        group = groups.get(key)
        if group is None:
            groups[key] = [row]
        else:
            group.append(row)
    return {
        (key[0], key[1], datetime(*key[2:], tzinfo=UTC)): _totals(group)
        for key, group in groups.items()
    }


# --- writing ---------------------------------------------------------------------------------

_FIELDS = ("count", "sum", "max", "last_row_id", "latest_timestamp", "latest_event_id")
_KEY = ("subscription_id", "meter_id", "hour")


def _columns(part: Part) -> list[str]:
    return [f"{part}_{field}" for field in (*_FIELDS, "latest_quantity")]


def _values(totals: Totals) -> list[Any]:
    timestamp, event_id, quantity = totals.latest
    return [
        totals.count,
        totals.total,
        totals.largest,
        totals.last_row_id,
        timestamp,
        event_id,
        quantity,
    ]


def _merge_rules(dialect: Dialect, part: Part) -> list[str]:
    """`SET` clauses that merge the excluded (new) part into the stored one.

    Every clause reads the row as it was before the update (both dialects), so `latest`'s test
    is the same for its three columns. Event ids compare by code point: PostgreSQL's "C"
    collation, SQLite's default BINARY (UTF-8 bytes in code point order)."""
    table = dialect.identifier_preparer.quote(usage_rollups.name)
    collate = ' COLLATE "C"' if dialect.name == "postgresql" else ""

    def old(field: str) -> str:
        return f"{table}.{part}_{field}"

    def new(field: str) -> str:
        return f"excluded.{part}_{field}"

    def pick(field: str, condition: str) -> str:
        return f"{part}_{field} = CASE WHEN {condition} THEN {new(field)} ELSE {old(field)} END"

    newer = (
        f"{old('latest_timestamp')} IS NULL OR {new('latest_timestamp')} > "
        f"{old('latest_timestamp')} OR ({new('latest_timestamp')} = {old('latest_timestamp')} "
        f"AND {new('latest_event_id')}{collate} > {old('latest_event_id')}{collate})"
    )
    return [
        f"{part}_count = {old('count')} + {new('count')}",
        f"{part}_sum = {old('sum')} + {new('sum')}",
        pick("max", f"{old('max')} IS NULL OR {new('max')} > {old('max')}"),
        pick(
            "last_row_id",
            f"{old('last_row_id')} IS NULL OR {new('last_row_id')} > {old('last_row_id')}",
        ),
        *(
            pick(field, newer)
            for field in ("latest_timestamp", "latest_event_id", "latest_quantity")
        ),
    ]


_COLUMNS = [*_KEY, *_columns("all"), *_columns("unbilled")]
_MERGES: dict[str, str] = {}


def _on_conflict(dialect: Dialect) -> str:
    """`ON CONFLICT (key) DO UPDATE SET <merge rules>` (cached per dialect)."""
    merge = _MERGES.get(dialect.name)
    if merge is None:
        rules = _merge_rules(dialect, "all") + _merge_rules(dialect, "unbilled")
        merge = _MERGES[dialect.name] = (
            f"ON CONFLICT ({', '.join(_KEY)}) DO UPDATE SET {', '.join(rules)}"
        )
    return merge


def bind_processor(column_type: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any]:
    """The column type's conversion of a Python value into the driver's (identity if none)."""
    process = column_type.dialect_impl(dialect).bind_processor(dialect)
    return process if process is not None else _same


def _same(value: Any) -> Any:
    return value


#: Rollup parts per upsert statement (17 parameters each, under every driver's limit).
UPSERT_CHUNK = 500


def add_rows(connection: Connection, rows: Iterable[RollupRow]) -> None:
    """Add new, unbilled ledger rows to their hours' rollups (the caller's transaction).

    Keys in sorted order: concurrent batches lock shared rollup rows in one order."""
    totals = fold(rows)
    if not totals:
        return
    dialect = connection.dialect
    process = [bind_processor(usage_rollups.c[name].type, dialect) for name in _COLUMNS]
    ordered = sorted(totals.items())
    for start in range(0, len(ordered), UPSERT_CHUNK):
        chunk = ordered[start : start + UPSERT_CHUNK]
        values: list[Any] = []
        for key, part in chunk:
            raw = [*key, *_values(part), *_values(part)]  # a new row is unbilled
            values += [convert(value) for convert, value in zip(process, raw, strict=True)]
        cursor = connection.connection.cursor()  # the driver's, in this transaction
        try:
            statement = multi_row_insert(
                dialect, usage_rollups, _COLUMNS, len(chunk), _on_conflict(dialect)
            )
            cursor.execute(statement, values)
        finally:
            cursor.close()


def refresh_unbilled(connection: Connection, *, subscription_id: str, before: datetime) -> None:
    """Recompute the unbilled part of the subscription's hours that start before `before` from
    the unbilled rows left: after an invoice billed rows timestamped before `before`.

    The caller holds the subscription's invoice lock (no insert of it in flight). Reads only
    unbilled rows (the partial index `ix_usage_events_unbilled`): the rows above the invoice's
    watermark and never-billed strays, few."""
    end = hour_from(before)
    table = usage_rollups.c
    connection.execute(
        update(usage_rollups)
        .where(
            table.subscription_id == subscription_id,
            table.hour < end,
            table.unbilled_count > 0,
        )
        .values(
            unbilled_count=0,
            unbilled_sum=0,
            **{name: None for name in _columns("unbilled")[2:]},
        )
    )
    ledger = usage_events.c
    rows = connection.execute(
        select(*ledger_columns()).where(
            ledger.subscription_id == subscription_id,
            ledger.invoice_id.is_(None),
            ledger.timestamp < end,
        )
    ).all()
    totals = fold(rows)
    if not totals:
        return
    names = _columns("unbilled")
    connection.execute(
        update(usage_rollups)
        .where(
            table.subscription_id == bindparam("key_subscription"),
            table.meter_id == bindparam("key_meter"),
            table.hour == bindparam("key_hour"),
        )
        .values({name: bindparam(name) for name in names}),
        [
            {
                "key_subscription": key[0],
                "key_meter": key[1],
                "key_hour": key[2],
                **dict(zip(names, _values(part), strict=True)),
            }
            for key, part in sorted(totals.items())
        ],
    )


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MiddlePart:
    """The whole hours' share of an aggregation, as scalar subqueries: `value` (None: no row)
    and `last_row_id` (the highest row id it counts)."""

    value: ScalarSelect[Any]
    last_row_id: ScalarSelect[Any]


def middle_part(
    meter: Meter,
    *,
    subscription_id: str,
    first_hour: datetime,
    end_hour: datetime,
    billed: Billed,
) -> MiddlePart | None:
    """The aggregation over the hours `[first_hour, end_hour)` from the rollups, or None where
    rollups cannot answer it exactly (see the module docstring)."""
    table = usage_rollups.c
    aggregation = meter.aggregation
    if aggregation == "unique_count" or (billed == "billed" and aggregation in ("max", "latest")):
        return None
    part: Part = "unbilled" if billed == "unbilled" else "all"
    where: list[ColumnElement[bool]] = [
        table.subscription_id == subscription_id,
        table.meter_id == meter.id,
        table.hour >= first_hour,
        table.hour < end_hour,
    ]
    if part == "unbilled":
        where.append(table.unbilled_count > 0)

    def column(field: str) -> ColumnElement[Any]:
        value: ColumnElement[Any] = table[f"{part}_{field}"]
        if billed == "billed":  # all - unbilled: sum and count only
            value = type_coerce(value - table[f"unbilled_{field}"], value.type)
        return value

    last_row_id = select(func.max(table[f"{part}_last_row_id"])).where(*where)
    match aggregation:
        case "sum":
            value = select(type_coerce(func.sum(column("sum")), Decimal6Sum()))
        case "count":
            value = select(func.sum(column("count")))
        case "max":
            value = select(func.max(column("max")))
        case _:  # latest: the last hour with rows holds the latest row
            value = select(column("latest_quantity")).order_by(table.hour.desc()).limit(1)
    return MiddlePart(
        value=value.where(*where).scalar_subquery(),
        last_row_id=last_row_id.scalar_subquery(),
    )


def whole_hours(start: datetime, end: datetime) -> tuple[datetime, datetime] | None:
    """The whole UTC hours inside `[start, end)` as `(first, end)`, or None when there are none
    (a period edge off the hour, such as +05:30 midnight, leaves a partial hour to the rows)."""
    first, last = hour_from(start), hour_of(end)
    return (first, last) if first < last else None


def combine(aggregation: str, parts: Sequence[Decimal | None]) -> Decimal | None:
    """One aggregate from time-ordered, disjoint parts (None: an empty part); None when all are
    empty."""
    present = [part for part in parts if part is not None]
    if not present:
        return None
    match aggregation:
        case "sum" | "count":
            total = Decimal(0)
            for part in present:
                total = EXACT.add(total, part)
            return total
        case "max":
            return max(present)
        case _:  # latest: the latest non-empty part
            return present[-1]


__all__ = [
    "HOUR",
    "MiddlePart",
    "Totals",
    "add_rows",
    "bind_processor",
    "combine",
    "fold",
    "hour_from",
    "hour_of",
    "ledger_columns",
    "middle_part",
    "refresh_unbilled",
    "whole_hours",
]
