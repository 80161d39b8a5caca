"""Usage committed by the batch intake (HTTP, `billing usage import`) reaches the workflow's live
view: a `usage_recorded` nudge makes it count the ledger's new rows, so `status` and the usage
thresholds follow the ledger, an event sent both ways counts once, and a nudge naming a row that
does not exist is not chased for ever."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func, select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from billing.contracts.activities import COUNT_RECORDED_USAGE
from billing.contracts.subscription import LedgerNudge, SubscriptionStatusView
from billing_db.tables import notifications
from billing_service.client import start_subscription
from billing_service.services import usage as intake
from billing_service.services.usage_nudges import UsageNudges

from replay.recording import record_chain
from workflow_runs.clock import backdated
from workflow_runs.conftest import StartWorker
from workflow_runs.polling import eventually, status_when
from workflow_runs.scenario import SEED_BILLING, hybrid_subscription, on_its_own_account, usage

METER = "bandwidth_egress"


def _running(status: SubscriptionStatusView) -> Decimal | None:
    meter = status.usage.get(METER)
    return None if meter is None else meter.quantity


async def _ingest(
    engine: Engine, client: Client, account_id: str, sub: str, *events: tuple[str, int]
) -> None:
    """Commit events through the intake service, then nudge as the API does."""
    result, new = intake.ingest(
        engine,
        usage(*events)["events"],
        account_id=account_id,
        now=datetime.now(UTC),
        subscription_id=sub,
    )
    assert result.rejected == []

    async def connected() -> Client:
        return client

    nudges = UsageNudges(connected)
    nudges.note(new)
    await nudges.flush()


async def _threshold_rows(engine: Engine, sub: str) -> dict[str, int]:
    """Usage-threshold notifications of the subscription: threshold -> deliveries recorded."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(notifications.c.dedupe_key, func.count())
            .where(notifications.c.event == "usage_threshold")
            .group_by(notifications.c.dedupe_key)
        ).all()
    return {key.split(":")[4]: count for key, count in rows if key.split(":")[1] == sub}


async def test_intake_usage_reaches_status_and_thresholds_once(
    dev_env: WorkflowEnvironment, billing_worker: StartWorker, engine: Engine, task_queue: str
) -> None:
    client = dev_env.client
    now = await dev_env.get_current_time()
    start_at, invoice_day = backdated(now, closed=1)
    subscription = on_its_own_account(
        hybrid_subscription(start_at=start_at, billing=SEED_BILLING | {"invoice_day": invoice_day})
    )
    sub, account = subscription.subscription_id, subscription.account_id
    async with billing_worker(dev_env):
        handle = await start_subscription(client, subscription, task_queue=task_queue)
        await status_when(client, sub, lambda s: s.period.end > now and bool(s.open_invoices))

        # 85 of the 100 GB included: the 80 % threshold.
        await _ingest(engine, client, account, sub, ("h-1", 50), ("h-2", 35))
        status = await status_when(client, sub, lambda s: _running(s) == 85)
        # One event by signal and again by the intake, and a re-sent batch: counted once.
        await handle.signal("record_usage", usage(("both", 3)))
        await _ingest(engine, client, account, sub, ("both", 3), ("h-1", 50), ("h-3", 7))
        status = await status_when(client, sub, lambda s: _running(s) == 95)
        thresholds = await eventually(
            lambda: _threshold_rows(engine, sub), lambda rows: len(rows) >= 2, seconds=20
        )
        upcoming = await handle.query("upcoming_invoice")
        await handle.terminate("test over")
        assert handle.result_run_id is not None
        await record_chain(client, handle.id, handle.result_run_id, "subscription-ledger-counting")

    usage_line = [line for line in upcoming["lines"] if line.get("meter_id") == METER]
    seen = (_running(status), thresholds, [Decimal(line["quantity"]) for line in usage_line])
    assert seen == (Decimal(95), {"threshold-80": 1, "threshold-90": 1}, [Decimal(95)])


async def test_a_nudge_beyond_the_ledger_is_not_chased(
    dev_env: WorkflowEnvironment, billing_worker: StartWorker, engine: Engine, task_queue: str
) -> None:
    client = dev_env.client
    now = await dev_env.get_current_time()
    start_at, invoice_day = backdated(now, closed=1)  # the open period ends weeks from now
    subscription = on_its_own_account(
        hybrid_subscription(start_at=start_at, billing=SEED_BILLING | {"invoice_day": invoice_day})
    )
    sub = subscription.subscription_id
    async with billing_worker(dev_env):
        handle = await start_subscription(client, subscription, task_queue=task_queue)
        await status_when(client, sub, lambda s: s.period.end > now and bool(s.open_invoices))
        await handle.signal("usage_recorded", LedgerNudge(up_to_row_id=10**15))
        await _ingest(engine, client, subscription.account_id, sub, ("n-1", 4))
        await status_when(client, sub, lambda s: _running(s) == 4)

        async def counts() -> int:
            found = 0
            async for event in handle.fetch_history_events():
                attributes: Any = event.activity_task_scheduled_event_attributes
                found += attributes.activity_type.name == COUNT_RECORDED_USAGE
            return found

        # Given a moment, a loop would schedule count after count.
        first = await eventually(counts, lambda found: found >= 1, seconds=5)
        later = await eventually(counts, lambda found: found > first, seconds=3)
        await handle.terminate("test over")
    assert 1 <= first == later <= 2  # the bogus nudge and the real one: one or two counts
