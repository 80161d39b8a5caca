"""Tell subscription workflows that the usage ledger holds new rows of theirs, coalesced.

After a batch intake commits, each affected subscription's workflow gets a `usage_recorded`
signal naming the highest row id committed for it, so its `status`, upcoming invoice and usage
thresholds follow within about a second. At most one signal per subscription per interval,
whatever the number of batches: history grows with time, not with volume. A nudge is a hint:
the workflow counts what the ledger holds above its own watermark, so a repeated, late or lost
nudge never changes a count (a lost one delays the live view until the next nudge; invoices
always aggregate the ledger).

Each nudge costs the worker a workflow task and a ledger count, so with many subscriptions
receiving usage at once the nudges, not the intake, fill the cores (measured end to end on two
cores, 1,000 subscriptions: 2,800 events/s nudging each every second, 8,500 nudging none). A
budget of nudges per second per process bounds that work: past it, the longest-waiting
subscriptions go first and the rest wait their turn, so a large fleet is nudged less often per
subscription (a few seconds) and a small one exactly as before.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterable

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from billing_db.records import NewUsageRow
from billing_service import client as billing

log = logging.getLogger(__name__)

#: Seconds between two nudges of one subscription.
INTERVAL = 1.0
#: Signals in flight at once.
CONCURRENCY = 32
#: Nudges sent per second at most (per process), the rest wait their turn; 0: no budget.
PER_SECOND = 0.0


class UsageNudges:
    """Pending nudges of one Temporal namespace, sent by `run()` (or `flush()`)."""

    def __init__(
        self,
        client: Callable[[], Awaitable[Client]],
        *,
        interval: float = INTERVAL,
        per_second: float = PER_SECOND,
    ) -> None:
        self._client = client
        self._interval = interval
        self._most = max(1, int(per_second * interval)) if per_second > 0 else None
        """Nudges one send of `run()` may take; None: all pending."""
        self._pending: dict[str, int] = {}
        self._wake = asyncio.Event()

    def note(self, rows: Iterable[NewUsageRow]) -> None:
        """Rows a batch committed: their subscriptions are nudged at the next send."""
        for row in rows:
            self._mark(row.subscription_id, row.id)

    def _mark(self, subscription_id: str, row_id: int) -> None:
        self._pending[subscription_id] = max(row_id, self._pending.get(subscription_id, 0))
        self._wake.set()

    async def run(self) -> None:
        """Send what is pending (within the budget), then rest an interval; until cancelled."""
        while True:
            await self._wake.wait()
            await self._send(self._most)
            await asyncio.sleep(self._interval)

    async def flush(self) -> None:
        """Send every pending nudge now, whatever the budget; one that fails for a reason
        other than an ended or unknown workflow stays pending for the next send."""
        await self._send(None)

    async def _send(self, most: int | None) -> None:
        """Send the `most` longest-pending nudges (all if None); the rest stay pending."""
        self._wake.clear()
        if most is None or len(self._pending) <= most:
            pending, self._pending = self._pending, {}
        else:  # insertion order: a subscription keeps its place while its row id grows
            pending = dict(itertools.islice(self._pending.items(), most))
            for subscription_id in pending:
                del self._pending[subscription_id]
            self._wake.set()
        if not pending:
            return
        client = await self._client()
        limit = asyncio.Semaphore(CONCURRENCY)

        async def send(subscription_id: str, row_id: int) -> None:
            async with limit:
                try:
                    await billing.nudge_usage(client, subscription_id, row_id)
                except RPCError as error:
                    if error.status == RPCStatusCode.NOT_FOUND:
                        return  # ended (its invoices aggregate the ledger) or never started
                    log.warning("usage_recorded for %s not sent: %s", subscription_id, error)
                    self._mark(subscription_id, row_id)

        await asyncio.gather(*(send(key, row_id) for key, row_id in pending.items()))
