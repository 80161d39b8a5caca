"""Aggregation of a period's usage records, for each aggregation type."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from billing.aggregation import UsageRecord, aggregate, property_key
from billing.catalog import Meter
from billing.periods import Period


def meter(aggregation: str, field_name: str | None = None) -> Meter:
    return Meter.model_validate(
        {"name": "m", "unit": "u", "aggregation": aggregation, "field_name": field_name}
    )


def record(
    event_id: str, quantity: str, day: int = 1, meter_id: str = "m", **properties: Any
) -> UsageRecord:
    return UsageRecord(
        event_id=event_id,
        meter_id=meter_id,
        quantity=Decimal(quantity),
        timestamp=datetime(2025, 10, day, 12, tzinfo=UTC),
        properties=properties,
    )


RECORDS = [
    record("e1", "10.5", 3, user="alice"),
    record("e2", "2.25", 1, user="bob"),
    record("e3", "7", 2, user="alice"),
    record("e4", "0", 5, user=None),
    record("e5", "1", 4),
]


@pytest.mark.parametrize(
    ("aggregation", "expected"),
    [
        ("sum", "20.75"),
        ("count", "5"),
        ("max", "10.5"),
        ("unique_count", "2"),  # alice, bob; null and missing are not counted
        ("latest", "0"),  # e4 has the greatest timestamp
    ],
)
def test_each_aggregation_over_the_same_records(aggregation: str, expected: str) -> None:
    result = aggregate(RECORDS, meter=meter(aggregation, field_name="user"))
    assert result == Decimal(expected)
    assert str(result) == expected  # exact: no float on the way


@pytest.mark.parametrize("aggregation", ["sum", "count", "max", "unique_count", "latest"])
def test_no_records_aggregate_to_zero(aggregation: str) -> None:
    assert aggregate([], meter=meter(aggregation, field_name="user")) == 0


def test_the_same_event_id_counts_once() -> None:
    duplicated = [record("e1", "5"), record("e1", "5"), record("e2", "1")]
    assert aggregate(duplicated, meter=meter("sum")) == 6
    assert aggregate(duplicated, meter=meter("count")) == 2


def test_only_the_meters_own_records_count() -> None:
    mixed = [record("e1", "5"), record("e2", "100", meter_id="other")]
    assert aggregate(mixed, meter=meter("sum")) == 5


def test_a_period_keeps_only_its_half_open_interval() -> None:
    period = Period(
        start=datetime(2025, 10, 2, 12, tzinfo=UTC), end=datetime(2025, 10, 4, 12, tzinfo=UTC)
    )
    # e3 at the start instant counts, e1 inside counts, e5 at the end instant does not.
    assert aggregate(RECORDS, meter=meter("sum"), period=period) == Decimal("17.5")


def test_latest_breaks_timestamp_ties_by_event_id() -> None:
    tied = [record("b", "2"), record("c", "3"), record("a", "1")]
    assert aggregate(tied, meter=meter("latest")) == 3


def test_unique_count_compares_values_as_json_text() -> None:
    values = [
        record("e1", "1", k=42),
        record("e2", "1", k="42"),
        record("e3", "1", k=True),
        record("e4", "1", k="true"),
        record("e5", "1", k=1.5),
    ]
    assert aggregate(values, meter=meter("unique_count", field_name="k")) == 3
    assert [property_key(v) for v in (42, "42", True, 1.5, None)] == [
        "42",
        "42",
        "true",
        "1.5",
        None,
    ]


def test_usage_records_refuse_negative_quantities_and_naive_timestamps() -> None:
    with pytest.raises(ValidationError, match="must not be negative"):
        record("e1", "-1")
    with pytest.raises(ValidationError, match="timezone"):
        UsageRecord(event_id="e", meter_id="m", quantity=Decimal(1), timestamp=datetime(2025, 1, 1))


def test_usage_records_round_trip_through_json() -> None:
    original = record("e1", "10.5", user="alice", n=3, ok=True)
    dumped = original.model_dump(mode="json")
    assert dumped["quantity"] == "10.5"
    assert dumped["timestamp"] == "2025-10-01T12:00:00Z"
    assert UsageRecord.model_validate(dumped) == original
