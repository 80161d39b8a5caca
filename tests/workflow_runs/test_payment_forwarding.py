"""Payments sent to the subscription reach their invoice, even after its workflow has ended."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Engine
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from billing.contracts.invoice import ForwardedPayment
from billing_db.repo_invoices import customer_credit_balance, get_invoice
from billing_service.client import (
    forward_payment,
    invoice_handle,
    start_subscription,
    subscription_status,
)

from workflow_runs.clock import backdated
from workflow_runs.conftest import StartWorker
from workflow_runs.polling import eventually, status_when
from workflow_runs.scenario import SEED_BILLING, hybrid_subscription


async def test_a_payment_for_an_invoice_whose_workflow_ended_becomes_credit_not_lost(
    dev_env: WorkflowEnvironment, billing_worker: StartWorker, engine: Engine, task_queue: str
) -> None:
    env = dev_env
    # A real clock: one period closed a few days ago, the next ends weeks from now, so the
    # subscription has exactly one invoice (and no second one opens during the test).
    start_at, invoice_day = backdated(await env.get_current_time())
    subscription = hybrid_subscription(
        start_at=start_at, billing=SEED_BILLING | {"invoice_day": invoice_day}
    )
    sub_id = subscription.subscription_id
    assert subscription.customer is not None
    async with billing_worker(env):
        handle = await start_subscription(env.client, subscription, task_queue=task_queue)
        status = await status_when(env.client, sub_id, lambda s: bool(s.open_invoices))
        [number] = status.open_invoices
        total = get_invoice(engine, invoice_number=number).total

        def paid(payment_id: str, amount: Decimal) -> ForwardedPayment:
            return ForwardedPayment(invoice_number=number, payment_id=payment_id, amount=amount)

        await forward_payment(env.client, sub_id, paid("pay_full", total))
        invoice_run = invoice_handle(env.client, number)
        described = await eventually(
            invoice_run.describe,
            lambda d: d.status == WorkflowExecutionStatus.COMPLETED,
        )
        assert described.status == WorkflowExecutionStatus.COMPLETED

        # The invoice's workflow is gone; this payment must still be recorded, as credit.
        await forward_payment(env.client, sub_id, paid("pay_again", Decimal("10.00")))
        credit = await eventually(
            lambda: _credit(engine, subscription.customer.id if subscription.customer else ""),
            lambda amount: amount > 0,
        )
        still = await subscription_status(env.client, sub_id)
        await handle.terminate("test over")

    invoice = get_invoice(engine, invoice_number=number)
    assert invoice.status == "paid"
    assert invoice.amount_paid == total  # the overpayment is kept as credit, not as paid
    assert credit == Decimal("10.00")
    assert still.open_invoices == []
    assert still.status == "active"


async def _credit(engine: Engine, customer_id: str) -> Decimal:
    return customer_credit_balance(engine, customer_id=customer_id, currency="EUR")
