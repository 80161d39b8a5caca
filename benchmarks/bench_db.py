"""Billing database: usage ingestion and a month's aggregation, on SQLite and PostgreSQL.

Set-up, per backend: a freshly migrated database (SQLite: a WAL file in a temporary folder;
PostgreSQL: a throwaway local cluster from scripts/postgres_tools.py, fsync off), the seed's
account, meter, pricing and one subscription. `--events` usage events (default one million) of
that subscription, spread over one month, are recorded through `repo_usage.record_usage` in
batches of 1,000 (one transaction each, duplicates ignored by the database); a second
subscription gets a tenth as many events in the same month, so the aggregation has to select.
Prints the insert rate (events/s over the time spent inside `record_usage`, which also keeps
the hourly rollups; generating the events is not counted) and the time of
`repo_usage.aggregate_usage` over the subscription's month: from the hourly rollups (the first
call and the median of `--runs`), beside the same SUM over the rows alone (`rollups=False`), and
the invoice's read (`period_usage`: unbilled rows up to the watermark, under the lock). Nothing
here asserts a time.

    uv run python -m benchmarks.bench_db [--events 1000000] [--runs 5] [--backend sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
from sqlalchemy import Engine, func, select, text

from billing import seed as guide
from billing.catalog import BillingConfig, Meter, NotificationConfig, Pricing
from billing.periods import Period
from billing_db import repo_catalog as catalog
from billing_db.engine import make_engine
from billing_db.migrate import upgrade
from billing_db.records import UsageEventInput
from billing_db.repo_usage import aggregate_usage, period_usage, record_usage
from billing_db.tables import usage_rollups
from scripts.postgres_tools import start_cluster

BATCH = 1000
ACCOUNT = "acct_bench"
METER = Meter.model_validate(guide.METER)
PRICING = Pricing.model_validate(guide.HYBRID_PRICING)
MONTH = Period(start=datetime(2026, 10, 1, tzinfo=UTC), end=datetime(2026, 11, 1, tzinfo=UTC))


@contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="bench-db-") as folder:
        yield f"sqlite:///{Path(folder) / 'billing.db'}"


@contextmanager
def postgresql_database() -> Iterator[str]:
    cluster = start_cluster()
    try:
        with psycopg.connect(
            host="127.0.0.1", port=cluster.port, user="postgres", autocommit=True
        ) as admin:
            admin.execute("CREATE DATABASE billing_bench")
        yield cluster.url("billing_bench")
    finally:
        cluster.stop()


def seed(engine: Engine, subscription_ids: list[str]) -> None:
    catalog.create_account(
        engine,
        account_id=ACCOUNT,
        name="Benchmark",
        mode="test",
        billing=BillingConfig(),
        notifications=NotificationConfig(),
    )
    catalog.create_meter(engine, account_id=ACCOUNT, meter=METER)
    pricing = catalog.create_pricing_version(engine, account_id=ACCOUNT, pricing=PRICING)
    for subscription_id in subscription_ids:
        customer = catalog.create_customer(
            engine,
            account_id=ACCOUNT,
            customer_id=f"cus_{subscription_id}",
            name="Bench Customer",
            billing_email="bench@example.com",
            time_zone="UTC",
        )
        catalog.create_subscription(
            engine,
            subscription_id=subscription_id,
            account_id=ACCOUNT,
            customer_id=customer.id,
            pricing_version_id=pricing.id,
            started_at=MONTH.start,
            current_period=MONTH,
        )


def batch_of(subscription_id: str, first: int, count: int, total: int) -> list[UsageEventInput]:
    """Events `first..first+count` of `total`, evenly spread over the month."""
    step = (MONTH.end - MONTH.start) / total
    return [
        UsageEventInput(
            event_id=f"{subscription_id}-evt-{n:08d}",
            meter_id=METER.id,
            quantity=Decimal(n % 997).scaleb(-2),
            timestamp=MONTH.start + step * n,
        )
        for n in range(first, first + count)
    ]


def ingest(engine: Engine, subscription_id: str, total: int, *, progress: bool) -> float:
    """Seconds spent inside `record_usage` for `total` events in batches of `BATCH`."""
    spent = 0.0
    received_at = MONTH.end + timedelta(hours=1)
    for first in range(0, total, BATCH):
        events = batch_of(subscription_id, first, min(BATCH, total - first), total)
        started = time.perf_counter()
        result = record_usage(
            engine, subscription_id=subscription_id, events=events, received_at=received_at
        )
        spent += time.perf_counter() - started
        if result.new != len(events):
            raise RuntimeError(f"expected {len(events)} new events, got {result}")
        if progress and (first // BATCH) % 100 == 99:
            print(f"    {first + BATCH:>9,} events, {(first + BATCH) / spent:,.0f}/s", flush=True)
    return spent


def aggregate_times(
    engine: Engine, subscription_id: str, runs: int, *, rollups: bool = True
) -> tuple[float, list[float]]:
    def once() -> float:
        started = time.perf_counter()
        aggregate_usage(
            engine,
            subscription_id=subscription_id,
            meter=METER,
            start=MONTH.start,
            end=MONTH.end,
            rollups=rollups,
        )
        return time.perf_counter() - started

    first = once()
    return first, [once() for _ in range(runs)]


def period_usage_times(engine: Engine, subscription_id: str, runs: int) -> list[float]:
    def once() -> float:
        started = time.perf_counter()
        period_usage(engine, subscription_id=subscription_id, period=MONTH, meters=[METER])
        return time.perf_counter() - started

    return [once() for _ in range(runs)]


def ms(times: list[float]) -> str:
    """`median M ms (min, max)` of `times`."""
    return (
        f"median {statistics.median(times) * 1000:.1f} ms "
        f"(min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f})"
    )


def rollup_rows(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(usage_rollups)).scalar_one())


def expected_sum(total: int) -> Decimal:
    return sum((Decimal(n % 997).scaleb(-2) for n in range(total)), Decimal(0))


STATISTICS = {"sqlite": "ANALYZE", "postgresql": "VACUUM ANALYZE (what autovacuum does)"}


def refresh_statistics(engine: Engine, backend: str) -> None:
    statement = "ANALYZE" if backend == "sqlite" else "VACUUM ANALYZE usage_events, usage_rollups"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(statement))


def run(backend: str, url: str, events: int, runs: int) -> None:
    upgrade(url)
    engine = make_engine(url)
    try:
        seed(engine, ["sub_main", "sub_other"])
        print(f"  {backend}: recording {events:,} events in batches of {BATCH:,}", flush=True)
        spent = ingest(engine, "sub_main", events, progress=events >= 200_000)
        ingest(engine, "sub_other", max(events // 10, 1), progress=False)
        total = aggregate_usage(
            engine, subscription_id="sub_main", meter=METER, start=MONTH.start, end=MONTH.end
        )
        if total != expected_sum(events):
            raise RuntimeError(f"aggregate {total} differs from {expected_sum(events)}")
        first, times = aggregate_times(engine, "sub_main", runs)
        _, raw = aggregate_times(engine, "sub_main", runs, rollups=False)
        print(
            f"  {backend}: insert {events / spent:,.0f} events/s ({spent:.1f} s for {events:,}; "
            f"{rollup_rows(engine):,} rollup rows); sum {total}",
            flush=True,
        )
        print(
            f"  {backend}: aggregate a month of {events:,} events: rollups first "
            f"{first * 1000:.1f} ms, {ms(times)}; rows alone {ms(raw)}",
            flush=True,
        )
        # Right after a bulk load the planner's statistics are stale; autovacuum (PostgreSQL)
        # refreshes them within a minute or so. Measure again as it would leave the table.
        refresh_statistics(engine, backend)
        _, times = aggregate_times(engine, "sub_main", runs)
        _, raw = aggregate_times(engine, "sub_main", runs, rollups=False)
        invoice_read = period_usage_times(engine, "sub_main", runs)
        print(
            f"  {backend}: after {STATISTICS[backend]}: aggregate rollups {ms(times)}; "
            f"rows alone {ms(raw)}; period_usage (unbilled, watermark) {ms(invoice_read)}",
            flush=True,
        )
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_db", description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], action="append")
    args = parser.parse_args(argv)
    if args.events < 1 or args.runs < 1:
        parser.error("--events and --runs must be at least 1")
    backends = args.backend or ["sqlite", "postgresql"]
    print(f"bench_db: {args.events:,} usage events of one subscription, batches of {BATCH:,}")
    databases = {"sqlite": sqlite_database, "postgresql": postgresql_database}
    for backend in backends:
        with databases[backend]() as url:
            run(backend, url, args.events, args.runs)


if __name__ == "__main__":
    main()
