"""Finding an invoice within a mode (and account), and what may be asked of it: a payment
(default: the amount due), a void (not once paid or void), an approval (drafts only)."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import Engine

from billing.contracts.invoice import PaymentSubmission
from billing_db import repo_invoices
from billing_db.errors import (
    IllegalStatusTransitionError,
    InvalidPaymentAmountError,
    UnknownInvoiceError,
)
from billing_db.records import InvoiceRecord, Mode


def find_invoice(
    engine: Engine, *, number: str, mode: Mode, account_id: str | None = None
) -> InvoiceRecord:
    """The invoice in `mode` (and `account_id` when given); any other is "not found"."""
    record = repo_invoices.get_invoice(engine, invoice_number=number)
    if record.mode != mode or (account_id is not None and record.account_id != account_id):
        raise UnknownInvoiceError(f"invoice_number: no invoice {number!r} in {mode} mode")
    return record


def payment_for(
    record: InvoiceRecord,
    *,
    amount: Decimal | None,
    payment_id: str | None,
    currency: str | None = None,
) -> PaymentSubmission:
    """A payment of `amount` (default: what is due), refused when nothing positive is paid."""
    value = amount if amount is not None else record.amount_due
    if value <= 0:
        raise InvalidPaymentAmountError(
            f"amount: must be positive; invoice {record.number} has nothing due"
        )
    return PaymentSubmission(
        payment_id=payment_id or f"pay_{uuid.uuid4().hex[:16]}",
        amount=value,
        currency=currency,
    )


def check_voidable(record: InvoiceRecord) -> None:
    if record.status in ("paid", "void"):
        raise IllegalStatusTransitionError(
            f"invoice {record.number} is {record.status}: it cannot be voided",
            current=record.status,
            requested="void",
        )


def check_approvable(record: InvoiceRecord) -> None:
    if record.status != "draft":
        raise IllegalStatusTransitionError(
            f"invoice {record.number} is {record.status}: only a draft can be approved",
            current=record.status,
            requested="open",
        )
