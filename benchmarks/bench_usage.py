"""Usage intake throughput on the real Temporal dev server, end to end.

Set-up: the `temporal` CLI dev server (in memory), one in-process worker with the production
wiring (`create_worker`), a migrated SQLite billing database in a temporary folder, the seed's
hybrid plan. An event counts as accepted once the workflow has persisted it (its `status` query
shows it), so the figure covers signal delivery, workflow tasks, the batched `record_usage`
activity and SQLite.

Prints events per second for batches of 1, 100 and 1,000 events per signal into one
subscription, for 100 subscriptions fed at once, and the history length of each run (continue-as-
new keeps every run small). Not a test: nothing here asserts a time.

    uv run python -m benchmarks.bench_usage [--events 20000] [--subscriptions 100]
                                            [--many-events 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.notifications.settings import SmtpSettings
from billing import seed
from billing.contracts.subscription import SubscriptionInput, UsageEvent
from billing_db.engine import make_engine
from billing_db.migrate import upgrade
from billing_service.client import (
    send_usage,
    start_subscription,
    subscription_status,
    usage_batches,
)
from billing_service.worker import create_worker
from scripts.temporal_tools import ensure_all
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES

TASK_QUEUE = "bench-usage"


def subscription() -> SubscriptionInput:
    suffix = uuid.uuid4().hex[:10]
    return SubscriptionInput.model_validate(
        {
            "subscription_id": f"bench_{suffix}",
            "customer": {"id": f"cus_{suffix}", "name": "Bench", "email": "bench@example.com"},
            "meters": [{"name": "bandwidth_egress", "unit": "GB", "aggregation": "sum"}],
            "pricing": seed.HYBRID_PRICING,
            # No usage_threshold notifications: measure intake, not email.
            "notifications": {"usage_threshold": {"email": False, "webhook": False}},
        }
    )


def events(prefix: str, count: int) -> list[UsageEvent]:
    return [
        UsageEvent(event_id=f"{prefix}-{i}", meter_id="bandwidth_egress", quantity=1)
        for i in range(count)
    ]


async def started(client: Client, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        sub = subscription()
        await start_subscription(client, sub, task_queue=TASK_QUEUE)
        ids.append(sub.subscription_id)
    for subscription_id in ids:
        while True:
            try:
                await subscription_status(client, subscription_id)
                break
            except WorkflowQueryFailedError:
                await asyncio.sleep(0.05)
    return ids


async def accepted(client: Client, subscription_id: str) -> int:
    status = await subscription_status(client, subscription_id)
    meter = status.usage.get("bandwidth_egress")
    return meter.events if meter else 0


async def feed(client: Client, subscription_ids: Sequence[str], per_sub: int, batch: int) -> float:
    """Send `per_sub` events to each subscription in signals of `batch` events (at most 50
    signals in flight per subscription); return the seconds until all are persisted."""
    begin = time.perf_counter()

    async def one(subscription_id: str) -> None:
        limit = asyncio.Semaphore(50)

        async def send(b: Any) -> None:
            async with limit:
                await send_usage(client, subscription_id, b)

        await asyncio.gather(
            *(send(b) for b in usage_batches(events(subscription_id, per_sub), size=batch))
        )
        while await accepted(client, subscription_id) < per_sub:  # noqa: ASYNC110 (remote)
            await asyncio.sleep(0.05)

    await asyncio.gather(*(one(s) for s in subscription_ids))
    return time.perf_counter() - begin


async def history_lengths(client: Client, subscription_id: str) -> list[int]:
    """Events per run of the subscription's workflow, oldest first."""
    lengths = []
    async for execution in client.list_workflows(f'WorkflowId="subscription-{subscription_id}"'):
        history = await client.get_workflow_handle(
            execution.id, run_id=execution.run_id
        ).fetch_history()
        lengths.append(len(history.events))
    return list(reversed(lengths))


async def main(total: int, subscriptions: int, many_events: int) -> None:
    tools = ensure_all()
    folder = Path(tempfile.mkdtemp(prefix="bench-usage-"))
    url = f"sqlite:///{folder / 'billing.db'}"
    upgrade(url)
    engine = make_engine(url)
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=tools.dev_server,
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_startup_timeout=timedelta(seconds=90),
    )
    smtp = SmtpSettings(host="127.0.0.1", port=9, mail_from="bench@example.com", timeout=1)
    try:
        async with create_worker(env.client, task_queue=TASK_QUEUE, engine=engine, smtp=smtp):
            print(f"usage intake, {total} events each, SQLite at {folder}")
            single: str | None = None
            for batch in (1, 100, 1000):
                count = min(total, 2000) if batch == 1 else total
                [single] = await started(env.client, 1)
                seconds = await feed(env.client, [single], count, batch)
                print(
                    f"  1 subscription, {batch:>5} events/signal: {count / seconds:>9,.0f} "
                    f"events/s ({count} events in {seconds:.1f} s)"
                )
            per_sub = max(many_events // subscriptions, 1)
            for batch in (100, 1000):
                many = await started(env.client, subscriptions)
                seconds = await feed(env.client, many, per_sub, batch)
                print(
                    f"  {subscriptions} subscriptions at once, {batch:>5} events/signal: "
                    f"{per_sub * subscriptions / seconds:>9,.0f} events/s "
                    f"({per_sub * subscriptions} events in {seconds:.1f} s)"
                )
            if single is not None:
                await asyncio.sleep(2)  # visibility is eventually consistent
                lengths = await history_lengths(env.client, single)
                print(
                    f"  history of the 1,000-per-signal subscription: {len(lengths)} runs, "
                    f"events per run: {lengths}"
                )
    finally:
        await env.shutdown()
        engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--subscriptions", type=int, default=100)
    parser.add_argument("--many-events", type=int, default=100_000, help="across subscriptions")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.events, arguments.subscriptions, arguments.many_events))
