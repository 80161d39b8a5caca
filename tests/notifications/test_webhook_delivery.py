"""One signed POST against a real HTTP server, and how each answer is classified."""

from __future__ import annotations

import time

import httpx
import pytest

from activities.notifications.outcome import AttemptKind
from activities.notifications.webhook_delivery import post_webhook
from billing.webhook_signing import WebhookVerificationError, generate_secret, verify

from notifications.servers import HttpFixture, free_port

SECRET = generate_secret()
BODY = b'{"id":"msg_1","type":"invoice.generated"}'


async def _post(url: str, *, limit: float = 5.0) -> AttemptKind:
    async with httpx.AsyncClient() as client:
        result = await post_webhook(
            client,
            url=url,
            secret=SECRET,
            msg_id="msg_1",
            timestamp=int(time.time()),
            body=BODY,
            timeout_seconds=limit,
        )
    return result.kind


async def test_delivery_is_signed_so_the_receiver_verifies_it(http_server: HttpFixture) -> None:
    assert await _post(http_server.url) is AttemptKind.DELIVERED
    (request,) = http_server.receiver.requests
    assert request.method == "POST"
    assert request.body == BODY
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == "msg_1"
    verify(SECRET, headers=request.headers, body=request.body)
    with pytest.raises(WebhookVerificationError):
        verify(generate_secret(), headers=request.headers, body=request.body)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (200, AttemptKind.DELIVERED),
        (204, AttemptKind.DELIVERED),
        (500, AttemptKind.TRANSIENT),
        (503, AttemptKind.TRANSIENT),
        (408, AttemptKind.TRANSIENT),
        (429, AttemptKind.TRANSIENT),
        (400, AttemptKind.PERMANENT),
        (401, AttemptKind.PERMANENT),
        (404, AttemptKind.PERMANENT),
        (301, AttemptKind.PERMANENT),
        (410, AttemptKind.GONE),
    ],
)
async def test_answer_status_decides_retry(
    http_server: HttpFixture, status: int, kind: AttemptKind
) -> None:
    http_server.receiver.statuses = [status]
    assert await _post(http_server.url) is kind
    assert len(http_server.receiver.requests) == 1  # redirects are not followed


async def test_a_receiver_slower_than_the_timeout_is_transient(http_server: HttpFixture) -> None:
    http_server.receiver.delay_seconds = 1.0
    assert await _post(http_server.url, limit=0.2) is AttemptKind.TRANSIENT


async def test_nobody_listening_is_transient() -> None:
    assert await _post(f"http://127.0.0.1:{free_port()}/hooks") is AttemptKind.TRANSIENT
