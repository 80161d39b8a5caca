"""Write the JSON Schema of every payload that crosses the Temporal boundary to `contract/`,
and the HTTP API's OpenAPI document to `contract/openapi.json`.

The pydantic models in `billing/contracts/` are the contract; these files are generated from them
for clients in other languages and for the README. A test fails when they are out of date:

    uv run python -m scripts.export_contract
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from billing.contracts.invoice import (
    ForwardedPayment,
    InvoiceView,
    InvoiceWorkflowInput,
    PaymentResult,
    PaymentSubmission,
    VoidRequest,
)
from billing.contracts.subscription import (
    ApproveInvoice,
    CancelRequest,
    InvoiceStandingChanged,
    PlanChange,
    SubscriptionInput,
    SubscriptionStatusView,
    UsageAccepted,
    UsageBatch,
)
from billing.invoice import RatedInvoice
from billing_service.api.app import create_app

CONTRACT = Path(__file__).resolve().parent.parent / "contract"
OPENAPI = CONTRACT / "openapi.json"

#: file stem -> (model, what it is on the wire)
SCHEMAS: dict[str, tuple[type[BaseModel], str]] = {
    "subscription-input": (SubscriptionInput, "SubscriptionWorkflow input"),
    "usage-batch": (UsageBatch, "SubscriptionWorkflow signal record_usage / update submit_usage"),
    "usage-accepted": (UsageAccepted, "SubscriptionWorkflow update submit_usage result"),
    "cancel-request": (CancelRequest, "SubscriptionWorkflow signal cancel"),
    "plan-change": (PlanChange, "SubscriptionWorkflow signal change_plan"),
    "approve-invoice": (ApproveInvoice, "SubscriptionWorkflow update (or signal) approve_invoice"),
    "forwarded-payment": (ForwardedPayment, "SubscriptionWorkflow signal record_payment"),
    "invoice-standing": (InvoiceStandingChanged, "SubscriptionWorkflow signal invoice_standing"),
    "subscription-status": (SubscriptionStatusView, "SubscriptionWorkflow query status"),
    "upcoming-invoice": (RatedInvoice, "SubscriptionWorkflow query upcoming_invoice"),
    "invoice-input": (InvoiceWorkflowInput, "InvoiceWorkflow input"),
    "payment": (PaymentSubmission, "InvoiceWorkflow signal record_payment / update submit_payment"),
    "payment-result": (PaymentResult, "InvoiceWorkflow update submit_payment result"),
    "void-request": (VoidRequest, "InvoiceWorkflow signal void_invoice"),
    "invoice": (InvoiceView, "InvoiceWorkflow query invoice and result"),
}


def rendered() -> dict[str, str]:
    """Every schema file's name and exact text."""
    files = {}
    for stem, (model, role) in SCHEMAS.items():
        schema = model.model_json_schema(mode="validation")
        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
        schema["description"] = f"{role}. " + str(schema.get("description", "")).strip()
        files[f"{stem}.schema.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return files


def openapi_text() -> str:
    """The HTTP API's OpenAPI document as the app generates it (no server, no database)."""
    return json.dumps(create_app().openapi(), indent=2, sort_keys=True) + "\n"


def main() -> int:
    CONTRACT.mkdir(exist_ok=True)
    files = rendered()
    for stale in set(p.name for p in CONTRACT.glob("*.schema.json")) - set(files):
        (CONTRACT / stale).unlink()
    for name, text in files.items():
        (CONTRACT / name).write_text(text)
    OPENAPI.write_text(openapi_text())
    print(f"wrote {len(files)} schemas and openapi.json to {CONTRACT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
