"""Invoices drive their subscription's standing: overdue makes it past_due, a suspension step
suspends it, and it is active again only once nothing is overdue. A real SubscriptionWorkflow
runs on the time-skipping server; its invoices' workflows are started top-level by the test and
point at it (its own children keep long terms, so none of them completes: tests/conftest.py)."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import Engine
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from billing.contracts.invoice import ForwardedPayment, PaymentSubmission
from billing.contracts.subscription import SubscriptionInput
from billing_db.repo_catalog import get_subscription
from billing_db.repo_invoices import list_invoices
from billing_service.client import start_subscription
from workflows.invoice import InvoiceWorkflow

from invoice_runs.conftest import StartWorker
from invoice_runs.scenario import TOTAL, Ledger, log_when, sent, view_when
from workflow_runs.clock import at_day_of_month, skip_to
from workflow_runs.polling import eventually, status_when
from workflow_runs.scenario import SEED_BILLING, hybrid_subscription

DAY = timedelta(days=1)
OVERDUE = {("payment_overdue", "email"): 1, ("payment_overdue", "webhook"): 1}
# The subscription's own invoices: terms and a ladder longer than the test, so that none of its
# abandoned children completes (that would stop time skipping, sdk-java#1539).
QUIET_BILLING = SEED_BILLING | {
    "payment_terms_days": 90,
    "dunning": {"steps": [{"after_days": 365, "action": "remind"}]},
}


async def _subscribed(
    env: WorkflowEnvironment, ledger: Ledger, task_queue: str
) -> tuple[SubscriptionInput, WorkflowHandle[object, object]]:
    # Today is the 10th: the test's four weeks cross the next invoice day (the 1st) once.
    today = await at_day_of_month(env, day=10)
    subscription = hybrid_subscription(start_at=today, billing=QUIET_BILLING)
    handle = await start_subscription(env.client, subscription, task_queue=task_queue)
    await status_when(env.client, subscription.subscription_id, lambda s: s.status == "active")
    ledger.hooks(subscription.account_id)
    return subscription, handle


async def _db_status(engine: Engine, subscription_id: str, expected: str) -> str:
    async def probe() -> str:
        return get_subscription(engine, subscription_id=subscription_id).status

    return await eventually(probe, lambda status: status == expected)


async def test_a_partial_payment_still_goes_overdue_and_the_rest_on_day_9_reactivates(
    own_time_skipping_env: WorkflowEnvironment,
    billing_worker: StartWorker,
    ledger: Ledger,
    engine: Engine,
    task_queue: str,
) -> None:
    env = own_time_skipping_env
    async with billing_worker(env):
        subscription, handle = await _subscribed(env, ledger, task_queue)
        sub_id = subscription.subscription_id
        invoice = ledger.issue(sub_id, issued_at=await env.get_current_time())
        assert invoice.due_at is not None
        due = invoice.due_at
        invoice_handle = await ledger.start(env.client, invoice)

        await skip_to(env, due - 9 * DAY)
        await invoice_handle.signal(
            InvoiceWorkflow.record_payment,
            PaymentSubmission(payment_id="pay_part", amount=Decimal("30.00")),
        )
        await view_when(env.client, invoice.number, lambda v: len(v.payments) == 1)

        await skip_to(env, due)
        view = await view_when(env.client, invoice.number, lambda v: v.invoice.status == "overdue")
        assert view.invoice.amount_due == TOTAL - Decimal("30.00")
        await status_when(env.client, sub_id, lambda s: s.status == "past_due")
        assert await _db_status(engine, sub_id, "past_due") == "past_due"

        await skip_to(env, due + 9 * DAY)
        reminded = {**OVERDUE, ("payment_reminder", "email"): 2}
        assert await log_when(engine, invoice.number, reminded) == Counter(reminded)
        # The rest, sent to the subscription, which forwards it to the invoice's workflow.
        await handle.signal(
            "record_payment",
            ForwardedPayment(
                invoice_number=invoice.number, payment_id="pay_rest", amount=view.invoice.amount_due
            ),
        )
        final = await view_when(env.client, invoice.number, lambda v: v.invoice.status == "paid")
        status = await status_when(env.client, sub_id, lambda s: s.status == "active")
        assert await _db_status(engine, sub_id, "active") == "active"
        await skip_to(env, due + 15 * DAY)
        assert (await status_when(env.client, sub_id, lambda s: True)).status == "active"
        await handle.terminate("test over")

    assert final.invoice.status == "paid"
    assert [p.payment_id for p in final.payments] == ["pay_part", "pay_rest"]
    assert [r.action for r in final.dunning] == ["overdue", "remind", "remind", "paid"]
    assert invoice.number not in status.overdue_invoices
    assert sent(engine, invoice.number) == Counter({**reminded, ("payment_received", "email"): 1})


async def test_two_overdue_invoices_escalate_independently_and_both_must_be_settled(
    own_time_skipping_env: WorkflowEnvironment,
    billing_worker: StartWorker,
    ledger: Ledger,
    engine: Engine,
    task_queue: str,
) -> None:
    env = own_time_skipping_env
    async with billing_worker(env):
        subscription, handle = await _subscribed(env, ledger, task_queue)
        sub_id = subscription.subscription_id
        started = await env.get_current_time()
        first = ledger.issue(sub_id, issued_at=started)
        second = ledger.issue(sub_id, issued_at=started + 5 * DAY)
        assert first.due_at is not None
        assert second.due_at is not None
        first_handle = await ledger.start(env.client, first)
        await skip_to(env, started + 5 * DAY)
        second_handle = await ledger.start(env.client, second)

        await skip_to(env, first.due_at)
        await view_when(env.client, first.number, lambda v: v.invoice.status == "overdue")
        status = await status_when(env.client, sub_id, lambda s: s.status == "past_due")
        assert status.overdue_invoices == [first.number]

        await skip_to(env, second.due_at + DAY)
        await status_when(env.client, sub_id, lambda s: len(s.overdue_invoices) == 2)
        assert (await view_when(env.client, first.number, bool)).invoice.status == "overdue"

        # The first invoice reaches its suspension step; the second is 5 days behind it.
        await skip_to(env, first.due_at + 14 * DAY)
        await status_when(env.client, sub_id, lambda s: s.status == "suspended")
        assert await _db_status(engine, sub_id, "suspended") == "suspended"
        second_view = await view_when(env.client, second.number, bool)
        assert [r.action for r in second_view.dunning] == ["overdue", "remind", "remind"]
        assert [r.at - second.due_at for r in second_view.dunning] == [0 * DAY, 3 * DAY, 7 * DAY]

        # Paying the suspended invoice is not enough: the second is still overdue.
        await first_handle.signal(
            InvoiceWorkflow.record_payment, PaymentSubmission(payment_id="pay_1", amount=TOTAL)
        )
        # Poll the query rather than await the result: `result()` lets the test server skip
        # time while it waits, and the second invoice's next ladder step would fire meanwhile.
        await view_when(env.client, first.number, lambda v: v.invoice.status == "paid")
        status = await status_when(env.client, sub_id, lambda s: s.status == "past_due")
        assert status.overdue_invoices == [second.number]
        assert await _db_status(engine, sub_id, "past_due") == "past_due"

        await second_handle.signal(
            InvoiceWorkflow.record_payment, PaymentSubmission(payment_id="pay_2", amount=TOTAL)
        )
        second_final = await view_when(
            env.client, second.number, lambda v: v.invoice.status == "paid"
        )
        status = await status_when(env.client, sub_id, lambda s: s.status == "active")
        assert await _db_status(engine, sub_id, "active") == "active"
        await handle.terminate("test over")

    assert [r.action for r in second_final.dunning] == ["overdue", "remind", "remind", "paid"]
    assert status.overdue_invoices == []
    # Meanwhile the subscription kept billing: its own invoices, one per invoice day.
    own = [
        i
        for i in list_invoices(engine, subscription_id=sub_id)
        if i.number not in (first.number, second.number)
    ]
    own.sort(key=lambda i: i.period.start)
    assert own
    assert own[0].period.start == subscription.start_at
    assert all(a.period.end == b.period.start for a, b in itertools.pairwise(own))
    assert sent(engine, first.number)[("subscription_suspended", "email")] == 1
    assert ("subscription_suspended", "email") not in sent(engine, second.number)
