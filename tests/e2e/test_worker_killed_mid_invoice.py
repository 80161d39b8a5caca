"""The worker process is killed (SIGKILL) in the middle of invoicing: the invoice row is
committed, its invoice workflow has started and its email is half-sent (the SMTP server holds it).
A new worker process finishes the invoice exactly once: one invoice row, one email delivered."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from activities.notifications.settings import SmtpSettings
from billing.contracts.common import invoice_workflow_id
from billing_db.engine import make_engine
from billing_db.repo_invoices import list_invoices
from billing_service import client as billing
from devtools.demo import (
    demo_subscription,
    demo_usage,
    last_month_start,
    seed_catalog,
    wait_for,
)

from e2e.conftest import StartWorker
from notifications.servers import HttpFixture, ScriptedMailServer, SmtpFixture, free_port

INVOICE_SUBJECT = "[TEST] Invoice "


@dataclass
class HoldingMailServer(ScriptedMailServer):
    """A real SMTP server that keeps the first invoice email's DATA command waiting until
    `release` is set, and then refuses it: the sender never got a 250, so it was not delivered."""

    entered: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        subject = str(email.message_from_bytes(raw, policy=email.policy.default)["Subject"])
        if subject.startswith(INVOICE_SUBJECT) and not self.entered.is_set():
            self.entered.set()
            await asyncio.to_thread(self.release.wait)  # the SMTP server's loop stays free
            return "451 4.3.0 Sender went away"
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def smtp_server() -> Iterator[SmtpFixture]:
    """This module's SMTP server (the worker fixture picks it up): the holding one."""
    handler = HoldingMailServer(emit=lambda _line: None)
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings = SmtpSettings(host="127.0.0.1", port=port, mail_from="billing@platforma.example")
        yield SmtpFixture(handler=handler, settings=settings)
    finally:
        handler.release.set()
        controller.stop()


async def _found(value: bool) -> bool | None:
    return True if value else None


async def test_a_worker_killed_mid_invoice_is_replaced_and_the_invoice_finishes_exactly_once(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    database_url: str,
    smtp_server: SmtpFixture,
    http_server: HttpFixture,
    worker_process: StartWorker,
) -> None:
    client = dev_env.client
    holding = smtp_server.handler
    assert isinstance(holding, HoldingMailServer)
    engine = make_engine(database_url)
    run_id = uuid.uuid4().hex[:10]
    seeded = seed_catalog(
        engine, run_id=run_id, webhook_url=http_server.url, account_id=f"acct_{run_id}"
    )
    start_at = last_month_start(datetime.now(UTC))
    subscription = demo_subscription(seeded, run_id=run_id, start_at=start_at)
    sub_id = subscription.subscription_id
    await billing.start_subscription(client, subscription, task_queue=task_queue)
    for batch in demo_usage(run_id=run_id, period_start=start_at):
        await billing.send_usage(client, sub_id, batch)

    first = worker_process()
    await wait_for(
        lambda: _found(
            holding.entered.is_set() and bool(list_invoices(engine, subscription_id=sub_id))
        ),
        what="the invoice row and its email under way",
    )
    [invoice] = list_invoices(engine, subscription_id=sub_id)
    # The email is sent by the invoice's own workflow, started with the invoice.
    described = await client.get_workflow_handle(invoice_workflow_id(invoice.number)).describe()
    assert described.status == WorkflowExecutionStatus.RUNNING

    first.kill()
    holding.release.set()
    second = worker_process()

    # The email's attempt (a local activity of the invoice's first workflow task) died with the
    # worker: once that task times out, the new worker runs the task, and the email, again.
    await wait_for(
        lambda: _found(any(invoice.number in str(m["Subject"]) for m in holding.messages)),
        what="the invoice email from the second worker",
        seconds=180,
    )
    status = await wait_for(
        lambda: _open_invoices(client, sub_id), what="the invoice workflow started", seconds=60
    )
    assert status == [invoice.number]
    view = await billing.invoice_view(client, invoice.number)
    assert (view.invoice.status, view.invoice.total) == ("open", Decimal("74.99"))

    assert [i.number for i in list_invoices(engine, subscription_id=sub_id)] == [invoice.number]
    invoice_emails = [m for m in holding.messages if str(m["Subject"]).startswith(INVOICE_SUBJECT)]
    assert len(invoice_emails) == 1
    webhook_ids = {
        r.headers["webhook-id"]
        for r in http_server.receiver.requests
        if json.loads(r.body)["type"] == "invoice.generated"
    }
    assert len(webhook_ids) == 1  # retries of a delivery keep their id; there was one delivery
    assert second.terminate() == 0
    engine.dispose()


async def _open_invoices(client: Client, subscription_id: str) -> list[str] | None:
    status = await billing.subscription_status(client, subscription_id)
    return status.open_invoices or None
