"""Bad input, kind by kind: each answers its problem `code` (application/problem+json, a status
below 500, a message naming what to change) and the database does not change at all."""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from billing import seed
from billing_db import repo_api_keys
from billing_db.engine import make_engine

from api.conftest import Api
from api.server import new_key
from db.scenario import row_counts

V1 = "/v1/billing"
NOW = datetime.now(UTC)


@dataclass(frozen=True)
class Bad:
    """One kind of bad request and the answer it must get."""

    name: str
    method: str
    path: str
    status: int
    code: str
    body: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    key: str | None = "owner"


def _pricing(**changes: Any) -> dict[str, Any]:
    document = copy.deepcopy(seed.HYBRID_PRICING)
    document.update(changes)
    return document


def _tiers(tiers: list[dict[str, Any]]) -> dict[str, Any]:
    document = _pricing()
    document["components"][1]["tiers"] = tiers
    return document


def _recurring(amount: Any) -> dict[str, Any]:
    document = _pricing()
    document["components"][0]["amount"] = amount
    return document


def _events(*events: dict[str, Any], subscription: str = "{subscription}") -> dict[str, Any]:
    return {"subscription_id": subscription, "events": list(events)}


def _event(**changes: Any) -> dict[str, Any]:
    return {"event_id": "evt_bad", "meter_id": "bandwidth_egress", "quantity": 1, **changes}


def _deep(depth: int) -> bytes:
    return b'{"name": ' + b"[" * depth + b"]" * depth + b"}"


CUSTOMER = {"id": "cus_bad", "name": "Bad Input Ltd", "email": "bad@example.com"}

CASES: list[Bad] = [
    # keys
    Bad("no key", "GET", "/meters", 401, "unauthenticated", key=None),
    Bad("unknown key", "GET", "/meters", 401, "unauthenticated", key="pk_test_unknown"),
    Bad("not a pk_ key", "GET", "/meters", 401, "unauthenticated", key="sk_test_abc"),
    Bad("revoked key", "GET", "/meters", 401, "unauthenticated", key="revoked"),
    Bad("basic auth", "GET", "/meters", 401, "unauthenticated", key=None,
        headers={"Authorization": "Basic dXNlcjpwYXNz"}),
    # the wire
    Bad("not JSON", "POST", "/meters", 422, "invalid_json", content=b"{name: x"),
    Bad("JSON array body", "POST", "/meters", 422, "model_attributes_type", body=[1, 2]),
    Bad("text/plain body", "POST", "/meters", 422, "model_attributes_type",
        content=b"name=x", headers={"Content-Type": "text/plain"}),
    Bad("NUL byte in a string", "POST", "/meters", 422, "nul_character",
        body={**seed.METER, "name": "band\u0000width"}),
    Bad("NUL in the path", "GET", "/customers/cus%00x", 422, "nul_character"),
    Bad("deeply nested JSON", "POST", "/meters", 422, "invalid_json", content=_deep(100_000)),
    Bad("body over 1 MB", "POST", "/meters", 413, "body_too_large",
        content=b'{"name": "' + b"x" * 1_100_000 + b'"}'),
    Bad("integer of 5,000 digits", "POST", "/pricing", 422, "invalid_json",
        content=json.dumps(_recurring("AMOUNT")).replace('"AMOUNT"', "9" * 5000).encode()),
    Bad("unknown route", "GET", "/nothing", 404, "route_not_found"),
    Bad("method not allowed", "DELETE", "/meters", 405, "method_not_allowed"),
    # meters
    Bad("meter without name", "POST", "/meters", 422, "missing_field",
        body={"unit": "GB", "aggregation": "sum"}),
    Bad("meter unknown field", "POST", "/meters", 422, "unknown_field",
        body={**seed.METER, "colour": "blue"}),
    Bad("meter unknown aggregation", "POST", "/meters", 422, "literal_error",
        body={**seed.METER, "aggregation": "avg"}),
    Bad("meter name of wrong type", "POST", "/meters", 422, "string_type",
        body={**seed.METER, "name": 42}),
    Bad("meter id not an id", "POST", "/meters", 422, "invalid_configuration",
        body={**seed.METER, "id": "has spaces!"}),
    Bad("meter redefined", "POST", "/meters", 409, "meter_conflict",
        body={**seed.METER, "unit": "TB"}),
    Bad("unknown meter id", "GET", "/meters/nope", 404, "meter_not_found"),
    # pricing
    Bad("unknown currency", "POST", "/pricing", 422, "unknown_currency",
        body=_pricing(currency="EURO")),
    Bad("recurring amount not a number", "POST", "/pricing", 422, "invalid_amount",
        body=_recurring("forty")),
    Bad("recurring amount NaN", "POST", "/pricing", 422, "invalid_amount",
        body=_recurring("NaN")),
    Bad("recurring amount infinite", "POST", "/pricing", 422, "invalid_amount",
        body=_recurring("Infinity")),
    Bad("recurring amount negative", "POST", "/pricing", 422, "invalid_amount",
        body=_recurring(-1)),
    Bad("recurring amount of a million digits", "POST", "/pricing", 422, "invalid_amount",
        body=_recurring("1e999999")),
    Bad("unit price of a million decimal places", "POST", "/pricing", 422, "invalid_amount",
        body=_tiers([{"up_to": None, "unit_price": "1e-999999"}])),
    Bad("tiers not ascending", "POST", "/pricing", 422, "invalid_field",
        body=_tiers([{"up_to": 100, "unit_price": 0}, {"up_to": 50, "unit_price": 1},
                     {"up_to": None, "unit_price": 1}])),
    Bad("component of unknown type", "POST", "/pricing", 422, "component_type",
        body=_pricing(components=[{"type": "one_off", "amount": 5}])),
    Bad("pricing of an undefined meter", "POST", "/pricing", 422, "unknown_meter",
        body=_tiers([{"up_to": None, "unit_price": 1}]) | {"product_id": "prod_x"}
        | {"components": [{"type": "usage", "meter_id": "cpu_seconds",
                           "tiers": [{"up_to": None, "unit_price": 1}]}]}),
    Bad("pricing id not a number", "GET", "/pricing/abc", 422, "int_parsing"),
    Bad("unknown pricing id", "GET", "/pricing/999999", 404, "unknown_pricing_version"),
    Bad("pricing id beyond 64 bits", "GET", "/pricing/" + "9" * 30, 404,
        "unknown_pricing_version"),
    # config
    Bad("invoice day 0", "PATCH", "/config", 422, "invalid_configuration",
        body={"invoice_day": 0}),
    Bad("invoice day 32", "PATCH", "/config", 422, "invalid_configuration",
        body={"invoice_day": 32}),
    Bad("invoice day as words", "PATCH", "/config", 422, "int_parsing",
        body={"invoice_day": "first"}),
    Bad("tax rate over 100 %", "PATCH", "/config", 422, "invalid_configuration",
        body={"tax_rate": 1.5}),
    Bad("negative payment terms", "PATCH", "/config", 422, "invalid_configuration",
        body={"payment_terms_days": -1}),
    Bad("unknown time zone", "PATCH", "/config", 422, "invalid_configuration",
        body={"timezone": "Mars/Olympus_Mons"}),
    Bad("unknown config field", "PATCH", "/config", 422, "unknown_field",
        body={"invoice_dya": 2}),
    Bad("config currency unknown", "PATCH", "/config", 422, "invalid_configuration",
        body={"currency": "ZZZ"}),
    # notifications
    Bad("threshold of 0 %", "PUT", "/notifications", 422, "invalid_configuration",
        body={"usage_threshold": {"email": True, "thresholds": [0]}}),
    Bad("event not an object", "PUT", "/notifications", 422, "invalid_configuration",
        body={"invoice_generated": 5}),
    Bad("unknown event", "PUT", "/notifications", 422, "invalid_configuration",
        body={"invoice_exploded": {"email": True}}),
    Bad("channel flag not a boolean", "PUT", "/notifications", 422, "invalid_configuration",
        body={"invoice_generated": {"email": "maybe"}}),
    Bad("notifications not an object", "PUT", "/notifications", 422, "dict_type",
        body=["email"]),
    # webhook endpoints
    Bad("webhook url not http", "POST", "/webhook_endpoints", 422, "invalid_record",
        body={"url": "ftp://example.com/hook"}),
    Bad("webhook secret not whsec_", "POST", "/webhook_endpoints", 422, "invalid_record",
        body={"url": "https://example.com/hook", "secret": "hunter2"}),
    Bad("webhook url missing", "POST", "/webhook_endpoints", 422, "missing_field", body={}),
    Bad("unknown webhook endpoint", "DELETE", "/webhook_endpoints/we_nope", 404,
        "unknown_webhook_endpoint"),
    # customers
    Bad("customer email invalid", "POST", "/customers", 422, "invalid_record",
        body={**CUSTOMER, "id": "cus_new", "email": "not-an-email"}),
    Bad("customer time zone unknown", "POST", "/customers", 422, "invalid_configuration",
        body={**CUSTOMER, "id": "cus_new", "timezone": "Nowhere/Town"}),
    Bad("customer id not an id", "POST", "/customers", 422, "value_error",
        body={**CUSTOMER, "id": "cus new"}),
    Bad("customer name blank", "POST", "/customers", 422, "invalid_record",
        body={**CUSTOMER, "id": "cus_new", "name": "   "}),
    Bad("customer name too long", "POST", "/customers", 422, "string_too_long",
        body={**CUSTOMER, "id": "cus_new", "name": "x" * 201}),
    Bad("customer id reused", "POST", "/customers", 409, "customer_conflict",
        body={**CUSTOMER, "name": "Someone Else"}),
    Bad("unknown customer", "GET", "/customers/cus_nope", 404, "unknown_customer"),
    # subscriptions
    Bad("subscription of unknown customer", "POST", "/subscriptions", 404, "unknown_customer",
        body={"customer_id": "cus_nope", "pricing_id": "{pricing}"}),
    Bad("subscription of unknown pricing", "POST", "/subscriptions", 404,
        "unknown_pricing_version", body={"customer_id": "cus_bad", "pricing_id": 999999}),
    Bad("pricing id 0", "POST", "/subscriptions", 422, "greater_than_equal",
        body={"customer_id": "cus_bad", "pricing_id": 0}),
    Bad("pricing id 2**63", "POST", "/subscriptions", 422, "less_than_equal",
        body={"customer_id": "cus_bad", "pricing_id": 2**63}),
    Bad("start_at not a time", "POST", "/subscriptions", 422, "datetime_from_date_parsing",
        body={"customer_id": "cus_bad", "pricing_id": "{pricing}", "start_at": "yesterday"}),
    Bad("unknown subscription", "GET", "/subscriptions/sub_nope", 404, "unknown_subscription"),
    Bad("cancel of unknown subscription", "POST", "/subscriptions/sub_nope/cancel", 404,
        "unknown_subscription", body={}),
    Bad("change_plan without pricing", "POST", "/subscriptions/sub_nope/change_plan", 422,
        "missing_field", body={}),
    # usage
    Bad("no events", "POST", "/usage/events", 422, "too_short", body=_events()),
    Bad("1,001 events", "POST", "/usage/events", 422, "too_long",
        body=_events(*[_event(event_id=f"e{i}") for i in range(1001)])),
    Bad("events not objects", "POST", "/usage/events", 422, "dict_type",
        body={"subscription_id": "{subscription}", "events": [1]}),
    # (a bad event in a valid batch is rejected alone: tests/api/test_usage_intake.py)
    Bad("usage of unknown subscription", "POST", "/usage/events", 404, "unknown_subscription",
        body=_events(_event(), subscription="sub_nope")),
    # invoices
    Bad("invoice status unknown", "GET", "/invoices?status=bogus", 422, "literal_error"),
    Bad("limit 0", "GET", "/invoices?limit=0", 422, "greater_than_equal"),
    Bad("limit 1000", "GET", "/invoices?limit=1000", 422, "less_than_equal"),
    Bad("cursor of unknown invoice", "GET", "/invoices?starting_after=INV-0", 404,
        "unknown_invoice"),
    Bad("unknown invoice", "GET", "/invoices/NOPE-1", 404, "unknown_invoice"),
    Bad("payment on unknown invoice", "POST", "/invoices/NOPE-1/payments", 404,
        "unknown_invoice", body={"amount": 5}),
    Bad("payment of 0", "POST", "/invoices/NOPE-1/payments", 422, "invalid_amount",
        body={"amount": 0}),
    Bad("void without reason", "POST", "/invoices/NOPE-1/void", 422, "missing_field", body={}),
    # idempotency
    Bad("idempotency key of 300 characters", "POST", "/meters", 422,
        "invalid_idempotency_key", body=seed.METER, headers={"Idempotency-Key": "k" * 300}),
]  # fmt: skip


@dataclass(frozen=True)
class World:
    api: Api
    keys: dict[str, str]
    ids: dict[str, Any]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest) -> World:
    """Account A with the guide's meter and pricing, a customer and a started subscription, on
    SQLite and on PostgreSQL (which, unlike SQLite, cannot store a NUL character)."""
    fixture = "api_on_temporal" if request.param == "sqlite" else "api_on_postgresql"
    api: Api = request.getfixturevalue(fixture)
    run = uuid.uuid4().hex[:8]
    owner = new_key(api.test_database_url, account_id=f"acct_bad{run}", mode="test")
    revoked = new_key(api.test_database_url, account_id=f"acct_bad{run}", mode="test")
    engine = make_engine(api.test_database_url)
    repo_api_keys.revoke_api_key(engine, prefix=repo_api_keys.key_prefix(revoked))
    engine.dispose()
    with httpx.Client(base_url=api.url + V1, headers=api.headers(owner)) as http:
        assert http.post("/meters", json=seed.METER).status_code == 201
        pricing = http.post("/pricing", json=seed.HYBRID_PRICING).json()
        assert http.post("/customers", json=CUSTOMER).status_code == 201
        subscription = http.post(
            "/subscriptions",
            json={
                "id": f"sub_bad{run}",
                "customer_id": "cus_bad",
                "pricing_id": pricing["id"],
                "start_at": (NOW - timedelta(days=3)).isoformat(),
            },
        )
        assert subscription.status_code == 201, subscription.text
    return World(
        api=api,
        keys={"owner": owner, "revoked": revoked},
        ids={"pricing": pricing["id"], "subscription": f"sub_bad{run}"},
    )


def _fill(value: Any, ids: dict[str, Any]) -> Any:
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return ids.get(value[1:-1], value)
    if isinstance(value, dict):
        return {key: _fill(item, ids) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, ids) for item in value]
    return value


def test_there_are_at_least_fifty_kinds() -> None:
    assert len({case.name for case in CASES}) == len(CASES) >= 50


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_answers_its_problem_and_changes_nothing(world: World, case: Bad) -> None:
    engine = make_engine(world.api.test_database_url)
    before = row_counts(engine)
    headers = dict(case.headers)
    if case.key is not None:
        headers.setdefault("Authorization", f"Bearer {world.keys.get(case.key, case.key)}")
    request: dict[str, Any] = {"headers": headers}
    if case.content is not None:
        request["content"] = case.content
        headers.setdefault("Content-Type", "application/json")
    elif case.body is not None:
        request["json"] = _fill(case.body, world.ids)
    response = httpx.request(case.method, world.api.url + V1 + case.path, timeout=30, **request)
    problem = response.json()
    assert (response.status_code, problem.get("code")) == (case.status, case.code), problem
    assert response.headers["content-type"] == "application/problem+json"
    assert problem["status"] == case.status
    assert problem["detail"]
    assert problem["title"]
    assert row_counts(engine) == before
    engine.dispose()
