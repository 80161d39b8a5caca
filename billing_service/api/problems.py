"""Errors as RFC 9457 `application/problem+json`: a stable `code`, the field at fault and a
message a person can act on (the domain's and the database's own messages, reused as is).

Codes come from the error classes (`UnknownCustomerError` -> `unknown_customer`), so a new error
class gets its code without a table to keep in step. No request may end in a 500.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException
from temporalio.client import WorkflowQueryFailedError, WorkflowUpdateFailedError
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from billing.errors import BillingError, error_code
from billing.validation import describe_errors, describe_validation_error, format_location
from billing_db.errors import ConflictError, IllegalStatusTransitionError, NotFoundError
from billing_service.api.context import UnauthenticatedError

MEDIA_TYPE = "application/problem+json"
_FIELD = re.compile(r"^([A-Za-z_][\w.\[\]]*): ")
_log = logging.getLogger(__name__)


class QueryTimeoutError(Exception):
    """No worker answered a workflow query in time."""


class Problem(BaseModel):
    """An RFC 9457 problem: `code` is stable, `detail` says what to change."""

    type: str
    title: str
    status: int
    code: str
    detail: str
    field: str | None = None


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "model": Problem,
        "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        "description": title,
    }
    for status, title in (
        (401, "No valid API key"),
        (404, "Not found (also another account's or mode's object)"),
        (409, "Conflicts with the current state"),
        (413, "Body too large"),
        (422, "Invalid request"),
    )
}

_TITLES = {
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    422: "Unprocessable Content",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def problem(
    status: int, code: str, detail: str, *, field: str | None = None, headers: Any = None
) -> JSONResponse:
    if field is None and (match := _FIELD.match(detail)):
        field = match.group(1)
    body = Problem(
        type=f"urn:problem:billing:{code}",
        title=_TITLES.get(status, "Error"),
        status=status,
        code=code,
        detail=detail,
        field=field,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=MEDIA_TYPE,
        headers=headers,
    )


def _validation_code(errors: Sequence[ErrorDetails]) -> str:
    first = errors[0] if errors else None
    if first is None:
        return "invalid_request"
    cause = (first.get("ctx") or {}).get("error")
    if isinstance(cause, BillingError):
        return error_code(cause)
    return {
        "missing": "missing_field",
        "extra_forbidden": "unknown_field",
        "json_invalid": "invalid_json",
        "billing_field": "invalid_field",
    }.get(first["type"], first["type"])


def _request_location(errors: Sequence[ErrorDetails]) -> list[ErrorDetails]:
    """Locations without FastAPI's leading `body`."""
    result = []
    for error in errors:
        location = tuple(error["loc"])
        if location[:1] == ("body",):
            location = location[1:]
        result.append(ErrorDetails(**{**error, "loc": location}))
    return result


def _temporal_cause(exc: BaseException) -> str:
    cause = exc.__cause__
    while cause is not None and cause.__cause__ is not None:
        cause = cause.__cause__
    text = str(cause or exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def to_problem(exc: BaseException) -> JSONResponse:
    """The problem answer for any error a request can meet."""
    if isinstance(exc, UnauthenticatedError):
        return problem(401, "unauthenticated", str(exc), headers={"WWW-Authenticate": "Bearer"})
    if isinstance(exc, RequestValidationError):
        errors = _request_location(list(exc.errors()))
        field = format_location(errors[0]["loc"]) if errors else None
        return problem(422, _validation_code(errors), describe_errors(errors), field=field or None)
    if isinstance(exc, ValidationError):
        errors = list(exc.errors())
        return problem(422, _validation_code(errors), describe_validation_error(exc))
    if isinstance(exc, NotFoundError):
        return problem(404, error_code(exc), str(exc))
    if isinstance(exc, ConflictError | IllegalStatusTransitionError):
        return problem(409, error_code(exc), str(exc))
    if isinstance(exc, BillingError):
        return problem(422, error_code(exc), str(exc))
    if isinstance(exc, WorkflowAlreadyStartedError):
        return problem(409, "already_exists", f"id: {exc.workflow_id!r} was already started")
    if isinstance(exc, WorkflowUpdateFailedError):
        return problem(422, "refused", f"refused: {_temporal_cause(exc)}")
    if isinstance(exc, WorkflowQueryFailedError):
        return problem(409, "not_ready", f"the workflow cannot answer yet: {_temporal_cause(exc)}")
    if isinstance(exc, RPCError):
        if exc.status == RPCStatusCode.NOT_FOUND:
            return problem(404, "workflow_not_found", f"not found: {exc.message}")
        return problem(503, "temporal_unavailable", f"Temporal refused the call: {exc.message}")
    if isinstance(exc, QueryTimeoutError):
        return problem(503, "no_worker", str(exc))
    if isinstance(exc, HTTPException):
        if exc.status_code == 400:
            return problem(422, "invalid_json", f"the body is not valid JSON: {exc.detail}")
        code = {404: "route_not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "http_error"
        )
        return problem(exc.status_code, code, str(exc.detail), headers=exc.headers)
    if isinstance(exc, SQLAlchemyError):
        _log.warning("database error: %s", exc)
        return problem(503, "database_unavailable", "the billing database did not answer")
    if isinstance(exc, RuntimeError) and "connect" in str(exc).lower():
        return problem(503, "temporal_unavailable", f"cannot reach Temporal: {exc}")
    _log.exception("unexpected error", exc_info=exc)
    return problem(500, "internal_error", "an unexpected error; it has been logged")


def install(app: FastAPI) -> None:
    """Route every error through `to_problem`."""

    async def handle(_request: Request, exc: Exception) -> JSONResponse:
        return to_problem(exc)

    for kind in (
        Exception,
        HTTPException,
        RequestValidationError,
        ValidationError,
        BillingError,
        UnauthenticatedError,
        WorkflowAlreadyStartedError,
        WorkflowUpdateFailedError,
        WorkflowQueryFailedError,
        RPCError,
        SQLAlchemyError,
        QueryTimeoutError,
    ):
        app.add_exception_handler(kind, handle)
