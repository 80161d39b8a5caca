"""Engines: SQLite pragmas and folder, PostgreSQL URL spellings, exact decimals, UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, Table, insert, select, text
from sqlalchemy.exc import StatementError

from billing_db.engine import make_engine, normalise_url, session_scope, transaction
from billing_db.types import Decimal6, ExactDecimal, UTCDateTime
from scripts.postgres_tools import ThrowawayCluster


def test_sqlite_engine_creates_the_folder_and_sets_wal_busy_timeout_and_foreign_keys(
    tmp_path: Path,
) -> None:
    path = tmp_path / "nested" / "folder" / "billing.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            pragma = {
                name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "busy_timeout", "foreign_keys")
            }
        assert path.exists()
        assert pragma == {"journal_mode": "wal", "busy_timeout": 30000, "foreign_keys": 1}
    finally:
        engine.dispose()


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg"])
def test_postgresql_urls_use_psycopg_whatever_the_spelling(
    scheme: str, postgres_cluster: ThrowawayCluster
) -> None:
    url = postgres_cluster.url().replace("postgresql+psycopg", scheme)
    assert normalise_url(url).drivername == "postgresql+psycopg"
    engine = make_engine(url)
    try:
        with transaction(engine, write=False) as connection:
            assert connection.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()


def _values_table() -> Table:
    return Table(
        "typed_values",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("money", Decimal6()),
        Column("exact", ExactDecimal()),
        Column("at", UTCDateTime()),
    )


def test_decimals_and_datetimes_come_back_exact_and_utc(engine: Engine) -> None:
    table = _values_table()
    table.create(engine)
    paris = timezone(timedelta(hours=2))
    values = [
        (
            Decimal("0.1"),
            Decimal("0.142857142857142857142857"),
            datetime(2025, 10, 1, 2, tzinfo=paris),
        ),
        (Decimal("999999999999.999999"), Decimal("1E-30"), datetime(2025, 1, 1, tzinfo=UTC)),
        (Decimal("-49.99"), Decimal(17) / Decimal(31), datetime(2025, 3, 30, 1, 30, tzinfo=UTC)),
    ]
    with transaction(engine) as connection:
        connection.execute(insert(table), [{"money": m, "exact": e, "at": a} for m, e, a in values])
    with session_scope(engine, write=False) as session:
        rows = session.execute(select(table).order_by(table.c.id)).all()
    for row, (money, exact, at) in zip(rows, values, strict=True):
        assert row.money == money
        assert isinstance(row.money, Decimal)
        assert row.exact == exact
        assert isinstance(row.exact, Decimal)
        assert row.at == at
        assert row.at.tzinfo == UTC


@pytest.mark.parametrize(
    ("money", "at"),
    [
        (Decimal("0.0000001"), datetime(2025, 1, 1, tzinfo=UTC)),
        (Decimal("1000000000000"), datetime(2025, 1, 1, tzinfo=UTC)),
        (Decimal("1"), datetime(2025, 1, 1)),
    ],
    ids=["seven-decimals", "too-large", "naive-datetime"],
)
def test_values_that_would_not_round_trip_exactly_are_refused(
    engine: Engine, money: Decimal, at: datetime
) -> None:
    table = _values_table()
    table.create(engine)
    with pytest.raises(StatementError), transaction(engine) as connection:
        connection.execute(insert(table).values(money=money, at=at))
    with transaction(engine, write=False) as connection:
        assert connection.execute(select(table)).all() == []
