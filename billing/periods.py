"""The invoice-day calendar: billing periods, month ends, time zones and proration.

A billing period is half-open, `[start, end)`, stored in UTC. Its boundaries are local midnight
(the first instant of the local day) of the invoice day in the customer's time zone; invoice
days 29-31 fall on the last day of shorter months (31 -> 28 Feb, 29 Feb in a leap year, 30 Apr)
and come back in longer months, so they never drift.

Proration (documented formula):

    factor = days(partial) / days(full period containing it)

counted in local calendar days: the start day counts, the end boundary day does not, and a
partial day counts as a whole day. A subscription starting on 15 Oct 14:30 with invoice day 1
pays 17/31 of October (15..31 Oct). The factor is the exact ratio carried to 64 significant
digits, not rounded to cents: the line amount is rounded once, in `billing.invoice`.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, model_validator

from billing.errors import InvalidConfigurationError, InvalidPeriodError
from billing.money import DIVISION


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


#: A timezone-aware datetime, normalised to UTC (naive datetimes are refused).
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]


class Period(BaseModel):
    """A half-open interval of time `[start, end)`, in UTC."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: UtcDatetime
    end: UtcDatetime

    @model_validator(mode="after")
    def _start_before_end(self) -> Period:
        if self.start >= self.end:
            raise InvalidPeriodError(
                f"a period must start before it ends: start {self.start.isoformat()} is not "
                f"before end {self.end.isoformat()}"
            )
        return self

    def contains(self, instant: datetime) -> bool:
        """Whether `instant` is in `[start, end)`."""
        return self.start <= _aware(instant, "instant") < self.end

    def label(self, tz: str = "UTC") -> str:
        """The local days the period covers, e.g. `1-31 Oct 2025` or `15 Sep-14 Oct 2025`."""
        zone = zone_info(tz)
        first = self.start.astimezone(zone).date()
        last = _day_after_last(self.end, zone) - timedelta(days=1)
        if first == last:
            return f"{first.day} {first:%b %Y}"
        if (first.year, first.month) == (last.year, last.month):
            return f"{first.day}-{last.day} {last:%b %Y}"
        if first.year == last.year:
            return f"{first.day} {first:%b}-{last.day} {last:%b %Y}"
        return f"{first.day} {first:%b %Y}-{last.day} {last:%b %Y}"


@lru_cache(maxsize=512)
def zone_info(tz: str) -> ZoneInfo:
    """The IANA time zone `tz`, or `InvalidConfigurationError` naming it."""
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidConfigurationError(
            f"timezone: unknown IANA time zone {tz!r} (e.g. UTC, Europe/Paris)"
        ) from None


def _aware(instant: datetime, what: str) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise InvalidPeriodError(f"{what} must be timezone-aware, got naive {instant.isoformat()}")
    return instant


def _check_invoice_day(invoice_day: int) -> None:
    if isinstance(invoice_day, bool) or not 1 <= invoice_day <= 31:
        raise InvalidConfigurationError(f"invoice_day: must be between 1 and 31, got {invoice_day}")


def _day_start(day: date, zone: ZoneInfo) -> datetime:
    """The first instant of a local day, in UTC (01:00 where a DST gap swallows midnight)."""
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def _day_after_last(end: datetime, zone: ZoneInfo) -> date:
    """The first local day not touched by an interval ending (exclusively) at `end`."""
    day = end.astimezone(zone).date()
    return day if end <= _day_start(day, zone) else day + timedelta(days=1)


def _boundary(year: int, month: int, invoice_day: int, zone: ZoneInfo) -> datetime:
    day = min(invoice_day, calendar.monthrange(year, month)[1])
    return _day_start(date(year, month, day), zone)


def _shift_month(year: int, month: int, delta: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + delta
    return index // 12, index % 12 + 1


def period_containing(instant: datetime, *, invoice_day: int, tz: str) -> Period:
    """The full billing period `[boundary, next boundary)` that contains `instant`."""
    _check_invoice_day(invoice_day)
    zone = zone_info(tz)
    instant = _aware(instant, "instant")
    local = instant.astimezone(zone)
    year, month = local.year, local.month
    boundary = _boundary(year, month, invoice_day, zone)
    if instant >= boundary:
        return Period(
            start=boundary, end=_boundary(*_shift_month(year, month, 1), invoice_day, zone)
        )
    return Period(start=_boundary(*_shift_month(year, month, -1), invoice_day, zone), end=boundary)


def next_period(period: Period, *, invoice_day: int, tz: str) -> Period:
    """The full billing period that starts where `period` ends."""
    return period_containing(period.end, invoice_day=invoice_day, tz=tz)


def first_period(start: datetime, *, invoice_day: int, tz: str) -> Period:
    """`[start, next boundary)`: partial unless `start` is itself a boundary."""
    full = period_containing(start, invoice_day=invoice_day, tz=tz)
    return Period(start=start, end=full.end)


def period_after(period: Period, *, closing_at: datetime, invoice_day: int, tz: str) -> Period:
    """The period that follows `period` when it closes at `closing_at`: the rest of it when it
    closes early (a cancel or plan change now), else the next full period."""
    if closing_at < period.end:
        return Period(start=closing_at, end=period.end)
    return next_period(period, invoice_day=invoice_day, tz=tz)


def period_of(
    instant: datetime,
    *,
    current: Period,
    closing_at: datetime | None,
    invoice_day: int,
    tz: str,
) -> Period | None:
    """The period whose usage an event at `instant` counts in, seen from `current` (closing at
    `closing_at` when it is being invoiced): None before `current` (late usage), else `current`
    up to its close, the rest of `current` after an early close, or a later period."""
    if instant < current.start:
        return None
    end = current.end if closing_at is None else min(closing_at, current.end)
    if instant < end:
        return current
    if instant < current.end:
        return Period(start=end, end=current.end)
    return period_containing(instant, invoice_day=invoice_day, tz=tz)


def local_days(period: Period, tz: str) -> int:
    """Local calendar days touched by `period`: the start day counts, the end boundary does not."""
    zone = zone_info(tz)
    return (_day_after_last(period.end, zone) - period.start.astimezone(zone).date()).days


def proration_factor(partial: Period, *, invoice_day: int, tz: str) -> Decimal:
    """days(partial) / days(full period containing it), in local calendar days (see module doc).

    Raises `InvalidPeriodError` when `partial` is not inside one billing period.
    """
    full = period_containing(partial.start, invoice_day=invoice_day, tz=tz)
    if partial.end > full.end:
        raise InvalidPeriodError(
            f"period {partial.start.isoformat()}..{partial.end.isoformat()} crosses the billing "
            f"boundary {full.end.isoformat()}: prorate each billing period separately"
        )
    return DIVISION.divide(Decimal(local_days(partial, tz)), Decimal(local_days(full, tz)))
