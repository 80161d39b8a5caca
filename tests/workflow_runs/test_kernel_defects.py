"""Races of SubscriptionWorkflow, reproduced on the dev server (issue 12).

Each test holds one real activity open with a `Gate` so that messages arrive while the workflow
awaits it: the window in which a handler's write could be lost, or a drain could hang.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, select
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from billing.catalog import Meter
from billing.contracts.activities import (
    AGGREGATE_PERIOD_USAGE,
    ISSUE_INVOICE,
    REGISTER_PRICING,
    STORE_PAYMENT,
)
from billing.contracts.invoice import ForwardedPayment
from billing.contracts.subscription import (
    ApproveInvoice,
    CancelRequest,
    InvoiceStandingChanged,
    PlanChange,
    SubscriptionStatusView,
)
from billing.periods import Period
from billing_db.repo_catalog import get_subscription
from billing_db.repo_invoices import list_invoices
from billing_db.repo_usage import period_usage
from billing_db.tables import notifications, usage_events
from billing_service.client import approve_invoice, start_subscription, subscription_handle
from billing_service.client import subscription_status as query_status

from notifications.servers import SmtpFixture
from replay.recording import record_chain
from workflow_runs import scenario
from workflow_runs.clock import backdated
from workflow_runs.conftest import StartWorker
from workflow_runs.gates import Gate, gated_worker, quiet, signalled
from workflow_runs.polling import eventually, status_when
from workflow_runs.scenario import (
    HYBRID_PRICING,
    SEED_BILLING,
    hybrid_subscription,
    on_its_own_account,
    usage,
)

METER = "bandwidth_egress"
METER_SPEC = scenario.METER
PRORATE_NOW = PlanChange(pricing=HYBRID_PRICING | {"product_id": "hosting_v2"}, prorate_now=True)


async def _db_status(engine: Engine, subscription_id: str, expected: str) -> str:
    async def probe() -> str:
        return get_subscription(engine, subscription_id=subscription_id).status

    return await eventually(probe, lambda status: status == expected, seconds=20)


Gated = Callable[[Gate], Worker]


@pytest.fixture
def gated(
    dev_env: WorkflowEnvironment, engine: Engine, smtp_server: SmtpFixture, task_queue: str
) -> Gated:
    """`gated(gate)`: the production worker on the dev server with `gate`'s activity held."""
    return lambda gate: gated_worker(
        dev_env, task_queue=task_queue, engine=engine, smtp=smtp_server, gates=[gate]
    )


async def _subscribed(
    env: WorkflowEnvironment, task_queue: str, **overrides: Any
) -> tuple[str, WorkflowHandle[Any, Any]]:
    """A started subscription (from now unless `start_at` says otherwise) and its handle."""
    start_at = overrides.pop("start_at", None) or await env.get_current_time()
    # Its own account, so its invoice numbers are unique on the shared dev server: the invoice
    # workflows it starts outlive the test.
    subscription = on_its_own_account(hybrid_subscription(start_at=start_at, **overrides))
    await start_subscription(env.client, subscription, task_queue=task_queue)
    return subscription.subscription_id, subscription_handle(
        env.client, subscription.subscription_id
    )


async def _backdated(
    env: WorkflowEnvironment, task_queue: str, *, closed: int = 1, **billing: Any
) -> tuple[datetime, str, WorkflowHandle[Any, Any]]:
    """The server's now, and a subscription started so that exactly `closed` periods have
    closed by then (`clock.backdated`), on the seed's billing updated with `billing`."""
    now = await env.get_current_time()
    start_at, invoice_day = backdated(now, closed=closed)
    billing = SEED_BILLING | billing | {"invoice_day": invoice_day}
    sub_id, handle = await _subscribed(env, task_queue, start_at=start_at, billing=billing)
    return now, sub_id, handle


async def _usage_while_paying(
    handle: WorkflowHandle[Any, Any],
    gate: Gate,
    message: tuple[str, Any],
    event: tuple[str, int],
) -> None:
    """A payment for an invoice no workflow watches (so the subscription records it itself),
    held open while `message` and then one usage `event` arrive; then the payment completes."""
    await handle.signal(
        "record_payment",
        ForwardedPayment(invoice_number="INV-UNKNOWN", payment_id="pay_1", amount=Decimal(10)),
    )
    await gate.entered.wait()
    await handle.signal(*message)
    await eventually(lambda: signalled(handle, message[0]), bool)
    await quiet(handle, pending={STORE_PAYMENT})
    await handle.signal("record_usage", usage(event))
    await quiet(handle, pending={STORE_PAYMENT})
    gate.release.set()


async def _status(env: WorkflowEnvironment, subscription_id: str) -> SubscriptionStatusView:
    return await query_status(env.client, subscription_id)


async def test_messages_during_the_plan_switch_are_not_lost(
    dev_env: WorkflowEnvironment, gated: Gated, engine: Engine, task_queue: str
) -> None:
    """Defect 1: a cancel and a `settled` standing handled while `register_pricing` runs."""
    gate = Gate(REGISTER_PRICING)
    env = dev_env
    async with gated(gate):
        sub_id, handle = await _subscribed(env, task_queue)
        await status_when(env.client, sub_id, lambda s: s.status == "active")
        first_run = (await handle.describe()).run_id
        await handle.signal(
            "invoice_standing",
            InvoiceStandingChanged(invoice_number="INV-ELSEWHERE", standing="overdue"),
        )
        await status_when(env.client, sub_id, lambda s: s.status == "past_due")

        await handle.signal("change_plan", PRORATE_NOW)
        await gate.entered.wait()
        await handle.signal(
            "invoice_standing",
            InvoiceStandingChanged(invoice_number="INV-ELSEWHERE", standing="settled"),
        )
        await handle.signal("cancel", CancelRequest(at_period_end=True, reason="moving on"))
        await quiet(handle, pending={REGISTER_PRICING})
        gate.release.set()

        status = await status_when(env.client, sub_id, lambda s: s.product_id == "hosting_v2")
        await handle.terminate("test over")
        await record_chain(env.client, handle.id, first_run, "subscription-plan-switch")

    # (status, overdue invoices, cancel at period end): the settled standing and the cancel kept
    seen = (status.status, status.overdue_invoices, status.cancel_at_period_end)
    assert seen == ("active", [], True)


async def test_continue_as_new_drains_usage_that_arrives_while_a_payment_is_recorded(
    dev_env: WorkflowEnvironment, gated: Gated, engine: Engine, task_queue: str
) -> None:
    """Defect 2: usage arriving while the run waits for a `record_payment` handler to finish."""
    gate = Gate(STORE_PAYMENT)
    env = dev_env
    async with gated(gate):
        sub_id, handle = await _subscribed(env, task_queue)
        await status_when(env.client, sub_id, lambda s: True)
        first_run = (await handle.describe()).run_id
        await _usage_while_paying(handle, gate, ("change_plan", PRORATE_NOW), ("late-arrival", 7))

        async def run_id() -> str:
            return (await handle.describe()).run_id

        continued = await eventually(run_id, lambda run: run != first_run, seconds=20) != first_run
        status = await _status(env, sub_id)
        await handle.terminate("test over")

    assert continued, "the run never continued as new: it hangs with the usage in its buffer"
    assert status.product_id == "hosting_v2"
    assert _stored_ids(engine, sub_id) == {"late-arrival"}


async def test_the_final_run_persists_usage_that_arrives_while_it_ends(
    dev_env: WorkflowEnvironment, gated: Gated, engine: Engine, task_queue: str
) -> None:
    """Defect 2, at the end: usage accepted while the last run waits for a handler is stored."""
    gate = Gate(STORE_PAYMENT)
    env = dev_env
    async with gated(gate):
        sub_id, handle = await _subscribed(env, task_queue)
        await status_when(env.client, sub_id, lambda s: True)
        cancel = CancelRequest(at_period_end=False)
        await _usage_while_paying(handle, gate, ("cancel", cancel), ("last-words", 3))
        result: Any = await handle.result()

    assert result["status"] == "canceled"
    assert _stored_ids(engine, sub_id) == {"last-words"}, "usage accepted at the end was dropped"


def _stored_ids(engine: Engine, subscription_id: str) -> set[str]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(usage_events.c.event_id).where(usage_events.c.subscription_id == subscription_id)
        ).all()
    return {row[0] for row in rows}


async def test_an_approval_and_a_standing_change_during_the_close_survive_continue_as_new(
    dev_env: WorkflowEnvironment, gated: Gated, engine: Engine, task_queue: str
) -> None:
    """Defect 3: `_approvals` and `_status_dirty` were not carried to the next run."""
    gate = Gate(REGISTER_PRICING)
    env = dev_env
    async with gated(gate):
        now, sub_id, handle = await _backdated(env, task_queue, auto_generate_invoices=False)
        drafted = await status_when(env.client, sub_id, lambda s: bool(s.drafts_awaiting_approval))
        draft = drafted.drafts_awaiting_approval[0]
        await status_when(env.client, sub_id, lambda s: s.period.end > now)

        await handle.signal("change_plan", PRORATE_NOW)
        await gate.entered.wait()
        await handle.signal("approve_invoice", ApproveInvoice(invoice_number=draft))
        await handle.signal(
            "invoice_standing",
            InvoiceStandingChanged(invoice_number="INV-ELSEWHERE", standing="overdue"),
        )
        await quiet(handle, pending={REGISTER_PRICING})
        gate.release.set()

        async def probe() -> SubscriptionStatusView:
            return await _status(env, sub_id)

        status = await eventually(
            probe,
            lambda s: s.product_id == "hosting_v2" and draft in s.open_invoices,
            seconds=20,
        )
        db_status = await _db_status(engine, sub_id, "past_due")
        await handle.terminate("test over")

    # (draft approved, status in the workflow, status in the database)
    seen = (draft not in status.drafts_awaiting_approval, status.status, db_status)
    assert seen == (True, "past_due", "past_due")


async def test_usage_during_a_backdated_catch_up_counts_in_its_own_period(
    dev_env: WorkflowEnvironment, gated: Gated, engine: Engine, task_queue: str
) -> None:
    """Defect 4: usage sent while past periods are invoiced counts in the period of its
    timestamp, and no usage threshold fires for a period already closed."""
    gate = Gate(AGGREGATE_PERIOD_USAGE)
    env = dev_env
    async with gated(gate):
        # Three periods to catch up on: the usage arrives while the first is being invoiced.
        now, sub_id, handle = await _backdated(env, task_queue, closed=3)
        await gate.entered.wait()
        # 95 GB now: 95 % of the 100 GB included this (current) period.
        await handle.signal("record_usage", usage(("now-1", 50), ("now-2", 45)))
        # The aggregate is a local activity: the workflow task that runs it stays open, and the
        # signal is delivered at that task's next heartbeat, while the aggregate is still held.
        await eventually(lambda: signalled(handle, "record_usage"), bool, seconds=30)
        gate.release.set()

        status = await status_when(
            env.client, sub_id, lambda s: s.period.end > now and len(s.open_invoices) >= 3
        )
        status = await _status(env, sub_id)
        stored = period_usage(
            engine,
            subscription_id=sub_id,
            period=status.period,
            meters=[Meter.model_validate(METER_SPEC)],
        )
        thresholds = await _thresholds(engine, sub_id)
        await handle.terminate("test over")

    running = status.usage.get(METER)
    current = f"{status.period.start:%Y-%m-%d}"
    # (database, running usage of the current period, thresholds notified)
    seen = (stored.quantities[METER], running and running.quantity, thresholds)
    expected = {(current, "threshold-80"), (current, "threshold-90")}
    assert seen == (Decimal(95), Decimal(95), expected)


async def _thresholds(engine: Engine, subscription_id: str) -> set[tuple[str, str]]:
    """(period start, threshold) of the subscription's usage-threshold notifications."""

    async def probe() -> set[tuple[str, str]]:
        with engine.connect() as connection:
            keys = connection.execute(
                select(notifications.c.dedupe_key).where(notifications.c.event == "usage_threshold")
            ).scalars()
            parts = [key.split(":") for key in keys]
        return {(p[2], p[4]) for p in parts if p[1] == subscription_id}

    return await eventually(probe, lambda found: len(found) >= 2, seconds=5)


async def test_approve_invoice_update_refuses_an_unknown_or_issued_number_and_issues_a_draft(
    dev_env: WorkflowEnvironment, billing_worker: StartWorker, task_queue: str
) -> None:
    env = dev_env
    async with billing_worker(env):
        start_at, invoice_day = backdated(await env.get_current_time())
        sub_id, _handle = await _subscribed(
            env,
            task_queue,
            start_at=start_at,
            billing=SEED_BILLING | {"auto_generate_invoices": False, "invoice_day": invoice_day},
        )
        drafted = await status_when(env.client, sub_id, lambda s: bool(s.drafts_awaiting_approval))
        draft = drafted.drafts_awaiting_approval[0]

        async def refusal(number: str) -> str:
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await approve_invoice(env.client, sub_id, number)
            cause = refused.value.cause
            return cause.message if isinstance(cause, ApplicationError) else str(cause)

        unknown = await refusal("INV-NOPE")
        await approve_invoice(env.client, sub_id, draft)
        again = await refusal(draft)
        status = await _status(env, sub_id)
        await _handle.terminate("test over")

    assert "'INV-NOPE' is not a draft of this subscription awaiting approval" in unknown
    assert f"{draft!r} is not a draft of this subscription awaiting approval" in again
    assert draft in status.open_invoices
    assert draft not in status.drafts_awaiting_approval


def _stored_period(engine: Engine, subscription_id: str) -> Period:
    return get_subscription(engine, subscription_id=subscription_id).current_period


async def test_the_stored_current_period_follows_every_roll_over(
    dev_env: WorkflowEnvironment, billing_worker: StartWorker, engine: Engine, task_queue: str
) -> None:
    """`current_period` in the database is the workflow's period once a period has been
    invoiced (written by the invoice's own activity), and still when it ends."""
    env = dev_env
    async with billing_worker(env):
        now = await env.get_current_time()
        start_at, invoice_day = backdated(now)
        sub_id, handle = await _subscribed(
            env, task_queue, start_at=start_at, billing=SEED_BILLING | {"invoice_day": invoice_day}
        )
        rolled = await status_when(
            env.client, sub_id, lambda s: s.period.end > now and len(s.open_invoices) == 1
        )
        stored = _stored_period(engine, sub_id)
        await handle.signal("cancel", CancelRequest(at_period_end=False))
        ended = SubscriptionStatusView.model_validate(await handle.result())

    # (the period rolled over from the first, stored after the invoice, stored at the end)
    seen = (rolled.period.start > start_at, stored, _stored_period(engine, sub_id))
    assert seen == (True, rolled.period, ended.period)


async def test_a_cancel_while_the_invoice_is_issued_leaves_the_stored_period_the_workflows(
    dev_env: WorkflowEnvironment, gated: Gated, engine: Engine, task_queue: str
) -> None:
    """The invoice's activity stored the next period before the cancel arrived; the run ends
    in its closed period instead, and the status write that follows stores that one."""
    gate = Gate(ISSUE_INVOICE)
    env = dev_env
    async with gated(gate):
        start_at, invoice_day = backdated(await env.get_current_time())
        sub_id, handle = await _subscribed(
            env, task_queue, start_at=start_at, billing=SEED_BILLING | {"invoice_day": invoice_day}
        )
        await gate.entered.wait()
        await handle.signal("cancel", CancelRequest(at_period_end=False))
        # The invoice is a local activity: the cancel reaches the workflow at the next heartbeat
        # of the workflow task that runs it, while the invoice is still held.
        await eventually(lambda: signalled(handle, "cancel"), bool, seconds=30)
        gate.release.set()
        ended = SubscriptionStatusView.model_validate(await handle.result())

    stored = get_subscription(engine, subscription_id=sub_id)
    assert (stored.status, stored.current_period) == ("canceled", ended.period)


@pytest.mark.parametrize("at_period_end", [False, True], ids=["cancel-now", "at-period-end"])
async def test_a_cancel_during_a_backdated_catch_up_ends_the_period_it_was_asked_in(
    dev_env: WorkflowEnvironment,
    gated: Gated,
    engine: Engine,
    task_queue: str,
    at_period_end: bool,
) -> None:
    """A cancel that arrives while a past period is invoiced ends the subscription at the close
    it asked for (now, or the end of the current period), not at the end of that past period:
    every period up to the cancel is invoiced (it was: only the first one)."""
    gate = Gate(AGGREGATE_PERIOD_USAGE)
    env = dev_env
    async with gated(gate):
        now, sub_id, handle = await _backdated(env, task_queue, closed=2)
        await gate.entered.wait()
        asked_at = await env.get_current_time()
        await handle.signal("cancel", CancelRequest(at_period_end=at_period_end, reason="bye"))
        await eventually(lambda: signalled(handle, "cancel"), bool, seconds=30)
        gate.release.set()
        status = await status_when(
            env.client,
            sub_id,
            lambda s: len(s.open_invoices) >= 2 and s.period.end > now,
        )
        if at_period_end:
            await handle.terminate("test over")
        else:
            await handle.result()

    invoiced = [invoice.period for invoice in list_invoices(engine, subscription_id=sub_id)]
    chained = all(a.end == b.start for a, b in itertools.pairwise(invoiced))
    if at_period_end:
        # Two past periods invoiced; the current one runs on, to end at its end.
        waiting = (len(invoiced), chained, status.status, status.cancel_at_period_end)
        assert waiting == (2, True, "active", True)
    else:
        # Both past periods and the current one up to the cancel, which ended it.
        last_end = invoiced[-1].end if invoiced else None
        ended = (len(invoiced), chained, last_end is not None and last_end >= asked_at)
        assert ended == (3, True, True)
