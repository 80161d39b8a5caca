"""Schemathesis over the running `billing api` (on the dev server, no worker): every operation,
then the stateful links (create -> retrieve). No 5xx; every answer conforms to the OpenAPI
document (status code, content type, headers, body schema). Bounded so it runs in well under a
minute; the number of requests sent is printed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import BaseSchema, Case, Response
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from billing_service.api.app import create_app

from api.conftest import Api

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES_PER_OPERATION = 8
#: (test, operation) of every request sent, for the count printed at the end.
SENT: list[tuple[str, str]] = []


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    for kind in ("operations", "stateful"):
        sent = [label for test, label in SENT if test == kind]
        print(f"\nschemathesis {kind}: {len(sent)} requests over {len(set(sent))} operations")


#: The document the app generates (the served one is the same; test_openapi.py checks the file).
schema: BaseSchema = schemathesis.openapi.from_dict(create_app().openapi())


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_operation_answers_within_its_schema(case: Case[Any], api_on_temporal: Api) -> None:
    SENT.append(("operations", case.operation.label))
    url, headers = api_on_temporal.url, api_on_temporal.headers()
    response = case.call(base_url=url, headers=headers, timeout=30)
    case.validate_response(response, checks=CHECKS)


def test_stateful_links_create_then_retrieve(api_on_temporal: Api) -> None:
    machine: Any = schema.as_state_machine()

    class Links(machine):  # type: ignore[misc]
        def get_call_kwargs(self, case: Case[Any]) -> dict[str, Any]:
            SENT.append(("stateful", case.operation.label))
            return {
                "base_url": api_on_temporal.url,
                "headers": api_on_temporal.headers(),
                "timeout": 30,
            }

        def validate_response(
            self, response: Response, case: Case[Any], additional_checks: Any = None, **kwargs: Any
        ) -> None:
            case.validate_response(response, checks=CHECKS)

    Links.run(
        settings=settings(
            max_examples=10,
            stateful_step_count=6,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        )
    )
