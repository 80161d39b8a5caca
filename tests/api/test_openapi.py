"""contract/openapi.json is the app's document (regenerate: uv run python -m
scripts.export_contract), the running API serves it, and Swagger UI is at /docs."""

from __future__ import annotations

import json

import httpx

from scripts.export_contract import OPENAPI, openapi_text

from api.conftest import Api


def test_the_committed_openapi_document_is_the_apps() -> None:
    assert OPENAPI.read_text() == openapi_text(), "run: uv run python -m scripts.export_contract"


def test_the_running_api_serves_it_and_swagger_ui(api: Api) -> None:
    served = httpx.get(f"{api.url}/openapi.json").json()
    assert served == json.loads(OPENAPI.read_text())
    assert served["openapi"].startswith("3.1")
    docs = httpx.get(f"{api.url}/docs")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text


def test_every_guide_call_and_resource_is_in_the_document() -> None:
    paths = json.loads(OPENAPI.read_text())["paths"]
    for path, method in [
        ("/v1/billing/meters", "post"),
        ("/v1/billing/pricing", "post"),
        ("/v1/billing/config", "patch"),
        ("/v1/billing/notifications", "put"),
        ("/v1/billing/webhook_endpoints", "post"),
        ("/v1/billing/customers", "post"),
        ("/v1/billing/subscriptions", "post"),
        ("/v1/billing/subscriptions/{subscription_id}/upcoming_invoice", "get"),
        ("/v1/billing/subscriptions/{subscription_id}/cancel", "post"),
        ("/v1/billing/subscriptions/{subscription_id}/change_plan", "post"),
        ("/v1/billing/usage/events", "post"),
        ("/v1/billing/invoices", "get"),
        ("/v1/billing/invoices/{number}/payments", "post"),
        ("/v1/billing/invoices/{number}/void", "post"),
        ("/v1/billing/invoices/{number}/approve", "post"),
    ]:
        assert method in paths[path], (path, method)
