"""Usage ingestion, every path into the same subscriptions in one run on one machine. Prints
figures; asserts none.

Set-up: the `temporal` CLI dev server (production settings), one in-process worker (production
wiring) whose mail goes to a local aiosmtpd catcher, a migrated database (`--backend sqlite`, or
`postgresql` on a throwaway cluster), N subscriptions started through their workflows (stored
by them), and a real `billing api` process on a loopback port.

1. naive: one `record_usage` signal per event (the pattern of Temporal's subscription samples).
2. signals: `record_usage` at 100 events per signal.
   Both are done when the ledger holds every event (the worker records them).
3. HTTP: `POST /v1/billing/usage/events` from C keep-alive clients at once, 100 and 1,000 events
   per request, each event naming its subscription, 10 % of events re-sent; done when the last
   200 arrives (accepted means committed). Rows stored must equal the unique events sent.

Then: history events of a sample of subscriptions (the nudges keep them small whatever the
volume), and the delay from an HTTP batch that crosses a usage threshold to its email.

    uv run python -m benchmarks.bench_ingest [--backend sqlite|postgresql] [--subscriptions 1000]
        [--naive-events 2000] [--signal-events 20000] [--http-events 100000] [--clients 16]
        [--nudge-interval 1 5] [--api-processes 1 2]

Run it alone on the machine (`flock /tmp/heavy.lock ...` where the box is shared): every
process here competes for the same cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, func, select
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.notifications.settings import SmtpSettings
from billing import seed
from billing.contracts.subscription import RawUsageBatch
from billing_db import repo_api_keys
from billing_db.engine import make_engine
from billing_db.migrate import upgrade
from billing_db.tables import usage_events
from billing_service.client import subscription_handle
from billing_service.worker import create_worker
from devtools.servers import MailCatcher
from devtools.usage_load import (
    METER,
    USAGE_PATH,
    Posted,
    post_load,
    stored_subscriptions,
    usage_load,
)
from scripts.postgres_tools import free_port, start_cluster
from scripts.temporal_tools import ensure_all
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES

TASK_QUEUE = "bench-ingest"
ACCOUNT = "acct_bench"
SIGNAL_BATCH = 100


def _rows(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(usage_events)).scalar_one())


async def _until_rows(engine: Engine, count: int, seconds: float = 900) -> None:
    deadline = time.perf_counter() + seconds
    while await asyncio.to_thread(_rows, engine) < count:
        if time.perf_counter() > deadline:
            raise SystemExit(f"the ledger never held {count} rows")
        await asyncio.sleep(0.05)


def _event(event_id: str) -> dict[str, Any]:
    return {"event_id": event_id, "meter_id": METER, "quantity": "1"}


async def signalled(
    client: Client, engine: Engine, subscriptions: list[str], count: int, per_signal: int
) -> float:
    """`count` events in `record_usage` signals of `per_signal` events, spread over the
    subscriptions; the seconds until the ledger holds them all."""
    before = await asyncio.to_thread(_rows, engine)
    tag = uuid.uuid4().hex[:6]
    limit = asyncio.Semaphore(64)

    async def one(index: int) -> None:
        events = [_event(f"s{tag}-{index}-{n}") for n in range(per_signal)]
        async with limit:
            await subscription_handle(client, subscriptions[index % len(subscriptions)]).signal(
                "record_usage", RawUsageBatch(events=events)
            )

    begin = time.perf_counter()
    await asyncio.gather(*(one(index) for index in range(count // per_signal)))
    await _until_rows(engine, before + count // per_signal * per_signal)
    return time.perf_counter() - begin


@contextlib.contextmanager
def database(backend: str, folder: Path) -> Iterator[str]:
    """A migrated database of the backend, dropped with its cluster at the end."""
    if backend == "sqlite":
        url = f"sqlite:///{folder / 'billing-test.db'}"
        upgrade(url)
        yield url
        return
    cluster = start_cluster()
    try:
        admin = f"host=127.0.0.1 port={cluster.port} user=postgres"
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute("CREATE DATABASE bench")
        url = cluster.url("bench")
        upgrade(url)
        yield url
    finally:
        cluster.stop()


@contextlib.asynccontextmanager
async def api_process(
    folder: Path, url: str, address: str, namespace: str, *, nudge_interval: float = 1.0
) -> AsyncIterator[str]:
    """`billing api` on a free loopback port, test mode on `url`, nudging each subscription at
    most once per `nudge_interval` seconds; its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": address,
        "TEMPORAL_TEST_NAMESPACE": namespace,
        "TEMPORAL_NAMESPACE": f"live-unused-{uuid.uuid4().hex[:6]}",
        "TEMPORAL_TASK_QUEUE": TASK_QUEUE,
        "TEST_DATABASE_URL": url,
        "DATABASE_URL": f"sqlite:///{folder / 'live.db'}",
        "API_PORT": str(port),
        "LOG_LEVEL": "WARNING",
        "USAGE_NUDGE_INTERVAL_SECONDS": str(nudge_interval),
    }
    env.pop("BILLING_API_KEY", None)
    upgrade(env["DATABASE_URL"])
    billing = str(Path(sys.executable).parent / "billing")
    with (folder / "api.log").open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            billing, "api", "--host", "127.0.0.1", env=env, stdout=log, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(300):
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(f"{base}/openapi.json", timeout=2)).status_code == 200:
                        break
                await asyncio.sleep(0.2)
            else:
                raise SystemExit(f"billing api did not start; see {folder / 'api.log'}")
        yield base
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)


async def history_events(client: Client, subscriptions: list[str]) -> list[int]:
    """Events in the current run's history of each subscription."""
    counts = []
    for subscription_id in subscriptions:
        found = 0
        async for _event in subscription_handle(client, subscription_id).fetch_history_events():
            found += 1
        counts.append(found)
    return counts


async def threshold_delay(
    client: Client, engine: Engine, base: str, key: str, catcher: MailCatcher
) -> float:
    """Seconds from the 200 of an HTTP batch crossing the 80 % usage threshold (85 of the 100
    GB included) to its email at the catcher: nudge interval, ledger count, notification."""
    [subscription_id] = await stored_subscriptions(
        client,
        engine,
        1,
        account_id=ACCOUNT,
        task_queue=TASK_QUEUE,
        notifications=seed.NOTIFICATIONS,
    )
    before = len(catcher.messages)
    event = {**_event("threshold-1"), "quantity": "85", "subscription_id": subscription_id}
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {key}"}) as http:
        answer = await http.post(USAGE_PATH, json={"events": [event]}, timeout=60)
    crossed = time.perf_counter()
    if answer.status_code != 200 or answer.json()["accepted"] != 1:
        raise SystemExit(f"threshold batch: {answer.status_code} {answer.text}")
    while len(catcher.messages) == before:
        if time.perf_counter() - crossed > 300:
            raise SystemExit("no threshold email within 300 s")
        await asyncio.sleep(0.02)
    return time.perf_counter() - crossed


def _ms(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000 if len(values) > 1 else 0.0


async def main(arguments: argparse.Namespace) -> None:
    tools = ensure_all()
    folder = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    catcher = MailCatcher(emit=lambda _line: None)
    mail = Controller(catcher, hostname="127.0.0.1", port=free_port())
    mail.start()
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=tools.dev_server,
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_startup_timeout=timedelta(seconds=90),
    )
    smtp = SmtpSettings(host="127.0.0.1", port=mail.port, mail_from="bench@example.com", timeout=5)
    try:
        with database(arguments.backend, folder) as url:
            engine = make_engine(url)
            try:
                await run(arguments, env.client, engine, url, folder, smtp, catcher)
            finally:
                engine.dispose()
    finally:
        await env.shutdown()
        mail.stop()


async def run(
    arguments: argparse.Namespace,
    client: Client,
    engine: Engine,
    url: str,
    folder: Path,
    smtp: SmtpSettings,
    catcher: MailCatcher,
) -> None:
    async with create_worker(client, task_queue=TASK_QUEUE, engine=engine, smtp=smtp):
        begin = time.perf_counter()
        ids = await stored_subscriptions(
            client, engine, arguments.subscriptions, account_id=ACCOUNT, task_queue=TASK_QUEUE
        )
        print(
            f"usage ingestion on {arguments.backend}: {len(ids)} subscriptions started and "
            f"stored in {time.perf_counter() - begin:.0f} s; {arguments.clients} HTTP clients"
        )
        key = repo_api_keys.create_api_key(engine, account_id=ACCOUNT, mode="test").secret
        address = client.service_client.config.target_host
        seconds = await signalled(client, engine, ids, arguments.naive_events, 1)
        naive = arguments.naive_events / seconds
        print(
            f"  (1) naive, 1 event/signal:       {naive:>8,.0f} events/s "
            f"({arguments.naive_events:,} events in {seconds:.1f} s)"
        )
        seconds = await signalled(client, engine, ids, arguments.signal_events, SIGNAL_BATCH)
        print(
            f"  (2) record_usage, {SIGNAL_BATCH}/signal:   "
            f"{arguments.signal_events / seconds:>8,.0f} events/s "
            f"({arguments.signal_events:,} events in {seconds:.1f} s)"
        )
        configurations = [
            (processes, interval)
            for processes in arguments.api_processes
            for interval in arguments.nudge_interval
        ]
        for processes, interval in configurations:
            async with contextlib.AsyncExitStack() as apis:
                bases = [
                    await apis.enter_async_context(
                        api_process(folder, url, address, client.namespace, nudge_interval=interval)
                    )
                    for _ in range(processes)
                ]
                print(
                    f"  HTTP to {processes} `billing api` process(es), nudges at most every "
                    f"{interval:g} s per subscription:"
                )
                tag = f"p{processes}n{interval:g}-"
                await http_rows(arguments, engine, ids, bases, key, naive, tag=tag)
                delay = await threshold_delay(client, engine, bases[0], key, catcher)
                print(f"      usage threshold crossed over HTTP -> its email: {delay:.2f} s")
        sample = ids[:: max(1, len(ids) // arguments.sample)][: arguments.sample]
        counts = await history_events(client, sample)
        sent = arguments.naive_events + arguments.signal_events
        sent += 2 * arguments.http_events * len(configurations)
        print(
            f"  history events per subscription (current run, {len(sample)} sampled after "
            f"{sent:,} events over {len(ids)}): min {min(counts)}, median "
            f"{statistics.median(counts):.0f}, max {max(counts)}"
        )


async def http_rows(
    arguments: argparse.Namespace,
    engine: Engine,
    ids: list[str],
    bases: list[str],
    key: str,
    naive: float,
    *,
    tag: str,
) -> None:
    """(3) at 100 and 1,000 events per request, the batches and clients spread evenly over the
    API processes at `bases` (as a load balancer would)."""
    for per_request in (100, 1000):
        load = usage_load(ids, arguments.http_events, per_request, tag=f"{tag}h{per_request}-")
        before = await asyncio.to_thread(_rows, engine)
        posted = await post_spread(bases, key, load.batches, clients=arguments.clients)
        stored = await asyncio.to_thread(_rows, engine) - before
        rate = load.events / posted.seconds
        print(
            f"  (3) HTTP, {per_request:>4}/request:       {rate:>8,.0f} events/s "
            f"({load.events:,} in {posted.seconds:.1f} s), request p50 "
            f"{_ms(posted.latencies, 50):,.0f} ms, p99 {_ms(posted.latencies, 99):,.0f} "
            f"ms; {rate / naive:,.0f}x naive; rows stored {stored:,} = unique "
            f"{load.unique:,}: {stored == load.unique} (answered {posted.accepted:,} "
            f"accepted, {posted.duplicates:,} duplicates, "
            f"{len(posted.rejected) + len(posted.failures)} refused)"
        )


async def post_spread(
    bases: list[str], key: str, batches: list[list[dict[str, Any]]], *, clients: int
) -> Posted:
    """`post_load` to every base at once (its share of batches and clients); the answers
    together, timed from the first request to the last answer."""
    begin = time.perf_counter()
    parts = await asyncio.gather(
        *(
            post_load(
                base,
                key,
                batches[index :: len(bases)],
                clients=max(1, clients // len(bases)),
                request_seconds=300,
            )
            for index, base in enumerate(bases)
        )
    )
    return Posted(
        seconds=time.perf_counter() - begin,
        latencies=[latency for part in parts for latency in part.latencies],
        accepted=sum(part.accepted for part in parts),
        duplicates=sum(part.duplicates for part in parts),
        rejected=[rejection for part in parts for rejection in part.rejected],
        failures=[failure for part in parts for failure in part.failures],
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--subscriptions", type=int, default=1000)
    parser.add_argument("--naive-events", type=int, default=2_000)
    parser.add_argument("--signal-events", type=int, default=20_000)
    parser.add_argument("--http-events", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--sample", type=int, default=10, help="histories fetched")
    parser.add_argument(
        "--api-processes",
        type=int,
        nargs="+",
        default=[1],
        help="`billing api` processes sharing the HTTP load; several: (3) once per value",
    )
    parser.add_argument(
        "--nudge-interval",
        type=float,
        nargs="+",
        default=[1.0],
        help="USAGE_NUDGE_INTERVAL_SECONDS of the API; several: (3) once per value, same run",
    )
    asyncio.run(main(parser.parse_args()))
