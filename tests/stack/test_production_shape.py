"""Acceptance of the production shape (issue 17) on a stack of its own: PostgreSQL, the real
Temporal server with advanced visibility on PostgreSQL, the Web UI server, a mail catcher, two
worker processes and the HTTP API. The seed's guide, through the API, ends in a paid 74.99 EUR
invoice, found by a visibility query and on the UI; then an invoice-day burst survives a SIGKILLed
worker and a restarted server."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import json
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from temporalio.client import Client

from billing_client import AsyncBilling
from billing_db.engine import make_engine
from billing_db.repo_invoices import list_invoices
from billing_service import client as billing
from billing_service.api.models import InvoiceOut
from devtools.demo import (
    SeededCatalog,
    demo_subscription,
    last_month_start,
    seed_catalog,
    wait_for,
)
from devtools.stack import Stack
from scripts.temporal_tools import TemporalTools

from e2e.python_guide import start_the_guide, the_guides_invoice
from notifications.servers import HttpFixture

pytestmark = pytest.mark.timeout(1200)

INVOICE_SUBJECT = "[TEST] Invoice "
BURST = 200


async def _seeded(stack: Stack, hooks: HttpFixture) -> tuple[Client, Engine, SeededCatalog, str]:
    """A client of the stack's server and the seed's catalog in an account of the test's own."""
    client = await stack.wait_for_temporal()
    engine = make_engine(stack.config.database_url)
    run_id = uuid.uuid4().hex[:10]
    seeded = seed_catalog(engine, run_id=run_id, webhook_url=hooks.url, account_id=f"acct_{run_id}")
    return client, engine, seeded, run_id


def _temporal_cli(tools: TemporalTools, stack: Stack, *args: str) -> str:
    result = subprocess.run(
        [
            tools.dev_server,
            *args,
            "--address", stack.config.temporal_address,
            "--namespace", stack.config.namespace,
            "--output", "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


@contextlib.contextmanager
def _workers_paused(stack: Stack) -> Iterator[None]:
    """Every worker process stopped (SIGSTOP) meanwhile, then resumed: what is sent meanwhile
    waits in its task queue, as before a worker starts."""
    workers = [p for name, p in stack.processes.items() if name.startswith("worker-")]
    for worker in workers:
        worker.signal(signal.SIGSTOP)
    try:
        yield
    finally:
        for worker in workers:
            worker.signal(signal.SIGCONT)


async def test_the_guide_ends_in_a_paid_invoice_seen_by_visibility_and_the_ui(
    stack: Stack, temporal_tools: TemporalTools
) -> None:
    """The guide through the HTTP API (`billing api`, the Python client, a key made with
    `billing api-keys create`), issued and paid by the stack's workers."""
    run = uuid.uuid4().hex[:10]
    key = stack.create_api_key(f"acct_{run}")
    assert key.startswith("pk_test_")
    async with AsyncBilling(api_key=key, base_url=stack.config.api_url) as client:
        with _workers_paused(stack):  # so the backdated month is invoiced with its usage
            subscription = await start_the_guide(client, run)
        invoice = await the_guides_invoice(client, subscription.id)
        paid = await client.billing.invoices.pay(
            invoice.number, payment_id=f"pay_{run}", amount=invoice.amount_due, currency="EUR"
        )
        assert (paid.status, paid.amount_due) == ("paid", Decimal(0))

        async def settled() -> InvoiceOut | None:
            found = await client.billing.invoices.retrieve(invoice.number)
            return found if found.status == "paid" else None

        stored = await wait_for(settled, what=f"invoice {invoice.number} paid")
    assert (stored.status, stored.total, stored.currency) == ("paid", Decimal("74.99"), "EUR")
    assert stored.livemode is False

    workflow_id = subscription.workflow_id

    async def listed() -> bool | None:
        found = _temporal_cli(
            temporal_tools, stack, "workflow", "list", "--query", 'BillingStatus="active"'
        )
        ids = {line["execution"]["workflowId"] for line in _json_lines(found)}
        return True if workflow_id in ids else None

    await wait_for(listed, what="the subscription in the visibility query", seconds=60)

    namespace = stack.config.namespace
    async with httpx.AsyncClient(base_url=stack.config.ui_url, timeout=10) as ui:
        page = await ui.get(f"/namespaces/{namespace}/workflows/{workflow_id}")
        assert page.status_code == 200
        # The page's data, through the UI server's API from the Temporal server.
        described = await ui.get(f"/api/v1/namespaces/{namespace}/workflows/{workflow_id}")
    assert described.status_code == 200, described.text
    assert described.json()["workflowExecutionInfo"]["execution"]["workflowId"] == workflow_id


def _json_lines(output: str) -> list[dict[str, Any]]:
    """`temporal workflow list -o json` prints a JSON array (or nothing when empty)."""
    output = output.strip()
    if not output:
        return []
    parsed = json.loads(output)
    return parsed if isinstance(parsed, list) else [parsed]


def _invoice_emails(stack: Stack) -> dict[str, set[str]]:
    """Invoice numbers of the invoice emails the mail catcher kept, with their Message-IDs."""
    found: dict[str, set[str]] = {}
    for path in stack.config.mail_dir.glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        subject = str(message["Subject"])
        if subject.startswith(INVOICE_SUBJECT):
            number = subject.removeprefix(INVOICE_SUBJECT).split()[0]
            found.setdefault(number, set()).add(str(message["Message-ID"]))
    return found


async def test_invoice_day_burst_survives_a_killed_worker_and_a_restarted_server(
    stack: Stack, temporal_tools: TemporalTools, http_server: HttpFixture
) -> None:
    client, engine, seeded, run_id = await _seeded(stack, http_server)
    account_id = seeded.account_id
    start_at = last_month_start(datetime.now(UTC))  # invoice day of last month's period: now
    subscriptions = [
        demo_subscription(seeded, run_id=f"{run_id}_{n:03}", start_at=start_at)
        for n in range(BURST)
    ]
    started = time.monotonic()
    await asyncio.gather(*(billing.start_subscription(client, s) for s in subscriptions))

    def issued() -> int:
        return len(list_invoices(engine, account_id=account_id, limit=10 * BURST))

    await wait_for(lambda: _at_least(issued(), BURST // 10), what="the burst under way")
    stack.processes["worker-1"].signal(signal.SIGKILL)
    await wait_for(lambda: _at_least(issued(), BURST // 4), what="more invoices", seconds=300)
    await stack.restart_temporal()
    stack.start_worker(1)  # the killed replica comes back, as its restart policy would do it

    await wait_for(lambda: _at_least(issued(), BURST), what="every invoice", seconds=600)

    def emailed() -> int:
        numbers = {
            row.number for row in list_invoices(engine, account_id=account_id, limit=10 * BURST)
        }
        return len(numbers & set(_invoice_emails(stack)))

    await wait_for(lambda: _at_least(emailed(), BURST), what="every invoice email", seconds=300)
    elapsed = time.monotonic() - started
    print(f"{BURST} invoices and emails in {elapsed:.0f} s ({BURST / elapsed:.1f}/s)")

    rows = list_invoices(engine, account_id=account_id, limit=10 * BURST)
    per_period = Counter((row.subscription_id, row.period.start) for row in rows)
    assert len(per_period) == BURST
    assert set(per_period.values()) == {1}
    # Email is at-least-once: a worker killed between the SMTP server's 250 and the delivery
    # record sends again, with the same Message-ID, so the receiver sees one message per invoice.
    emails = _invoice_emails(stack)
    assert {row.number for row in rows} <= set(emails)
    assert all(len(emails[row.number]) == 1 for row in rows)
    for status in ("Failed", "TimedOut", "Terminated"):
        failed = _temporal_cli(
            temporal_tools, stack, "workflow", "list", "--query", f'ExecutionStatus="{status}"'
        )
        assert _json_lines(failed) == [], f"{status} workflows: {failed[:2000]}"
    engine.dispose()


async def _at_least(value: int, wanted: int) -> bool | None:
    return True if value >= wanted else None
