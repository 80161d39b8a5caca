"""Typed errors. Every API error is an RFC 9457 problem with a stable `code`
(`unknown_customer`, `meter_conflict`, `invalid_usage`, ...): branch on `code`, not on words."""

from __future__ import annotations

from typing import Any


class BillingError(Exception):
    """An error the API answered with: HTTP `status`, the problem's `code`, `field`, `detail`."""

    def __init__(
        self, status: int, problem: dict[str, Any], idempotency_key: str | None = None
    ) -> None:
        self.status = status
        self.code = str(problem.get("code") or f"http_{status}")
        self.field: str | None = problem.get("field")
        self.detail = str(problem.get("detail") or problem.get("title") or f"HTTP {status}")
        self.problem = problem
        #: The `Idempotency-Key` the request carried (POST only), to retry it by hand.
        self.idempotency_key = idempotency_key
        super().__init__(f"{status} {self.code}: {self.detail}")


class AuthenticationError(BillingError):
    """401: no valid key."""


class NotFoundError(BillingError):
    """404: missing, or another account's or mode's object (the API does not tell them apart)."""


class ConflictError(BillingError):
    """409: conflicts with the current state (an existing id, a key still in flight)."""


class InvalidRequestError(BillingError):
    """400, 413 and 422: the request is invalid; `field` says where."""


class RateLimitError(BillingError):
    """429: too many requests (retried automatically first)."""


class ServerError(BillingError):
    """5xx: the server failed (retried automatically first)."""


class BillingConnectionError(BillingError):
    """No answer at all (refused, reset, timed out), after every retry."""

    def __init__(self, message: str, idempotency_key: str | None = None) -> None:
        super().__init__(0, {"code": "connection_error", "detail": message}, idempotency_key)


def error_for(status: int, problem: dict[str, Any], key: str | None) -> BillingError:
    """The error class for an HTTP status."""
    kind: type[BillingError] = BillingError
    if status == 401:
        kind = AuthenticationError
    elif status == 404:
        kind = NotFoundError
    elif status == 409:
        kind = ConflictError
    elif status in (400, 413, 422):
        kind = InvalidRequestError
    elif status == 429:
        kind = RateLimitError
    elif status >= 500:
        kind = ServerError
    return kind(status, problem, key)
