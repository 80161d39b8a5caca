"""Payments: recorded once per payment id, serialised per invoice, overpayment kept as credit.

The invoice row is locked for the whole transaction (PostgreSQL: SELECT ... FOR UPDATE; SQLite:
the transaction starts with BEGIN IMMEDIATE), so concurrent payments see each other's
`amount_paid`: it never exceeds what was paid, nor what was due. The part of a payment beyond
what is due is added to the customer's credit, which the next invoice consumes.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from billing.invoice_terms import split_payment
from billing.money import format_decimal, minor_units, normalise_currency, to_decimal
from billing_db.engine import transaction
from billing_db.errors import (
    CurrencyMismatchError,
    InvalidPaymentAmountError,
    InvoiceNotPayableError,
    PaymentIdReusedError,
)
from billing_db.records import PaymentRecorded
from billing_db.repo_common import RACE_RETRIES, check_aware, check_text, utcnow
from billing_db.repo_invoices import add_credit, amount_due_of, invoice_row, write_status
from billing_db.tables import invoices, payments
from billing_db.types import check_decimal6


def _checked_amount(amount: Decimal | int | str, currency: str) -> Decimal:
    try:
        value = to_decimal(amount)
    except ValueError as error:
        raise InvalidPaymentAmountError(f"amount: {error}") from None
    if value <= 0:
        raise InvalidPaymentAmountError(
            f"amount: a payment must be greater than 0, got {format_decimal(value)}"
        )
    places = minor_units(currency)
    if value != value.quantize(Decimal(1).scaleb(-places)):
        raise InvalidPaymentAmountError(
            f"amount: {format_decimal(value)} has more decimal places than {currency} "
            f"allows ({places})"
        )
    try:
        return check_decimal6(value, field="amount")
    except ValueError as error:
        raise InvalidPaymentAmountError(str(error)) from None


def _result(
    invoice: RowMapping, *, payment_id: str, new: bool, credit_added: Decimal
) -> PaymentRecorded:
    return PaymentRecorded(
        payment_id=payment_id,
        invoice_number=invoice["number"],
        new=new,
        status=invoice["status"],
        amount_paid=invoice["amount_paid"],
        amount_due=amount_due_of(invoice),
        credit_added=credit_added,
    )


def _known(
    connection: Connection, *, payment_id: str, invoice_number: str, amount: Decimal, currency: str
) -> PaymentRecorded | None:
    """The result for a payment id already recorded (or None); reused for anything else: error."""
    row = (
        connection.execute(
            select(payments, invoices.c.number)
            .join(invoices, invoices.c.id == payments.c.invoice_id)
            .where(payments.c.payment_id == payment_id)
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    if (row["number"], row["amount"], row["currency"]) != (invoice_number, amount, currency):
        raise PaymentIdReusedError(
            f"payment_id: {payment_id!r} was already recorded for invoice {row['number']} "
            f"({format_decimal(row['amount'])} {row['currency']})"
        )
    invoice = invoice_row(connection, invoice_number)
    return _result(invoice, payment_id=payment_id, new=False, credit_added=row["credited"])


def _apply(
    connection: Connection,
    *,
    invoice: RowMapping,
    payment_id: str,
    amount: Decimal,
    currency: str,
    received_at: datetime,
) -> PaymentRecorded:
    status = invoice["status"]
    if status in ("void", "draft"):
        why = "it is void" if status == "void" else "it is a draft not yet issued"
        raise InvoiceNotPayableError(f"invoice {invoice['number']} cannot be paid: {why}")
    if currency != invoice["currency"]:
        raise CurrencyMismatchError(
            f"currency: invoice {invoice['number']} is in {invoice['currency']}, "
            f"the payment in {currency}"
        )
    applied, credited = split_payment(amount, due=amount_due_of(invoice))
    payment_row_id = connection.execute(
        insert(payments)
        .values(
            payment_id=payment_id,
            invoice_id=invoice["id"],
            amount=amount,
            currency=currency,
            applied=applied,
            credited=credited,
            received_at=received_at,
            recorded_at=utcnow(),
        )
        .returning(payments.c.id)
    ).scalar_one()
    if applied > 0:
        connection.execute(
            update(invoices)
            .where(invoices.c.id == invoice["id"])
            .values(amount_paid=invoice["amount_paid"] + applied)
        )
    if credited > 0:
        add_credit(
            connection,
            invoice=invoice,
            amount=credited,
            source="overpayment",
            payment_row_id=payment_row_id,
        )
    updated = invoice_row(connection, invoice["number"])
    if status in ("open", "overdue", "uncollectible") and amount_due_of(updated) == 0:
        write_status(
            connection,
            updated,
            to="paid",
            at=received_at,
            reason=f"payment {payment_id}",
            values={"paid_at": received_at},
        )
        updated = invoice_row(connection, invoice["number"])
    return _result(updated, payment_id=payment_id, new=True, credit_added=credited)


def record_payment(
    engine: Engine,
    *,
    invoice_number: str,
    payment_id: str,
    amount: Decimal,
    currency: str,
    received_at: datetime,
) -> PaymentRecorded:
    """Record a payment of an invoice once per `payment_id`.

    The same payment id again changes nothing and returns `new=False` with the invoice's
    current standing; the same id with another invoice, amount or currency raises
    `PaymentIdReusedError`. Paying what is due makes the invoice paid; paying more adds the
    excess to the customer's credit (`credit_added`). Raises, writing nothing:
    `InvalidPaymentAmountError` (not positive, too many decimals), `UnknownCurrencyError`,
    `UnknownInvoiceError`, `InvoiceNotPayableError` (void or draft), `CurrencyMismatchError`.
    """
    check_text(payment_id, field="payment_id", max_length=255)
    code = normalise_currency(currency)
    value = _checked_amount(amount, code)
    received = check_aware(received_at, field="received_at")
    for attempt in range(RACE_RETRIES):
        try:
            with transaction(engine) as connection:
                known = _known(
                    connection,
                    payment_id=payment_id,
                    invoice_number=invoice_number,
                    amount=value,
                    currency=code,
                )
                if known is not None:
                    return known
                invoice = invoice_row(connection, invoice_number, lock=True)
                return _apply(
                    connection,
                    invoice=invoice,
                    payment_id=payment_id,
                    amount=value,
                    currency=code,
                    received_at=received,
                )
        except IntegrityError:
            # A concurrent call recorded the same payment id first: the retry reads it.
            if attempt == RACE_RETRIES - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


__all__ = ["record_payment"]
