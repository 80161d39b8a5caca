"""Status rules of subscriptions and invoices: which changes are allowed, and what a
subscription's standing is given its invoices. Pure: the repositories enforce these tables, the
workflows decide with these functions.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Literal

from billing.errors import InvalidAmountError
from billing.money import EXACT, format_decimal, minor_units

SubscriptionStatus = Literal["active", "past_due", "suspended", "canceled"]
InvoiceStatus = Literal["draft", "open", "paid", "overdue", "void", "uncollectible"]
Standing = Literal["overdue", "suspend"]
"""How far an unpaid invoice has escalated, as its subscription sees it."""

#: Subscription status changes that make sense; the same status again is a no-op.
SUBSCRIPTION_TRANSITIONS: Mapping[str, frozenset[str]] = {
    "active": frozenset({"past_due", "suspended", "canceled"}),
    "past_due": frozenset({"active", "suspended", "canceled"}),
    "suspended": frozenset({"active", "past_due", "canceled"}),
    "canceled": frozenset(),
}

#: The invoice lifecycle. The same status again is a no-op, anything else not listed is refused.
INVOICE_TRANSITIONS: Mapping[str, frozenset[str]] = {
    "draft": frozenset({"open", "void"}),
    "open": frozenset({"paid", "overdue", "void"}),
    "overdue": frozenset({"paid", "uncollectible", "void"}),
    "uncollectible": frozenset({"paid", "void"}),
    "paid": frozenset(),
    "void": frozenset(),
}


def request_in_effect(requested_at: datetime | None, closing_at: datetime) -> bool:
    """A cancel or plan change takes effect at the first close at or after the instant it was
    asked: a period of a backdated catch-up that ended before the request is invoiced as it
    was, not ended or switched early. (None: a request recorded by older code, in effect.)"""
    return requested_at is None or closing_at >= requested_at


def status_from_standings(
    current: SubscriptionStatus, overdue: Mapping[str, Standing]
) -> SubscriptionStatus:
    """A canceled subscription stays canceled; otherwise any suspension suspends it, any overdue
    invoice makes it past due, and it is active once nothing is overdue."""
    if current == "canceled":
        return current
    if "suspend" in overdue.values():
        return "suspended"
    if overdue:
        return "past_due"
    return "active"


def crossed_thresholds(
    quantity: Decimal,
    included: Decimal | None,
    thresholds: Collection[int],
    notified: Collection[int],
) -> list[int]:
    """Percent thresholds of the included usage that `quantity` reached and that were not
    notified yet, lowest first (none without included usage)."""
    if not included:
        return []
    percent = EXACT.multiply(quantity, Decimal(100)) / included
    return sorted(t for t in thresholds if percent >= t and t not in notified)


def check_payment(
    *,
    invoice_number: str,
    invoice_status: InvoiceStatus,
    invoice_currency: str,
    amount: Decimal,
    currency: str | None,
    void_requested: bool = False,
) -> None:
    """Whether an invoice can take a payment; `InvalidAmountError` (a ValueError) says why not:
    another currency, more decimal places than the currency has, a void or draft invoice."""
    if currency is not None and currency != invoice_currency:
        raise InvalidAmountError(
            f"currency: the payment is in {currency}, but invoice {invoice_number} "
            f"is in {invoice_currency}"
        )
    places = minor_units(invoice_currency)
    if amount != round(amount, places):
        raise InvalidAmountError(
            f"amount: {format_decimal(amount)} has more decimal places than "
            f"{invoice_currency} allows ({places})"
        )
    if void_requested or invoice_status == "void":
        raise InvalidAmountError(f"invoice {invoice_number} is void: it cannot be paid")
    if invoice_status == "draft":
        raise InvalidAmountError(f"invoice {invoice_number} is a draft not yet issued")
