"""The running aggregate equals `aggregate()` for every aggregation (hypothesis), and the
`unique_count` state stays bounded at any number of distinct values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.aggregation import UsageRecord, aggregate
from billing.catalog import Meter
from billing.running import SKETCH_SIZE, MeterUsage, accumulate, running

AGGREGATIONS = ["sum", "count", "max", "latest", "unique_count"]
START = datetime(2025, 10, 1, tzinfo=UTC)


def meter(aggregation: str) -> Meter:
    return Meter.model_validate(
        {"name": "m", "unit": "u", "aggregation": aggregation, "field_name": "user"}
    )


property_values = st.one_of(
    st.none(),
    st.sampled_from(["alice", "bob", "42", "true"]),
    st.integers(min_value=0, max_value=50),
    st.booleans(),
)


event = st.tuples(
    st.decimals(min_value=0, max_value=10_000, places=3),
    # few distinct instants, so that `latest` must break ties by event id
    st.integers(min_value=0, max_value=5),
    st.one_of(st.just({}), st.fixed_dictionaries({"user": property_values})),
)
records = st.lists(event, max_size=25).map(
    lambda drawn: [
        UsageRecord(
            event_id=f"e{n}",
            meter_id="m",
            quantity=quantity,
            timestamp=START + timedelta(minutes=minutes),
            properties=properties,
        )
        for n, (quantity, minutes, properties) in enumerate(drawn)
    ]
)
PROPERTIES = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
@PROPERTIES
@given(events=records)
def test_the_running_aggregate_equals_the_period_aggregate(
    aggregation: str, events: list[UsageRecord]
) -> None:
    usage = running(events, meter(aggregation))
    assert usage.quantity == aggregate(events, meter=meter(aggregation))
    assert usage.events == len(events)
    assert not usage.estimated


@PROPERTIES
@given(events=records, split=st.integers(min_value=0, max_value=40))
def test_the_running_aggregate_survives_a_hand_over_as_json(
    events: list[UsageRecord], split: int
) -> None:
    """Carried through continue-as-new as JSON half way, the result is the same."""
    unique = meter("unique_count")
    half = MeterUsage.model_validate_json(running(events[:split], unique).model_dump_json())
    for record in events[split:]:
        half = accumulate(half, record, unique)
    assert half == running(events, unique)


def _distinct_users(count: int) -> list[UsageRecord]:
    return [
        UsageRecord(
            event_id=f"e{n}",
            meter_id="m",
            quantity=Decimal(1),
            timestamp=START,
            properties={"user": f"user-{n}"},
        )
        for n in range(count)
    ]


def test_unique_count_is_exact_up_to_the_sketch_size_and_a_flagged_estimate_beyond() -> None:
    exact = running(_distinct_users(SKETCH_SIZE), meter("unique_count"))
    assert (exact.quantity, exact.estimated) == (Decimal(SKETCH_SIZE), False)

    many = running(_distinct_users(20_000), meter("unique_count"))
    assert many.estimated
    assert len(many.sketch) == SKETCH_SIZE
    assert abs(many.quantity - 20_000) / 20_000 < Decimal("0.2")


def test_distinct_values_carried_by_an_older_run_are_taken_over() -> None:
    older = MeterUsage(quantity=Decimal(2), events=2, distinct=["alice", "bob"])
    again = accumulate(
        older,
        _distinct_users(1)[0].model_copy(update={"properties": {"user": "bob"}}),
        meter("unique_count"),
    )
    new = accumulate(again, _distinct_users(1)[0], meter("unique_count"))
    assert (again.quantity, new.quantity, new.distinct) == (Decimal(2), Decimal(3), [])
