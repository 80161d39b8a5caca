"""Invoice day: many subscriptions sharing invoice day 1 are invoiced and notified at once.

Set-up: the `temporal` CLI dev server (in memory), one in-process worker with the production
wiring (`create_worker`), a migrated SQLite billing database in a temporary folder, a real SMTP
sink (aiosmtpd) taking the `invoice_generated` emails. N subscriptions of the seed's hybrid plan
are started backdated into last month, so each one's first period is already over: starting them
is their invoice day. An invoice counts once its email has been delivered.

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
import resource
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.notifications.settings import SmtpSettings
from billing import seed
from billing.contracts.subscription import SubscriptionInput
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


def subscription(run: str, number: int, start_at: object) -> SubscriptionInput:
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
            "billing": {"invoice_day": 1, "payment_terms_days": 14, "tax_rate": "0.20"},
            "notifications": {"invoice_generated": {"email": True, "webhook": False}},
            "start_at": start_at,
        }
    )


async def main(count: int, max_cached_workflows: int) -> None:
    tools = ensure_all()
    folder = Path(tempfile.mkdtemp(prefix="bench-invoice-day-"))
    url = f"sqlite:///{folder / 'billing.db'}"
    upgrade(url)
    engine = make_engine(url)
    catcher = MailCatcher(emit=lambda _line: None)
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
    try:
        async with create_worker(
            env.client,
            task_queue=TASK_QUEUE,
            engine=engine,
            smtp=smtp,
            max_cached_workflows=max_cached_workflows,
        ):
            now = await env.get_current_time()
            start_at = (now - timedelta(days=40)).isoformat()
            begin = time.perf_counter()
            limit = asyncio.Semaphore(50)
            first_runs: dict[int, str | None] = {}

            async def start(number: int) -> None:
                async with limit:
                    handle = await start_subscription(
                        env.client, subscription(run, number, start_at), task_queue=TASK_QUEUE
                    )
                    first_runs[number] = handle.result_run_id

            await asyncio.gather(*(start(n) for n in range(count)))
            started = time.perf_counter() - begin
            while len(catcher.messages) < count:  # noqa: ASYNC110 (filled by the SMTP server)
                await asyncio.sleep(0.1)
            seconds = time.perf_counter() - begin
            handle = env.client.get_workflow_handle(
                f"subscription-inv_{run}_0", run_id=first_runs[0]
            )
            history = await handle.fetch_history()
            print(f"invoice day, {count} subscriptions, SQLite at {folder}")
            print(f"  started in {started:.1f} s; all invoiced and emailed in {seconds:.1f} s")
            print(f"  {count / seconds:,.1f} invoices/s")
            print(f"  history of a subscription's invoicing run: {len(history.events)} events")
            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(
                f"  worker process peak RSS with {count} live subscriptions "
                f"(max_cached_workflows={max_cached_workflows}): {peak_mb:,.0f} MB"
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
    now = datetime.now(UTC)  # the server runs on this machine's clock
    start_at = (now - timedelta(days=40)).isoformat()
    begin = time.perf_counter()
    limit = asyncio.Semaphore(50)

    async def start(number: int) -> None:
        async with limit:
            await start_subscription(client, subscription(run, number, start_at))

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
    arguments = parser.parse_args()
    if arguments.stack:
        asyncio.run(on_stack(arguments.subscriptions))
    else:
        asyncio.run(main(arguments.subscriptions, arguments.max_cached_workflows))
