"""Helpers shared by the repositories: clock, ids, row locks and the create-once pattern."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import Connection, Dialect, Engine, Table
from sqlalchemy.dialects.postgresql import Insert as PostgresqlInsert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from billing.identifiers import ID_RULE, is_identifier
from billing_db.engine import transaction
from billing_db.errors import InvalidRecordError

R = TypeVar("R")

#: How often a write that lost a race on a UNIQUE constraint is retried after re-reading.
RACE_RETRIES = 5


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    """A random id such as `we_3f9a...` (24 hex digits after the prefix)."""
    return f"{prefix}_{secrets.token_hex(12)}"


def upsert_into(connection: Connection, table: Table) -> PostgresqlInsert | SqliteInsert:
    """An INSERT into `table` in the connection's dialect, which knows ON CONFLICT."""
    if connection.dialect.name == "postgresql":
        return postgresql_insert(table)
    return sqlite_insert(table)


_MULTI_ROW: dict[tuple[str, str, str, tuple[str, ...], int, str], str] = {}


def multi_row_insert(
    dialect: Dialect, table: Table, columns: Sequence[str], count: int, tail: str
) -> str:
    """`INSERT INTO table (columns) VALUES (...) x count <tail>` in the driver's own parameter
    style, cached per shape: the SQL of the intake's hot path, run on the driver's cursor."""
    key = (dialect.name, dialect.paramstyle, table.name, tuple(columns), count, tail)
    statement = _MULTI_ROW.get(key)
    if statement is None:
        quote = dialect.identifier_preparer.quote
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        row = "(" + ", ".join([mark] * len(columns)) + ")"
        statement = _MULTI_ROW[key] = (
            f"INSERT INTO {quote(table.name)} ({', '.join(map(quote, columns))}) "
            f"VALUES {', '.join([row] * count)} {tail}"
        )
    return statement


def check_identifier(value: str, *, field: str) -> str:
    """The one identifier rule (`billing.identifiers`)."""
    if not is_identifier(value):
        raise InvalidRecordError(f"{field}: {value!r} is not a valid id ({ID_RULE})")
    return value


def check_aware(value: datetime, *, field: str) -> datetime:
    """Return `value` in UTC, or raise naming `field` when it has no time zone."""
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise InvalidRecordError(f"{field}: must be a timezone-aware datetime, got {value!r}")
    return value.astimezone(UTC)


def check_text(value: str, *, field: str, max_length: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRecordError(f"{field}: must not be empty")
    if len(value) > max_length:
        raise InvalidRecordError(f"{field}: at most {max_length} characters, got {len(value)}")
    return value


def create_once(
    engine: Engine,
    *,
    read: Callable[[Connection], R | None],
    write: Callable[[Connection], R],
) -> tuple[R, bool]:
    """Return `(existing, False)` when `read` finds the row, else `(write(...), True)`.

    Read and write share one transaction. When a concurrent writer wins the race on a UNIQUE
    constraint (PostgreSQL; SQLite serialises writers), the transaction is rolled back and the
    read runs again, so the caller sees the winner's row.
    """
    for attempt in range(RACE_RETRIES):
        try:
            with transaction(engine) as connection:
                existing = read(connection)
                if existing is not None:
                    return existing, False
                return write(connection), True
        except IntegrityError:
            if attempt == RACE_RETRIES - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover
