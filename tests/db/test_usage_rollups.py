"""Hourly usage rollups: an aggregate read from them equals the same aggregate read from the rows.

`aggregate_in` answers sum, count, max and latest of the whole hours from `usage_rollups` and
the partial hours at the edges from the rows. These tests compare it with the rows alone
(`rollups=False`) and with the pure core, over random usage with duplicates, late events,
invoices (the billing UPDATE moves rows out of the unbilled part), watermarks and period edges
off the hour (+05:30 midnight), on SQLite and PostgreSQL; and check after every step that the
stored rollups are exactly the rows folded afresh (`assert_rollups_match_rows`).
"""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from billing.aggregation import UsageRecord, aggregate
from billing.periods import Period, period_containing
from billing_db import repo_usage
from billing_db.engine import make_engine, transaction
from billing_db.errors import QuantityOverflowError
from billing_db.migrate import alembic_config, pending_changes, upgrade
from billing_db.records import UsageEventInput
from billing_db.repo_catalog import create_subscription
from billing_db.repo_invoices import create_invoice
from billing_db.repo_usage_rollups import Billed
from billing_db.tables import usage_events
from billing_db.types import MAX_DECIMAL6

from db.race import race
from db.scenario import (
    METERS,
    NOVEMBER,
    OCTOBER,
    Scenario,
    assert_rollups_match_rows,
    event,
    make_scenario,
    rated,
    rollups_of_rows,
    stored_rollups,
)

BILLED: tuple[Billed, ...] = ("any", "unbilled", "billed")
#: Windows on and off the hour: months, a +05:30 billing period, minutes, one partial hour.
WINDOWS = [
    OCTOBER,
    NOVEMBER,
    Period(start=OCTOBER.start, end=NOVEMBER.end),
    period_containing(datetime(2025, 10, 15, tzinfo=UTC), invoice_day=1, tz="Asia/Kolkata"),
    Period(
        start=datetime(2025, 10, 3, 5, 30, tzinfo=UTC),
        end=datetime(2025, 10, 20, 17, 45, 0, 1, tzinfo=UTC),
    ),
    Period(
        start=datetime(2025, 10, 12, 10, 15, tzinfo=UTC),
        end=datetime(2025, 10, 12, 10, 45, tzinfo=UTC),
    ),
    Period(
        start=datetime(2025, 10, 12, 10, tzinfo=UTC), end=datetime(2025, 10, 12, 11, tzinfo=UTC)
    ),
]


def _invoice(
    engine: Engine, scenario: Scenario, sub: str, period: Period, *, watermark: int
) -> None:
    """Invoice `period` of `sub`, billing its unbilled rows up to `watermark`."""
    create_invoice(
        engine,
        subscription_id=sub,
        period=period,
        rated=rated(scenario.pricing, period=period),
        issued_at=period.end,
        payment_terms_days=14,
        watermark=watermark,
    )


def _max_row_id(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.max(usage_events.c.id))).scalar() or 0)


def _aggregate(engine: Engine, sub: str, **query: Any) -> Decimal:
    with transaction(engine, write=False) as connection:
        return repo_usage.aggregate_in(connection, subscription_id=sub, **query)


def assert_rollups_agree_with_rows(engine: Engine, sub: str, watermarks: list[int]) -> None:
    """Every meter, window, billed filter and watermark: rollups and rows give one answer."""
    for meter, window, billed, max_row_id in itertools.product(
        METERS.values(), WINDOWS, BILLED, [None, *watermarks]
    ):
        query: dict[str, Any] = {
            "meter": meter,
            "start": window.start,
            "end": window.end,
            "billed": billed,
            "max_row_id": max_row_id,
        }
        from_rollups = _aggregate(engine, sub, **query)
        from_rows = _aggregate(engine, sub, rollups=False, **query)
        assert from_rollups == from_rows, (meter.aggregation, window, billed, max_row_id)


def _random_events(rng: random.Random, count: int, first: int = 0) -> list[UsageEventInput]:
    start = OCTOBER.start - timedelta(days=2)
    moments = [start + timedelta(seconds=rng.randrange(70 * 86_400)) for _ in range(count // 4)]
    events = []
    for index in range(first, first + count):
        at = rng.choice(moments)  # shared instants: `latest` ties broken by event_id
        if rng.random() < 0.3:
            at += timedelta(microseconds=rng.randrange(10**6))
        events.append(
            UsageEventInput(
                event_id=rng.choice(["e", "E", "é", "z", "10", "9", "\U0001f600"]) + str(index),
                meter_id=rng.choice(sorted(METERS)),
                quantity=Decimal(rng.randint(0, 10**9)).scaleb(-rng.randint(0, 6)),
                timestamp=at,
                properties={"user_id": rng.randint(0, 5)},
            )
        )
    return events


def _records(events: list[UsageEventInput]) -> list[UsageRecord]:
    return [UsageRecord.model_validate(e.model_dump(exclude_none=True)) for e in events]


@pytest.mark.parametrize("seed", [1, 2])
def test_rollups_agree_with_the_rows_through_intake_invoicing_and_late_usage(
    engine: Engine, seed: int
) -> None:
    rng = random.Random(seed)
    scenario = make_scenario(engine)
    sub = scenario.subscription_id
    first = _random_events(rng, 600)
    resent = rng.sample(first, 100)  # duplicates: ignored, the first stored one counts
    repo_usage.record_usage(engine, subscription_id=sub, events=first[:300])
    repo_usage.record_usage(engine, subscription_id=sub, events=first[300:] + resent)
    assert_rollups_match_rows(engine)
    for meter in METERS.values():  # and both equal the pure core
        for window in WINDOWS:
            expected = aggregate(_records(first), meter=meter, period=window)
            query = {"meter": meter, "start": window.start, "end": window.end}
            assert _aggregate(engine, sub, **query) == expected, (meter.aggregation, window)

    usage = repo_usage.period_usage(engine, subscription_id=sub, period=OCTOBER, meters=METERS)
    # Rows committed between the invoice's read and its creation: above its watermark.
    repo_usage.record_usage(engine, subscription_id=sub, events=_random_events(rng, 200, 1000))
    _invoice(engine, scenario, sub, OCTOBER, watermark=usage.watermark)
    assert_rollups_match_rows(engine)
    repo_usage.record_usage(engine, subscription_id=sub, events=_random_events(rng, 200, 2000))
    assert_rollups_match_rows(engine)
    watermarks = [usage.watermark, usage.watermark // 2, _max_row_id(engine)]
    assert_rollups_agree_with_rows(engine, sub, watermarks)

    november = repo_usage.period_usage(engine, subscription_id=sub, period=NOVEMBER, meters=METERS)
    assert november.late, "late October usage is expected in this scenario"
    with transaction(engine, write=False) as connection:  # the same figures from the rows
        for meter_id, quantity in november.quantities.items():
            assert quantity == repo_usage.aggregate_in(
                connection,
                subscription_id=sub,
                meter=METERS[meter_id],
                start=NOVEMBER.start,
                end=NOVEMBER.end,
                billed="unbilled",
                max_row_id=november.watermark,
                rollups=False,
            )
    _invoice(engine, scenario, sub, NOVEMBER, watermark=november.watermark)
    assert_rollups_match_rows(engine)
    assert_rollups_agree_with_rows(engine, sub, [november.watermark])


def test_whole_hours_are_read_from_the_rollups_and_the_rest_from_the_rows(engine: Engine) -> None:
    """The rollups really answer (and step aside exactly where they cannot)."""
    sub = make_scenario(engine).subscription_id
    repo_usage.record_usage(
        engine, subscription_id=sub, events=[event("a", 5), event("b", 7, meter_id="peak_vms")]
    )
    watermark = _max_row_id(engine)
    repo_usage.record_usage(engine, subscription_id=sub, events=[event("c", 1)])

    def answered(meter_id: str, window: Period = OCTOBER, **filters: Any) -> Decimal | None:
        with transaction(engine, write=False) as connection:
            return repo_usage._from_rollups(
                connection,
                subscription_id=sub,
                meter=METERS[meter_id],
                start=window.start,
                end=window.end,
                billed=filters.get("billed", "any"),
                max_row_id=filters.get("max_row_id"),
            )

    assert answered("bandwidth_egress") == 6
    assert answered("peak_vms") == 7
    assert answered("bandwidth_egress", billed="unbilled", max_row_id=_max_row_id(engine)) == 6
    assert answered("bandwidth_egress", max_row_id=watermark) is None  # "c" is above it
    assert answered("active_users") is None  # unique_count: rows only
    assert answered("peak_vms", billed="billed") is None  # a billed max is not kept
    assert answered("bandwidth_egress", WINDOWS[-2]) is None  # no whole hour inside


def _subscription(engine: Engine, scenario: Scenario, number: int) -> str:
    sub = f"sub_prop_{number}"
    create_subscription(
        engine,
        subscription_id=sub,
        account_id=scenario.account_id,
        customer_id=scenario.customer_id,
        pricing_version_id=scenario.pricing_version_id,
        started_at=OCTOBER.start,
        current_period=OCTOBER,
    )
    return sub


@pytest.fixture
def scenario(engine: Engine) -> Scenario:
    return make_scenario(engine)


_numbers = itertools.count()
_instants = st.integers(min_value=-3 * 3600, max_value=35 * 86_400).map(
    lambda seconds: OCTOBER.start + timedelta(seconds=seconds)
)
_events = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c", "d", "e", "f", "é", "Z"]),  # few ids: duplicates
        st.sampled_from(sorted(METERS)),
        st.decimals(min_value=0, max_value=10**6, places=3),
        _instants,
    ),
    max_size=30,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    batches=st.lists(_events, min_size=1, max_size=3),
    invoice_after=st.integers(min_value=0, max_value=3),
    window=st.tuples(_instants, st.integers(min_value=1, max_value=40 * 86_400)),
    billed=st.sampled_from(BILLED),
)
def test_property_rollups_and_rows_agree(
    engine: Engine,
    scenario: Scenario,
    batches: list[list[tuple[str, str, Decimal, datetime]]],
    invoice_after: int,
    window: tuple[datetime, int],
    billed: Billed,
) -> None:
    """Any batches (duplicates included), October invoiced after any of them, any window."""
    sub = _subscription(engine, scenario, next(_numbers))
    watermarks = []
    for index, batch in enumerate(batches):
        if index == invoice_after:
            usage = repo_usage.period_usage(
                engine, subscription_id=sub, period=OCTOBER, meters=METERS
            )
            watermarks.append(usage.watermark)
            _invoice(engine, scenario, sub, OCTOBER, watermark=usage.watermark)
        events = [
            UsageEventInput(event_id=f"{name}{index % 2}", meter_id=meter, quantity=q, timestamp=at)
            for name, meter, q, at in batch
        ]
        if events:
            repo_usage.record_usage(engine, subscription_id=sub, events=events)
    start, seconds = window
    end = start + timedelta(seconds=seconds)
    for meter, max_row_id in itertools.product(METERS.values(), [None, *watermarks]):
        query: dict[str, Any] = {
            "meter": meter,
            "start": start,
            "end": end,
            "billed": billed,
            "max_row_id": max_row_id,
        }
        assert _aggregate(engine, sub, **query) == _aggregate(
            engine, sub, rollups=False, **query
        ), (meter.aggregation, max_row_id)
    assert_rollups_match_rows(engine)


def test_concurrent_batches_over_the_same_hours_neither_deadlock_nor_lose_a_row(
    engine: Engine,
) -> None:
    """Batches of two subscriptions over the same hours, re-sending each other's events in
    other orders (PostgreSQL: rollup keys upserted in sorted order, so no deadlock)."""
    scenario = make_scenario(engine)
    subs = [scenario.subscription_id, _subscription(engine, scenario, 999)]
    numbers = itertools.count()
    pool = [
        (sub, event(f"e{n}", n % 7, at=OCTOBER.start + timedelta(minutes=7 * n)))
        for n in range(3000)
        for sub in subs
    ]

    def send() -> int:
        rng = random.Random(next(numbers))
        stored = 0
        for _ in range(5):
            batch = rng.sample(pool, 800)
            stored += len(repo_usage.ingest_usage(engine, batch, received_at=OCTOBER.end))
        return stored

    stored = race(4, send)
    with engine.connect() as connection:
        rows = connection.execute(select(func.count()).select_from(usage_events)).scalar_one()
    assert sum(stored) == rows
    assert_rollups_match_rows(engine)


def test_a_sum_past_sqlite_64_bits_breaks_neither_intake_nor_billing(engine: Engine) -> None:
    """SQLite stores an overflowing rollup sum as REAL (inexact): reads go to the rows, which
    raise `QuantityOverflowError` for the sum as before, and answer max exactly; PostgreSQL
    sums exactly."""
    scenario = make_scenario(engine)
    sub = scenario.subscription_id
    hour = datetime(2025, 10, 7, 9, tzinfo=UTC)
    huge = [
        event(f"{meter}-{n}", str(MAX_DECIMAL6), meter_id=meter, at=hour + timedelta(minutes=n))
        for n in range(12)
        for meter in ("bandwidth_egress", "peak_vms")
    ]
    repo_usage.record_usage(engine, subscription_id=sub, events=huge)
    sum_query: dict[str, Any] = {
        "meter": METERS["bandwidth_egress"],
        "start": OCTOBER.start,
        "end": OCTOBER.end,
    }
    max_query = {**sum_query, "meter": METERS["peak_vms"]}
    assert _aggregate(engine, sub, **max_query) == MAX_DECIMAL6
    if engine.dialect.name == "sqlite":
        for rollups in (True, False):
            with pytest.raises(QuantityOverflowError):
                _aggregate(engine, sub, rollups=rollups, **sum_query)
    else:
        assert _aggregate(engine, sub, **sum_query) == 12 * MAX_DECIMAL6
    _invoice(
        engine, scenario, sub, OCTOBER, watermark=_max_row_id(engine)
    )  # the billing UPDATE recomputes the unbilled part: no error either
    assert _aggregate(engine, sub, billed="billed", **max_query) == MAX_DECIMAL6
    assert _aggregate(engine, sub, billed="unbilled", **max_query) == 0
    if engine.dialect.name == "postgresql":  # SQLite's REAL sum does not read back, by design
        assert_rollups_match_rows(engine)


def test_upgrading_builds_the_rollups_of_the_rows_already_stored(
    engine: Engine, database_url: str
) -> None:
    """Migration 0004 over a ledger with billed, unbilled and late rows: the rollups it builds
    are the ones the running code keeps, and aggregates agree."""
    rng = random.Random(7)
    scenario = make_scenario(engine)
    sub = scenario.subscription_id
    repo_usage.record_usage(engine, subscription_id=sub, events=_random_events(rng, 400))
    usage = repo_usage.period_usage(engine, subscription_id=sub, period=OCTOBER, meters=METERS)
    _invoice(engine, scenario, sub, OCTOBER, watermark=usage.watermark)
    repo_usage.record_usage(engine, subscription_id=sub, events=_random_events(rng, 200, 1000))
    expected = rollups_of_rows(engine)
    assert stored_rollups(engine) == expected
    engine.dispose()
    command.downgrade(alembic_config(database_url), "0003")
    upgrade(database_url)

    upgraded = make_engine(database_url)
    try:
        assert stored_rollups(upgraded) == expected
        assert_rollups_agree_with_rows(upgraded, sub, [usage.watermark])
    finally:
        upgraded.dispose()
    assert pending_changes(database_url) == []
