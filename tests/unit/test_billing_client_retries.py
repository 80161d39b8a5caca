"""The Python client's retry and error policy without a server: an httpx transport that answers
from a script. What a retry sends (the same `Idempotency-Key`), what is retried (lost answers,
409 in flight, 429, 5xx) and what is not (any other problem, raised typed with its `code`);
pages walked with `starting_after`; usage sent in batches of 1,000. The real API and a real lost
answer are in tests/e2e/test_python_client.py."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from billing_client import (
    AsyncBilling,
    Billing,
    BillingConnectionError,
    ConflictError,
    InvalidRequestError,
)

Answer = tuple[int, dict[str, Any]] | None  # None: the connection drops

METER = {
    "id": "bandwidth_egress",
    "name": "bandwidth_egress",
    "unit": "GB",
    "aggregation": "sum",
    "reset_cycle": "monthly",
    "livemode": False,
    "created_at": "2026-01-01T00:00:00Z",
}


def _problem(status: int, code: str, field: str | None = None) -> tuple[int, dict[str, Any]]:
    return status, {
        "type": "t",
        "title": "t",
        "status": status,
        "code": code,
        "detail": code,
        "field": field,
    }


class Script:
    """Answers each request with the next answer; remembers every request."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if answer is None:
            raise httpx.ReadError("connection reset", request=request)
        status, body = answer
        return httpx.Response(status, json=body, headers={"Retry-After": "0"})

    def keys(self) -> list[str | None]:
        return [request.headers.get("Idempotency-Key") for request in self.requests]


def _client(script: Script) -> Billing:
    http = httpx.Client(base_url="http://api.test", transport=httpx.MockTransport(script))
    return Billing(api_key="pk_test_x", max_retries=4, http_client=http)


def test_a_post_is_retried_with_one_key_until_it_is_answered() -> None:
    script = Script(
        None,
        _problem(409, "idempotency_key_in_progress"),
        _problem(429, "rate_limited"),
        _problem(503, "unavailable"),
        (201, METER),
    )
    meter = _client(script).billing.meters.create(
        name="bandwidth_egress", unit="GB", aggregation="sum"
    )
    assert meter.id == "bandwidth_egress"
    keys = script.keys()
    assert len(keys) == 5
    assert len(set(keys)) == 1
    assert keys[0]
    assert script.requests[0].url.path == "/v1/billing/meters"
    assert json.loads(script.requests[0].content) == {
        "name": "bandwidth_egress",
        "unit": "GB",
        "aggregation": "sum",
    }


def test_an_explicit_key_is_sent_as_given() -> None:
    script = Script((201, METER))
    _client(script).billing.meters.create(
        name="m", unit="GB", aggregation="sum", idempotency_key="k-1"
    )
    assert script.keys() == ["k-1"]
    assert "idempotency_key" not in json.loads(script.requests[0].content)


def test_other_problems_are_raised_at_once_typed_with_their_code() -> None:
    script = Script(_problem(409, "meter_conflict"), _problem(422, "unknown_field", "nme"))
    client = _client(script)
    with pytest.raises(ConflictError) as conflict:
        client.billing.meters.create(name="m", unit="GB", aggregation="sum")
    assert (conflict.value.status, conflict.value.code) == (409, "meter_conflict")
    with pytest.raises(InvalidRequestError) as invalid:
        client.billing.customers.create(id="c", nme="n", email="e@example.com")
    assert (invalid.value.code, invalid.value.field) == ("unknown_field", "nme")
    assert len(script.requests) == 2


def test_no_answer_after_every_retry_is_a_connection_error_carrying_the_key() -> None:
    script = Script(None, None, None, None, None)
    with pytest.raises(BillingConnectionError) as lost:
        _client(script).billing.meters.create(name="m", unit="GB", aggregation="sum")
    assert lost.value.idempotency_key == script.keys()[0]
    assert len(script.requests) == 5


def test_gets_carry_no_key_and_iteration_walks_every_page() -> None:
    customer: dict[str, Any] = {"name": "n", "email": "e@example.com", "timezone": "UTC"}
    customer |= {"external_id": "x", "livemode": False, "created_at": "2026-01-01T00:00:00Z"}
    script = Script(
        (200, {"data": [{**customer, "id": "a"}, {**customer, "id": "b"}], "has_more": True}),
        (200, {"data": [{**customer, "id": "c"}], "has_more": False}),
    )
    ids = [c.id for c in _client(script).billing.customers.list(limit=2)]
    assert ids == ["a", "b", "c"]
    assert script.keys() == [None, None]
    assert dict(script.requests[1].url.params) == {"limit": "2", "starting_after": "b"}


def bad(index: int) -> dict[str, Any]:
    """A rejection as the API words it, at `index` of its own batch."""
    return {"index": index, "event_id": f"e{index}", "code": "negative_quantity", "reason": "<0"}


async def test_async_usage_is_recorded_in_batches_of_a_thousand() -> None:
    script = Script(
        (200, {"accepted": 999, "duplicates": 1, "rejected": []}),
        (200, {"accepted": 498, "duplicates": 0, "rejected": [bad(7), bad(9)]}),
    )
    http = httpx.AsyncClient(base_url="http://api.test", transport=httpx.MockTransport(script))
    async with AsyncBilling(api_key="pk_test_x", http_client=http) as client:
        events = [{"event_id": f"e{i}", "meter_id": "m", "quantity": 1} for i in range(1500)]
        usage = await client.billing.usage.record(subscription_id="s", events=events)
    assert (usage.accepted, usage.duplicates) == (1497, 1)
    assert [rejection.index for rejection in usage.rejected] == [1007, 1009]
    assert [len(json.loads(r.content)["events"]) for r in script.requests] == [1000, 500]
    assert len(set(script.keys())) == 2
