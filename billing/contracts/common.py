"""Names and small types shared by every payload that crosses the Temporal boundary."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from billing.lifecycle import InvoiceStatus, SubscriptionStatus

__all__ = ["InvoiceStatus", "SubscriptionStatus"]

TASK_QUEUE = "billing"


def subscription_workflow_id(subscription_id: str) -> str:
    return f"subscription-{subscription_id}"


def invoice_workflow_id(invoice_number: str) -> str:
    return f"invoice-{invoice_number}"


class Payload(BaseModel):
    """Base of every contract model: unknown fields are refused, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


JsonObject = dict[str, Any]
