"""Drafts awaiting approval, late usage, plan changes and immediate cancellation, over simulated
months on the time-skipping server.

Every subscription here uses a dunning ladder longer than the test, so that no invoice workflow
completes while time is being skipped (see tests/conftest.py, own_time_skipping_env)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment

from billing.contracts.subscription import (
    ApproveInvoice,
    CancelRequest,
    PlanChange,
    SubscriptionInput,
    SubscriptionStatusView,
)
from billing_db.records import InvoiceRecord
from billing_db.repo_invoices import list_invoices
from billing_db.tables import usage_events
from billing_service.client import (
    batch_of,
    cancel_subscription,
    change_plan,
    send_usage,
    start_subscription,
    subscription_handle,
)
from scripts.export_contract import CONTRACT

from notifications.servers import SmtpFixture
from workflow_runs.clock import skip_to, start_of_next_month
from workflow_runs.conftest import StartWorker
from workflow_runs.polling import eventually, status_when
from workflow_runs.scenario import SEED_BILLING, hybrid_subscription, usage

CONTINUED_BY_V1 = (
    Path(__file__).parent.parent / "unit" / "data" / "subscription-continued-by-v1.json"
)
LONG_LADDER = {"dunning": {"steps": [{"after_days": 120, "action": "remind"}]}}


async def _started_on_a_month_boundary(
    env: WorkflowEnvironment, **overrides: Any
) -> tuple[SubscriptionInput, datetime]:
    start = start_of_next_month(await env.get_current_time())
    billing = SEED_BILLING | LONG_LADDER | overrides.pop("billing", {})
    subscription = hybrid_subscription(start_at=start, billing=billing, **overrides)
    await skip_to(env, start)
    return subscription, start


def _counted(status: SubscriptionStatusView) -> int:
    """Bandwidth events counted so far (none before the first flush)."""
    meter = status.usage.get("bandwidth_egress")
    return meter.events if meter else 0


def _invoices(engine: Engine, subscription_id: str) -> list[InvoiceRecord]:
    return sorted(
        list_invoices(engine, subscription_id=subscription_id), key=lambda i: i.period.start
    )


async def test_a_draft_invoice_waits_for_approval_before_it_is_sent(
    own_time_skipping_env: WorkflowEnvironment,
    billing_worker: StartWorker,
    engine: Engine,
    smtp_server: SmtpFixture,
    task_queue: str,
) -> None:
    env = own_time_skipping_env
    subscription, start = await _started_on_a_month_boundary(
        env, billing={"auto_generate_invoices": False}
    )
    sub_id = subscription.subscription_id
    async with billing_worker(env):
        await start_subscription(env.client, subscription, task_queue=task_queue)
        await status_when(env.client, sub_id, lambda s: True)
        await skip_to(env, start_of_next_month(start) + timedelta(hours=1))
        status = await status_when(env.client, sub_id, lambda s: bool(s.drafts_awaiting_approval))

        [draft] = _invoices(engine, sub_id)
        assert status.drafts_awaiting_approval == [draft.number]
        assert draft.status == "draft"
        assert draft.due_at is None
        assert not [m for m in smtp_server.handler.messages if draft.number in m["Subject"]]

        # The time-skipping server has no updates: the signal of the same name.
        await subscription_handle(env.client, sub_id).signal(
            "approve_invoice", ApproveInvoice(invoice_number=draft.number)
        )
        status = await status_when(env.client, sub_id, lambda s: bool(s.open_invoices))

        [issued] = _invoices(engine, sub_id)
        announced = await eventually(lambda: smtp_server.about(issued.number), bool)

    assert status.open_invoices == [issued.number]
    assert status.drafts_awaiting_approval == []
    assert issued.status == "open"
    assert issued.due_at is not None
    assert len(announced) == 1


async def test_usage_arriving_after_its_period_was_invoiced_is_billed_as_a_late_line(
    own_time_skipping_env: WorkflowEnvironment,
    billing_worker: StartWorker,
    engine: Engine,
    task_queue: str,
) -> None:
    env = own_time_skipping_env
    subscription, start = await _started_on_a_month_boundary(env)
    sub_id = subscription.subscription_id
    second = start_of_next_month(start)
    async with billing_worker(env):
        await start_subscription(env.client, subscription, task_queue=task_queue)
        await send_usage(env.client, sub_id, batch_of(usage(("on-time", 150))["events"]))
        await status_when(env.client, sub_id, lambda s: _counted(s) == 1)
        await skip_to(env, second + timedelta(hours=1))
        await status_when(env.client, sub_id, lambda s: len(s.open_invoices) == 1)

        # 50 GB more of the first month, reported after its invoice: 150 -> 200 GB.
        late = usage(("late", 50))
        late["events"][0]["timestamp"] = (start + timedelta(days=20)).isoformat()
        await send_usage(env.client, sub_id, batch_of(late["events"]))
        await status_when(env.client, sub_id, lambda s: s.late_events == 1)
        await skip_to(env, start_of_next_month(second) + timedelta(hours=1))
        await status_when(env.client, sub_id, lambda s: len(s.open_invoices) == 2)

    first, following = _invoices(engine, sub_id)
    assert first.subtotal == Decimal("49.99") + Decimal("2.50")  # 50 GB over 100 at 0.05
    [late_line] = [line for line in following.lines if line.kind == "late_usage"]
    assert (late_line.quantity, late_line.amount) == (Decimal(50), Decimal("2.50"))
    assert (late_line.period_start, late_line.period_end) == (start, second)
    assert following.subtotal == Decimal("49.99") + Decimal("2.50")


async def test_a_plan_change_takes_effect_from_the_next_period(
    own_time_skipping_env: WorkflowEnvironment,
    billing_worker: StartWorker,
    engine: Engine,
    task_queue: str,
) -> None:
    env = own_time_skipping_env
    subscription, start = await _started_on_a_month_boundary(env)
    sub_id = subscription.subscription_id
    vm_hosting = {
        "product_id": "prod_vm_hosting",
        "currency": "EUR",
        "components": [{"type": "recurring", "amount": "79.99", "cycle": "monthly"}],
    }
    second = start_of_next_month(start)
    async with billing_worker(env):
        await start_subscription(env.client, subscription, task_queue=task_queue)
        await status_when(env.client, sub_id, lambda s: True)
        await change_plan(env.client, sub_id, PlanChange.model_validate({"pricing": vm_hosting}))
        await status_when(env.client, sub_id, lambda s: s.pending_plan_change is not None)
        await skip_to(env, start_of_next_month(second) + timedelta(hours=1))
        status = await status_when(env.client, sub_id, lambda s: len(s.open_invoices) == 2)

    before, after = _invoices(engine, sub_id)
    assert (before.subtotal, before.total) == (Decimal("49.99"), Decimal("59.99"))
    assert (after.subtotal, after.total) == (Decimal("79.99"), Decimal("95.99"))
    assert status.product_id == "prod_vm_hosting"
    assert status.pending_plan_change is None


async def test_an_immediate_cancel_issues_a_prorated_final_invoice_and_ends(
    own_time_skipping_env: WorkflowEnvironment,
    billing_worker: StartWorker,
    engine: Engine,
    task_queue: str,
) -> None:
    env = own_time_skipping_env
    subscription, start = await _started_on_a_month_boundary(env)
    sub_id = subscription.subscription_id
    days_in_month = (start_of_next_month(start) - start).days
    async with billing_worker(env):
        handle = await start_subscription(env.client, subscription, task_queue=task_queue)
        await status_when(env.client, sub_id, lambda s: True)
        await env.sleep(timedelta(days=10, hours=12))
        await cancel_subscription(
            env.client, sub_id, CancelRequest(at_period_end=False, reason="moving away")
        )
        final = await handle.result()

    assert final.status == "canceled"
    [invoice] = _invoices(engine, sub_id)
    assert invoice.period.start == start
    # Closed when the signal was handled: 10.5 days in, give or take the real time it took.
    cancelled_after = invoice.period.end - start
    assert timedelta(days=10, hours=12) <= cancelled_after < timedelta(days=10, hours=12, minutes=1)
    # Prorated by days touched: 11 of the month's days (the cancel day counts).
    expected = (Decimal("49.99") * 11 / days_in_month).quantize(Decimal("0.01"))
    assert invoice.subtotal == expected


async def test_a_pricing_for_an_unknown_meter_fails_the_subscription_with_a_clear_reason(
    time_skipping_env: WorkflowEnvironment, billing_worker: StartWorker, task_queue: str
) -> None:
    env = time_skipping_env
    pricing = {
        "product_id": "prod_gpu",
        "currency": "EUR",
        "components": [{"type": "usage", "meter_id": "gpu_hours", "unit_price": "1.20"}],
    }
    subscription = hybrid_subscription(pricing=pricing)
    async with billing_worker(env):
        handle = await start_subscription(env.client, subscription, task_queue=task_queue)
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()

    cause = failed.value.cause
    assert isinstance(cause, ActivityError)
    assert isinstance(cause.cause, ApplicationError)
    assert cause.cause.non_retryable
    assert "gpu_hours" in cause.cause.message
    history = await handle.fetch_history()
    started = [e for e in history.events if e.HasField("activity_task_started_event_attributes")]
    assert [e.activity_task_started_event_attributes.attempt for e in started] == [1]


async def test_a_malformed_start_fails_the_workflow_with_the_reason(
    time_skipping_env: WorkflowEnvironment, billing_worker: StartWorker, task_queue: str
) -> None:
    """What a typo in `temporal workflow start --input` gets: a failed workflow that says why."""
    env = time_skipping_env
    malformed = {"subscription_id": "sub_typo", "customer_id": "cus_1", "pricing_version": 3}
    async with billing_worker(env):
        handle = await env.client.start_workflow(
            "SubscriptionWorkflow", malformed, id="subscription-sub_typo", task_queue=task_queue
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()

    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "InvalidSubscriptionInput"
    assert "pricing_version" in cause.message


@pytest.mark.parametrize("key", ["continuation", "carried"])
async def test_a_start_that_sets_the_internal_continuation_is_refused(
    time_skipping_env: WorkflowEnvironment,
    billing_worker: StartWorker,
    task_queue: str,
    key: str,
) -> None:
    """A run's state is handed over only by its own continue-as-new: a start that carries one
    (a well-formed state, here that of an older run) fails at once and does nothing; the
    published start schema does not name it."""
    env = time_skipping_env
    state = json.loads(CONTINUED_BY_V1.read_text())["carried"]
    forged = {"subscription_id": state["plan"]["subscription_id"], key: state}
    workflow_id = f"subscription-forged-{uuid.uuid4().hex[:8]}"
    async with billing_worker(env):
        handle = await env.client.start_workflow(
            "SubscriptionWorkflow", forged, id=workflow_id, task_queue=task_queue
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
        history = await handle.fetch_history()

    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.type, cause.non_retryable) == ("InvalidSubscriptionInput", True)
    assert f"{key}: internal state" in cause.message
    assert not [e for e in history.events if e.HasField("activity_task_scheduled_event_attributes")]
    published = (CONTRACT / "subscription-input.schema.json").read_text()
    assert "continuation" not in published
    assert "carried" not in published


async def test_a_bad_event_in_a_signal_is_set_aside_with_its_reason_and_the_rest_count(
    time_skipping_env: WorkflowEnvironment,
    billing_worker: StartWorker,
    engine: Engine,
    task_queue: str,
) -> None:
    env = time_skipping_env
    subscription = hybrid_subscription()
    sub_id = subscription.subscription_id
    events = [
        {"event_id": "ok-1", "meter_id": "bandwidth_egress", "quantity": "10"},
        {"event_id": "gpu-1", "meter_id": "gpu_hours", "quantity": "1"},
        {"event_id": "neg-1", "meter_id": "bandwidth_egress", "quantity": "-3"},
        {"meter_id": "bandwidth_egress", "quantity": "1"},
        {"event_id": "ok-2", "meter_id": "bandwidth_egress", "quantity": "5"},
    ]
    async with billing_worker(env):
        handle = await start_subscription(env.client, subscription, task_queue=task_queue)
        await handle.signal("record_usage", {"events": events})
        status = await status_when(
            env.client, sub_id, lambda s: "bandwidth_egress" in s.usage and bool(s.rejected_events)
        )
        await handle.terminate("test over")

    assert status.usage["bandwidth_egress"].quantity == Decimal(15)
    reasons = {event.event_id: event.reason for event in status.rejected_events}
    assert set(reasons) == {"gpu-1", "neg-1", None}
    assert "unknown meter 'gpu_hours'" in reasons["gpu-1"]
    assert "must not be negative" in reasons["neg-1"]
    assert "event_id" in str(reasons[None])
    assert _stored_event_ids(engine, sub_id) == {"ok-1", "ok-2"}


def _stored_event_ids(engine: Engine, subscription_id: str) -> set[str]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(usage_events.c.event_id).where(usage_events.c.subscription_id == subscription_id)
        )
        return {row.event_id for row in rows}
