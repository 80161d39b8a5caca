"""One invoice from issue to its end on the time-skipping server: paid within the terms, or
overdue at the due date and up the dunning ladder to uncollectible; void stops it all.

InvoiceWorkflow runs top-level here (the test client starts it) on a server of the test's own,
because it completes (see tests/conftest.py). Its subscription is not running: telling it about
the invoice's standing fails quietly, which these tests prove does not disturb the invoice."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from billing.contracts.invoice import PaymentSubmission, VoidRequest
from billing_db.repo_invoices import customer_credit_balance, get_invoice
from workflows.invoice import InvoiceWorkflow

from invoice_runs.conftest import StartWorker
from invoice_runs.scenario import TOTAL, Ledger, changed_at, history, log_when, sent, view_when
from notifications.servers import SmtpFixture
from replay.recording import record_chain
from workflow_runs.clock import skip_to

DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)
REMINDED_ONCE = {
    ("payment_overdue", "email"): 1,
    ("payment_overdue", "webhook"): 1,
    ("payment_reminder", "email"): 1,
}


async def test_an_invoice_paid_on_day_10_of_14_is_paid_notified_once_and_never_overdue(
    own_time_skipping_env: WorkflowEnvironment,
    billing_worker: StartWorker,
    ledger: Ledger,
    engine: Engine,
    smtp_server: SmtpFixture,
) -> None:
    env = own_time_skipping_env
    issued, invoice = await ledger.issue_now(env)

    async with billing_worker(env):
        handle = await ledger.start(env.client, invoice)
        await skip_to(env, issued + 10 * DAY)
        await view_when(env.client, invoice.number, lambda v: v.invoice.status == "open")
        await handle.signal(
            InvoiceWorkflow.record_payment, PaymentSubmission(payment_id="pay_day10", amount=TOTAL)
        )
        final = await handle.result()
        assert handle.result_run_id is not None
        await record_chain(env.client, handle.id, handle.result_run_id, "invoice_paid")

    assert (final.invoice.status, final.invoice.amount_paid, final.invoice.amount_due) == (
        "paid",
        TOTAL,
        Decimal(0),
    )
    assert [p.payment_id for p in final.payments] == ["pay_day10"]
    assert [record.action for record in final.dunning] == ["paid"]
    assert final.waiting_for == "nothing: the invoice is paid"
    assert sent(engine, invoice.number) == Counter({("payment_received", "email"): 1})
    assert len(smtp_server.handler.messages) == 1
    assert invoice.number in str(smtp_server.handler.messages[0]["Subject"])
    assert [(old, new) for old, new, _ in history(engine, invoice.number)] == [
        (None, "draft"),
        ("draft", "open"),
        ("open", "paid"),
    ]
    stored = get_invoice(engine, invoice_number=invoice.number)
    assert stored.paid_at is not None
    assert stored.due_at is not None
    assert issued + 10 * DAY <= stored.paid_at < stored.due_at


async def test_an_unpaid_invoice_goes_overdue_at_the_due_date_then_up_the_whole_ladder(
    own_time_skipping_env: WorkflowEnvironment,
    billing_worker: StartWorker,
    ledger: Ledger,
    engine: Engine,
) -> None:
    env = own_time_skipping_env
    tokyo = ZoneInfo("Asia/Tokyo")
    issued, invoice = await ledger.issue_now(env, time_zone="Asia/Tokyo")
    # Due: the end of the 14th local day after the local issue date, in the customer's zone.
    local_due_day = issued.astimezone(tokyo).date() + 14 * DAY
    assert invoice.due_at is not None
    assert invoice.due_at == datetime.combine(local_due_day, time(23, 59, 59), tokyo)
    due = invoice.due_at
    number = invoice.number
    overdue_notices = {("payment_overdue", "email"): 1, ("payment_overdue", "webhook"): 1}
    # (days after the due date, what the log holds from then on, the dunning actions so far)
    ladder: list[tuple[int, dict[tuple[str, str], int], list[str]]] = [
        (0, overdue_notices, ["overdue"]),
        (3, {**overdue_notices, ("payment_reminder", "email"): 1}, ["overdue", "remind"]),
        (
            7,
            {**overdue_notices, ("payment_reminder", "email"): 2},
            ["overdue", "remind", "remind"],
        ),
    ]
    suspended = {**overdue_notices, ("payment_reminder", "email"): 2}
    suspended[("subscription_suspended", "email")] = 1

    async with billing_worker(env):
        handle = await ledger.start(env.client, invoice)
        await skip_to(env, due - MINUTE)
        before = await view_when(env.client, number, lambda v: "due date" in v.waiting_for)
        assert before.invoice.status == "open"
        assert sent(engine, number) == Counter()
        for days, notices, actions in ladder:
            await skip_to(env, due + days * DAY - MINUTE)
            assert [r.action for r in (await view_when(env.client, number, bool)).dunning] == (
                actions[:-1]
            ), f"+{days} days: a step came early"
            await skip_to(env, due + days * DAY)
            assert await log_when(engine, number, notices) == Counter(notices), f"+{days} days"
            view = await view_when(env.client, number, lambda v: v.invoice.status == "overdue")
            assert [r.action for r in view.dunning] == actions
            assert view.dunning[-1].at == due + days * DAY
        assert view.invoice.status == "overdue"
        assert view.invoice.amount_due == TOTAL

        await skip_to(env, due + 14 * DAY)
        assert await log_when(engine, number, suspended) == Counter(suspended)
        view = await view_when(env.client, number, lambda v: v.invoice.status == "overdue")
        assert view.dunning[-1].action == "suspend"
        final = await handle.result()
        assert handle.result_run_id is not None
        await record_chain(env.client, handle.id, handle.result_run_id, "invoice_unpaid_ladder")

    assert final.invoice.status == "uncollectible"
    assert [(r.action, r.at - due) for r in final.dunning] == [
        ("overdue", 0 * DAY),
        ("remind", 3 * DAY),
        ("remind", 7 * DAY),
        ("suspend", 14 * DAY),
        ("uncollectible", 30 * DAY),
    ]
    assert sent(engine, number) == Counter({**suspended, ("invoice_uncollectible", "email"): 1})
    # Every step is in the database history, as of its deadline.
    assert [(old, new) for old, new, _ in history(engine, number)] == [
        (None, "draft"),
        ("draft", "open"),
        ("open", "overdue"),
        ("overdue", "overdue"),
        ("overdue", "overdue"),
        ("overdue", "overdue"),
        ("overdue", "uncollectible"),
    ]
    assert changed_at(engine, number) == {
        "draft": issued,
        "open": issued,
        "overdue": due,
        "remind-1": due + 3 * DAY,
        "remind-2": due + 7 * DAY,
        "suspend-3": due + 14 * DAY,
        "uncollectible": due + 30 * DAY,
    }


async def test_void_with_a_reason_stops_the_ladder_and_returns_the_payments_as_credit(
    own_time_skipping_env: WorkflowEnvironment,
    billing_worker: StartWorker,
    ledger: Ledger,
    engine: Engine,
) -> None:
    env = own_time_skipping_env
    _issued, invoice = await ledger.issue_now(env)
    assert invoice.due_at is not None
    async with billing_worker(env):
        handle = await ledger.start(env.client, invoice)
        await handle.signal(
            InvoiceWorkflow.record_payment,
            PaymentSubmission(payment_id="pay_part", amount=Decimal("20.00")),
        )
        await view_when(env.client, invoice.number, lambda v: len(v.payments) == 1)
        await skip_to(env, invoice.due_at + 4 * DAY)
        await log_when(engine, invoice.number, REMINDED_ONCE)
        await handle.signal(
            InvoiceWorkflow.void_invoice, VoidRequest(reason="billed the wrong plan")
        )
        final = await handle.result()
        # Nothing more happens to it, however long we wait.
        await skip_to(env, invoice.due_at + 40 * DAY)

    assert final.invoice.status == "void"
    assert final.invoice.amount_due == 0
    assert [(r.action, r.note) for r in final.dunning][-1] == ("void", "billed the wrong plan")
    assert history(engine, invoice.number)[-1] == ("overdue", "void", "billed the wrong plan")
    assert sent(engine, invoice.number) == Counter(REMINDED_ONCE)
    stored = get_invoice(engine, invoice_number=invoice.number)
    assert customer_credit_balance(engine, customer_id=stored.customer_id, currency="EUR") == (
        Decimal("20.00")
    )
