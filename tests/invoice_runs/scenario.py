"""Invoices of the seed's hybrid plan in a real billing database, InvoiceWorkflow inputs and the
probes the invoice tests assert on (notification log, status history, queries)."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select
from temporalio.client import Client, WorkflowHandle, WorkflowQueryFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.invoices import invoice_summary
from billing.catalog import BillingConfig, DunningPolicy, NotificationConfig
from billing.contracts.common import invoice_workflow_id, subscription_workflow_id
from billing.contracts.invoice import InvoiceView, InvoiceWorkflowInput
from billing.invoice import rate_invoice
from billing.periods import Period
from billing_db.records import InvoiceRecord
from billing_db.repo_catalog import (
    create_account,
    create_customer,
    create_meter,
    create_pricing_version,
    create_subscription,
    create_webhook_endpoint,
)
from billing_db.repo_invoices import create_invoice, get_invoice
from billing_db.tables import notifications
from billing_service.client import invoice_view
from workflows.invoice import InvoiceWorkflow

from notifications.seed import METER, PRICING
from workflow_runs.polling import eventually

ACCOUNT_ID = "acct_invoices"
#: 350 GB of the hybrid plan: 49.99 + 12.50 = 62.49, 20 % VAT 12.50, total 74.99.
TOTAL = Decimal("74.99")


@dataclass
class Ledger:
    """Customers, subscriptions and invoices written through the real repositories."""

    engine: Engine
    webhook_url: str
    task_queue: str
    _periods: dict[str, int] = field(default_factory=dict)
    _accounts: set[str] = field(default_factory=set)
    prefix: str = field(default_factory=lambda: f"INV{uuid.uuid4().hex[:6].upper()}")
    """Invoice numbers (and so workflow ids) unique across tests sharing the dev server."""

    @classmethod
    def create(cls, engine: Engine, *, webhook_url: str, task_queue: str) -> Ledger:
        return cls(engine=engine, webhook_url=webhook_url, task_queue=task_queue)

    def _account(self) -> None:
        if ACCOUNT_ID in self._accounts:
            return
        create_account(
            self.engine,
            account_id=ACCOUNT_ID,
            name="PLATFORMA",
            mode="test",
            billing=BillingConfig(),
            notifications=NotificationConfig(),
            invoice_prefix=self.prefix,
        )
        create_meter(self.engine, account_id=ACCOUNT_ID, meter=METER)
        self.hooks(ACCOUNT_ID)

    def hooks(self, account_id: str) -> None:
        """Send the account's webhooks to the test's HTTP receiver."""
        create_webhook_endpoint(self.engine, account_id=account_id, url=self.webhook_url)
        self._accounts.add(account_id)

    def subscriber(self, *, time_zone: str = "UTC", started_at: datetime) -> str:
        """A new customer with an active hybrid subscription; its subscription id."""
        self._account()
        suffix = uuid.uuid4().hex[:8]
        customer_id, subscription_id = f"cus_{suffix}", f"sub_{suffix}"
        create_customer(
            self.engine,
            account_id=ACCOUNT_ID,
            customer_id=customer_id,
            name="Ada Lovelace",
            billing_email=f"ada-{suffix}@example.com",
            time_zone=time_zone,
        )
        version = create_pricing_version(self.engine, account_id=ACCOUNT_ID, pricing=PRICING)
        create_subscription(
            self.engine,
            subscription_id=subscription_id,
            account_id=ACCOUNT_ID,
            customer_id=customer_id,
            pricing_version_id=version.id,
            started_at=started_at,
            current_period=Period(start=started_at, end=started_at + timedelta(days=30)),
        )
        return subscription_id

    def issue(
        self,
        subscription_id: str,
        *,
        issued_at: datetime,
        gigabytes: int = 350,
        payment_terms_days: int = 14,
    ) -> InvoiceRecord:
        """An open invoice for a past 30-day period of the subscription (a new one each call)."""
        index = self._periods.get(subscription_id, 0) + 1
        self._periods[subscription_id] = index
        end = issued_at - timedelta(days=30 * (index - 1) + 60)
        period = Period(start=end - timedelta(days=30), end=end)
        rated = rate_invoice(
            pricing=PRICING,
            quantities={METER.id: Decimal(gigabytes)},
            tax_rate=Decimal("0.20"),
            period=period,
            meters={METER.id: METER},
        )
        return create_invoice(
            self.engine,
            subscription_id=subscription_id,
            period=period,
            rated=rated,
            issued_at=issued_at,
            payment_terms_days=payment_terms_days,
            watermark=0,
        )

    async def issue_now(
        self, env: WorkflowEnvironment, *, time_zone: str = "UTC"
    ) -> tuple[datetime, InvoiceRecord]:
        """A new subscriber's invoice issued at the server's current time: (issued, invoice)."""
        issued = await env.get_current_time()
        subscription = self.subscriber(time_zone=time_zone, started_at=issued - timedelta(90))
        return issued, self.issue(subscription, issued_at=issued)

    async def start(
        self,
        client: Client,
        invoice: InvoiceRecord,
        *,
        dunning: DunningPolicy | None = None,
        notifications: NotificationConfig | None = None,
    ) -> WorkflowHandle[InvoiceWorkflow, InvoiceView]:
        """Start the invoice's workflow top-level, as the subscription would start its child."""
        workflow_input = InvoiceWorkflowInput(
            invoice=invoice_summary(invoice),
            account_id=invoice.account_id,
            subscription_workflow_id=subscription_workflow_id(invoice.subscription_id),
            notifications=notifications or NotificationConfig(),
            dunning=dunning or DunningPolicy(),
        )
        return await client.start_workflow(
            InvoiceWorkflow.run,
            workflow_input,
            id=invoice_workflow_id(invoice.number),
            task_queue=self.task_queue,
        )


def sent(engine: Engine, invoice_number: str) -> Counter[tuple[str, str]]:
    """(event, channel) -> rows in the notification log about this invoice.

    The dedupe key is `event:scope:channel:target` and the invoice's scopes are its number or
    `<number>:<step>`, so the second field names the invoice."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(notifications.c.dedupe_key, notifications.c.event, notifications.c.channel)
        ).all()
    return Counter(
        (event, channel) for key, event, channel in rows if key.split(":")[1] == invoice_number
    )


def delivered(engine: Engine, invoice_number: str) -> set[str]:
    """Statuses of the invoice's notification rows (all `delivered` when all went out)."""
    with engine.connect() as connection:
        rows = connection.execute(select(notifications.c.dedupe_key, notifications.c.status)).all()
    return {status for key, status in rows if key.split(":")[1] == invoice_number}


def history(engine: Engine, invoice_number: str) -> list[tuple[str | None, str, str | None]]:
    """The invoice's recorded status changes: (from, to, reason)."""
    invoice = get_invoice(engine, invoice_number=invoice_number)
    return [(c.from_status, c.to_status, c.reason) for c in invoice.history]


def changed_at(engine: Engine, invoice_number: str) -> dict[str, datetime]:
    """When each reason was recorded (first word of the reason: `remind-1`, ...) or status."""
    invoice = get_invoice(engine, invoice_number=invoice_number)
    moments: dict[str, datetime] = {}
    for change in invoice.history:
        step = (change.reason or "").split(":")[0]
        key: str = change.to_status if change.from_status != change.to_status else step
        moments.setdefault(key, change.at)
    return moments


async def view_when(
    client: Client, invoice_number: str, done: Any, *, seconds: float = 60
) -> InvoiceView:
    """The `invoice` query once `done(view)` holds; fails the test at the deadline."""

    async def probe() -> InvoiceView | None:
        try:
            return await invoice_view(client, invoice_number)
        except (WorkflowQueryFailedError, RPCError):
            return None

    view = await eventually(probe, lambda v: v is not None and done(v), seconds=seconds)
    if view is None or not done(view):
        raise AssertionError(f"{invoice_number}: the invoice never got there; last: {view}")
    return view


async def log_when(
    engine: Engine,
    invoice_number: str,
    expected: dict[tuple[str, str], int],
    *,
    seconds: float = 60,
) -> Counter[tuple[str, str]]:
    """The invoice's notification log once it holds `expected` (or its last state at the
    deadline: notifications go out in real time after the step that caused them)."""

    async def probe() -> Counter[tuple[str, str]]:
        return sent(engine, invoice_number)

    return await eventually(probe, lambda log: log == Counter(expected), seconds=seconds)
