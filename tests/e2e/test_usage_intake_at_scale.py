"""Issue 13's acceptance at scale, on real servers: 100,000 usage events over HTTP (batches of
1,000, 10 % re-sent, 12 keep-alive clients at once) across 50 subscriptions, through a `billing
api` process and a `python worker.py` process on one SQLite file and the dev server.

Exactly the unique events are stored; the `usage_recorded` nudges bring every workflow's running
usage to what the ledger holds; a cancel "now" closes each period at once and its final invoice
bills exactly that subscription's unique events, leaving no usage row unbilled.

Slow by nature (a minute or two on a loaded 2-core machine): every wait is a poll with a deadline
of minutes, and no time is asserted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import TypeVar

import httpx
import pytest
from sqlalchemy import Engine, func, select
from temporalio.testing import WorkflowEnvironment

from billing.contracts.subscription import SubscriptionStatusView
from billing_db.engine import make_engine
from billing_db.tables import invoice_lines, invoices, usage_events
from devtools.usage_load import METER, post_load, stored_subscriptions, usage_load

from api.server import ApiProcess, new_key
from e2e.conftest import StartWorker
from workflow_runs.polling import status_when

pytestmark = pytest.mark.timeout(900)

SUBSCRIPTIONS = 50
EVENTS = 100_000
PER_REQUEST = 1_000
CLIENTS = 12
#: Deadline of each wait: generous, for a 2-core machine shared with other work.
MINUTES = 60 * 5
T = TypeVar("T")


async def _until(probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], what: str) -> T:
    deadline = time.monotonic() + MINUTES
    while not done(value := await probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}; last: {value}")
        await asyncio.sleep(0.5)
    return value


def _ledger(engine: Engine, subscription_ids: list[str]) -> dict[str, tuple[int, Decimal, int]]:
    """Per subscription: usage rows, their quantities' sum, rows not billed yet."""
    columns = usage_events.c
    query = (
        select(
            columns.subscription_id,
            func.count(),
            func.sum(columns.quantity),
            func.count() - func.count(columns.invoice_id),
        )
        .where(columns.subscription_id.in_(subscription_ids))
        .group_by(columns.subscription_id)
    )
    with engine.connect() as connection:
        return {row[0]: (row[1], Decimal(row[2]), row[3]) for row in connection.execute(query)}


def _invoiced(engine: Engine, subscription_ids: list[str]) -> dict[str, list[Decimal]]:
    """Per subscription, the quantities of its invoices' usage lines of the meter."""
    query = (
        select(invoices.c.subscription_id, invoice_lines.c.quantity)
        .join(invoice_lines, invoice_lines.c.invoice_id == invoices.c.id)
        .where(invoices.c.subscription_id.in_(subscription_ids), invoice_lines.c.meter_id == METER)
        .order_by(invoices.c.id, invoice_lines.c.position)
    )
    found: dict[str, list[Decimal]] = {}
    with engine.connect() as connection:
        for subscription_id, quantity in connection.execute(query):
            found.setdefault(subscription_id, []).append(Decimal(quantity))
    return found


def _running(expected: Decimal) -> Callable[[SubscriptionStatusView], bool]:
    def done(status: SubscriptionStatusView) -> bool:
        meter = status.usage.get(METER)
        return meter is not None and meter.quantity == expected

    return done


async def test_100k_events_over_http_are_stored_counted_and_invoiced_exactly_once(
    api_process: ApiProcess,
    worker_process: StartWorker,
    database_url: str,
    dev_env: WorkflowEnvironment,
    task_queue: str,
) -> None:
    account_id = f"acct_{task_queue[-8:]}"
    key = new_key(database_url, account_id=account_id, mode="test")
    engine = make_engine(database_url)
    client = dev_env.client
    try:
        worker_process()
        ids = await stored_subscriptions(
            client, engine, SUBSCRIPTIONS, account_id=account_id, task_queue=task_queue
        )
        # Inside the open period of every subscription: after its start, before its end.
        load = usage_load(ids, EVENTS, PER_REQUEST, tag="evt_", timestamp=datetime.now(UTC))
        posted = await post_load(
            api_process.url, key, load.batches, clients=CLIENTS, request_seconds=300
        )
        assert (posted.failures, posted.rejected) == ([], [])
        assert (posted.accepted, posted.duplicates) == (load.unique, EVENTS - load.unique)

        ledger = await asyncio.to_thread(_ledger, engine, ids)
        assert sum(rows for rows, _, _ in ledger.values()) == load.unique
        assert {sub: total for sub, (_, total, _) in ledger.items()} == load.sums

        # The nudges bring each workflow's running usage to the ledger's sum.
        for subscription_id in ids:
            await status_when(
                client, subscription_id, _running(load.sums[subscription_id]), seconds=MINUTES
            )

        async with httpx.AsyncClient(
            base_url=api_process.url, headers={"Authorization": f"Bearer {key}"}, timeout=60
        ) as http:
            for subscription_id in ids:
                answer = await http.post(
                    f"/v1/billing/subscriptions/{subscription_id}/cancel",
                    json={"at_period_end": False, "reason": "acceptance test"},
                )
                assert answer.status_code == 202, answer.text

        invoiced = await _until(
            lambda: asyncio.to_thread(_invoiced, engine, ids),
            lambda found: len(found) == SUBSCRIPTIONS,
            "every final invoice",
        )
        ledger = await asyncio.to_thread(_ledger, engine, ids)
    finally:
        engine.dispose()

    assert invoiced == {sub: [total] for sub, total in load.sums.items()}
    assert {sub: unbilled for sub, (_, _, unbilled) in ledger.items()} == dict.fromkeys(ids, 0)
