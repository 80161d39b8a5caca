"""`send_webhook_notification` end to end: the database, signing and a real HTTP server."""

from __future__ import annotations

import json
import time

import pytest
from temporalio.exceptions import ApplicationError

from billing.webhook_signing import WebhookVerificationError, generate_secret, verify
from billing_db.repo_catalog import list_webhook_endpoints
from billing_db.repo_notifications import get_notification
from devtools.servers import HttpServer

from notifications.activity_env import make_activities, run_webhooks
from notifications.database import Seeded
from notifications.servers import HttpFixture, ScriptedReceiver

SECRET = generate_secret()


async def test_webhook_body_is_signed_json_with_the_invoice(
    seeded: Seeded, http_server: HttpFixture
) -> None:
    endpoint = seeded.add_endpoint(http_server.url, secret=SECRET)
    request = seeded.request()
    (outcome,) = await run_webhooks(make_activities(seeded), request)

    assert (outcome.status, outcome.target) == ("delivered", endpoint.id)
    (delivery,) = http_server.receiver.requests
    verify(SECRET, headers=delivery.headers, body=delivery.body)
    body = json.loads(delivery.body)
    assert set(body) == {"id", "type", "created_at", "livemode", "data"}
    assert body["id"] == delivery.headers["webhook-id"] == outcome.message_id
    assert body["id"].startswith("msg_")
    assert body["type"] == "invoice.generated"
    assert body["livemode"] is False
    assert body["created_at"].endswith("Z")
    invoice = body["data"]["invoice"]
    assert (invoice["number"], invoice["subtotal"], invoice["tax"], invoice["total"]) == (
        seeded.invoice.number,
        "62.49",
        "12.50",
        "74.99",
    )
    assert invoice["lines"][1]["tiers"][1] == {
        "from": "100",
        "up_to": "1000",
        "quantity": "250",
        "unit_price": "0.05",
        "flat_fee": "0",
        "amount": "12.5",
    }
    assert body["data"]["customer_id"] == "cus_ada"


async def test_signature_fails_with_another_secret_a_tampered_body_or_a_stale_timestamp(
    seeded: Seeded, http_server: HttpFixture
) -> None:
    seeded.add_endpoint(http_server.url, secret=SECRET)
    await run_webhooks(make_activities(seeded), seeded.request())
    (delivery,) = http_server.receiver.requests
    sent_at = int(delivery.headers["webhook-timestamp"])
    assert abs(sent_at - time.time()) < 60

    with pytest.raises(WebhookVerificationError, match="no matching signature"):
        verify(generate_secret(), headers=delivery.headers, body=delivery.body)
    with pytest.raises(WebhookVerificationError, match="no matching signature"):
        verify(SECRET, headers=delivery.headers, body=delivery.body.replace(b"74.99", b"0.01"))
    with pytest.raises(WebhookVerificationError, match="too old"):
        verify(SECRET, headers=delivery.headers, body=delivery.body, now=sent_at + 301)


async def test_500_then_200_delivers_once_with_the_same_id_and_body(
    seeded: Seeded, http_server: HttpFixture
) -> None:
    endpoint = seeded.add_endpoint(http_server.url, secret=SECRET)
    http_server.receiver.statuses = [500, 200]
    activities = make_activities(seeded)
    request = seeded.request()
    key = request.dedupe_key("webhook", endpoint.id)

    with pytest.raises(ApplicationError, match="HTTP 500") as failed:
        await run_webhooks(activities, request)
    assert not failed.value.non_retryable
    assert get_notification(seeded.engine, dedupe_key=key).status == "failed"

    (delivered,) = await run_webhooks(activities, request)
    (skipped,) = await run_webhooks(activities, request)

    assert delivered.status == "delivered"
    assert skipped.status == "skipped_already_delivered"
    first, second = http_server.receiver.requests  # the third call sent nothing
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body
    verify(SECRET, headers=second.headers, body=second.body)
    logged = get_notification(seeded.engine, dedupe_key=key)
    assert (logged.status, logged.attempts) == ("delivered", 2)


@pytest.mark.parametrize("status", [408, 429, 503])
async def test_timeouts_rate_limits_and_server_errors_are_retried(
    seeded: Seeded, http_server: HttpFixture, status: int
) -> None:
    seeded.add_endpoint(http_server.url)
    http_server.receiver.statuses = [status]
    with pytest.raises(ApplicationError, match=f"HTTP {status}") as pending:
        await run_webhooks(make_activities(seeded), seeded.request())
    assert not pending.value.non_retryable


async def test_400_is_a_permanent_failure_and_not_retried(
    seeded: Seeded, http_server: HttpFixture
) -> None:
    endpoint = seeded.add_endpoint(http_server.url)
    http_server.receiver.statuses = [400, 200]
    activities = make_activities(seeded)
    request = seeded.request()

    (outcome,) = await run_webhooks(activities, request)
    (again,) = await run_webhooks(activities, request)

    assert outcome.status == "failed_permanently"
    assert "HTTP 400" in str(outcome.error)
    assert again.status == "failed_permanently"
    assert len(http_server.receiver.requests) == 1
    logged = get_notification(seeded.engine, dedupe_key=request.dedupe_key("webhook", endpoint.id))
    assert (logged.status, logged.attempts) == ("disabled", 1)
    (still_enabled,) = list_webhook_endpoints(seeded.engine, account_id=endpoint.account_id)
    assert still_enabled.id == endpoint.id


async def test_410_disables_the_endpoint_for_later_notifications(
    seeded: Seeded, http_server: HttpFixture
) -> None:
    endpoint = seeded.add_endpoint(http_server.url)
    http_server.receiver.statuses = [410]
    activities = make_activities(seeded)

    (outcome,) = await run_webhooks(activities, seeded.request())
    later = await run_webhooks(activities, seeded.request("payment_overdue"))

    assert outcome.status == "disabled"
    assert later == []
    assert len(http_server.receiver.requests) == 1
    (stored,) = list_webhook_endpoints(
        seeded.engine, account_id=endpoint.account_id, enabled_only=False
    )
    assert not stored.enabled
    assert "410" in str(stored.disabled_reason)


async def test_a_retry_only_resends_to_the_endpoints_that_failed(
    seeded: Seeded, http_server: HttpFixture
) -> None:
    flaky = ScriptedReceiver(statuses=[502, 200])
    async with HttpServer(flaky) as flaky_server:
        good = seeded.add_endpoint(http_server.url)
        bad = seeded.add_endpoint(f"{flaky_server.url}/hooks")
        activities = make_activities(seeded)
        request = seeded.request()

        with pytest.raises(ApplicationError, match=f"1 of 2 .*{bad.id}"):
            await run_webhooks(activities, request)
        outcomes = await run_webhooks(activities, request)

    assert {(o.target, o.status) for o in outcomes} == {
        (good.id, "skipped_already_delivered"),
        (bad.id, "delivered"),
    }
    assert len(http_server.receiver.requests) == 1
    assert len(flaky.requests) == 2


async def test_a_receiver_slower_than_the_timeout_is_retried(
    seeded: Seeded, http_server: HttpFixture
) -> None:
    seeded.add_endpoint(http_server.url)
    http_server.receiver.delay_seconds = 1.0
    with pytest.raises(ApplicationError, match="timeout") as slow:
        await run_webhooks(make_activities(seeded, timeout=0.2), seeded.request())
    assert not slow.value.non_retryable


async def test_an_account_without_endpoints_sends_nothing(seeded: Seeded) -> None:
    assert await run_webhooks(make_activities(seeded), seeded.request()) == []


async def test_usage_threshold_webhook_carries_the_event_data(
    seeded: Seeded, http_server: HttpFixture
) -> None:
    seeded.add_endpoint(http_server.url)
    request = seeded.request(
        "usage_threshold",
        scope="sub_ada:2026-10-01:bandwidth_egress:threshold-90",
        invoice_number=None,
        data={"threshold": 90, "meter": "bandwidth_egress", "quantity": "90", "included": "100"},
    )
    await run_webhooks(make_activities(seeded), request)
    body = json.loads(http_server.receiver.requests[0].body)
    assert body["type"] == "usage.threshold_reached"
    assert body["data"]["threshold"] == 90
    assert "invoice" not in body["data"]
