"""Usage load over HTTP: subscriptions stored by their workflows, batches of events with re-sent
duplicates, and keep-alive clients posting them concurrently to `POST /v1/billing/usage/events`.

One generator for the benchmark (`benchmarks/bench_ingest.py`) and the acceptance test at scale
(`tests/e2e/test_usage_intake_at_scale.py`), so that what the test proves is what the benchmark
measures.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import Engine, func, select
from temporalio.client import Client

from billing import seed
from billing.contracts.subscription import SubscriptionInput
from billing_db.tables import subscriptions as subscription_rows
from billing_service.client import start_subscription

USAGE_PATH = "/v1/billing/usage/events"
METER = str(seed.METER["name"])
#: Quantities cycle through these (GB), so that sums tell a lost or doubled event apart.
QUANTITIES = ("1", "2.5", "3", "0.25", "7")
#: Thresholds off: the intake is measured, not mail.
QUIET = {"usage_threshold": {"email": False, "webhook": False}}


def _stored(engine: Engine, subscription_ids: Sequence[str]) -> int:
    with engine.connect() as connection:
        query = (
            select(func.count())
            .select_from(subscription_rows)
            .where(subscription_rows.c.id.in_(subscription_ids))
        )
        return int(connection.execute(query).scalar_one())


async def stored_subscriptions(
    client: Client,
    engine: Engine,
    count: int,
    *,
    account_id: str,
    task_queue: str,
    notifications: dict[str, Any] | None = None,
    seconds: float = 300,
) -> list[str]:
    """Start `count` subscriptions of the seed's hybrid plan on `account_id` (usage thresholds
    quiet unless `notifications` says otherwise); return once their workflows stored them all,
    since the intake accepts events only for stored subscriptions."""
    tag = uuid.uuid4().hex[:8]
    ids = [f"sub_{tag}_{index}" for index in range(count)]
    limit = asyncio.Semaphore(16)

    async def start(subscription_id: str) -> None:
        document = {
            "subscription_id": subscription_id,
            "account_id": account_id,
            "livemode": False,
            "customer": {"id": f"cus_{subscription_id}", "name": "Load", "email": "l@example.com"},
            "meters": [seed.METER],
            "pricing": seed.HYBRID_PRICING,
            "notifications": QUIET if notifications is None else notifications,
        }
        async with limit:
            await start_subscription(
                client, SubscriptionInput.model_validate(document), task_queue=task_queue
            )

    await asyncio.gather(*(start(subscription_id) for subscription_id in ids))
    deadline = time.monotonic() + seconds
    while (stored := await asyncio.to_thread(_stored, engine, ids)) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{stored} of {count} subscriptions stored")
        await asyncio.sleep(0.2)
    return ids


@dataclass
class Load:
    """Batches to post and what the ledger must hold afterwards."""

    batches: list[list[dict[str, Any]]]
    unique: int
    """Events sent at least once."""
    sums: dict[str, Decimal]
    """Per subscription, the sum of its unique events' quantities."""

    @property
    def events(self) -> int:
        return sum(len(batch) for batch in self.batches)


def usage_load(
    subscriptions: Sequence[str],
    total: int,
    per_request: int,
    *,
    tag: str,
    timestamp: datetime | None = None,
    duplicate_share: float = 0.1,
    rng_seed: int = 7,
) -> Load:
    """`total` events over the subscriptions (each naming its own), `duplicate_share` of them
    re-sends of earlier ones, shuffled into batches of `per_request`. `timestamp` (all events)
    defaults to the time of receipt."""
    rng = random.Random(rng_seed)
    duplicates = int(total * duplicate_share)
    unique: list[dict[str, Any]] = []
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for index in range(total - duplicates):
        subscription_id = subscriptions[index % len(subscriptions)]
        quantity = QUANTITIES[index % len(QUANTITIES)]
        event: dict[str, Any] = {
            "subscription_id": subscription_id,
            "event_id": f"{tag}{index}",
            "meter_id": METER,
            "quantity": quantity,
        }
        if timestamp is not None:
            event["timestamp"] = timestamp.isoformat()
        unique.append(event)
        sums[subscription_id] += Decimal(quantity)
    events = unique + rng.sample(unique, duplicates)
    rng.shuffle(events)
    batches = [events[i : i + per_request] for i in range(0, len(events), per_request)]
    return Load(batches=batches, unique=len(unique), sums=dict(sums))


@dataclass
class Posted:
    """What the answers said, and how long it took."""

    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    """Answers other than 200 (status and body)."""


async def post_load(
    url: str,
    key: str,
    batches: Sequence[list[dict[str, Any]]],
    *,
    clients: int,
    request_seconds: float,
) -> Posted:
    """Post every batch with `clients` keep-alive HTTP clients, each sending its next batch as
    soon as the last one is answered."""
    posted = Posted()
    queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    for batch in batches:
        queue.put_nowait(batch)

    async def client() -> None:
        async with httpx.AsyncClient(
            base_url=url,
            headers={"Authorization": f"Bearer {key}"},
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            timeout=request_seconds,
        ) as http:
            while not queue.empty():
                batch = queue.get_nowait()
                sent = time.perf_counter()
                answer = await http.post(USAGE_PATH, json={"events": batch})
                posted.latencies.append(time.perf_counter() - sent)
                if answer.status_code != 200:
                    posted.failures.append(f"{answer.status_code} {answer.text[:500]}")
                    continue
                body = answer.json()
                posted.accepted += body["accepted"]
                posted.duplicates += body["duplicates"]
                posted.rejected.extend(body["rejected"])

    begin = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    posted.seconds = time.perf_counter() - begin
    return posted
