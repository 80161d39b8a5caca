"""`POST /v1/billing/usage/events` is durable intake: each event checked alone, every valid one
committed to the usage ledger before the 200 answer, a repeat counted once, a bad event rejected
with its code while the rest of its batch counts. On SQLite and PostgreSQL, through a real
`billing api` process.

The subscriptions are stored the way their workflow's first activity stores them (no worker
runs here): only a stored subscription's events go to the ledger directly."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from billing import seed
from billing.periods import Period
from billing_db import repo_catalog
from billing_db.engine import make_engine
from billing_db.tables import usage_events

from api.conftest import Api
from api.server import new_key

V1 = "/v1/billing"
NOW = datetime.now(UTC)
METER = seed.METER["name"]


@dataclass(frozen=True)
class Ledger:
    api: Api
    key: str
    run: str
    active: str
    other: str
    ended: str

    def post(self, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(
            f"{self.api.url}{V1}/usage/events", json=body, headers=self.api.headers(self.key)
        )

    def rows(self) -> int:
        engine = make_engine(self.api.test_database_url)
        try:
            with engine.connect() as connection:
                query = select(func.count()).select_from(usage_events)
                return int(connection.execute(query).scalar_one())
        finally:
            engine.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def ledger(request: pytest.FixtureRequest) -> Ledger:
    """An account with the guide's meter and pricing and three stored subscriptions (started
    200 days ago): two active, one canceled."""
    fixture = "api_on_temporal" if request.param == "sqlite" else "api_on_postgresql"
    api: Api = request.getfixturevalue(fixture)
    run = uuid.uuid4().hex[:8]
    account = f"acct_in{run}"
    key = new_key(api.test_database_url, account_id=account, mode="test")
    with httpx.Client(base_url=api.url + V1, headers=api.headers(key)) as http:
        assert http.post("/meters", json=seed.METER).status_code == 201
        pricing = http.post("/pricing", json=seed.HYBRID_PRICING).json()
        customer = {"id": f"cus_in{run}", "name": "Intake Ltd", "email": "in@example.com"}
        assert http.post("/customers", json=customer).status_code == 201
    engine = make_engine(api.test_database_url)
    started = NOW - timedelta(days=200)
    ids = [f"sub_in{run}_{name}" for name in ("active", "other", "ended")]
    for subscription_id in ids:
        repo_catalog.create_subscription(
            engine,
            subscription_id=subscription_id,
            account_id=account,
            customer_id=customer["id"],
            pricing_version_id=pricing["id"],
            started_at=started,
            current_period=Period(start=NOW - timedelta(days=10), end=NOW + timedelta(days=20)),
        )
    repo_catalog.set_subscription_status(engine, subscription_id=ids[2], status="canceled", at=NOW)
    engine.dispose()
    return Ledger(api=api, key=key, run=run, active=ids[0], other=ids[1], ended=ids[2])


def _event(event_id: str, **changes: Any) -> dict[str, Any]:
    return {"event_id": event_id, "meter_id": METER, "quantity": "1.5", **changes}


def test_valid_events_are_committed_and_a_repeat_counts_once(ledger: Ledger) -> None:
    before = ledger.rows()
    events = [_event(f"ok{ledger.run}_{i}") for i in range(3)]
    first = ledger.post({"subscription_id": ledger.active, "events": events})
    assert first.status_code == 200, first.text
    assert first.json() == {"accepted": 3, "duplicates": 0, "rejected": []}
    assert ledger.rows() == before + 3

    again = [*events, _event(f"ok{ledger.run}_3"), _event(f"ok{ledger.run}_3")]
    second = ledger.post({"subscription_id": ledger.active, "events": again})
    assert second.json() == {"accepted": 1, "duplicates": 4, "rejected": []}
    assert ledger.rows() == before + 4


def test_one_batch_may_name_several_subscriptions(ledger: Ledger) -> None:
    before = ledger.rows()
    same_id = f"multi{ledger.run}"
    events = [
        _event(same_id, subscription_id=ledger.active),
        _event(same_id, subscription_id=ledger.other),  # the key is per subscription
        _event(f"{same_id}_b"),  # the batch's subscription
    ]
    answer = ledger.post({"subscription_id": ledger.other, "events": events})
    assert answer.json() == {"accepted": 3, "duplicates": 0, "rejected": []}
    assert ledger.rows() == before + 3


REJECTIONS: list[tuple[str, dict[str, Any], str]] = [
    ("negative quantity", {"quantity": -5}, "negative_quantity"),
    ("quantity not a number", {"quantity": "lots"}, "invalid_usage"),
    ("7 decimal places", {"quantity": "0.0000001"}, "invalid_usage_event"),
    ("unpriced meter", {"meter_id": "cpu_seconds"}, "unpriced_usage_meter"),
    ("unknown field", {"colour": "red"}, "invalid_usage"),
    ("in the future", {"timestamp": (NOW + timedelta(minutes=30)).isoformat()},
     "future_timestamp"),
    ("older than the late window", {"timestamp": (NOW - timedelta(days=100)).isoformat()},
     "expired_timestamp"),
    ("before the subscription started", {"timestamp": (NOW - timedelta(days=300)).isoformat()},
     "timestamp_before_start"),
    ("unknown subscription", {"subscription_id": "sub_nope"}, "unknown_subscription"),
    ("ended subscription", {"subscription_id": "{ended}"}, "subscription_ended"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "changes", "code"), REJECTIONS, ids=[r[0] for r in REJECTIONS])
def test_a_bad_event_is_rejected_alone_with_its_code(
    ledger: Ledger, name: str, changes: dict[str, Any], code: str
) -> None:
    del name
    if changes.get("subscription_id") == "{ended}":
        changes = {**changes, "subscription_id": ledger.ended}
    before = ledger.rows()
    bad_id = f"bad{uuid.uuid4().hex[:8]}"
    good_id = f"good{uuid.uuid4().hex[:8]}"
    answer = ledger.post(
        {
            "subscription_id": ledger.active,
            "events": [_event(good_id), _event(bad_id, **changes)],
        }
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["accepted"], body["duplicates"]) == (1, 0)
    [rejected] = body["rejected"]
    assert (rejected["index"], rejected["event_id"], rejected["code"]) == (1, bad_id, code)
    assert rejected["reason"]
    assert ledger.rows() == before + 1


def test_an_event_without_a_subscription_is_rejected(ledger: Ledger) -> None:
    before = ledger.rows()
    answer = ledger.post({"events": [_event("orphan")]})
    assert answer.status_code == 200, answer.text
    assert [r["code"] for r in answer.json()["rejected"]] == ["missing_subscription"]
    assert ledger.rows() == before


def test_another_accounts_subscription_is_unknown(ledger: Ledger) -> None:
    """Per event: rejected as unknown. For the whole batch: 404, as every route answers."""
    other = {"Authorization": f"Bearer {ledger.api.other_key}"}
    url = f"{ledger.api.url}{V1}/usage/events"
    before = ledger.rows()
    per_event = httpx.post(
        url, json={"events": [_event("x", subscription_id=ledger.active)]}, headers=other
    )
    assert [r["code"] for r in per_event.json()["rejected"]] == ["unknown_subscription"]
    whole = httpx.post(
        url, json={"subscription_id": ledger.active, "events": [_event("x")]}, headers=other
    )
    assert (whole.status_code, whole.json()["code"]) == (404, "unknown_subscription")
    assert ledger.rows() == before
