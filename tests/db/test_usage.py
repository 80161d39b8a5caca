"""Usage events: recorded once each, bad batches write nothing, aggregation runs in SQL."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from billing.aggregation import UsageRecord, aggregate
from billing.invoice import LateUsage
from billing_db import repo_usage
from billing_db.errors import (
    InvalidUsageEventError,
    UnknownSubscriptionError,
    UnpricedMeterError,
)
from billing_db.records import UsageEventInput, UsageRecorded
from billing_db.repo_invoices import create_invoice
from billing_db.tables import usage_events

from db.race import race
from db.scenario import METERS, NOVEMBER, OCTOBER, event, make_scenario, rated, row_counts


def _stored_events(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(usage_events)).scalar_one())


def test_a_batch_is_recorded_once_and_a_retry_counts_only_duplicates(engine: Engine) -> None:
    scenario = make_scenario(engine)
    batch = [event(f"e{i}", i) for i in range(1, 6)]
    first = repo_usage.record_usage(engine, subscription_id=scenario.subscription_id, events=batch)
    retry = repo_usage.record_usage(engine, subscription_id=scenario.subscription_id, events=batch)
    assert first == UsageRecorded(new=5, duplicates=0)
    assert retry == UsageRecorded(new=0, duplicates=5)
    assert _stored_events(engine) == 5


def test_an_event_id_repeated_inside_a_batch_counts_once(engine: Engine) -> None:
    scenario = make_scenario(engine)
    batch = [event("e1", 3), event("e2", 4), event("e1", 3)]
    result = repo_usage.record_usage(engine, subscription_id=scenario.subscription_id, events=batch)
    assert result == UsageRecorded(new=2, duplicates=1)
    total = repo_usage.aggregate_usage(
        engine,
        subscription_id=scenario.subscription_id,
        meter=METERS["bandwidth_egress"],
        start=OCTOBER.start,
        end=OCTOBER.end,
    )
    assert total == Decimal(7)


def test_event_ids_are_unique_per_subscription_not_globally(engine: Engine) -> None:
    first = make_scenario(engine, subscription_id="sub_a", customer_id="cus_a")
    second = make_scenario(engine, subscription_id="sub_b", customer_id="cus_b")
    for scenario in (first, second):
        recorded = repo_usage.record_usage(
            engine, subscription_id=scenario.subscription_id, events=[event("same-id", 2)]
        )
        assert recorded.new == 1


def test_a_large_batch_is_inserted_in_chunks(engine: Engine) -> None:
    scenario = make_scenario(engine)
    batch = [event(f"e{i}", 1) for i in range(repo_usage.INSERT_CHUNK * 2 + 7)]
    result = repo_usage.record_usage(engine, subscription_id=scenario.subscription_id, events=batch)
    assert result == UsageRecorded(new=len(batch), duplicates=0)


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (event("bad", -1), InvalidUsageEventError),
        (event("bad", "0.0000001"), InvalidUsageEventError),
        (event("x" * 256, 1), InvalidUsageEventError),
        (event("bad", 1, meter_id="gpu_hours"), UnpricedMeterError),
    ],
    ids=["negative-quantity", "seven-decimals", "event-id-too-long", "unpriced-meter"],
)
def test_a_batch_with_one_bad_event_raises_naming_it_and_writes_nothing(
    engine: Engine, bad: UsageEventInput, error: type[Exception]
) -> None:
    scenario = make_scenario(engine)
    before = row_counts(engine)
    batch = [event("good-1"), event("good-2"), bad]
    with pytest.raises(error) as raised:
        repo_usage.record_usage(engine, subscription_id=scenario.subscription_id, events=batch)
    assert isinstance(raised.value, InvalidUsageEventError)
    assert raised.value.index == 2
    assert "events[2]" in str(raised.value)
    assert row_counts(engine) == before


def test_usage_for_an_unknown_subscription_raises_and_writes_nothing(engine: Engine) -> None:
    make_scenario(engine)
    before = row_counts(engine)
    with pytest.raises(UnknownSubscriptionError, match="sub_missing"):
        repo_usage.record_usage(engine, subscription_id="sub_missing", events=[event("e1")])
    assert row_counts(engine) == before


def test_two_tasks_recording_the_same_batch_at_once_count_it_once(engine: Engine) -> None:
    scenario = make_scenario(engine)
    batch = [event(f"e{i}", i) for i in range(500)]
    results = race(
        2,
        lambda: repo_usage.record_usage(
            engine, subscription_id=scenario.subscription_id, events=batch
        ),
    )
    assert sorted(result.new for result in results) == [0, 500]
    assert sum(result.duplicates for result in results) == 500
    assert _stored_events(engine) == 500


# --- SQL aggregation against the pure core ---------------------------------------------------


def _random_events(rng: random.Random, count: int) -> list[UsageEventInput]:
    start = OCTOBER.start - timedelta(days=3)
    events = []
    for index in range(count):
        meter_id = rng.choice(sorted(METERS))
        properties: dict[str, Any] | None = None
        if rng.random() < 0.9:
            value = rng.choice(
                [rng.randint(0, 6), str(rng.randint(0, 6)), rng.choice([True, False]), None, 1.5]
            )
            properties = {"user_id": value, "region": rng.choice(["eu", "us"])}
        events.append(
            UsageEventInput(
                event_id=rng.choice(["e", "E", "é", "z", "10", "9"]) + str(index),
                meter_id=meter_id,
                quantity=Decimal(rng.randint(0, 10**9)).scaleb(-rng.randint(0, 6)),
                # Few distinct timestamps, so that `latest` ties are broken by event_id.
                timestamp=start + timedelta(days=rng.randint(0, 36), hours=rng.choice([0, 12])),
                properties=properties,
            )
        )
    return events


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sql_aggregation_agrees_with_the_pure_core_on_random_usage(
    engine: Engine, seed: int
) -> None:
    scenario = make_scenario(engine)
    rng = random.Random(seed)
    events = _random_events(rng, 400)
    repo_usage.record_usage(engine, subscription_id=scenario.subscription_id, events=events)
    records = [UsageRecord.model_validate(e.model_dump(exclude_none=True)) for e in events]
    windows = [OCTOBER, NOVEMBER]
    for meter in METERS.values():
        for window in windows:
            expected = aggregate(records, meter=meter, period=window)
            actual = repo_usage.aggregate_usage(
                engine,
                subscription_id=scenario.subscription_id,
                meter=meter,
                start=window.start,
                end=window.end,
            )
            assert actual == expected, (meter.aggregation, window)


def test_aggregating_no_events_gives_zero_for_every_aggregation(engine: Engine) -> None:
    scenario = make_scenario(engine)
    for meter in METERS.values():
        value = repo_usage.aggregate_usage(
            engine,
            subscription_id=scenario.subscription_id,
            meter=meter,
            start=OCTOBER.start,
            end=OCTOBER.end,
        )
        assert value == 0


def test_aggregation_can_be_limited_to_unbilled_rows_up_to_a_row_id(engine: Engine) -> None:
    scenario = make_scenario(engine)
    repo_usage.record_usage(
        engine, subscription_id=scenario.subscription_id, events=[event("a", 1), event("b", 2)]
    )
    watermark = repo_usage.period_usage(
        engine, subscription_id=scenario.subscription_id, period=OCTOBER, meters=METERS
    ).watermark
    repo_usage.record_usage(
        engine, subscription_id=scenario.subscription_id, events=[event("c", 4)]
    )
    common: dict[str, Any] = {
        "subscription_id": scenario.subscription_id,
        "meter": METERS["bandwidth_egress"],
        "start": OCTOBER.start,
        "end": OCTOBER.end,
    }
    assert repo_usage.aggregate_usage(engine, **common) == 7
    assert repo_usage.aggregate_usage(engine, **common, max_row_id=watermark) == 3
    create_invoice(
        engine,
        subscription_id=scenario.subscription_id,
        period=OCTOBER,
        rated=rated(scenario.pricing, gb="3"),
        issued_at=OCTOBER.end,
        payment_terms_days=14,
        watermark=watermark,
    )
    assert repo_usage.aggregate_usage(engine, **common, unbilled_only=True) == 4


# --- a period's usage ------------------------------------------------------------------------


def test_period_usage_reports_unbilled_usage_and_late_usage_of_invoiced_periods(
    engine: Engine,
) -> None:
    scenario = make_scenario(engine)
    sub = scenario.subscription_id
    october = datetime(2025, 10, 20, tzinfo=UTC)
    november = datetime(2025, 11, 20, tzinfo=UTC)
    repo_usage.record_usage(
        engine,
        subscription_id=sub,
        events=[event("o1", 150, at=october), event("n0", 1, at=november)],
    )
    usage = repo_usage.period_usage(engine, subscription_id=sub, period=OCTOBER, meters=METERS)
    assert usage.quantities["bandwidth_egress"] == 150
    assert usage.late == []
    create_invoice(
        engine,
        subscription_id=sub,
        period=OCTOBER,
        rated=rated(scenario.pricing, gb="150"),
        issued_at=OCTOBER.end,
        payment_terms_days=14,
        watermark=usage.watermark,
    )
    # Late October usage arrives after October's invoice, twice.
    repo_usage.record_usage(
        engine,
        subscription_id=sub,
        events=[event("o2", 50, at=october), event("n1", 10, at=november)],
    )
    november_usage = repo_usage.period_usage(
        engine, subscription_id=sub, period=NOVEMBER, meters=METERS
    )
    assert november_usage.quantities["bandwidth_egress"] == 11
    assert november_usage.late == [
        LateUsage(
            meter_id="bandwidth_egress",
            period=OCTOBER,
            billed_quantity=Decimal(150),
            new_quantity=Decimal(200),
        )
    ]
    invoice = create_invoice(
        engine,
        subscription_id=sub,
        period=NOVEMBER,
        rated=rated(scenario.pricing, gb="11", period=NOVEMBER),
        issued_at=NOVEMBER.end,
        payment_terms_days=14,
        watermark=november_usage.watermark,
    )
    repo_usage.record_usage(engine, subscription_id=sub, events=[event("o3", 5, at=october)])
    december = repo_usage.period_usage(
        engine,
        subscription_id=sub,
        period=NOVEMBER.model_copy(
            update={"start": NOVEMBER.end, "end": NOVEMBER.end + timedelta(days=31)}
        ),
        meters=METERS,
    )
    assert december.late == [
        LateUsage(
            meter_id="bandwidth_egress",
            period=OCTOBER,
            billed_quantity=Decimal(200),
            new_quantity=Decimal(205),
        )
    ]
    assert invoice.usage_watermark == november_usage.watermark
