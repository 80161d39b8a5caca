"""Invoice day: many subscriptions sharing one invoice day are invoiced and notified at once.

Set-up: the `temporal` CLI dev server (in memory), one in-process worker with the production
wiring (`create_worker`), a migrated SQLite billing database in a temporary folder, a real SMTP
sink (aiosmtpd) taking the `invoice_generated` emails. N subscriptions of the seed's hybrid plan
are started backdated so that exactly one period of each is already over: starting them is their
invoice day, one invoice each. An invoice counts once its email has been delivered.

Prints invoices per second (from the first start to the last delivered email), the history length
of a subscription's first run, and the worker process's peak RSS with N live subscriptions (plus
their N invoice workflows). Not a test: nothing here asserts a time.

    uv run python -m benchmarks.bench_invoice_day [--subscriptions 1000]

With `--stack`, the same burst on a running `make stack` instead (the real Temporal server on
PostgreSQL, its worker processes, the billing database on PostgreSQL, its mail catcher): start a
fresh one first, as its mail folder is what is counted.

    make stack && uv run python -m benchmarks.bench_invoice_day --stack --subscriptions 300
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import Engine, text
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.notifications.settings import SmtpSettings
from benchmarks.floor import FloorWorkflow, floor_step
from billing import seed
from billing.contracts.common import invoice_workflow_id
from billing.contracts.subscription import SubscriptionInput
from billing.periods import period_containing
from billing_db.engine import make_engine
from billing_db.migrate import upgrade
from billing_service.client import start_subscription
from billing_service.temporal_client import connect
from billing_service.worker import create_worker
from devtools.servers import MailCatcher, start_mail_catcher
from devtools.stack import Stack, StackConfig
from scripts.temporal_tools import ensure_all
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES

TASK_QUEUE = "bench-invoice-day"


def backdated(now: datetime) -> tuple[datetime, int]:
    """`(start_at, invoice_day)` such that exactly one period (partial) has closed by `now`,
    two to five days ago, whatever day of the month it is: one invoice per subscription.
    (A fixed invoice day 1 and 40 days back gave two invoices each early in a month.)"""
    invoice_day = min((now - timedelta(days=2)).day, 28)
    boundary = period_containing(now, invoice_day=invoice_day, tz="UTC").start
    return boundary - timedelta(days=20), invoice_day


def subscription(
    run: str, number: int | str, start_at: datetime, invoice_day: int
) -> SubscriptionInput:
    return SubscriptionInput.model_validate(
        {
            "subscription_id": f"inv_{run}_{number}",
            "account_id": f"acct_{run}",
            "customer": {
                "id": f"cus_{run}_{number}",
                "name": f"Customer {number}",
                "email": f"c{number}@example.com",
            },
            "meters": [{"name": "bandwidth_egress", "unit": "GB", "aggregation": "sum"}],
            "pricing": seed.HYBRID_PRICING,
            "billing": {"invoice_day": invoice_day, "payment_terms_days": 14, "tax_rate": "0.20"},
            "notifications": {"invoice_generated": {"email": True, "webhook": False}},
            "start_at": start_at,
        }
    )


@dataclass
class TimedCatcher(MailCatcher):
    """The mail catcher, noting when each recipient's message arrived (after the `250`)."""

    arrived: dict[str, datetime] = field(default_factory=dict)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        reply = await super().handle_DATA(server, session, envelope)
        for recipient in envelope.rcpt_tos:
            self.arrived.setdefault(recipient, datetime.now(UTC))
        return reply


def rss_mb() -> float:
    """The process's resident set now (VmRSS), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def issued_times(engine: Engine) -> dict[str, datetime]:
    """Each subscription's invoice issue time, as the database has it (UTC)."""
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT subscription_id, issued_at FROM invoices")).all()
    issued: dict[str, datetime] = {}
    for subscription_id, at in rows:
        moment = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
        issued[subscription_id] = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return issued


async def invoice_of(engine: Engine, subscription_id: str) -> str:
    while True:
        with engine.connect() as connection:
            number = connection.execute(
                text("SELECT number FROM invoices WHERE subscription_id = :s"),
                {"s": subscription_id},
            ).scalar()
        if number is not None:
            return str(number)
        await asyncio.sleep(0.2)


async def probe_payments(client: Client, number: str, done: asyncio.Event) -> list[float]:
    """`submit_payment` updates (one cent each) to one invoice, one at a time, until `done`:
    each one's latency in seconds, from the call to its answer."""
    handle = client.get_workflow_handle(invoice_workflow_id(number))
    while True:  # started by its subscription just after the email
        try:
            await handle.describe()
            break
        except RPCError:
            await asyncio.sleep(0.1)
    latencies: list[float] = []
    while not done.is_set():
        sent = time.perf_counter()
        await handle.execute_update(
            "submit_payment", {"payment_id": f"probe_{uuid.uuid4().hex[:8]}", "amount": "0.01"}
        )
        latencies.append(time.perf_counter() - sent)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), timeout=0.5)
    return latencies


async def measure_floor(client: Client, count: int, max_cached_workflows: int) -> float:
    """Completed minimal workflows per second (see benchmarks/floor.py), started like the
    subscriptions, on a worker of their own with the same cache size."""
    queue = f"{TASK_QUEUE}-floor"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[FloorWorkflow],
        activities=[floor_step],
        max_cached_workflows=max_cached_workflows,
    ):
        run = uuid.uuid4().hex[:6]
        limit = asyncio.Semaphore(50)
        begin = time.perf_counter()

        async def start(number: int) -> WorkflowHandle[Any, int]:
            async with limit:
                return await client.start_workflow(
                    FloorWorkflow.run, number, id=f"floor-{run}-{number}", task_queue=queue
                )

        handles = await asyncio.gather(*(start(n) for n in range(count)))
        await asyncio.gather(*(handle.result() for handle in handles))
        return count / (time.perf_counter() - begin)


async def main(count: int, max_cached_workflows: int, floor: bool) -> None:
    tools = ensure_all()
    folder = Path(tempfile.mkdtemp(prefix="bench-invoice-day-"))
    url = f"sqlite:///{folder / 'billing.db'}"
    upgrade(url)
    engine = make_engine(url)
    catcher = TimedCatcher(emit=lambda _line: None)
    mail_server = await start_mail_catcher(catcher, port=0)
    smtp_port = mail_server.sockets[0].getsockname()[1]
    smtp = SmtpSettings(host="127.0.0.1", port=smtp_port, mail_from="bench@example.com", timeout=10)
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=tools.dev_server,
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_startup_timeout=timedelta(seconds=90),
    )
    run = uuid.uuid4().hex[:6]
    load_before = os.getloadavg()
    try:
        async with create_worker(
            env.client,
            task_queue=TASK_QUEUE,
            engine=engine,
            smtp=smtp,
            max_cached_workflows=max_cached_workflows,
        ):
            start_at, invoice_day = backdated(await env.get_current_time())
            # One subscription invoiced first: its invoice takes payments during the burst.
            await start_subscription(
                env.client, subscription(run, "probe", start_at, invoice_day), task_queue=TASK_QUEUE
            )
            probe_invoice = await invoice_of(engine, f"inv_{run}_probe")
            while len(catcher.arrived) < 1:  # noqa: ASYNC110 (filled by the SMTP server)
                await asyncio.sleep(0.1)
            burst_over = asyncio.Event()
            prober = asyncio.create_task(probe_payments(env.client, probe_invoice, burst_over))

            begin = time.perf_counter()
            limit = asyncio.Semaphore(50)
            first_runs: dict[int, str | None] = {}

            async def start(number: int) -> None:
                async with limit:
                    handle = await start_subscription(
                        env.client,
                        subscription(run, number, start_at, invoice_day),
                        task_queue=TASK_QUEUE,
                    )
                    first_runs[number] = handle.result_run_id

            await asyncio.gather(*(start(n) for n in range(count)))
            started = time.perf_counter() - begin
            while len(catcher.arrived) < count + 1:  # noqa: ASYNC110 (filled by the SMTP server)
                await asyncio.sleep(0.1)
            seconds = time.perf_counter() - begin
            burst_over.set()
            latencies = await prober
            live_rss = rss_mb()
            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            handle = env.client.get_workflow_handle(
                f"subscription-inv_{run}_0", run_id=first_runs[0]
            )
            history = await handle.fetch_history()
            issued = issued_times(engine)
            to_email = [
                (catcher.arrived[f"c{n}@example.com"] - issued[f"inv_{run}_{n}"]).total_seconds()
                for n in range(count)
            ]
        floor_rate = await measure_floor(env.client, count, max_cached_workflows) if floor else None
        load_after = os.getloadavg()
        print(f"invoice day, {count} subscriptions, SQLite at {folder}")
        print(f"  load average before/after: {load_before[0]:.2f} / {load_after[0]:.2f}")
        print(f"  started in {started:.1f} s; all invoiced and emailed in {seconds:.1f} s")
        print(f"  {count / seconds:,.1f} invoices/s")
        if floor_rate is not None:
            print(
                f"  server floor (one local activity per workflow, started the same way): "
                f"{floor_rate:,.1f} workflows/s; invoicing at {count / seconds / floor_rate:.0%} "
                "of it"
            )
        print(
            f"  invoice issued -> email delivered: p50 {percentile(to_email, 0.5):.2f} s, "
            f"p99 {percentile(to_email, 0.99):.2f} s"
        )
        print(f"  history of a subscription's invoicing run: {len(history.events)} events")
        print(
            f"  emails sent twice (at-least-once: a retry after a timed-out attempt): "
            f"{len(catcher.messages) - len(catcher.arrived)}"
        )
        print(
            f"  submit_payment update during the burst ({len(latencies)} sent): "
            f"p50 {percentile(latencies, 0.5) * 1000:,.0f} ms, "
            f"max {max(latencies) * 1000:,.0f} ms"
        )
        print(
            f"  worker process RSS with {count} live subscriptions and their invoices "
            f"(max_cached_workflows={max_cached_workflows}): {live_rss:,.0f} MB now, "
            f"{peak_mb:,.0f} MB peak; {live_rss * 1024 / count:,.0f} KB per subscription"
        )
    finally:
        await env.shutdown()
        mail_server.close()
        engine.dispose()


async def on_stack(count: int) -> None:
    """The burst on a running `make stack`: its workers, database and mail catcher."""
    stack = Stack.load(StackConfig.from_environment().state_dir)
    client = await connect(stack.config.settings())
    emailed = len(list(stack.config.mail_dir.glob("*.eml")))
    run = uuid.uuid4().hex[:6]
    start_at, invoice_day = backdated(datetime.now(UTC))  # the server runs on this clock
    begin = time.perf_counter()
    limit = asyncio.Semaphore(50)

    async def start(number: int) -> None:
        async with limit:
            await start_subscription(client, subscription(run, number, start_at, invoice_day))

    await asyncio.gather(*(start(n) for n in range(count)))
    started = time.perf_counter() - begin
    while len(list(stack.config.mail_dir.glob("*.eml"))) < emailed + count:  # noqa: ASYNC110 (files)
        await asyncio.sleep(0.5)
    seconds = time.perf_counter() - begin
    print(f"invoice day, {count} subscriptions, on `make stack` ({stack.config.workers} workers)")
    print(f"  started in {started:.1f} s; all invoiced and emailed in {seconds:.1f} s")
    print(f"  {count / seconds:,.1f} invoices/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscriptions", type=int, default=1000)
    parser.add_argument("--max-cached-workflows", type=int, default=1000, help="the SDK default")
    parser.add_argument("--stack", action="store_true", help="on a running `make stack`")
    parser.add_argument("--no-floor", action="store_true", help="skip the server's floor")
    arguments = parser.parse_args()
    if arguments.stack:
        asyncio.run(on_stack(arguments.subscriptions))
    else:
        asyncio.run(
            main(arguments.subscriptions, arguments.max_cached_workflows, not arguments.no_floor)
        )
