"""`billing simulate`: the seed's hybrid plan for a year, on Temporal's time-skipping server.

Real components throughout: the Java time-skipping test server, the production worker wiring
(`create_worker`), a throwaway SQLite billing database (migrated), a throwaway SMTP catcher and
webhook receiver on loopback. The customer starts mid-month, sends varying bandwidth every
month and pays each invoice a few days after it is issued, except one invoice left unpaid so
that the dunning ladder runs (overdue, two reminders, suspension) until a late payment settles it.

Why payments are followed by `unlock_time_skipping` (temporalio/sdk-java#1539): the Java test
server stops skipping time for good once an abandoned child workflow completes after its parent
run has closed. Every invoice is such a child (the subscription continues-as-new right after
issuing it), and a paid invoice's workflow completes. Measured here: after such a completion the
server holds one time-skipping lock that nobody releases, and the next `env.sleep` waits in real
time. So each payment is sent as the ordinary `record_payment` signal, the simulation waits until
that invoice workflow has completed, and then releases the one leaked lock with the test
service's `unlock_time_skipping`. Alternatives rejected: a dunning ladder that outlasts the year
(no reminders or suspension to show), or never paying (no payments to show).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine
from temporalio.api.testservice.v1 import UnlockTimeSkippingRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.notifications.settings import SmtpSettings
from billing import seed
from billing.catalog import BillingConfig, NotificationConfig
from billing.contracts.common import invoice_workflow_id
from billing.contracts.invoice import InvoiceView, PaymentSubmission
from billing.contracts.subscription import SubscriptionInput, SubscriptionStatusView, UsageBatch
from billing.money import format_decimal, round_money
from billing_db import repo_catalog, repo_invoices
from billing_db.engine import make_engine
from billing_db.migrate import upgrade
from billing_db.records import InvoiceRecord
from billing_service.client import send_usage, start_subscription, subscription_status
from billing_service.temporal_client import register_search_attributes
from billing_service.worker import create_worker
from devtools.servers import (
    HttpServer,
    MailCatcher,
    WebhookReceiver,
    start_mail_catcher,
)
from scripts.temporal_tools import ensure_all

ACCOUNT = "acct_simulation"
#: GB of egress per month, cycled: inside the included 100 GB, the seed's 350 GB, above 1 TB...
MONTHLY_GB = (90, 350, 1200, 60, 480, 95, 700, 150, 2000, 30, 420, 260)
PAY_AFTER_DAYS = 6
#: The invoice (1-based) the customer forgets: it goes overdue and through the dunning ladder.
LATE_INVOICE = 3
LATE_PAYMENT_AFTER_DUE_DAYS = 20
#: Seed terms with the default ladder: reminders at +3 and +7 days, suspension at +14, and
#: uncollectible at +60 (later than the default +30, so that the late payment still settles it).
DUNNING = {
    "steps": [
        {"after_days": 3, "action": "remind"},
        {"after_days": 7, "action": "remind"},
        {"after_days": 14, "action": "suspend"},
        {"after_days": 60, "action": "uncollectible"},
    ]
}
STEP_TIMEOUT_SECONDS = 60.0


class SimulationError(RuntimeError):
    """The simulation could not run (a server did not start, time stopped moving)."""


@dataclass(order=True, frozen=True)
class Happening:
    at: datetime
    kind: str
    text: str = field(compare=False)


@dataclass
class SimulationResult:
    timeline: list[Happening]
    invoices: list[InvoiceRecord]
    final_status: SubscriptionStatusView
    emails: int
    webhooks: int
    wall_seconds: float


def _first_of_next_month(moment: datetime) -> datetime:
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return datetime(year, month, 1, tzinfo=UTC)


class Simulation:
    """One run: servers up, the subscription driven month by month, everything torn down."""

    def __init__(self, *, months: int, workdir: Path, emit: Callable[[str], None]) -> None:
        self.months = months
        self.emit = emit
        self.url = f"sqlite:///{workdir / 'billing-simulation.db'}"
        self.task_queue = f"simulate-{uuid.uuid4().hex[:8]}"
        self.subscription_id = f"sub_sim_{uuid.uuid4().hex[:6]}"
        self.timeline: list[Happening] = []
        self.mail = MailCatcher(emit=lambda _text: None)
        self.hooks = WebhookReceiver(emit=lambda _text: None)
        self.pending: list[tuple[str, PaymentSubmission]] = []

    def happen(self, at: datetime, kind: str, text: str) -> None:
        self.timeline.append(Happening(at, kind, text))

    # --- set-up --------------------------------------------------------------------------------

    def setup_catalog(self, engine: Engine, webhook_url: str) -> None:
        billing = BillingConfig.model_validate(
            {"invoice_day": 1, "payment_terms_days": 14, "tax_rate": "0.20", "currency": "EUR"}
            | {"dunning": DUNNING}
        )
        notifications = NotificationConfig.model_validate(
            {
                "invoice_generated": {"email": True, "webhook": True},
                "payment_received": {"email": True},
                "payment_overdue": {"email": True, "webhook": True},
                "usage_threshold": {"email": True, "thresholds": [80, 90, 100]},
            }
        )
        repo_catalog.create_account(
            engine,
            account_id=ACCOUNT,
            name="Simulated hosting platform",
            mode="test",
            billing=billing,
            notifications=notifications,
        )
        repo_catalog.create_webhook_endpoint(engine, account_id=ACCOUNT, url=webhook_url)

    async def _skip_to(self, env: WorkflowEnvironment, moment: datetime) -> None:
        now = await env.get_current_time()
        if moment <= now:
            return
        try:
            await asyncio.wait_for(env.sleep(moment - now), STEP_TIMEOUT_SECONDS)
        except TimeoutError:
            raise SimulationError(
                f"simulated time stopped moving before {moment:%Y-%m-%d} (sdk-java#1539?)"
            ) from None

    async def _invoice_for(self, engine: Engine, number: int) -> InvoiceRecord:
        """The subscription's `number`th invoice, once the workflow has issued it."""
        deadline = time.monotonic() + STEP_TIMEOUT_SECONDS
        while True:
            found = repo_invoices.list_invoices(engine, subscription_id=self.subscription_id)
            issued = [record for record in found if record.status != "draft"]
            if len(issued) >= number:
                return sorted(issued, key=lambda record: record.period.start)[number - 1]
            if time.monotonic() > deadline:
                raise SimulationError(f"invoice {number} was not issued in time")
            await asyncio.sleep(0.05)

    # --- the year ------------------------------------------------------------------------------

    async def run(self, env: WorkflowEnvironment, engine: Engine) -> SubscriptionStatusView:
        client = env.client
        start = _first_of_next_month(await env.get_current_time()) + timedelta(days=9, hours=12)
        subscription = SubscriptionInput.model_validate(
            {
                "subscription_id": self.subscription_id,
                "account_id": ACCOUNT,
                "customer": {"id": "cus_acme", "name": "Acme GmbH", "email": "billing@acme.test"},
                "meters": [seed.METER],
                "pricing": seed.HYBRID_PRICING,
                "start_at": start,
            }
        )
        await self._advance(env, start)
        await start_subscription(client, subscription, task_queue=self.task_queue)
        self.happen(start, "start", f"{self.subscription_id}: Acme GmbH on prod_web_hosting")
        period_start = start
        for month in range(1, self.months + 1):
            period_end = _first_of_next_month(period_start)
            await self._usage(env, client, month, period_start)
            await self._advance(env, period_end + timedelta(hours=1))
            self._schedule_payment(month, await self._invoice_for(engine, month))
            period_start = period_end
        await self._advance(env, period_start + timedelta(days=PAY_AFTER_DAYS + 1))
        return await subscription_status(client, self.subscription_id)

    def _schedule_payment(self, month: int, invoice: InvoiceRecord) -> None:
        assert invoice.issued_at is not None
        assert invoice.due_at is not None
        if month == LATE_INVOICE:
            at = invoice.due_at + timedelta(days=LATE_PAYMENT_AFTER_DUE_DAYS)
        else:
            at = invoice.issued_at + timedelta(days=PAY_AFTER_DAYS)
        payment = PaymentSubmission(
            payment_id=f"pay_{invoice.number}", amount=invoice.total, received_at=at
        )
        self.pending.append((invoice.number, payment))

    async def _advance(self, env: WorkflowEnvironment, until: datetime) -> None:
        """Move simulated time to `until`, making every payment that falls due on the way."""
        while self.pending:
            number, payment = min(self.pending, key=lambda item: item[1].received_at or until)
            assert payment.received_at is not None
            if payment.received_at > until:
                break
            self.pending.remove((number, payment))
            await self._skip_to(env, payment.received_at)
            await self._pay(env, number, payment)
        await self._skip_to(env, until)

    async def _pay(self, env: WorkflowEnvironment, number: str, payment: PaymentSubmission) -> None:
        handle = env.client.get_workflow_handle(invoice_workflow_id(number))
        await handle.signal("record_payment", payment)
        deadline = time.monotonic() + STEP_TIMEOUT_SECONDS
        while (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
            if time.monotonic() > deadline:
                raise SimulationError(f"invoice workflow {number} did not finish after payment")
            await asyncio.sleep(0.02)
        # The completed child leaked one time-skipping lock (module docstring): release it.
        await env.client.test_service.unlock_time_skipping(UnlockTimeSkippingRequest())

    async def _usage(
        self, env: WorkflowEnvironment, client: Client, month: int, period_start: datetime
    ) -> None:
        at = period_start + timedelta(days=4)
        await self._advance(env, at)
        gigabytes = MONTHLY_GB[(month - 1) % len(MONTHLY_GB)]
        halves = (gigabytes // 2, gigabytes - gigabytes // 2)
        batch = {
            "events": [
                {
                    "event_id": f"m{month}-{part}",
                    "meter_id": "bandwidth_egress",
                    "quantity": quantity,
                    "timestamp": (at - timedelta(hours=part)).isoformat(),
                }
                for part, quantity in enumerate(halves)
            ]
        }
        await send_usage(client, self.subscription_id, UsageBatch.model_validate(batch))
        self.happen(at, "usage", f"{gigabytes} GB of bandwidth egress recorded (2 events)")

    # --- what happened ----------------------------------------------------------------------------

    async def collect(self, client: Client, engine: Engine) -> list[InvoiceRecord]:
        """Add the invoices, payments, overdue turns, reminders and suspensions to the timeline."""
        found = repo_invoices.list_invoices(engine, subscription_id=self.subscription_id)
        invoices = sorted(found, key=lambda record: record.period.start)
        for invoice in invoices:
            money = _eur(invoice.total, invoice.currency)
            if invoice.issued_at is not None:
                due = f"{invoice.due_at:%Y-%m-%d}" if invoice.due_at else "-"
                self.happen(
                    invoice.issued_at,
                    "invoice",
                    f"{invoice.number} for {invoice.period.label()}: {money} "
                    f"(subtotal {_eur(invoice.subtotal, invoice.currency)} + VAT "
                    f"{_eur(invoice.tax, invoice.currency)}), due {due}",
                )
            for payment in invoice.payments:
                amount = _eur(payment.amount, payment.currency)
                self.happen(payment.received_at, "payment", f"{invoice.number}: {amount} received")
            for change in invoice.history:
                if change.to_status != change.from_status and change.to_status in (
                    "overdue",
                    "uncollectible",
                    "void",
                ):
                    self.happen(change.at, change.to_status, f"{invoice.number}: {change.reason}")
            view: InvoiceView = await client.get_workflow_handle(
                invoice_workflow_id(invoice.number)
            ).query("invoice", result_type=InvoiceView)
            for record in view.dunning:
                if record.action in ("remind", "suspend"):
                    kind = "reminder" if record.action == "remind" else "suspension"
                    self.happen(record.at, kind, f"{invoice.number}: {record.note}")
                if record.action == "paid" and invoice.history and _was_overdue(invoice):
                    self.happen(record.at, "reactivated", f"{invoice.number} settled")
        return invoices


def _eur(amount: Decimal, currency: str) -> str:
    return f"{format_decimal(round_money(amount, currency))} {currency}"


def _was_overdue(invoice: InvoiceRecord) -> bool:
    return any(change.to_status == "overdue" for change in invoice.history)


async def simulate(
    months: int, *, emit: Callable[[str], None] = lambda _text: None
) -> SimulationResult:
    """Run the seed's plan for `months` simulated months and return what happened."""
    started = time.monotonic()
    tools = ensure_all()
    if tools.test_server is None:
        raise SimulationError("the Temporal time-skipping test server is not available")
    emit("starting the time-skipping server, a worker, SQLite, SMTP and webhook sinks...")
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=tools.test_server,
        test_server_startup_timeout=timedelta(seconds=90),
    )
    try:
        await register_search_attributes(env.client)
        with tempfile.TemporaryDirectory(prefix="billing-simulate-") as workdir:
            simulation = Simulation(months=months, workdir=Path(workdir), emit=emit)
            return await _run(simulation, env, started)
    finally:
        await env.shutdown()


async def _run(
    simulation: Simulation, env: WorkflowEnvironment, started: float
) -> SimulationResult:
    upgrade(simulation.url)
    engine = make_engine(simulation.url)
    smtp = await start_mail_catcher(simulation.mail, host="127.0.0.1", port=0)
    hooks = HttpServer(simulation.hooks)
    await hooks.start()
    try:
        simulation.setup_catalog(engine, f"{hooks.url}/hooks")
        smtp_port: int = smtp.sockets[0].getsockname()[1]
        worker = create_worker(
            env.client,
            task_queue=simulation.task_queue,
            engine=engine,
            smtp=SmtpSettings(host="127.0.0.1", port=smtp_port, mail_from="billing@sim.test"),
        )
        async with worker:
            emit_time = time.monotonic()
            simulation.emit(
                f"running {simulation.months} months ({emit_time - started:.1f} s set-up)"
            )
            final = await simulation.run(env, engine)
            invoices = await simulation.collect(env.client, engine)
        return SimulationResult(
            timeline=sorted(simulation.timeline),
            invoices=invoices,
            final_status=final,
            emails=len(simulation.mail.messages),
            webhooks=len(simulation.hooks.received),
            wall_seconds=time.monotonic() - started,
        )
    finally:
        await hooks.close()
        smtp.close()
        await smtp.wait_closed()
        engine.dispose()


def format_timeline(result: SimulationResult) -> list[str]:
    """One line per happening, then the totals and the wall time."""
    lines = [f"{h.at:%Y-%m-%d %H:%M}  {h.kind:<12} {h.text}" for h in result.timeline]
    billed = sum((invoice.total for invoice in result.invoices), Decimal(0))
    paid = sum((invoice.amount_paid for invoice in result.invoices), Decimal(0))
    lines += [
        "",
        f"{len(result.invoices)} invoices, {_eur(billed, 'EUR')} billed, "
        f"{_eur(paid, 'EUR')} paid; {result.emails} emails and {result.webhooks} webhooks "
        f"delivered; subscription {result.final_status.status}",
        f"wall time: {result.wall_seconds:.1f} s",
    ]
    return lines
