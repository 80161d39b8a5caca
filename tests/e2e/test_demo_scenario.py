"""The demo's scenario (the seed's guide) against the dev server, with the production worker in
its own process: the invoice's amounts, its email at a real SMTP server, its signed webhook at a
real HTTP receiver, one payment, then a graceful SIGTERM."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import TypeVar

from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from billing.contracts.invoice import PaymentSubmission
from billing.webhook_signing import verify
from billing_db.engine import make_engine
from billing_db.repo_invoices import list_invoices
from billing_service import client as billing
from devtools.demo import (
    demo_subscription,
    demo_usage,
    first_invoice_number,
    invoice_when,
    last_month_start,
    seed_catalog,
    wait_for,
)
from devtools.servers import HttpRequest

from e2e.conftest import StartWorker
from notifications.servers import HttpFixture, SmtpFixture

T = TypeVar("T")


def _subjects(smtp: SmtpFixture, number: str) -> list[str]:
    return [str(m["Subject"]) for m in smtp.handler.messages if number in str(m["Subject"])]


async def test_the_seed_scenario_is_invoiced_emailed_signed_and_paid_by_a_worker_process(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    database_url: str,
    smtp_server: SmtpFixture,
    http_server: HttpFixture,
    worker_process: StartWorker,
) -> None:
    client = dev_env.client
    run_id = uuid.uuid4().hex[:10]
    engine: Engine = make_engine(database_url)
    seeded = seed_catalog(
        engine, run_id=run_id, webhook_url=http_server.url, account_id=f"acct_{run_id}"
    )
    start_at = last_month_start(datetime.now(UTC))
    subscription = demo_subscription(seeded, run_id=run_id, start_at=start_at)
    await billing.start_subscription(client, subscription, task_queue=task_queue)
    for batch in demo_usage(run_id=run_id, period_start=start_at):
        await billing.send_usage(client, subscription.subscription_id, batch)

    worker = worker_process()
    number = await first_invoice_number(client, subscription.subscription_id)
    view = await billing.invoice_view(client, number)

    invoice = view.invoice
    assert (invoice.status, invoice.currency) == ("open", "EUR")
    assert (invoice.period.start, invoice.period.end.day) == (start_at, 1)
    assert [line.amount for line in invoice.lines] == [Decimal("49.99"), Decimal("12.50")]
    assert (invoice.subtotal, invoice.tax, invoice.total) == (
        Decimal("62.49"),
        Decimal("12.50"),
        Decimal("74.99"),
    )
    assert invoice.lines[1].quantity == Decimal(350)

    await wait_for(lambda: _some(_subjects(smtp_server, number)), what="the invoice email")
    email = next(m for m in smtp_server.handler.messages if number in str(m["Subject"]))
    assert email["To"].addresses[0].addr_spec == "test-customer@example.com"
    assert "74.99" in str(email["Subject"])

    def invoice_webhooks() -> list[HttpRequest]:
        return [
            r
            for r in http_server.receiver.requests
            if json.loads(r.body)["type"] == "invoice.generated"
        ]

    hooks = await wait_for(lambda: _some(invoice_webhooks()), what="the invoice webhook")
    for hook in hooks:
        verify(seeded.webhook_secret, headers=hook.headers, body=hook.body)  # raises if unsigned
    payload = json.loads(hooks[0].body)
    assert payload["data"]["invoice"]["number"] == number
    assert payload["data"]["invoice"]["total"] == "74.99"
    assert payload["livemode"] is False

    paid = await billing.pay_invoice(
        client, number, PaymentSubmission(payment_id=f"pay_{run_id}", amount=Decimal("74.99"))
    )
    assert (paid.status, paid.amount_due) == ("paid", Decimal(0))
    await invoice_when(client, number, lambda v: v.invoice.status == "paid", what="paid")
    await wait_for(lambda: _some(_subjects(smtp_server, number)[1:]), what="the payment email")
    assert [s for s in _subjects(smtp_server, number) if "Payment received" in s]

    stored = list_invoices(engine, subscription_id=subscription.subscription_id)
    assert [(i.number, i.status, i.amount_paid) for i in stored] == [
        (number, "paid", Decimal("74.99"))
    ]
    assert worker.terminate() == 0
    engine.dispose()


async def _some(items: list[T]) -> list[T] | None:
    return items or None
