"""The webhook body ``{"id", "type", "created_at", "livemode", "data"}`` and the invoice as JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from activities.notifications.rendering import plain_amount
from activities.notifications.view import InvoiceDocument, InvoiceLineRow, TierRow
from billing.contracts.notifications import NotificationRequest
from billing.money import format_decimal


def _number(value: Decimal) -> str:
    """Quantities and prices without storage padding: ``350``, ``0.05``."""
    return format_decimal(value.normalize())


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
        "from": _number(tier.lower),
        "up_to": None if tier.upper is None else _number(tier.upper),
        "quantity": _number(tier.quantity),
        "unit_price": _number(tier.unit_price),
        "flat_fee": _number(tier.flat_fee),
        "amount": _number(tier.amount),
    }


def _line_json(line: InvoiceLineRow, currency: str) -> dict[str, Any]:
    return {
        "description": line.description,
        "quantity": _number(line.quantity),
        "unit": line.unit,
        "unit_price": None if line.unit_price is None else _number(line.unit_price),
        "amount": plain_amount(line.amount, currency),
        "tiers": [_tier_json(tier) for tier in line.tiers],
    }


def invoice_json(invoice: InvoiceDocument) -> dict[str, Any]:
    """Amounts as decimal strings (never floats); the period half-open ``[start, end)``."""
    currency = invoice.currency
    return {
        "number": invoice.number,
        "status": invoice.status,
        "currency": invoice.currency,
        "issue_date": invoice.issue_date.isoformat(),
        "period_start": _utc_iso(invoice.period_start),
        "period_end": _utc_iso(invoice.period_end),
        "due_at": _utc_iso(invoice.due_at),
        "due_date": invoice.due_date.isoformat(),
        "lines": [_line_json(line, currency) for line in invoice.lines],
        "subtotal": plain_amount(invoice.subtotal, currency),
        "tax_rate": _number(invoice.tax_rate),
        "tax": plain_amount(invoice.tax_amount, currency),
        "total": plain_amount(invoice.total, currency),
        "amount_due": plain_amount(invoice.amount_due, currency),
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
