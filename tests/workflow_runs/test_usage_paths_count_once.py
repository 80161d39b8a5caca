"""One ledger, one key: an event sent by the batch intake (the HTTP route's service) and again
by the workflow's `record_usage` signal or `submit_usage` update is stored and counted once."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, func, select
from temporalio.testing import WorkflowEnvironment

from billing.contracts.subscription import UsageAccepted
from billing_db.tables import usage_events
from billing_service.client import start_subscription
from billing_service.services import usage as intake

from workflow_runs.conftest import StartWorker
from workflow_runs.polling import eventually, status_when
from workflow_runs.scenario import hybrid_subscription, usage


def _stored(engine: Engine, subscription_id: str) -> dict[str, str]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(usage_events.c.event_id, func.sum(usage_events.c.quantity))
            .where(usage_events.c.subscription_id == subscription_id)
            .group_by(usage_events.c.event_id)
        )
        return {event_id: str(int(quantity)) for event_id, quantity in rows}


async def test_an_event_sent_by_http_and_by_signal_or_update_counts_once(
    dev_env: WorkflowEnvironment, billing_worker: StartWorker, engine: Engine, task_queue: str
) -> None:
    async with billing_worker(dev_env):
        subscription = hybrid_subscription()
        sub = subscription.subscription_id
        handle = await start_subscription(dev_env.client, subscription, task_queue=task_queue)
        await status_when(dev_env.client, sub, lambda _status: True)  # stored by now

        result, _new = intake.ingest(
            engine,
            usage(("e1", 1), ("e2", 2))["events"],
            account_id=subscription.account_id,
            now=datetime.now(UTC),
            subscription_id=sub,
        )
        assert (result.accepted, result.duplicates, result.rejected) == (2, 0, [])

        await handle.signal("record_usage", usage(("e1", 1), ("e3", 4)))
        accepted = await handle.execute_update(
            "submit_usage", usage(("e2", 2), ("e4", 8)), result_type=UsageAccepted
        )
        assert (accepted.new, accepted.duplicates) == (1, 1)

        async def stored() -> dict[str, str]:
            return _stored(engine, sub)

        await eventually(stored, lambda events: len(events) == 4)  # e3, by the workflow

        again, _new = intake.ingest(
            engine,
            usage(("e3", 4), ("e4", 8))["events"],
            account_id=subscription.account_id,
            now=datetime.now(UTC),
            subscription_id=sub,
        )
        assert (again.accepted, again.duplicates) == (0, 2)
        assert _stored(engine, sub) == {"e1": "1", "e2": "2", "e3": "4", "e4": "8"}
