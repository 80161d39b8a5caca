"""Moving the time-skipping server's clock in workflow tests."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio.testing import WorkflowEnvironment


def start_of_next_month(moment: datetime) -> datetime:
    """Midnight UTC on the first of the month after `moment`."""
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return datetime(year, month, 1, tzinfo=UTC)


async def skip_to(env: WorkflowEnvironment, moment: datetime) -> None:
    """Advance the time-skipping server's clock to `moment` (no-op if already past)."""
    now = await env.get_current_time()
    if moment > now:
        await env.sleep(moment - now)
