"""The money and calendar rules of an issued invoice: its number, due date, the credit it
takes, what is still due, how a payment splits, what voiding gives back. Pure: the
repositories persist what these decide."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from billing.lifecycle import InvoiceStatus
from billing.money import ZERO
from billing.periods import zone_info


def invoice_number(*, prefix: str, mode: str, sequence: int) -> str:
    """`PLATFORMA-000042`; test-mode invoices say so: `PLATFORMA-TEST-000042`."""
    middle = "-TEST" if mode == "test" else ""
    return f"{prefix}{middle}-{sequence:06d}"


def due_at_for(issued_at: datetime, *, payment_terms_days: int, time_zone: str) -> datetime:
    """The end of the local day `payment_terms_days` after the local issue date, in UTC."""
    zone = zone_info(time_zone)
    due_day = issued_at.astimezone(zone).date() + timedelta(days=payment_terms_days)
    return datetime.combine(due_day, time(23, 59, 59), tzinfo=zone).astimezone(UTC)


def credit_to_apply(*, balance: Decimal, total: Decimal) -> Decimal:
    """The customer's credit a new invoice takes: as much as it needs, as much as there is."""
    return min(balance, total) if total > 0 and balance > 0 else ZERO


def amount_due(
    *, status: InvoiceStatus | str, total: Decimal, credit_applied: Decimal, amount_paid: Decimal
) -> Decimal:
    """What the customer still owes (nothing on a void invoice, never below zero)."""
    if status == "void":
        return ZERO
    return max(total - credit_applied - amount_paid, ZERO)


def split_payment(amount: Decimal, *, due: Decimal) -> tuple[Decimal, Decimal]:
    """(applied to the invoice, kept as the customer's credit)."""
    applied = min(amount, due)
    return applied, amount - applied


def void_refund(*, credit_applied: Decimal, amount_paid: Decimal) -> Decimal:
    """Voiding gives back what the invoice took: applied credit and payments become credit."""
    return credit_applied + amount_paid
