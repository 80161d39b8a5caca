"""What an email shows, independent of how the database or the rating core store it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from pydantic import JsonValue


@dataclass(frozen=True)
class TierRow:
    """One tier of a usage charge: the quantity that fell in ``[lower, upper)`` and its price."""

    lower: Decimal
    upper: Decimal | None
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    flat_fee: Decimal = Decimal(0)


@dataclass(frozen=True)
class InvoiceLineRow:
    description: str
    quantity: Decimal
    amount: Decimal
    unit: str | None = None
    unit_price: Decimal | None = None
    tiers: tuple[TierRow, ...] = ()


@dataclass(frozen=True)
class InvoiceDocument:
    """An issued invoice as the customer reads it (amounts already rounded by the core)."""

    number: str
    currency: str
    period_start: datetime  # UTC, half-open [period_start, period_end)
    period_end: datetime
    period_label: str  # the local days covered, e.g. "1-31 Oct 2026"
    issue_date: date  # local to the customer
    due_at: datetime  # UTC
    due_date: date  # local to the customer
    lines: tuple[InvoiceLineRow, ...]
    subtotal: Decimal
    tax_rate: Decimal
    tax_amount: Decimal
    total: Decimal
    amount_due: Decimal
    status: str = "open"


@dataclass(frozen=True)
class EmailContext:
    """Everything a template may use. ``data`` is the workflow's event-specific detail."""

    event: str
    brand: str
    customer_name: str
    customer_email: str
    livemode: bool
    subscription_id: str
    invoice: InvoiceDocument | None = None
    data: Mapping[str, JsonValue] = field(default_factory=dict)
