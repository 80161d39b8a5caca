"""Properties of the invoice-day calendar for any instant, invoice day and time zone: the days a
workflow test cannot visit one by one (tests/workflow_runs/test_calendar_sweep.py visits the
awkward ones on a real server)."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from billing.periods import (
    first_period,
    local_days,
    next_period,
    period_containing,
    proration_factor,
    zone_info,
)

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "America/Santiago"]

instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
)
invoice_days = st.integers(min_value=1, max_value=31)
zones = st.sampled_from(ZONES)


def _is_boundary(moment: datetime, invoice_day: int, tz: str) -> bool:
    """A boundary is the first instant of the local day that is the invoice day, clamped."""
    zone = zone_info(tz)
    local = moment.astimezone(zone)
    clamped = min(invoice_day, calendar.monthrange(local.year, local.month)[1])
    day_before = (moment - timedelta(hours=1)).astimezone(zone).date()
    return local.day == clamped and day_before != local.date()


@settings(max_examples=300, deadline=None)
@given(instants, invoice_days, zones)
def test_every_instant_lies_in_one_period_between_two_boundaries(
    instant: datetime, invoice_day: int, tz: str
) -> None:
    period = period_containing(instant, invoice_day=invoice_day, tz=tz)
    assert period.contains(instant)
    assert _is_boundary(period.start, invoice_day, tz)
    assert _is_boundary(period.end, invoice_day, tz)
    assert 28 <= local_days(period, tz) <= 31
    following = next_period(period, invoice_day=invoice_day, tz=tz)
    assert following.start == period.end
    assert not following.contains(instant)


@settings(max_examples=300, deadline=None)
@given(instants, invoice_days, zones)
def test_a_first_period_ends_at_the_next_boundary_and_prorates_within_one(
    start: datetime, invoice_day: int, tz: str
) -> None:
    partial = first_period(start, invoice_day=invoice_day, tz=tz)
    full = period_containing(start, invoice_day=invoice_day, tz=tz)
    assert (partial.start, partial.end) == (start, full.end)
    factor = proration_factor(partial, invoice_day=invoice_day, tz=tz)
    assert Decimal(0) < factor <= Decimal(1)
    assert (factor == 1) == (start == full.start or local_days(partial, tz) == local_days(full, tz))
