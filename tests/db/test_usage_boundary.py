"""The invoice boundary: usage committed while its period is being invoiced is on that invoice
or a late line of the next, never both, never neither.

The rule (`billing_db.repo_usage`): every writer of usage rows (`record_usage` for the workflow,
`ingest_usage` for the batch intake) holds a share lock on the subscription while it inserts;
`period_usage` takes the subscription's update lock, so it waits for those in flight, and reads
the highest row id as its watermark. The invoice bills exactly the unbilled rows up to the
watermark; a row committed later has a higher id and stays unbilled, so the next invoice finds
it as late usage of the invoiced period. Proved here by ingesting from several threads while
the period is invoiced."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine, func, select

from billing_db import repo_usage
from billing_db.engine import make_engine, transaction
from billing_db.repo_catalog import read_subscription
from billing_db.repo_invoices import create_invoice
from billing_db.tables import usage_events

from db.scenario import (
    METERS,
    NOVEMBER,
    OCTOBER,
    assert_rollups_match_rows,
    event,
    make_scenario,
    rated,
)

INGESTERS = 3
BATCH = 1000


def _billed_sum(engine: Engine) -> Decimal:
    """The quantity of the rows an invoice billed (here, October's: the only one)."""
    with engine.connect() as connection:
        query = select(func.coalesce(func.sum(usage_events.c.quantity), 0)).where(
            usage_events.c.invoice_id.is_not(None)
        )
        return Decimal(connection.execute(query).scalar_one())


def _all_sum(engine: Engine) -> tuple[Decimal, int]:
    with engine.connect() as connection:
        query = select(func.coalesce(func.sum(usage_events.c.quantity), 0), func.count())
        total, rows = connection.execute(query).one()
        return Decimal(total), int(rows)


def test_usage_ingested_while_its_period_is_invoiced_counts_exactly_once(engine: Engine) -> None:
    scenario = make_scenario(engine)
    sub = scenario.subscription_id
    october = datetime(2025, 10, 20, tzinfo=UTC)
    stop = threading.Event()
    ids = itertools.count()
    lock = threading.Lock()
    sent: list[int] = []
    errors: list[BaseException] = []

    def ingest() -> None:
        try:
            while not stop.is_set():
                with lock:
                    batch = [next(ids) for _ in range(BATCH)]
                events = [
                    (sub, event(f"e{n}", 1, at=october + timedelta(seconds=n))) for n in batch
                ]
                repo_usage.ingest_usage(engine, events, received_at=datetime.now(UTC))
                with lock:
                    sent.extend(batch)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=ingest) for _ in range(INGESTERS)]
    for thread in threads:
        thread.start()
    while True:  # invoice October while the ingesters are at full speed
        with lock:
            if len(sent) >= 4 * BATCH:
                break
    usage = repo_usage.period_usage(engine, subscription_id=sub, period=OCTOBER, meters=METERS)
    counted = usage.quantities["bandwidth_egress"]
    create_invoice(
        engine,
        subscription_id=sub,
        period=OCTOBER,
        rated=rated(scenario.pricing, gb=str(counted)),
        issued_at=OCTOBER.end,
        payment_terms_days=14,
        watermark=usage.watermark,
    )
    with lock:
        target = len(sent) + 4 * BATCH
    while True:  # and keep ingesting October usage after its invoice
        with lock:
            if len(sent) >= target or errors:
                break
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors

    total, rows = _all_sum(engine)
    assert rows == len(sent) == len(set(sent))
    assert _billed_sum(engine) == counted > 0  # the invoice billed what it counted
    late = repo_usage.period_usage(engine, subscription_id=sub, period=NOVEMBER, meters=METERS)
    [october_late] = late.late
    assert october_late.billed_quantity == counted
    assert october_late.new_quantity == total == len(sent)  # the rest is late: none lost
    assert october_late.new_quantity - october_late.billed_quantity > 0
    assert_rollups_match_rows(engine)  # the hourly rollups kept up with intake and billing


def test_an_ingest_waits_while_an_invoice_reads_its_watermark(fresh_postgresql_url: str) -> None:
    """The mechanism itself, deterministically (PostgreSQL's row locks): while an invoicer holds
    the subscription's update lock, `ingest_usage` waits; its rows then get ids above the
    watermark the invoicer read."""
    engine = make_engine(fresh_postgresql_url)
    try:
        sub = make_scenario(engine).subscription_id
        done = threading.Event()

        def ingest() -> None:
            repo_usage.ingest_usage(
                engine, [(sub, event("late", 1))], received_at=datetime.now(UTC)
            )
            done.set()

        with transaction(engine) as connection:
            read_subscription(connection, sub, lock="update")
            watermark = int(connection.execute(select(func.max(usage_events.c.id))).scalar() or 0)
            writer = threading.Thread(target=ingest)
            writer.start()
            assert not done.wait(1.0), "the ingest did not wait for the invoicer's lock"
        writer.join(timeout=30)
        assert done.is_set()
        with engine.connect() as connection:
            [row_id] = connection.execute(select(usage_events.c.id)).scalars().all()
        assert row_id > watermark
    finally:
        engine.dispose()
