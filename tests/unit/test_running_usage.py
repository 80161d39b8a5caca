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
from billing.periods import Period
from billing.running import SKETCH_SIZE, MeterUsage, accumulate, by_period, merge, running

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


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
@PROPERTIES
@given(events=records, split=st.integers(min_value=0, max_value=30))
def test_merging_two_folds_equals_folding_them_in_one(
    aggregation: str, events: list[UsageRecord], split: int
) -> None:
    """The ledger is read a slice of rows at a time: the slices' folds merge into the whole's."""
    this = meter(aggregation)
    merged = merge(running(events[:split], this), running(events[split:], this), this)
    whole = running(events, this)
    assert (merged.quantity, merged.events) == (whole.quantity, whole.events)
    assert merged.quantity == aggregate(events, meter=this)


def test_merged_sketches_equal_one_sketch_beyond_its_size() -> None:
    """K-minimum-values sketches merge exactly: the union's K smallest hashes."""
    unique = meter("unique_count")
    events = [
        UsageRecord(
            event_id=f"e{n}",
            meter_id="m",
            quantity=Decimal(1),
            timestamp=START,
            properties={"user": f"user-{n % 700}"},
        )
        for n in range(1500)
    ]
    merged = merge(running(events[:900], unique), running(events[900:], unique), unique)
    assert merged == running(events, unique)
    assert merged.estimated
    assert len(merged.sketch) == SKETCH_SIZE


def test_new_rows_count_in_the_period_of_their_timestamp() -> None:
    """Before the current period: late; in it: current; after its end: the next period."""
    october = Period(start=START, end=datetime(2025, 11, 1, tzinfo=UTC))
    november = Period(start=october.end, end=datetime(2025, 12, 1, tzinfo=UTC))
    sums = {"m": meter("sum")}

    def at(when: datetime, quantity: int, meter_id: str = "m") -> UsageRecord:
        return UsageRecord(
            event_id=f"{when:%j%H%M}-{meter_id}",
            meter_id=meter_id,
            quantity=Decimal(quantity),
            timestamp=when,
        )

    rows = [
        at(START - timedelta(days=3), 5),
        at(START + timedelta(days=2), 7),
        at(START + timedelta(days=20), 11),
        at(november.start + timedelta(minutes=2), 13),
        at(START + timedelta(days=4), 17, meter_id="unpriced"),
    ]
    usage, late = by_period(rows, sums, current=october, closing_at=None, invoice_day=1, tz="UTC")
    assert late == 1
    assert {period: u["m"].quantity for period, u in usage.items()} == {
        october: Decimal(18),
        november: Decimal(13),
    }
    closing = START + timedelta(days=10)
    usage, late = by_period(
        rows, sums, current=october, closing_at=closing, invoice_day=1, tz="UTC"
    )
    rest = Period(start=closing, end=october.end)
    assert {period: u["m"].quantity for period, u in usage.items()} == {
        october: Decimal(7),
        rest: Decimal(11),
        november: Decimal(13),
    }
