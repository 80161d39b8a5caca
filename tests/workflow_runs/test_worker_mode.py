"""The mode comes from where a subscription lands (the worker's namespace and database), never
from a payload field: started without `livemode`, a subscription takes its worker's mode; a
`livemode` that contradicts the worker fails the workflow with a clear error (issue 16)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from billing.contracts.subscription import SubscriptionInput
from billing_db.repo_catalog import get_account
from billing_service.client import start_subscription

from workflow_runs.conftest import StartWorker
from workflow_runs.polling import status_when
from workflow_runs.scenario import hybrid_subscription, on_its_own_account


def _subscription(**overrides: Any) -> SubscriptionInput:
    """The seed's subscription on an account of its own (accounts keep the mode they began in)."""
    return on_its_own_account(hybrid_subscription(**overrides))


@pytest.mark.parametrize("mode", ["test", "live"])
async def test_a_subscription_without_livemode_takes_its_workers_mode(
    dev_env: WorkflowEnvironment,
    billing_worker: StartWorker,
    engine: Engine,
    task_queue: str,
    mode: str,
) -> None:
    subscription = _subscription(start_at=await dev_env.get_current_time())
    assert subscription.livemode is None
    async with billing_worker(dev_env, mode=mode):
        handle = await start_subscription(dev_env.client, subscription, task_queue=task_queue)
        await status_when(dev_env.client, subscription.subscription_id, lambda s: True)
        await handle.terminate("test over")

    assert get_account(engine, account_id=subscription.account_id).mode == mode


@pytest.mark.parametrize(("mode", "livemode"), [("live", False), ("test", True)])
async def test_a_livemode_that_contradicts_the_worker_fails_with_the_reason(
    dev_env: WorkflowEnvironment,
    billing_worker: StartWorker,
    task_queue: str,
    mode: str,
    livemode: bool,
) -> None:
    subscription = _subscription(start_at=await dev_env.get_current_time(), livemode=livemode)
    async with billing_worker(dev_env, mode=mode):
        handle = await start_subscription(dev_env.client, subscription, task_queue=task_queue)
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()

    chain: list[str] = []
    error: object = failed.value
    while error is not None:  # workflow failure <- activity error <- application error
        chain.append(str(error))
        error = getattr(error, "cause", None)
    assert any(f"this worker serves {mode} mode" in message for message in chain), chain
