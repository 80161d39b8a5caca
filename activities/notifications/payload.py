"""The webhook body ``{"id", "type", "created_at", "livemode", "data"}`` and the invoice as JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from activities.notifications.view import InvoiceDocument, InvoiceLineRow, TierRow
from billing.contracts.notifications import NotificationRequest
from billing.money import format_decimal

#: Webhook ``type`` per notification event.
EVENT_TYPES: dict[str, str] = {
    "invoice_generated": "invoice.generated",
    "payment_received": "invoice.payment_received",
    "payment_overdue": "invoice.payment_overdue",
    "payment_reminder": "invoice.payment_reminder",
    "invoice_uncollectible": "invoice.uncollectible",
    "usage_threshold": "usage.threshold_reached",
    "subscription_suspended": "subscription.suspended",
}


def _utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _tier_json(tier: TierRow) -> dict[str, Any]:
    return {
        "from": format_decimal(tier.lower),
        "up_to": None if tier.upper is None else format_decimal(tier.upper),
        "quantity": format_decimal(tier.quantity),
        "unit_price": format_decimal(tier.unit_price),
        "flat_fee": format_decimal(tier.flat_fee),
        "amount": format_decimal(tier.amount),
    }


def _line_json(line: InvoiceLineRow) -> dict[str, Any]:
    return {
        "description": line.description,
        "quantity": format_decimal(line.quantity),
        "unit": line.unit,
        "unit_price": None if line.unit_price is None else format_decimal(line.unit_price),
        "amount": format_decimal(line.amount),
        "tiers": [_tier_json(tier) for tier in line.tiers],
    }


def invoice_json(invoice: InvoiceDocument) -> dict[str, Any]:
    """Amounts as decimal strings (never floats); the period half-open ``[start, end)``."""
    return {
        "number": invoice.number,
        "status": invoice.status,
        "currency": invoice.currency,
        "issue_date": invoice.issue_date.isoformat(),
        "period_start": _utc_iso(invoice.period_start),
        "period_end": _utc_iso(invoice.period_end),
        "due_at": _utc_iso(invoice.due_at),
        "due_date": invoice.due_date.isoformat(),
        "lines": [_line_json(line) for line in invoice.lines],
        "subtotal": format_decimal(invoice.subtotal),
        "tax_rate": format_decimal(invoice.tax_rate),
        "tax_amount": format_decimal(invoice.tax_amount),
        "total": format_decimal(invoice.total),
        "amount_due": format_decimal(invoice.amount_due),
    }


def webhook_body(
    request: NotificationRequest,
    *,
    msg_id: str,
    created_at: datetime,
    invoice: InvoiceDocument | None,
) -> bytes:
    """Compact, key-sorted JSON: the same request and log row give the same bytes on every retry."""
    data: dict[str, Any] = {
        **request.data,
        "account_id": request.account_id,
        "subscription_id": request.subscription_id,
        "customer_id": request.customer_id,
    }
    if invoice is not None:
        data["invoice"] = invoice_json(invoice)
    body = {
        "id": msg_id,
        "type": EVENT_TYPES[request.event],
        "created_at": _utc_iso(created_at),
        "livemode": request.livemode,
        "data": data,
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()
