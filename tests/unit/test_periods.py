"""The invoice-day calendar: month ends, leap years, DST, partial periods and proration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from billing.errors import InvalidConfigurationError, InvalidPeriodError
from billing.periods import (
    Period,
    first_period,
    local_days,
    next_period,
    period_containing,
    proration_factor,
)

PARIS = "Europe/Paris"
NEW_YORK = "America/New_York"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_a_period_runs_from_invoice_day_to_invoice_day() -> None:
    period = period_containing(utc(2025, 10, 15, 12), invoice_day=1, tz="UTC")
    assert period == Period(start=utc(2025, 10, 1), end=utc(2025, 11, 1))


def test_periods_are_half_open() -> None:
    assert period_containing(utc(2025, 11, 1), invoice_day=1, tz="UTC").start == utc(2025, 11, 1)
    just_before = utc(2025, 11, 1) - timedelta(microseconds=1)
    assert period_containing(just_before, invoice_day=1, tz="UTC").end == utc(2025, 11, 1)


def test_an_instant_before_this_months_invoice_day_belongs_to_last_months_period() -> None:
    period = period_containing(utc(2025, 1, 10), invoice_day=15, tz="UTC")
    assert period == Period(start=utc(2024, 12, 15), end=utc(2025, 1, 15))


@pytest.mark.parametrize(
    ("year", "expected_february_day"),
    [(2025, 28), (2024, 29), (2100, 28), (2000, 29)],
)
def test_invoice_day_31_falls_on_the_last_day_of_february(
    year: int, expected_february_day: int
) -> None:
    period = period_containing(utc(year, 2, 10), invoice_day=31, tz="UTC")
    assert period == Period(start=utc(year, 1, 31), end=utc(year, 2, expected_february_day))


def test_month_end_invoice_days_do_not_drift() -> None:
    period = period_containing(utc(2024, 1, 31), invoice_day=31, tz="UTC")
    starts = []
    for _ in range(6):
        starts.append(period.start.date().isoformat())
        period = next_period(period, invoice_day=31, tz="UTC")
    assert starts == [
        "2024-01-31",
        "2024-02-29",
        "2024-03-31",
        "2024-04-30",
        "2024-05-31",
        "2024-06-30",
    ]


def test_invoice_day_30_in_february_and_back() -> None:
    period = period_containing(utc(2025, 2, 1), invoice_day=30, tz="UTC")
    assert (period.start, period.end) == (utc(2025, 1, 30), utc(2025, 2, 28))
    assert next_period(period, invoice_day=30, tz="UTC").end == utc(2025, 3, 30)


@pytest.mark.parametrize(
    ("tz", "instant", "start", "end"),
    [
        # Paris leaves summer time on 26 Oct 2025: October starts at +02:00, November at +01:00.
        (PARIS, utc(2025, 10, 15), utc(2025, 9, 30, 22), utc(2025, 10, 31, 23)),
        # ... and enters it on 30 Mar 2025.
        (PARIS, utc(2025, 3, 15), utc(2025, 2, 28, 23), utc(2025, 3, 31, 22)),
        # New York leaves daylight time on 2 Nov 2025 and enters it on 9 Mar 2025.
        (NEW_YORK, utc(2025, 11, 15), utc(2025, 11, 1, 4), utc(2025, 12, 1, 5)),
        (NEW_YORK, utc(2025, 3, 15), utc(2025, 3, 1, 5), utc(2025, 4, 1, 4)),
    ],
)
def test_boundaries_are_local_midnight_across_dst(
    tz: str, instant: datetime, start: datetime, end: datetime
) -> None:
    period = period_containing(instant, invoice_day=1, tz=tz)
    assert (period.start, period.end) == (start, end)
    for boundary in (period.start, period.end):
        local = boundary.astimezone(ZoneInfo(tz))
        assert (local.hour, local.minute, local.day) == (0, 0, 1)


def test_an_instant_is_placed_by_the_customers_local_date() -> None:
    late_evening_utc = utc(2025, 10, 31, 23, 30)  # already 1 Nov 00:30 in Paris
    assert period_containing(late_evening_utc, invoice_day=1, tz="UTC").start == utc(2025, 10, 1)
    assert period_containing(late_evening_utc, invoice_day=1, tz=PARIS).start == utc(
        2025, 10, 31, 23
    )


def test_where_dst_skips_midnight_the_period_starts_at_the_first_instant_of_the_day() -> None:
    # Chile moves its clocks from 00:00 to 01:00 on the first Sunday of September (7 Sep 2025).
    tz = "America/Santiago"
    period = period_containing(utc(2025, 9, 20), invoice_day=7, tz=tz)
    local_start = period.start.astimezone(ZoneInfo(tz))
    assert local_start.date().isoformat() == "2025-09-07"
    assert local_start.hour == 1  # 00:00 does not exist that day
    before = (period.start - timedelta(microseconds=1)).astimezone(ZoneInfo(tz))
    assert before.date().isoformat() == "2025-09-06"


def test_first_period_is_partial_from_the_start() -> None:
    start = utc(2025, 10, 15, 14, 30)
    assert first_period(start, invoice_day=1, tz="UTC") == Period(start=start, end=utc(2025, 11, 1))
    assert first_period(utc(2025, 10, 1), invoice_day=1, tz="UTC") == Period(
        start=utc(2025, 10, 1), end=utc(2025, 11, 1)
    )


def _ratio(factor: Decimal) -> Fraction:
    return Fraction(factor).limit_denominator(1000)


@pytest.mark.parametrize(
    ("start", "end", "invoice_day", "tz", "expected"),
    [
        # Start day counts: 15..31 Oct is 17 of October's 31 days.
        (utc(2025, 10, 15, 14, 30), None, 1, "UTC", Fraction(17, 31)),
        # A partial day counts as a whole day: 23:59 on the 15th still counts the 15th.
        (utc(2025, 10, 15, 23, 59), None, 1, "UTC", Fraction(17, 31)),
        # Leap February: 20..29 Feb 2024 is 10 of 29 days.
        (utc(2024, 2, 20), None, 1, "UTC", Fraction(10, 29)),
        # Invoice day 31 in 2025: the period [31 Jan, 28 Feb) has 28 days; 10..27 Feb is 18.
        (utc(2025, 2, 10), None, 31, "UTC", Fraction(18, 28)),
        # Paris in October (a 25-hour day on the 26th): still counted in calendar days.
        (utc(2025, 10, 25, 22), None, 1, PARIS, Fraction(6, 31)),
        # A cancellation at noon on 10 Oct: the end boundary day counts when partially used.
        (utc(2025, 10, 1), utc(2025, 10, 10, 12), 1, "UTC", Fraction(10, 31)),
        # ... but not when the period ends at its midnight.
        (utc(2025, 10, 1), utc(2025, 10, 10), 1, "UTC", Fraction(9, 31)),
        # A full period is factor 1.
        (utc(2025, 10, 1), utc(2025, 11, 1), 1, "UTC", Fraction(1)),
    ],
)
def test_proration_counts_local_calendar_days(
    start: datetime, end: datetime | None, invoice_day: int, tz: str, expected: Fraction
) -> None:
    partial = (
        first_period(start, invoice_day=invoice_day, tz=tz)
        if end is None
        else Period(start=start, end=end)
    )
    factor = proration_factor(partial, invoice_day=invoice_day, tz=tz)
    assert _ratio(factor) == expected
    assert abs(Fraction(factor) - expected) < Fraction(1, 10**60)  # 64 digits, unrounded


def test_proration_refuses_a_period_crossing_a_boundary() -> None:
    crossing = Period(start=utc(2025, 10, 15), end=utc(2025, 11, 15))
    with pytest.raises(InvalidPeriodError, match="crosses the billing boundary"):
        proration_factor(crossing, invoice_day=1, tz="UTC")


def test_local_days_of_a_dst_month() -> None:
    october = period_containing(utc(2025, 10, 15), invoice_day=1, tz=PARIS)
    assert local_days(october, PARIS) == 31
    assert october.end - october.start == timedelta(days=31, hours=1)


def test_periods_are_utc_aware_and_validate_their_order() -> None:
    paris_summer = timezone(timedelta(hours=2))
    period = Period(start=datetime(2025, 10, 1, tzinfo=paris_summer), end=utc(2025, 11, 1))
    assert period.start == utc(2025, 9, 30, 22)
    assert period.start.tzinfo == UTC
    with pytest.raises(ValidationError, match="must start before it ends"):
        Period(start=utc(2025, 11, 1), end=utc(2025, 11, 1))
    with pytest.raises(ValidationError, match="timezone"):
        Period(start=datetime(2025, 10, 1), end=utc(2025, 11, 1))


def test_a_period_round_trips_through_json() -> None:
    period = Period(start=utc(2025, 10, 1), end=utc(2025, 11, 1))
    assert period.model_dump(mode="json") == {
        "start": "2025-10-01T00:00:00Z",
        "end": "2025-11-01T00:00:00Z",
    }
    assert Period.model_validate_json(period.model_dump_json()) == period


def test_period_contains_is_half_open() -> None:
    period = Period(start=utc(2025, 10, 1), end=utc(2025, 11, 1))
    assert period.contains(utc(2025, 10, 1))
    assert not period.contains(utc(2025, 11, 1))
    with pytest.raises(InvalidPeriodError, match="timezone-aware"):
        period.contains(datetime(2025, 10, 5))


@pytest.mark.parametrize(
    ("start", "end", "tz", "label"),
    [
        (utc(2025, 10, 1), utc(2025, 11, 1), "UTC", "1-31 Oct 2025"),
        (utc(2025, 9, 30, 22), utc(2025, 10, 31, 23), PARIS, "1-31 Oct 2025"),
        (utc(2025, 9, 15), utc(2025, 10, 15), "UTC", "15 Sep-14 Oct 2025"),
        (utc(2025, 12, 15), utc(2026, 1, 15), "UTC", "15 Dec 2025-14 Jan 2026"),
        (utc(2025, 10, 5), utc(2025, 10, 6), "UTC", "5 Oct 2025"),
    ],
)
def test_labels_name_the_local_days_covered(
    start: datetime, end: datetime, tz: str, label: str
) -> None:
    assert Period(start=start, end=end).label(tz) == label


def test_calendar_inputs_are_validated() -> None:
    with pytest.raises(InvalidConfigurationError, match="invoice_day: must be between 1 and 31"):
        period_containing(utc(2025, 1, 1), invoice_day=0, tz="UTC")
    with pytest.raises(InvalidConfigurationError, match="unknown IANA time zone 'Europe/Atlantis'"):
        period_containing(utc(2025, 1, 1), invoice_day=1, tz="Europe/Atlantis")
    with pytest.raises(InvalidPeriodError, match="timezone-aware"):
        period_containing(datetime(2025, 1, 1), invoice_day=1, tz="UTC")
