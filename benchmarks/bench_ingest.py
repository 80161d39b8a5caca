"""Usage ingestion throughput: the naive one-signal-per-event path against the HTTP batch
intake, on one machine, in one run, into the same subscriptions. Prints figures; asserts none.

Set-up: the `temporal` CLI dev server, one in-process worker (production wiring), a migrated
SQLite database (test mode), N subscriptions started through their workflows (so stored by
them), and a real `billing api` process on a loopback port.

1. naive: one `record_usage` signal per event; done when the ledger holds every event.
2. HTTP: `POST /v1/billing/usage/events` over keep-alive connections (C concurrent requests),
   100 and 1,000 events per request, spread over the subscriptions, 10 % of events re-sent
   (duplicates); done when the last 200 arrives (accepted means committed). Rows stored must
   equal the unique events sent.

    uv run python -m benchmarks.bench_ingest [--subscriptions 200] [--naive-events 2000]
                                             [--http-events 100000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, func, select
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.notifications.settings import SmtpSettings
from billing.contracts.subscription import RawUsageBatch
from billing_db import repo_api_keys
from billing_db.engine import make_engine
from billing_db.migrate import upgrade
from billing_db.tables import usage_events
from billing_service.client import subscription_handle
from billing_service.worker import create_worker
from devtools.usage_load import stored_subscriptions
from scripts.temporal_tools import ensure_all
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES

TASK_QUEUE = "bench-ingest"
ACCOUNT = "acct_bench"
METER = "bandwidth_egress"


def _rows(engine: Engine, table: Any = usage_events) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def _event(event_id: str, subscription_id: str | None = None) -> dict[str, Any]:
    """An event of 1 GB; naming its subscription (for a batch of several) when given."""
    event: dict[str, Any] = {"event_id": event_id, "meter_id": METER, "quantity": "1"}
    return event if subscription_id is None else {**event, "subscription_id": subscription_id}


async def naive(client: Client, engine: Engine, subscriptions: list[str], count: int) -> float:
    """One signal per event; the seconds until the ledger holds them all."""
    before = _rows(engine)
    begin = time.perf_counter()
    limit = asyncio.Semaphore(64)

    async def one(index: int) -> None:
        subscription_id = subscriptions[index % len(subscriptions)]
        async with limit:
            await subscription_handle(client, subscription_id).signal(
                "record_usage",
                RawUsageBatch(events=[_event(f"n{index}")]),
            )

    await asyncio.gather(*(one(index) for index in range(count)))
    deadline = begin + 600
    while _rows(engine) < before + count and time.perf_counter() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    return time.perf_counter() - begin


def _requests(
    subscriptions: list[str], total: int, per_request: int, tag: str
) -> tuple[list[list[dict[str, Any]]], int]:
    """Batches of `per_request` events, 10 % of them re-sends of earlier events; the number
    of unique events."""
    rng = random.Random(7)
    unique = [
        _event(f"{tag}{index}", subscriptions[index % len(subscriptions)])
        for index in range(total - total // 10)
    ]
    events = unique + rng.sample(unique, total // 10)
    rng.shuffle(events)
    batches = [events[i : i + per_request] for i in range(0, len(events), per_request)]
    return batches, len(unique)


async def over_http(
    url: str, key: str, batches: list[list[dict[str, Any]]], concurrency: int
) -> tuple[float, list[float], int, int]:
    """Post every batch with `concurrency` keep-alive clients; seconds, request latencies,
    accepted and duplicates as answered."""
    latencies: list[float] = []
    counts = [0, 0]
    queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    for batch in batches:
        queue.put_nowait(batch)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {key}"}, limits=limits, timeout=120
    ) as http:

        async def client() -> None:
            while not queue.empty():
                batch = queue.get_nowait()
                sent = time.perf_counter()
                answer = await http.post("/v1/billing/usage/events", json={"events": batch})
                latencies.append(time.perf_counter() - sent)
                body = answer.json()
                if answer.status_code != 200 or body["rejected"]:
                    raise SystemExit(f"unexpected answer: {body}")
                counts[0] += body["accepted"]
                counts[1] += body["duplicates"]

        begin = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        seconds = time.perf_counter() - begin
    return seconds, latencies, counts[0], counts[1]


def _api(
    folder: Path, url: str, address: str, namespace: str
) -> tuple[subprocess.Popen[bytes], str]:
    port = 20000 + random.Random().randrange(20000)
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
    }
    env.pop("BILLING_API_KEY", None)
    upgrade(env["DATABASE_URL"])
    billing = str(Path(sys.executable).parent / "billing")
    log = (folder / "api.log").open("ab")
    process = subprocess.Popen(
        [billing, "api", "--host", "127.0.0.1"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{base}/openapi.json", timeout=2).status_code == 200:
                return process, base
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"billing api did not start; see {folder / 'api.log'}")


def _ms(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000 if len(values) > 1 else 0.0


async def main(subscriptions: int, naive_events: int, http_events: int, concurrency: int) -> None:
    tools = ensure_all()
    folder = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    url = f"sqlite:///{folder / 'billing-test.db'}"
    upgrade(url)
    engine = make_engine(url)
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=tools.dev_server,
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_startup_timeout=timedelta(seconds=90),
    )
    smtp = SmtpSettings(host="127.0.0.1", port=9, mail_from="bench@example.com", timeout=1)
    api: subprocess.Popen[bytes] | None = None
    try:
        async with create_worker(env.client, task_queue=TASK_QUEUE, engine=engine, smtp=smtp):
            ids = await stored_subscriptions(
                env.client, engine, subscriptions, account_id=ACCOUNT, task_queue=TASK_QUEUE
            )
            key = repo_api_keys.create_api_key(engine, account_id=ACCOUNT, mode="test").secret
            api, base = _api(
                folder, url, env.client.service_client.config.target_host, env.client.namespace
            )
            print(f"usage ingestion, {subscriptions} subscriptions, SQLite at {folder}")
            seconds = await naive(env.client, engine, ids, naive_events)
            naive_rate = naive_events / seconds
            print(
                f"  naive, 1 event/signal:          {naive_rate:>9,.0f} events/s "
                f"({naive_events} events in {seconds:.1f} s)"
            )
            for per_request in (100, 1000):
                batches, unique = _requests(ids, http_events, per_request, f"h{per_request}-")
                before = _rows(engine)
                seconds, latencies, accepted, duplicates = await over_http(
                    base, key, batches, concurrency
                )
                stored = _rows(engine) - before
                rate = http_events / seconds
                print(
                    f"  HTTP, {per_request:>4} events/request, {concurrency} clients: "
                    f"{rate:>9,.0f} events/s ({http_events} events in {seconds:.1f} s), "
                    f"p50 {_ms(latencies, 50):.0f} ms, p99 {_ms(latencies, 99):.0f} ms, "
                    f"{rate / naive_rate:.0f}x naive; rows stored {stored} = unique {unique}: "
                    f"{stored == unique} (answered {accepted} accepted, {duplicates} duplicates)"
                )
    finally:
        if api is not None:
            api.terminate()
            api.wait(timeout=20)
        await env.shutdown()
        engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscriptions", type=int, default=200)
    parser.add_argument("--naive-events", type=int, default=2_000)
    parser.add_argument("--http-events", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=16)
    arguments = parser.parse_args()
    asyncio.run(
        main(
            arguments.subscriptions,
            arguments.naive_events,
            arguments.http_events,
            arguments.concurrency,
        )
    )
