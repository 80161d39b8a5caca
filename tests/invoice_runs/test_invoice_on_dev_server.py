"""InvoiceWorkflow on the dev server: the `submit_payment` update (idempotent, and refused with a
reason when bad), overpayment kept as credit for the next invoice, and what a person sees:
search attributes, `temporal workflow list` queries, current details and the `invoice` query."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from billing.contracts.invoice import InvoiceView, PaymentSubmission, VoidRequest
from billing_db.repo_invoices import customer_credit_balance, get_invoice
from billing_db.tables import payments
from billing_service.client import pay_invoice
from workflows import search_attributes as sa
from workflows.invoice import InvoiceWorkflow

from invoice_runs.conftest import StartWorker
from invoice_runs.scenario import TOTAL, Ledger, sent, view_when
from workflow_runs.polling import eventually

DAY = timedelta(days=1)
Handle = WorkflowHandle[InvoiceWorkflow, InvoiceView]


def _payment_rows(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(payments)).scalar_one())


async def _refusal(handle: Handle, payment: Mapping[str, object]) -> str:
    """The reason `submit_payment` gives for refusing `payment` (raw JSON, as any client sends)."""
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update("submit_payment", payment)
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError), cause
    return cause.message


async def test_the_same_payment_id_five_times_counts_once_by_update_and_by_signal(
    dev_env: WorkflowEnvironment, billing_worker: StartWorker, ledger: Ledger, engine: Engine
) -> None:
    _issued, invoice = await ledger.issue_now(dev_env)
    async with billing_worker(dev_env):
        handle = await ledger.start(dev_env.client, invoice)
        part = PaymentSubmission(payment_id="pay_upd", amount=Decimal("10.00"), currency="EUR")
        results = [await pay_invoice(dev_env.client, invoice.number, part) for _ in "12345"]
        sig = PaymentSubmission(payment_id="pay_sig", amount=Decimal("5.00"))
        await asyncio.gather(*(handle.signal(InvoiceWorkflow.record_payment, sig) for _ in "12345"))
        view = await view_when(dev_env.client, invoice.number, lambda v: len(v.payments) == 2)
        view = await view_when(
            dev_env.client, invoice.number, lambda v: "due date" in v.waiting_for
        )
        await handle.terminate("test over")

    assert [r.new for r in results] == [True, False, False, False, False]
    assert {r.amount_paid for r in results} == {Decimal("10.00")}
    assert [p.payment_id for p in view.payments] == ["pay_upd", "pay_sig"]
    assert view.invoice.amount_paid == Decimal("15.00")
    assert view.invoice.amount_due == TOTAL - Decimal("15.00")
    assert _payment_rows(engine) == 2
    stored = get_invoice(engine, invoice_number=invoice.number)
    assert stored.amount_paid == Decimal("15.00")


async def test_submit_payment_refuses_bad_payments_with_the_reason_and_changes_nothing(
    dev_env: WorkflowEnvironment, billing_worker: StartWorker, ledger: Ledger, engine: Engine
) -> None:
    _issued, invoice = await ledger.issue_now(dev_env)
    refusals = {
        "wrong currency": ({"payment_id": "p1", "amount": "10", "currency": "USD"}, "USD"),
        "zero": ({"payment_id": "p2", "amount": "0"}, "greater than 0"),
        "negative": ({"payment_id": "p3", "amount": "-5.00"}, "greater than 0"),
        "sub-cent": ({"payment_id": "p4", "amount": "1.001"}, "decimal places"),
        "not a number": ({"payment_id": "p5", "amount": "ten"}, "not a decimal number"),
    }
    async with billing_worker(dev_env):
        handle = await ledger.start(dev_env.client, invoice)
        for kind, (payment, reason) in refusals.items():
            message = await _refusal(handle, payment)
            assert reason in message, f"{kind}: {message}"
        before_void = await handle.query(InvoiceWorkflow.invoice)

        await handle.signal(InvoiceWorkflow.void_invoice, VoidRequest(reason="duplicate"))
        with pytest.raises((WorkflowUpdateFailedError, RPCError)) as refused:
            await pay_invoice(
                dev_env.client, invoice.number, PaymentSubmission(payment_id="p6", amount=TOTAL)
            )
        final = await handle.result()

    if isinstance(refused.value, WorkflowUpdateFailedError):
        # Still finishing: the validator refused the voided invoice.
        assert isinstance(refused.value.cause, ApplicationError)
        assert "is void" in refused.value.cause.message
    else:
        # Already finished: the server refused an update of a closed workflow.
        assert "completed" in str(refused.value)
    assert before_void.payments == []
    assert before_void.invoice.amount_due == TOTAL
    assert final.invoice.status == "void"
    assert _payment_rows(engine) == 0
    assert get_invoice(engine, invoice_number=invoice.number).amount_paid == 0


async def test_an_overpayment_becomes_credit_that_the_next_invoice_uses(
    dev_env: WorkflowEnvironment, billing_worker: StartWorker, ledger: Ledger, engine: Engine
) -> None:
    issued, first = await ledger.issue_now(dev_env)
    async with billing_worker(dev_env):
        handle = await ledger.start(dev_env.client, first)
        paid = await pay_invoice(
            dev_env.client,
            first.number,
            PaymentSubmission(payment_id="pay_over", amount=TOTAL + Decimal("100.00")),
        )
        assert (await handle.result()).invoice.status == "paid"
        credit = customer_credit_balance(engine, customer_id=first.customer_id, currency="EUR")

        # 100.00 of credit: the next invoice (74.99) is covered in full and paid at once ...
        second = ledger.issue(first.subscription_id, issued_at=issued)
        covered = await (await ledger.start(dev_env.client, second)).result()
        # ... and the next one (74.99) uses the rest, 25.01.
        third = ledger.issue(first.subscription_id, issued_at=issued)
        third_handle = await ledger.start(dev_env.client, third)
        third_view = await view_when(dev_env.client, third.number, lambda v: "due" in v.waiting_for)
        rest = await pay_invoice(
            dev_env.client,
            third.number,
            PaymentSubmission(payment_id="pay_rest", amount=third_view.invoice.amount_due),
        )
        assert (await third_handle.result()).invoice.status == "paid"

    assert (paid.status, paid.credit_added, paid.amount_due) == (
        "paid",
        Decimal("100.00"),
        Decimal(0),
    )
    assert credit == Decimal("100.00")
    assert (covered.invoice.status, covered.invoice.credit_applied) == ("paid", TOTAL)
    assert covered.payments == []
    # Covered by credit, not paid by the customer: no "payment received" for it.
    assert sent(engine, second.number) == {}
    assert third_view.invoice.credit_applied == Decimal("25.01")
    assert third_view.invoice.amount_due == TOTAL - Decimal("25.01")
    assert rest.status == "paid"
    assert customer_credit_balance(engine, customer_id=first.customer_id, currency="EUR") == 0


async def _listed(client: Client, query: str, expected: set[str]) -> set[str]:
    """Workflow ids the list query returns once visibility shows `expected` (or at the deadline)."""

    async def probe() -> set[str]:
        return {execution.id async for execution in client.list_workflows(query)}

    return await eventually(probe, lambda ids: ids == expected, seconds=30)


async def test_overdue_invoices_are_listed_by_search_attribute_and_say_where_they_stand(
    dev_env: WorkflowEnvironment, billing_worker: StartWorker, ledger: Ledger, engine: Engine
) -> None:
    client = dev_env.client
    now = await dev_env.get_current_time()
    subscription = ledger.subscriber(started_at=now - 200 * DAY)
    # Issued 16 days ago on 14-day terms: overdue since the end of yesterday (UTC), first
    # reminder in two days. And one issued today, still open.
    overdue = [ledger.issue(subscription, issued_at=now - 16 * DAY) for _ in range(3)]
    current = ledger.issue(subscription, issued_at=now)
    async with billing_worker(dev_env):
        handles = [await ledger.start(client, invoice) for invoice in [*overdue, current]]
        query = f'BillingInvoiceStatus="overdue" AND BillingSubscriptionId="{subscription}"'
        expected = {handle.id for handle in handles[:3]}
        listed = await _listed(client, query, expected)
        open_listed = await _listed(
            client,
            f'BillingInvoiceStatus="open" AND BillingSubscriptionId="{subscription}"',
            {handles[3].id},
        )
        description = await handles[0].describe()

        async def shown() -> str:
            metadata = await handles[0].query(
                "__temporal_workflow_metadata", result_type=WorkflowMetadata
            )
            return str(metadata.current_details)

        current_details = await eventually(shown, lambda text: "remind" in text)
        view = await handles[0].query(InvoiceWorkflow.invoice)
        for handle in handles:
            await handle.terminate("test over")

    assert listed == expected
    assert open_listed == {handles[3].id}
    attributes = description.typed_search_attributes
    assert attributes.get(sa.INVOICE_STATUS) == "overdue"
    assert attributes.get(sa.AMOUNT_DUE) == float(TOTAL)
    assert attributes.get(sa.DUE_AT) == overdue[0].due_at
    assert attributes.get(sa.CUSTOMER_ID) == overdue[0].customer_id
    assert attributes.get(sa.SUBSCRIPTION_ID) == subscription
    details = current_details
    assert details.startswith("**overdue** · 74.99 EUR due of 74.99")
    assert "remind at +3 days" in details
    assert len(view.invoice.lines) == 2
    assert [line.amount for line in view.invoice.lines] == [Decimal("49.99"), Decimal("12.50")]
    assert [(r.action, r.at) for r in view.dunning] == [("overdue", overdue[0].due_at)]
    assert view.payments == []
    for invoice in overdue:
        assert sent(engine, invoice.number)[("payment_overdue", "email")] == 1
