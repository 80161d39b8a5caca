"""POST one signed webhook with httpx and classify the answer.

2xx delivered; 410 gone (disable the endpoint); 408, 429, 5xx, timeouts and network errors
transient; any other status permanent (other 4xx, and 3xx: redirects are not followed, as a signed
delivery must reach the URL the account registered).
"""

from __future__ import annotations

import httpx

from activities.notifications.outcome import AttemptKind, AttemptResult
from billing.webhook_signing import signature_headers

USER_AGENT = "temporal-billing-webhooks/1"
TRANSIENT_STATUSES = frozenset({408, 429})
MAX_DETAIL_CHARS = 200


def classify_status(status: int) -> AttemptKind:
    if 200 <= status < 300:
        return AttemptKind.DELIVERED
    if status == 410:
        return AttemptKind.GONE
    if status in TRANSIENT_STATUSES or status >= 500:
        return AttemptKind.TRANSIENT
    return AttemptKind.PERMANENT


async def post_webhook(
    client: httpx.AsyncClient,
    *,
    url: str,
    secret: str,
    msg_id: str,
    timestamp: int,
    body: bytes,
    timeout_seconds: float,
) -> AttemptResult:
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        **signature_headers(secret, msg_id=msg_id, timestamp=timestamp, body=body),
    }
    try:
        response = await client.post(
            url, content=body, headers=headers, timeout=timeout_seconds, follow_redirects=False
        )
    except httpx.TimeoutException as exc:
        return AttemptResult(AttemptKind.TRANSIENT, f"timeout after {timeout_seconds}s: {exc!r}")
    except httpx.TransportError as exc:
        return AttemptResult(AttemptKind.TRANSIENT, f"network error: {exc!r}")
    kind = classify_status(response.status_code)
    detail = f"HTTP {response.status_code} {response.text[:MAX_DETAIL_CHARS]}".strip()
    return AttemptResult(kind, detail)
