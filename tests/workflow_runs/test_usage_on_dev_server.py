"""Usage intake on the real dev server: update validation, volume, duplicates, continue-as-new,
and finding subscriptions through the search attributes."""

from __future__ import annotations

import asyncio
import json
import subprocess
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine, func, select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from billing.contracts.subscription import SubscriptionInput
from billing_db.tables import usage_events
from billing_service.client import start_subscription, subscription_status
from scripts.temporal_tools import TemporalTools

from replay.recording import record_chain
from workflow_runs.conftest import StartWorker
from workflow_runs.polling import eventually, status_when
from workflow_runs.scenario import hybrid_subscription, usage

T = TypeVar("T")


def _stored_events(engine: Engine, subscription_id: str) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(
                select(func.count())
                .select_from(usage_events)
                .where(usage_events.c.subscription_id == subscription_id)
            ).scalar_one()
        )


async def _started(env: WorkflowEnvironment, task_queue: str) -> tuple[SubscriptionInput, Any]:
    subscription = hybrid_subscription()
    handle = await start_subscription(env.client, subscription, task_queue=task_queue)

    await status_when(env.client, subscription.subscription_id, lambda _status: True)
    return subscription, handle


async def _run_id(handle: Any) -> str:
    return str((await handle.describe()).run_id)


BAD_BATCHES = {
    "unknown meter": (
        [{"event_id": "e1", "meter_id": "gpu_hours", "quantity": "1"}],
        "unknown meter 'gpu_hours'",
    ),
    "negative quantity": (
        [{"event_id": "e1", "meter_id": "bandwidth_egress", "quantity": "-5"}],
        "quantity must not be negative",
    ),
    "non-finite quantity": (
        [{"event_id": "e1", "meter_id": "bandwidth_egress", "quantity": "NaN"}],
        "quantity",
    ),
    "timestamp in the future": (
        [
            {
                "event_id": "e1",
                "meter_id": "bandwidth_egress",
                "quantity": "1",
                "timestamp": "2999-01-01T00:00:00Z",
            }
        ],
        "is in the future",
    ),
    "timestamp before the subscription": (
        [
            {
                "event_id": "e1",
                "meter_id": "bandwidth_egress",
                "quantity": "1",
                "timestamp": "2001-01-01T00:00:00Z",
            }
        ],
        "before the subscription started",
    ),
    "duplicate ids in the batch": (
        [
            {"event_id": "e1", "meter_id": "bandwidth_egress", "quantity": "1"},
            {"event_id": "e1", "meter_id": "bandwidth_egress", "quantity": "2"},
        ],
        "'e1' appears twice in this batch",
    ),
    "empty batch": ([], "events"),
}


async def test_submit_usage_refuses_each_kind_of_bad_batch_with_its_reason_and_records_nothing(
    dev_env: WorkflowEnvironment, billing_worker: StartWorker, engine: Engine, task_queue: str
) -> None:
    async with billing_worker(dev_env):
        subscription, handle = await _started(dev_env, task_queue)
        for kind, (events, reason) in BAD_BATCHES.items():
            good = {"event_id": "good-1", "meter_id": "bandwidth_egress", "quantity": "3"}
            # A good event first: a bad one anywhere refuses the whole batch.
            batch = [good, *events] if events else []
            try:
                await handle.execute_update("submit_usage", {"events": batch})
            except WorkflowUpdateFailedError as refused:
                cause = refused.cause
            else:
                pytest.fail(f"{kind}: the batch was accepted")
            assert isinstance(cause, ApplicationError), kind
            assert reason in cause.message, f"{kind}: {cause.message}"

        status = await subscription_status(dev_env.client, subscription.subscription_id)
        assert status.usage.get("bandwidth_egress") is None or (
            status.usage["bandwidth_egress"].events == 0
        )
        assert _stored_events(engine, subscription.subscription_id) == 0

        accepted = await handle.execute_update("submit_usage", usage(("a", 2), ("b", 3)))
        assert (accepted["new"], accepted["duplicates"]) == (2, 0)
        again = await handle.execute_update("submit_usage", usage(("a", 2), ("b", 3)))
        assert (again["new"], again["duplicates"]) == (0, 2)
        assert _stored_events(engine, subscription.subscription_id) == 2
        await handle.terminate("test over")
        assert handle.result_run_id is not None
        await record_chain(dev_env.client, handle.id, handle.result_run_id, "subscription-updates")


async def test_ten_thousand_events_in_concurrent_signals_with_resends_count_once_across_runs(
    dev_env: WorkflowEnvironment, billing_worker: StartWorker, engine: Engine, task_queue: str
) -> None:
    signals, per_signal, resends = 200, 50, 50
    batches = [usage(*((f"s{s}-e{e}", 1) for e in range(per_signal))) for s in range(signals)]
    async with billing_worker(dev_env):
        subscription, handle = await _started(dev_env, task_queue)
        first_run = (await handle.describe()).run_id
        sends = [handle.signal("record_usage", batch) for batch in batches]
        sends += [handle.signal("record_usage", batches[i * 3]) for i in range(resends)]
        await asyncio.gather(*sends)

        expected = signals * per_signal
        status = await status_when(
            dev_env.client,
            subscription.subscription_id,
            lambda status: (
                status.usage.get("bandwidth_egress") is not None
                and status.usage["bandwidth_egress"].events >= expected
            ),
            seconds=120,
        )
        assert status.usage["bandwidth_egress"].events == expected
        assert status.usage["bandwidth_egress"].quantity == Decimal(expected)
        assert _stored_events(engine, subscription.subscription_id) == expected
        # Re-sent batches are stored (as duplicates) after the last new event counted: the
        # run continues as new once its intake is drained.
        latest = dev_env.client.get_workflow_handle(handle.id)
        latest_run = await eventually(
            lambda: _run_id(latest), lambda run_id: run_id != first_run, seconds=60
        )
        assert latest_run != first_run, "expected at least one continue-as-new"
        await handle.terminate("test over")


async def test_the_temporal_cli_lists_active_subscriptions_by_search_attribute(
    dev_env: WorkflowEnvironment,
    billing_worker: StartWorker,
    task_queue: str,
    temporal_tools: TemporalTools,
) -> None:
    address = dev_env.client.service_client.config.target_host

    def listed() -> list[dict[str, Any]]:
        query = f'BillingStatus="active" AND BillingSubscriptionId="{subscription.subscription_id}"'
        output = subprocess.run(
            [
                *(temporal_tools.dev_server, "workflow", "list", "--address", address),
                *("--query", query, "--output", "jsonl"),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return [json.loads(line) for line in output.splitlines() if line.strip()]

    async with billing_worker(dev_env):
        subscription, handle = await _started(dev_env, task_queue)
        rows = await eventually(lambda: asyncio.to_thread(listed), lambda rows: bool(rows))
        assert [row["execution"]["workflowId"] for row in rows] == [handle.id]
        await handle.terminate("test over")
