"""`make demo`: the embedded default and the seed's guide, run literally, end to end.

Starts the Temporal dev server (Web UI, history kept in `.data/temporal.db`, our search
attributes), the billing database (SQLite under `.data/`), the local mail catcher and webhook
receiver, and a worker in this process; then follows the seed's steps: the bandwidth meter, the
hybrid web-hosting pricing, the billing config, the notifications (email and a webhook endpoint
at the local receiver), a test customer, a subscription started last month (so its first invoice
is issued at once), usage signals, the invoice email and signed webhook, one payment. It prints
where to look and runs until Ctrl-C.

Each run uses fresh customer and subscription ids, so running it again simply adds another
subscription to the same account. The scenario functions are shared with tests/e2e.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError

from activities.notifications.settings import SmtpSettings
from billing import seed
from billing.catalog import BillingConfig, Meter, NotificationConfig, Pricing
from billing.contracts.common import TASK_QUEUE, invoice_workflow_id, subscription_workflow_id
from billing.contracts.invoice import InvoiceView, PaymentResult, PaymentSubmission
from billing.contracts.subscription import SubscriptionInput, UsageBatch
from billing.money import round_money
from billing_db import repo_api_keys
from billing_db import repo_catalog as catalog
from billing_db.engine import make_engine
from billing_db.errors import UnknownAccountError
from billing_db.migrate import upgrade
from billing_service import client as billing
from billing_service.api.app import create_app
from billing_service.api.context import ApiState, ModeResources
from billing_service.api.serve import serving
from billing_service.modes import database_url_for_test_mode, settings_for_mode
from billing_service.settings import Settings
from billing_service.temporal_client import register_search_attributes
from billing_service.worker import create_worker
from devtools.servers import (
    HttpServer,
    MailCatcher,
    WebhookReceiver,
    start_mail_catcher,
)
from scripts.temporal_tools import ensure_all
from workflows.search_attributes import dev_server_flags

T = TypeVar("T")

ACCOUNT_ID = "acct_demo"
ACCOUNT_NAME = "PLATFORMA (demo)"
CUSTOMER_NAME = "Test Customer"
CUSTOMER_EMAIL = "test-customer@example.com"

# --- the seed's guide, step by step (its JSON, as written there) -------------------------------

#: Last month's bandwidth, in GB: 350 in all (100 included, 250 at EUR 0.05).
USAGE_GB = (120, 95, 80, 55)


@dataclass(frozen=True)
class SeededCatalog:
    """What the seed's steps created: the ids a subscription refers to."""

    account_id: str
    customer_id: str
    pricing_version_id: int
    webhook_url: str
    webhook_secret: str


def seed_catalog(
    engine: Engine, *, run_id: str, webhook_url: str, account_id: str = ACCOUNT_ID
) -> SeededCatalog:
    """Steps 1-4 of the seed's guide and a test customer, in the billing database.

    Idempotent: the account, meter, pricing version and endpoint are found again on a re-run;
    webhook endpoints of earlier runs at other addresses are disabled. Invoice numbers are
    `<account's prefix>-TEST-<n>` and invoice workflow ids derive from them, so databases that
    share one Temporal namespace (the tests) need an account id each."""
    billing_config = BillingConfig.model_validate(seed.BILLING)
    notifications = NotificationConfig.model_validate(seed.NOTIFICATIONS)
    try:
        catalog.get_account(engine, account_id=account_id)
    except UnknownAccountError:
        catalog.create_account(
            engine,
            account_id=account_id,
            name=ACCOUNT_NAME,
            mode="test",
            billing=billing_config,
            notifications=notifications,
        )
    catalog.create_meter(engine, account_id=account_id, meter=Meter.model_validate(seed.METER))
    pricing = catalog.create_pricing_version(
        engine, account_id=account_id, pricing=Pricing.model_validate(seed.HYBRID_PRICING)
    )
    catalog.update_account_config(
        engine, account_id=account_id, billing=billing_config, notifications=notifications
    )
    endpoint = catalog.create_webhook_endpoint(engine, account_id=account_id, url=webhook_url)
    for other in catalog.list_webhook_endpoints(engine, account_id=account_id):
        if other.id != endpoint.id:
            catalog.set_webhook_endpoint_enabled(
                engine, endpoint_id=other.id, enabled=False, reason="replaced by a newer demo run"
            )
    customer = catalog.create_customer(
        engine,
        account_id=account_id,
        customer_id=f"cus_demo_{run_id}",
        name=CUSTOMER_NAME,
        billing_email=CUSTOMER_EMAIL,
        time_zone="UTC",
    )
    return SeededCatalog(
        account_id=account_id,
        customer_id=customer.id,
        pricing_version_id=pricing.id,
        webhook_url=webhook_url,
        webhook_secret=endpoint.secret,
    )


def last_month_start(now: datetime) -> datetime:
    """00:00 UTC on the 1st of the month before `now`'s: one whole period, invoiced at once."""
    first_of_this_month = now.astimezone(UTC).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )
    return (first_of_this_month - timedelta(days=1)).replace(day=1)


def demo_subscription(
    seeded: SeededCatalog, *, run_id: str, start_at: datetime
) -> SubscriptionInput:
    return SubscriptionInput(
        subscription_id=f"sub_demo_{run_id}",
        account_id=seeded.account_id,
        customer_id=seeded.customer_id,
        pricing_version_id=seeded.pricing_version_id,
        start_at=start_at,
        livemode=False,
    )


def demo_usage(*, run_id: str, period_start: datetime) -> list[UsageBatch]:
    """One signal per reported day of last month, each with its own idempotency key."""
    return [
        billing.batch_of(
            [
                {
                    "event_id": f"evt_{run_id}_{day}",
                    "meter_id": "bandwidth_egress",
                    "quantity": gigabytes,
                    "timestamp": (period_start + timedelta(days=day * 7 + 2)).isoformat(),
                }
            ]
        )
        for day, gigabytes in enumerate(USAGE_GB)
    ]


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%d%H%M%S")


# --- waiting --------------------------------------------------------------------------------


async def wait_for(
    probe: Callable[[], Awaitable[T | None]], *, what: str, seconds: float = 120
) -> T:
    """`probe()`'s first non-None value; RPC and query failures count as "not yet"."""
    deadline = time.monotonic() + seconds
    while True:
        with contextlib.suppress(RPCError, WorkflowQueryFailedError):
            value = await probe()
            if value is not None:
                return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {seconds:.0f} s waiting for {what}")
        await asyncio.sleep(0.2)


async def first_invoice_number(client: Client, subscription_id: str) -> str:
    async def probe() -> str | None:
        status = await billing.subscription_status(client, subscription_id)
        return status.open_invoices[0] if status.open_invoices else None

    return await wait_for(probe, what=f"the first invoice of {subscription_id}")


async def invoice_when(
    client: Client, number: str, done: Callable[[InvoiceView], bool], *, what: str
) -> InvoiceView:
    async def probe() -> InvoiceView | None:
        view = await billing.invoice_view(client, number)
        return view if done(view) else None

    return await wait_for(probe, what=what)


# --- the embedded default -------------------------------------------------------------------


@dataclass(frozen=True)
class DemoConfig:
    data_dir: Path
    host: str
    temporal_port: int
    ui_port: int
    smtp_port: int
    webhook_port: int
    api_port: int = 8000
    namespace: str = "default-test"
    """Test mode's namespace (`billing_service.modes`): the demo never touches live data, and
    the `billing` CLI, test mode by default, sees what the demo did."""

    @property
    def temporal_address(self) -> str:
        return f"{self.host}:{self.temporal_port}"

    @property
    def database_url(self) -> str:
        return database_url_for_test_mode(f"sqlite:///{self.data_dir / 'billing.db'}")

    def ui_link(self, workflow_id: str) -> str:
        return (
            f"http://localhost:{self.ui_port}/namespaces/{self.namespace}/workflows/{workflow_id}"
        )


def dev_server_command(cli: str, config: DemoConfig) -> list[str]:
    return [
        cli,
        "server",
        "start-dev",
        "--ip",
        config.host,
        "--port",
        str(config.temporal_port),
        "--ui-port",
        str(config.ui_port),
        "--db-filename",
        str(config.data_dir / "temporal.db"),
        "--namespace",
        config.namespace,
        "--log-level",
        "error",
        *dev_server_flags(),
    ]


@contextlib.contextmanager
def dev_server(config: DemoConfig) -> Iterator[subprocess.Popen[bytes]]:
    """The `temporal` dev server as a child process, stopped (SIGTERM, then SIGKILL) on exit."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    log = (config.data_dir / "temporal-dev-server.log").open("ab")
    process = subprocess.Popen(
        dev_server_command(ensure_all().dev_server, config),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


async def connect_when_up(
    address: str, process: subprocess.Popen[bytes], *, namespace: str = "default"
) -> Client:
    deadline = time.monotonic() + 90
    while True:
        if process.poll() is not None:
            raise RuntimeError(
                f"the Temporal dev server exited with {process.returncode}; "
                "see .data/temporal-dev-server.log (is the port already in use?)"
            )
        try:
            return await Client.connect(
                address, namespace=namespace, data_converter=pydantic_data_converter
            )
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


def say(message: str = "") -> None:
    print(message, flush=True)


def _indented(prefix: str) -> Callable[[str], None]:
    def emit(text: str) -> None:
        for line in text.splitlines():
            print(f"{prefix}{line}", flush=True)

    return emit


async def run_demo(config: DemoConfig, *, stop: asyncio.Event) -> None:
    run_id = new_run_id()
    database_url = config.database_url
    say(f"Billing database (test mode): {database_url} (migrating)")
    config.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(database_url)
    engine = make_engine(database_url)
    catcher = MailCatcher(emit=_indented("  [mail] "), save_dir=config.data_dir / "mail")
    receiver = WebhookReceiver(emit=_indented("  [webhook] "))
    smtp = await start_mail_catcher(catcher, host=config.host, port=config.smtp_port)
    webhooks = HttpServer(receiver, host=config.host, port=config.webhook_port)
    await webhooks.start()
    say(f"Mail catcher: smtp://{config.host}:{config.smtp_port} (copies in {catcher.save_dir})")
    say(f"Webhook receiver: {webhooks.url}/webhooks")
    try:
        with dev_server(config) as process:
            say(
                f"Temporal dev server: {config.temporal_address}, Web UI http://localhost:{config.ui_port}"
            )
            client = await connect_when_up(
                config.temporal_address, process, namespace=config.namespace
            )
            await register_search_attributes(client)
            say(f"Namespace {config.namespace!r} (test mode), our search attributes registered")
            await _scenario(config, client, engine, catcher, receiver, webhooks, run_id, stop)
    finally:
        await webhooks.close()
        smtp.close()
        await smtp.wait_closed()
        engine.dispose()


async def _scenario(
    config: DemoConfig,
    client: Client,
    engine: Engine,
    catcher: MailCatcher,
    receiver: WebhookReceiver,
    webhooks: HttpServer,
    run_id: str,
    stop: asyncio.Event,
) -> None:
    say("\nThe seed's guide:")
    seeded = seed_catalog(engine, run_id=run_id, webhook_url=f"{webhooks.url}/webhooks")
    receiver.secret = seeded.webhook_secret
    say(f"  1. meter bandwidth_egress (GB, sum, monthly) in account {seeded.account_id}")
    say(f"  2. pricing prod_web_hosting: version {seeded.pricing_version_id} (EUR 49.99 + tiers)")
    say("  3. billing config: invoice day 1, 14 days, 20 % VAT, EUR")
    say(f"  4. notifications: email + webhook endpoint {seeded.webhook_url}")
    say(f"  test customer {seeded.customer_id} <{CUSTOMER_EMAIL}>")
    start_at = last_month_start(datetime.now(UTC))
    subscription = demo_subscription(seeded, run_id=run_id, start_at=start_at)
    await billing.start_subscription(client, subscription)
    say(f"  subscription {subscription.subscription_id} started at {start_at:%Y-%m-%d} (backdated)")
    batches = demo_usage(run_id=run_id, period_start=start_at)
    for batch in batches:
        await billing.send_usage(client, subscription.subscription_id, batch)
    say(f"  usage: {len(batches)} record_usage signals, {sum(USAGE_GB)} GB in all, last month")

    worker = create_worker(
        client,
        task_queue=TASK_QUEUE,
        engine=engine,
        smtp=SmtpSettings(
            host=config.host, port=config.smtp_port, mail_from="billing@platforma.example"
        ),
    )
    async with worker:
        say(f"\nWorker running on task queue {TASK_QUEUE!r}; waiting for the invoice...\n")
        number = await first_invoice_number(client, subscription.subscription_id)
        view = await invoice_when(client, number, lambda _v: True, what=f"invoice {number}")
        _print_invoice(view)
        await wait_for(
            lambda: _found(any(number in str(m["Subject"]) for m in catcher.messages)),
            what="the invoice email",
        )
        await wait_for(
            lambda: _found(any(number.encode() in r.body for r in receiver.received)),
            what="the invoice webhook",
        )
        paid = await billing.pay_invoice(
            client,
            number,
            PaymentSubmission(
                payment_id=f"pay_{number}", amount=view.invoice.amount_due, currency="EUR"
            ),
        )
        _print_payment(paid)
        await invoice_when(client, number, lambda v: v.invoice.status == "paid", what="payment")
        await wait_for(
            lambda: _found(sum(number in str(m["Subject"]) for m in catcher.messages) >= 2),
            what="the payment email",
        )
        _print_links(config, subscription.subscription_id, number)
        async with _api(config, engine, seeded.account_id) as (url, key):
            say(f"\nHTTP API: {url}/docs (Swagger UI), test-mode key for {seeded.account_id}:")
            say(f"  {key}")
            say(f'  curl -H "Authorization: Bearer {key}" {url}/v1/billing/invoices')
            say("\nRunning until Ctrl-C (the subscription waits for its next invoice day).")
            await stop.wait()
        say("\nStopping: API, worker, dev server, mail catcher, webhook receiver...")


@contextlib.asynccontextmanager
async def _api(
    config: DemoConfig, engine: Engine, account_id: str
) -> AsyncIterator[tuple[str, str]]:
    """The HTTP API on the demo's dev server and databases, and a new pk_test_ key."""
    settings = Settings.model_validate(
        {
            "TEMPORAL_ADDRESS": config.temporal_address,
            "DATABASE_URL": f"sqlite:///{config.data_dir / 'billing.db'}",
            "BILLING_MODE": "test",
        }
    )
    test_mode = settings_for_mode(settings, "test")
    state = ApiState(
        modes={
            "test": ModeResources(settings=test_mode, engine=engine),
            "live": ModeResources(settings=settings, engine=make_engine(settings.database_url)),
        }
    )
    key = repo_api_keys.create_api_key(engine, account_id=account_id, mode="test").secret
    async with serving(create_app(state=state), host=config.host, port=config.api_port) as url:
        yield url, key


async def _found(condition: bool) -> bool | None:
    return True if condition else None


def _money(amount: Decimal, currency: str) -> str:
    return f"{round_money(amount, currency):,}"


def _print_invoice(view: InvoiceView) -> None:
    invoice = view.invoice
    cur = invoice.currency
    say(
        f"\nInvoice {invoice.number} ({invoice.status}), period {invoice.period.start:%Y-%m-%d}"
        f" - {invoice.period.end:%Y-%m-%d}, due {invoice.due_at:%Y-%m-%d}"
    )
    for line in invoice.lines:
        say(f"  {line.description:<52} {_money(line.amount, cur):>10} {cur}")
    say(f"  {'subtotal':<52} {_money(invoice.subtotal, cur):>10} {cur}")
    say(f"  {'tax (20 % VAT)':<52} {_money(invoice.tax, cur):>10} {cur}")
    say(f"  {'total':<52} {_money(invoice.total, cur):>10} {cur}\n")


def _print_payment(paid: PaymentResult) -> None:
    say(
        f"\nPayment {paid.payment_id}: invoice {paid.status}, paid EUR "
        f"{_money(paid.amount_paid, 'EUR')}, still due EUR {_money(paid.amount_due, 'EUR')}\n"
    )


def _print_links(config: DemoConfig, subscription_id: str, number: str) -> None:
    say("\nDone. Where to look:")
    say(f"  subscription workflow  {config.ui_link(subscription_workflow_id(subscription_id))}")
    say(f"  invoice workflow       {config.ui_link(invoice_workflow_id(number))}")
    say(f"  emails                 {config.data_dir / 'mail'} (.eml files)")
    say(
        f"  temporal CLI           temporal workflow query --address {config.temporal_address} "
        f"--namespace {config.namespace} "
        f"--workflow-id {subscription_workflow_id(subscription_id)} --name status"
    )
    say(f"  billing CLI            billing invoices list --account {ACCOUNT_ID}")


def parse_args(argv: list[str] | None = None) -> DemoConfig:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m devtools.demo", description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path(env("DEMO_DATA_DIR", ".data")))
    parser.add_argument("--host", default=env("DEMO_HOST", "127.0.0.1"))
    parser.add_argument("--temporal-port", type=int, default=int(env("DEMO_TEMPORAL_PORT", "7233")))
    parser.add_argument("--ui-port", type=int, default=int(env("DEMO_UI_PORT", "8233")))
    parser.add_argument("--smtp-port", type=int, default=int(env("DEMO_SMTP_PORT", "1025")))
    parser.add_argument("--webhook-port", type=int, default=int(env("DEMO_WEBHOOK_PORT", "8787")))
    parser.add_argument("--api-port", type=int, default=int(env("API_PORT", "8000")))
    args = parser.parse_args(argv)
    return DemoConfig(
        data_dir=args.data_dir,
        host=args.host,
        temporal_port=args.temporal_port,
        ui_port=args.ui_port,
        smtp_port=args.smtp_port,
        webhook_port=args.webhook_port,
        api_port=args.api_port,
    )


async def _main(config: DemoConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    demo = asyncio.create_task(run_demo(config, stop=stop))
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({demo, stopped}, return_when=asyncio.FIRST_COMPLETED)
    if not demo.done():
        # Ctrl-C before the scenario finished: give it a moment to unwind, then cancel it.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(demo), timeout=1)
        demo.cancel()
    stopped.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await demo


def main(argv: list[str] | None = None) -> None:
    config = parse_args(argv)
    try:
        asyncio.run(_main(config))
    except (TimeoutError, RuntimeError, OSError) as error:
        print(f"demo failed: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    print("Stopped.")


if __name__ == "__main__":
    main()
