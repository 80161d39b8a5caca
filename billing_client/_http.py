"""One request, sent until it has an answer worth returning; sync and async share the policy.

Every POST carries an `Idempotency-Key` chosen once and reused for all its retries, so a retry
after a lost response replays the first answer (`Idempotent-Replayed: true`) instead of creating a
second object. Retried: transport errors and timeouts, 409 `idempotency_key_in_progress` (the
first attempt is still running), 429 and 5xx; exponential backoff with jitter, `Retry-After`
honoured.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic_core import to_jsonable_python

from billing_client.errors import BillingConnectionError, BillingError, error_for

PREFIX = "/v1/billing"
DEFAULT_URL = "http://localhost:8000"


@dataclass(frozen=True)
class Call:
    """What to send: `body` is JSON-able after pydantic's conversion (Decimal, datetime)."""

    method: str
    path: str
    body: Any = None
    query: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Settings:
    api_key: str
    base_url: str = DEFAULT_URL
    max_retries: int = 3
    timeout: float = 30.0

    @property
    def root(self) -> str:
        """The server's root; a `base_url` ending in `/v1/billing` is accepted too."""
        root = self.base_url.rstrip("/")
        return root.removesuffix(PREFIX)


def build_request(client: httpx.Client | httpx.AsyncClient, call: Call) -> httpx.Request:
    """The httpx request for one attempt; POSTs get their key here, once per `Call`."""
    headers = {"Accept": "application/json"}
    if call.method == "POST":
        headers["Idempotency-Key"] = call.idempotency_key or uuid.uuid4().hex
    query = {name: value for name, value in call.query.items() if value is not None}
    body = None if call.body is None else to_jsonable_python(call.body)
    return client.build_request(
        call.method, PREFIX + call.path, json=body, params=query, headers=headers
    )


def retry_delay(attempt: int, error: BillingError) -> float | None:
    """Seconds to wait before the next attempt, or None when `error` is final."""
    in_flight = error.status == 409 and error.code == "idempotency_key_in_progress"
    if not (error.status == 0 or error.status == 429 or error.status >= 500 or in_flight):
        return None
    retry_after = error.problem.get("retry_after")
    if isinstance(retry_after, int) and retry_after >= 0:
        return min(float(retry_after), 30.0)
    ceiling: float = min(0.25 * 2.0**attempt, 8.0)
    return ceiling / 2 + random.random() * ceiling / 2


def outcome(request: httpx.Request, response: httpx.Response) -> Any:
    """The JSON answer, or the typed error for a problem."""
    key = request.headers.get("Idempotency-Key")
    if response.is_success:
        return None if not response.content else response.json()
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        problem = {"status": response.status_code, "detail": response.text[:500]}
    retry_after = response.headers.get("Retry-After", "")
    if retry_after.isdigit():
        problem = {**problem, "retry_after": int(retry_after)}
    raise error_for(response.status_code, problem, key)


def _lost(request: httpx.Request, error: httpx.TransportError) -> BillingError:
    return BillingConnectionError(
        f"{request.method} {request.url} got no answer: {error!r}",
        request.headers.get("Idempotency-Key"),
    )


def new_client(settings: Settings) -> httpx.Client:
    return httpx.Client(
        base_url=settings.root,
        headers={"Authorization": f"Bearer {settings.api_key}"},
        timeout=settings.timeout,
    )


def new_async_client(settings: Settings) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=settings.root,
        headers={"Authorization": f"Bearer {settings.api_key}"},
        timeout=settings.timeout,
    )


class SyncTransport:
    """Sends `Call`s on an `httpx.Client`."""

    def __init__(self, settings: Settings, client: httpx.Client | None = None) -> None:
        self.settings = settings
        self.client = client or new_client(settings)

    def send(self, call: Call) -> Any:
        request = build_request(self.client, call)
        for attempt in range(self.settings.max_retries + 1):
            try:
                return outcome(request, self.client.send(request))
            except httpx.TransportError as lost:
                error = _lost(request, lost)
            except BillingError as answered:
                error = answered
            delay = retry_delay(attempt, error)
            if delay is None or attempt == self.settings.max_retries:
                raise error
            time.sleep(delay)
        raise AssertionError("unreachable")


class AsyncTransport:
    """Sends `Call`s on an `httpx.AsyncClient`."""

    def __init__(self, settings: Settings, client: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.client = client or new_async_client(settings)

    async def send(self, call: Call) -> Any:
        request = build_request(self.client, call)
        for attempt in range(self.settings.max_retries + 1):
            try:
                return outcome(request, await self.client.send(request))
            except httpx.TransportError as lost:
                error = _lost(request, lost)
            except BillingError as answered:
                error = answered
            delay = retry_delay(attempt, error)
            if delay is None or attempt == self.settings.max_retries:
                raise error
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")
