"""The guide end to end over HTTP, against a running `billing api` process and a worker process
on the dev server: the four set-up calls, a customer, a subscription backdated a month, 350 GB
of usage, the invoice of 74.99 EUR (email and signed webhook delivered), a payment: paid.

Then the walls: for every route, another account's key (test mode) and a live key find none of
these objects (404, exactly like a missing one) and change nothing."""

from __future__ import annotations

import asyncio
import copy
import json
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, select

from billing import seed
from billing.webhook_signing import verify
from billing_db.engine import make_engine
from billing_db.tables import notifications
from devtools.demo import USAGE_GB, last_month_start

from api.server import ApiProcess, new_key
from db.scenario import row_counts
from e2e.conftest import StartWorker
from notifications.servers import HttpFixture, SmtpFixture

V1 = "/v1/billing"


@dataclass(frozen=True)
class Keys:
    owner: str
    other: str
    live: str


def _created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201, 202), response.text
    data: dict[str, Any] = response.json()
    return data


async def _eventually(
    http: httpx.AsyncClient, path: str, done: Any, *, what: str, seconds: float = 120
) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        response = await http.get(path)
        if response.status_code == 200 and done(response.json()):
            data: dict[str, Any] = response.json()
            return data
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"gave up waiting for {what}: {response.status_code} {response.text}"
            )
        await asyncio.sleep(0.3)


async def test_the_guide_over_http_is_invoiced_emailed_signed_and_paid_and_walled_off(
    api_process: ApiProcess,
    database_url: str,
    smtp_server: SmtpFixture,
    http_server: HttpFixture,
    worker_process: StartWorker,
    tmp_path: Path,
) -> None:
    run = uuid.uuid4().hex[:8]
    live_url = f"sqlite:///{tmp_path / 'billing-live.db'}"
    keys = Keys(
        owner=new_key(database_url, account_id=f"acct_{run}", mode="test"),
        other=new_key(database_url, account_id=f"acct_other{run}", mode="test"),
        live=new_key(live_url, account_id=f"acct_live{run}", mode="live"),
    )
    headers = {"Authorization": f"Bearer {keys.owner}"}
    async with httpx.AsyncClient(base_url=api_process.url, headers=headers, timeout=30) as http:
        # The guide's four calls, literally.
        meter = _created(await http.post(f"{V1}/meters", json=seed.METER))
        pricing_body = copy.deepcopy(seed.HYBRID_PRICING)
        pricing_body["components"][1]["meter_id"] = meter["id"]
        pricing = _created(await http.post(f"{V1}/pricing", json=pricing_body))
        config = _created(await http.patch(f"{V1}/config", json=seed.BILLING))
        assert (config["tax_rate"], config["invoice_day"]) == ("0.2", 1)
        _created(await http.put(f"{V1}/notifications", json=seed.NOTIFICATIONS))
        endpoint = _created(
            await http.post(f"{V1}/webhook_endpoints", json={"url": http_server.url})
        )
        assert endpoint["secret"].startswith("whsec_")
        customer = _created(
            await http.post(
                f"{V1}/customers",
                json={
                    "id": f"cus_{run}",
                    "name": "Test GmbH",
                    "email": "test-customer@example.com",
                },
            )
        )
        start_at = last_month_start(datetime.now(UTC))
        subscription = _created(
            await http.post(
                f"{V1}/subscriptions",
                json={
                    "id": f"sub_{run}",
                    "customer_id": customer["id"],
                    "pricing_id": pricing["id"],
                    "start_at": start_at.isoformat(),
                },
            )
        )
        events = [
            {
                "event_id": f"evt_{run}_{day}",
                "meter_id": meter["id"],
                "quantity": gigabytes,
                "timestamp": (start_at + timedelta(days=day * 7 + 2)).isoformat(),
            }
            for day, gigabytes in enumerate(USAGE_GB)
        ]
        assert sum(USAGE_GB) == 350
        usage = _created(
            await http.post(
                f"{V1}/usage/events", json={"subscription_id": subscription["id"], "events": events}
            )
        )
        assert (usage["accepted"], usage["rejected"]) == (4, [])

        worker = worker_process()
        listed = await _eventually(
            http,
            f"{V1}/invoices?subscription_id={subscription['id']}&status=open",
            lambda page: bool(page["data"]),
            what="the first invoice",
        )
        invoice = listed["data"][0]
        assert (invoice["currency"], invoice["subtotal"], invoice["tax"], invoice["total"]) == (
            "EUR",
            "62.49",
            "12.50",
            "74.99",
        )
        assert [line["amount"] for line in invoice["lines"]] == ["49.99", "12.50"]
        assert invoice["lines"][1]["quantity"].rstrip("0").rstrip(".") == "350"
        number = invoice["number"]

        await _wait(lambda: _subjects(smtp_server, number), what="the invoice email")
        hooks = await _wait(
            lambda: [
                r
                for r in http_server.receiver.requests
                if json.loads(r.body)["type"] == "invoice.generated"
            ],
            what="the invoice webhook",
        )
        verify(endpoint["secret"], headers=hooks[0].headers, body=hooks[0].body)
        assert json.loads(hooks[0].body)["data"]["invoice"]["total"] == "74.99"

        paid = _created(
            await http.post(
                f"{V1}/invoices/{number}/payments",
                json={"payment_id": f"pay_{run}", "amount": 74.99},
                headers={"Idempotency-Key": f"pay-{run}"},
            )
        )
        assert (paid["status"], Decimal(paid["amount_due"])) == ("paid", Decimal(0))
        again = await http.post(
            f"{V1}/invoices/{number}/payments",
            json={"payment_id": f"pay_{run}", "amount": 74.99},
            headers={"Idempotency-Key": f"pay-{run}"},
        )
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == paid
        stored = await _eventually(
            http, f"{V1}/invoices/{number}", lambda i: i["status"] == "paid", what="paid"
        )
        assert stored["payments"][0]["amount"] == "74.99"

        status = await _eventually(
            http, f"{V1}/subscriptions/{subscription['id']}", lambda s: True, what="the status"
        )
        assert status["livemode"] is False

        ids = {
            "meter": meter["id"],
            "pricing": pricing["id"],
            "customer": customer["id"],
            "subscription": subscription["id"],
            "invoice": number,
            "endpoint": endpoint["id"],
        }
        engine = make_engine(database_url)
        try:
            # The receipt goes out after the payment's answer: let it land before counting rows.
            await _wait(lambda: _delivered(engine, "payment_received"), what="the receipt")
            for key in (keys.other, keys.live):
                await _walled_off(api_process.url, key, ids, engine)
        finally:
            engine.dispose()
    assert worker.terminate() == 0


#: Every route that names an object: (method, path, body). Another account's or mode's key
#: must get 404 from each, and the database must not change.
TENANT_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/meters/{meter}", None),
    ("GET", "/pricing/{pricing}", None),
    ("GET", "/customers/{customer}", None),
    ("DELETE", "/webhook_endpoints/{endpoint}", None),
    ("GET", "/subscriptions/{subscription}", None),
    ("GET", "/subscriptions/{subscription}/upcoming_invoice", None),
    ("POST", "/subscriptions/{subscription}/cancel", {"at_period_end": False}),
    ("POST", "/subscriptions/{subscription}/change_plan", {"pricing_id": "{pricing}"}),
    (
        "POST",
        "/usage/events",
        {
            "subscription_id": "{subscription}",
            "events": [{"event_id": "evt_x", "meter_id": "{meter}", "quantity": 1}],
        },
    ),
    ("GET", "/invoices/{invoice}", None),
    ("POST", "/invoices/{invoice}/payments", {"amount": "1.00"}),
    ("POST", "/invoices/{invoice}/void", {"reason": "not mine"}),
    ("POST", "/invoices/{invoice}/approve", None),
]


MISSING: dict[str, Any] = {
    "meter": "mtr_missing",
    "pricing": 987654,
    "customer": "cus_missing",
    "subscription": "sub_missing",
    "invoice": "MISSING-TEST-000001",
    "endpoint": "we_missing",
}


def _anonymous(problem: dict[str, Any], ids: dict[str, Any]) -> dict[str, Any]:
    detail = str(problem["detail"])
    for name, value in ids.items():
        for text in (repr(value), str(value)):
            detail = re.sub(rf"(?<![\w-]){re.escape(text)}(?![\w-])", f"<{name}>", detail)
    return {**problem, "detail": detail}


def _fill(value: Any, ids: dict[str, Any]) -> Any:
    if isinstance(value, str):
        for name, known in ids.items():
            if value == "{" + name + "}":
                return known
        return value.format(**ids)
    if isinstance(value, dict):
        return {key: _fill(item, ids) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, ids) for item in value]
    return value


async def _walled_off(url: str, key: str, ids: dict[str, Any], engine: Engine) -> None:
    before = row_counts(engine)
    async with httpx.AsyncClient(
        base_url=url + V1, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as http:
        for method, path, body in TENANT_ROUTES:
            response = await http.request(method, _fill(path, ids), json=_fill(body, ids))
            assert response.status_code == 404, (method, path, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            # Exactly like a missing one: the same code and the same words.
            missing = await http.request(method, _fill(path, MISSING), json=_fill(body, MISSING))
            assert missing.status_code == 404, (method, path, missing.text)
            assert _anonymous(response.json(), ids) == _anonymous(missing.json(), MISSING)
        for path in ("/meters", "/pricing", "/customers", "/subscriptions", "/invoices"):
            assert (await http.get(path)).json()["data"] == [], path
        assert (await http.get("/webhook_endpoints")).json()["data"] == []
    assert row_counts(engine) == before


def _delivered(engine: Engine, event: str) -> bool:
    with engine.connect() as connection:
        statuses = connection.execute(
            select(notifications.c.status).where(notifications.c.event == event)
        ).scalars()
        return "delivered" in set(statuses)


def _subjects(smtp: SmtpFixture, number: str) -> list[str]:
    return [str(m["Subject"]) for m in smtp.handler.messages if number in str(m["Subject"])]


async def _wait(probe: Any, *, what: str, seconds: float = 120) -> Any:
    deadline = time.monotonic() + seconds
    while not (found := probe()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        await asyncio.sleep(0.2)
    return found
