"""Finding an invoice within a mode (and account), and what may be asked of it: a payment
(default: the amount due), a void (not once paid or void), an approval (drafts only)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TypeVar

from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from billing.contracts.invoice import PaymentResult, PaymentSubmission, VoidRequest
from billing.money import round_money
from billing_db import repo_invoices
from billing_db.errors import (
    IllegalStatusTransitionError,
    InvalidPaymentAmountError,
    UnknownInvoiceError,
)
from billing_db.records import InvoiceRecord, Mode
from billing_service import client as billing

T = TypeVar("T")


def find_invoice(
    engine: Engine, *, number: str, mode: Mode, account_id: str | None = None
) -> InvoiceRecord:
    """The invoice in `mode` (and `account_id` when given); any other is "not found"."""
    record = repo_invoices.get_invoice(engine, invoice_number=number)
    if record.mode != mode or (account_id is not None and record.account_id != account_id):
        raise UnknownInvoiceError(f"invoice_number: no invoice {number!r}")  # as if missing
    return record


_TOTALS = ("subtotal", "tax", "total", "credit_applied", "amount_paid", "amount_due")
_MOVED = ("amount", "applied", "credited")


def rounded(record: InvoiceRecord) -> InvoiceRecord:
    """The invoice with every amount to its currency's minor unit (the database keeps 6 places),
    as the API answers it and the CLI prints it."""

    def money(value: Decimal) -> Decimal:
        return round_money(value, record.currency)

    return record.model_copy(
        update={
            **{name: money(getattr(record, name)) for name in _TOTALS},
            "lines": [
                line.model_copy(update={"amount": money(line.amount)}) for line in record.lines
            ],
            "payments": [
                payment.model_copy(update={name: money(getattr(payment, name)) for name in _MOVED})
                for payment in record.payments
            ],
        }
    )


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


#: An invoice stored a moment ago may not have its workflow yet (the subscription starts it
#: right after): a call to it that finds no workflow is retried this long before it is reported.
WORKFLOW_START_GRACE_SECONDS = 15.0


async def _once_started(call: Callable[[], Awaitable[T]]) -> T:
    deadline = time.monotonic() + WORKFLOW_START_GRACE_SECONDS
    while True:
        try:
            return await call()
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND or time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.25)


async def pay(client: Client, number: str, payment: PaymentSubmission) -> PaymentResult:
    """The invoice workflow's `submit_payment` update (refused with the reason if it cannot)."""
    return await _once_started(lambda: billing.pay_invoice(client, number, payment))


async def void(client: Client, number: str, request: VoidRequest) -> None:
    """The invoice workflow's `void_invoice` signal."""
    await _once_started(lambda: billing.void_invoice(client, number, request))


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
