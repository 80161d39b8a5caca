"""Tell subscription workflows that the usage ledger holds new rows of theirs, coalesced.

After a batch intake commits, each affected subscription's workflow gets a `usage_recorded`
signal naming the highest row id committed for it, so its `status`, upcoming invoice and usage
thresholds follow within about a second. At most one signal per subscription per interval,
whatever the number of batches: history grows with time, not with volume. A nudge is a hint:
the workflow counts what the ledger holds above its own watermark, so a repeated, late or lost
nudge never changes a count (a lost one delays the live view until the next nudge; invoices
always aggregate the ledger).
"""

from __future__ import annotations

import asyncio
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


class UsageNudges:
    """Pending nudges of one Temporal namespace, sent by `run()` (or `flush()`)."""

    def __init__(
        self, client: Callable[[], Awaitable[Client]], *, interval: float = INTERVAL
    ) -> None:
        self._client = client
        self._interval = interval
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
        """Send what is pending, then rest an interval; until cancelled."""
        while True:
            await self._wake.wait()
            await self.flush()
            await asyncio.sleep(self._interval)

    async def flush(self) -> None:
        """Send every pending nudge now; one that fails for a reason other than an ended or
        unknown workflow stays pending for the next send."""
        self._wake.clear()
        pending, self._pending = self._pending, {}
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
