"""The Python client of the billing HTTP API, in the guide's shape:

    from billing_client import Billing

    client = Billing(api_key="pk_test_...", base_url="http://localhost:8000")
    meter = client.billing.meters.create(name="bandwidth_egress", unit="GB", aggregation="sum")

`AsyncBilling` is the same tree with coroutines (`await client.billing.meters.create(...)`).
Every POST carries an automatic `Idempotency-Key`, reused across its retries (transport errors,
409 in flight, 429, 5xx); errors are typed (`billing_client.errors`) and carry the problem `code`.
"""

from __future__ import annotations

from types import TracebackType

import httpx

from billing_client._http import DEFAULT_URL, AsyncTransport, Settings, SyncTransport
from billing_client.errors import (
    AuthenticationError,
    BillingConnectionError,
    BillingError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    ServerError,
)
from billing_client.resources import Tree

__all__ = [
    "AsyncBilling",
    "AuthenticationError",
    "Billing",
    "BillingConnectionError",
    "BillingError",
    "ConflictError",
    "InvalidRequestError",
    "NotFoundError",
    "RateLimitError",
    "ServerError",
]


class Billing(Tree[SyncTransport]):
    """The synchronous client; use it as a context manager or `close()` it."""

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_URL,
        *,
        max_retries: int = 3,
        timeout: float = 30.0,
        http_client: httpx.Client | None = None,
    ) -> None:
        settings = Settings(api_key, base_url, max_retries, timeout)
        super().__init__(SyncTransport(settings, http_client))

    def close(self) -> None:
        self._transport.client.close()

    def __enter__(self) -> Billing:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncBilling(Tree[AsyncTransport]):
    """The asynchronous client; use it as an async context manager or `await aclose()`."""

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_URL,
        *,
        max_retries: int = 3,
        timeout: float = 30.0,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        settings = Settings(api_key, base_url, max_retries, timeout)
        super().__init__(AsyncTransport(settings, http_client))

    async def aclose(self) -> None:
        await self._transport.client.aclose()

    async def __aenter__(self) -> AsyncBilling:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
