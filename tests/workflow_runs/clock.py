"""Where "now" falls in a test: every scenario states the calendar it needs.

On the time-skipping server a test first skips to an anchor of its choosing (`at_day_of_month`,
`at_next`), so that "backdated 20 days" or "the next invoice day" mean the same thing whatever
today's date is. On the dev server the clock is real: `backdated` derives a start and an
invoice day from the server's current time so that a chosen number of periods has closed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from google.protobuf.duration_pb2 import Duration
from temporalio.api.testservice.v1 import SleepRequest, UnlockTimeSkippingRequest
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from billing.periods import period_containing, zone_info

#: Longer than any honest skip of these tests takes on a busy machine.
_STUCK = timedelta(seconds=10)
#: Far enough for any anchor of the sweep (29 February comes back within 8 years).
_HORIZON_DAYS = 8 * 366


def start_of_next_month(moment: datetime) -> datetime:
    """Midnight UTC on the first of the month after `moment`."""
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return datetime(year, month, 1, tzinfo=UTC)


def next_local_moment(
    after: datetime, when: Callable[[date], bool], *, hour: int = 9, tz: str = "UTC"
) -> datetime:
    """The first `hour`:00 local time in `tz` on a local day for which `when(day)` holds, strictly
    after `after`; in UTC."""
    zone = zone_info(tz)
    day = after.astimezone(zone).date()
    for _ in range(_HORIZON_DAYS):
        if when(day):
            moment = datetime(day.year, day.month, day.day, hour, tzinfo=zone).astimezone(UTC)
            if moment > after:
                return moment
        day += timedelta(days=1)
    raise ValueError(f"no day within {_HORIZON_DAYS} days after {after.isoformat()} matches")


async def skip_to(env: WorkflowEnvironment, moment: datetime) -> None:
    """Advance the time-skipping server's clock to `moment` (no-op if already past).

    The Java test server sometimes leaks a time-skipping lock when a workflow task completion
    races a continue-as-new ("Task not found when completing": the family of sdk-java#1539);
    from then on a sleep waits in real time. A skip that has not finished after `_STUCK` is
    released once with `unlock_time_skipping`, which the server refuses (and nothing changes)
    when no lock was leaked, e.g. while a slow activity is still running."""
    now = await env.get_current_time()
    if moment <= now:
        return
    duration = Duration()
    duration.FromTimedelta(moment - now)
    service = env.client.test_service
    try:
        await service.unlock_time_skipping_with_sleep(
            SleepRequest(duration=duration), timeout=_STUCK
        )
        return
    except RPCError as error:
        if error.status != RPCStatusCode.DEADLINE_EXCEEDED and "Timeout" not in error.message:
            raise
    with contextlib.suppress(RPCError):
        await service.unlock_time_skipping(UnlockTimeSkippingRequest())
    deadline = asyncio.get_running_loop().time() + 60
    while await env.get_current_time() < moment:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"the test server's clock never reached {moment.isoformat()}")
        await asyncio.sleep(0.05)


async def at_next(
    env: WorkflowEnvironment, when: Callable[[date], bool], *, hour: int = 9, tz: str = "UTC"
) -> datetime:
    """Skip the time-skipping server to the next local day matching `when`, at `hour`:00 in
    `tz`; that moment (UTC)."""
    moment = next_local_moment(await env.get_current_time(), when, hour=hour, tz=tz)
    await skip_to(env, moment)
    return moment


async def at_day_of_month(
    env: WorkflowEnvironment, *, day: int, hour: int = 9, tz: str = "UTC"
) -> datetime:
    """Skip to the next `day`-th of a month at `hour`:00 in `tz` (months without that day are
    passed over); that moment (UTC)."""
    return await at_next(env, lambda local: local.day == day, hour=hour, tz=tz)


def backdated(now: datetime, *, closed: int = 1) -> tuple[datetime, int]:
    """`(start_at, invoice_day)` for a backdated subscription on a real clock: exactly `closed`
    periods have closed by `now` (the first one partial), the last of them two to five days ago,
    and the open period ends three weeks or more after `now`, whatever day of the month it is."""
    invoice_day = min((now - timedelta(days=2)).day, 28)
    boundary = period_containing(now, invoice_day=invoice_day, tz="UTC").start
    for _ in range(closed - 1):
        boundary = period_containing(
            boundary - timedelta(microseconds=1), invoice_day=invoice_day, tz="UTC"
        ).start
    return boundary - timedelta(days=20), invoice_day
