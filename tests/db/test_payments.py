"""Payments: once per payment id, partial and over-payment explicit, serialised per invoice."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from billing.errors import UnknownCurrencyError
from billing_db import repo_invoices, repo_payments
from billing_db.errors import (
    CurrencyMismatchError,
    InvalidPaymentAmountError,
    InvoiceNotPayableError,
    PaymentIdReusedError,
    UnknownInvoiceError,
)
from billing_db.records import InvoiceRecord, PaymentRecorded
from billing_db.tables import payments

from db.race import race
from db.scenario import OCTOBER, make_scenario, rated, row_counts

RECEIVED = datetime(2025, 11, 5, 9, 30, tzinfo=UTC)
TOTAL = Decimal("59.99")  # 49.99 + 20% VAT


def _invoice(engine: Engine, *, status: Any = "open") -> InvoiceRecord:
    scenario = make_scenario(engine)
    return repo_invoices.create_invoice(
        engine,
        subscription_id=scenario.subscription_id,
        period=OCTOBER,
        rated=rated(scenario.pricing),
        issued_at=OCTOBER.end,
        payment_terms_days=14,
        status=status,
        watermark=0,
    )


def _pay(
    engine: Engine, number: str, payment_id: str, amount: str, currency: str = "EUR"
) -> PaymentRecorded:
    return repo_payments.record_payment(
        engine,
        invoice_number=number,
        payment_id=payment_id,
        amount=Decimal(amount),
        currency=currency,
        received_at=RECEIVED,
    )


def test_partial_payments_leave_the_rest_due_and_the_last_one_pays_the_invoice(
    engine: Engine,
) -> None:
    invoice = _invoice(engine)
    first = _pay(engine, invoice.number, "pay_1", "20.00")
    assert (first.new, first.status, first.amount_paid, first.amount_due) == (
        True,
        "open",
        Decimal("20.00"),
        Decimal("39.99"),
    )
    second = _pay(engine, invoice.number, "pay_2", "39.99")
    assert (second.status, second.amount_paid, second.amount_due, second.credit_added) == (
        "paid",
        TOTAL,
        Decimal(0),
        Decimal(0),
    )
    stored = repo_invoices.get_invoice(engine, invoice_number=invoice.number)
    assert stored.paid_at == RECEIVED
    assert [p.payment_id for p in stored.payments] == ["pay_1", "pay_2"]
    assert stored.history[-1].reason == "payment pay_2"


def test_an_overpayment_pays_the_invoice_and_the_excess_becomes_credit(engine: Engine) -> None:
    invoice = _invoice(engine)
    result = _pay(engine, invoice.number, "pay_1", "100.00")
    assert (result.status, result.amount_paid, result.credit_added) == (
        "paid",
        TOTAL,
        Decimal("40.01"),
    )
    balance = repo_invoices.customer_credit_balance(
        engine, customer_id=invoice.customer_id, currency="EUR"
    )
    assert balance == Decimal("40.01")


def test_a_payment_of_a_paid_invoice_becomes_credit_entirely(engine: Engine) -> None:
    invoice = _invoice(engine)
    _pay(engine, invoice.number, "pay_1", "59.99")
    late = _pay(engine, invoice.number, "pay_2", "5.00")
    assert (late.status, late.amount_paid, late.credit_added) == ("paid", TOTAL, Decimal("5.00"))


def test_a_repeated_payment_id_changes_nothing(engine: Engine) -> None:
    invoice = _invoice(engine)
    first = _pay(engine, invoice.number, "pay_1", "100.00")
    counts = row_counts(engine)
    again = _pay(engine, invoice.number, "pay_1", "100.00")
    assert again == first.model_copy(update={"new": False})
    assert row_counts(engine) == counts


def test_a_payment_id_reused_for_another_amount_raises_and_writes_nothing(engine: Engine) -> None:
    invoice = _invoice(engine)
    _pay(engine, invoice.number, "pay_1", "10.00")
    counts = row_counts(engine)
    with pytest.raises(PaymentIdReusedError, match="pay_1"):
        _pay(engine, invoice.number, "pay_1", "11.00")
    assert row_counts(engine) == counts


@pytest.mark.parametrize(
    ("amount", "currency", "error"),
    [
        ("0", "EUR", InvalidPaymentAmountError),
        ("-5.00", "EUR", InvalidPaymentAmountError),
        ("1.001", "EUR", InvalidPaymentAmountError),
        ("10.00", "USD", CurrencyMismatchError),
        ("10.00", "EURO", UnknownCurrencyError),
    ],
    ids=["zero", "negative", "sub-cent", "currency-mismatch", "unknown-currency"],
)
def test_a_bad_payment_raises_a_specific_error_and_writes_nothing(
    engine: Engine, amount: str, currency: str, error: type[Exception]
) -> None:
    invoice = _invoice(engine)
    counts = row_counts(engine)
    with pytest.raises(error):
        _pay(engine, invoice.number, "pay_bad", amount, currency)
    assert row_counts(engine) == counts


def test_paying_an_unknown_invoice_raises(engine: Engine) -> None:
    _invoice(engine)
    counts = row_counts(engine)
    with pytest.raises(UnknownInvoiceError):
        _pay(engine, "ACME-999999", "pay_1", "10.00")
    assert row_counts(engine) == counts


@pytest.mark.parametrize("status", ["void", "draft"])
def test_void_and_draft_invoices_cannot_be_paid(engine: Engine, status: str) -> None:
    invoice = _invoice(engine, status="draft")
    if status == "void":
        repo_invoices.change_invoice_status(
            engine, invoice_number=invoice.number, to="void", at=RECEIVED
        )
    counts = row_counts(engine)
    with pytest.raises(InvoiceNotPayableError, match=status):
        _pay(engine, invoice.number, "pay_1", "10.00")
    assert row_counts(engine) == counts


def test_an_overdue_or_uncollectible_invoice_is_paid_by_a_payment(engine: Engine) -> None:
    invoice = _invoice(engine)
    for status in ("overdue", "uncollectible"):
        repo_invoices.change_invoice_status(
            engine,
            invoice_number=invoice.number,
            to=status,
            at=RECEIVED,
        )
    assert _pay(engine, invoice.number, "pay_1", "59.99").status == "paid"


def test_concurrent_payments_never_make_amount_paid_exceed_what_was_paid(engine: Engine) -> None:
    invoice = _invoice(engine)
    counter = iter(range(1000))
    results = race(6, lambda: _pay(engine, invoice.number, f"pay_{next(counter)}", "12.00"))
    stored = repo_invoices.get_invoice(engine, invoice_number=invoice.number)
    paid_in = Decimal("72.00")
    credited = sum((result.credit_added for result in results), Decimal(0))
    assert stored.amount_paid == TOTAL
    assert stored.amount_paid + credited == paid_in
    assert sum((p.applied for p in stored.payments), Decimal(0)) == stored.amount_paid
    assert stored.status == "paid"
    balance = repo_invoices.customer_credit_balance(
        engine, customer_id=invoice.customer_id, currency="EUR"
    )
    assert balance == credited == paid_in - TOTAL


def test_the_same_payment_sent_concurrently_is_recorded_once(engine: Engine) -> None:
    invoice = _invoice(engine)
    results = race(4, lambda: _pay(engine, invoice.number, "pay_dup", "30.00"))
    assert sorted(result.new for result in results) == [False, False, False, True]
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(payments)).scalar() == 1
    stored = repo_invoices.get_invoice(engine, invoice_number=invoice.number)
    assert stored.amount_paid == Decimal("30.00")
