"""Invoice terms in the core: number, due date, credit, amount due, payment split, void refund."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing.invoice_terms import (
    amount_due,
    credit_to_apply,
    due_at_for,
    invoice_number,
    split_payment,
    void_refund,
)

D = Decimal


def test_numbers_say_test_mode() -> None:
    assert invoice_number(prefix="PLATFORMA", mode="live", sequence=42) == "PLATFORMA-000042"
    assert invoice_number(prefix="PLATFORMA", mode="test", sequence=1) == "PLATFORMA-TEST-000001"


def test_due_at_is_the_end_of_the_local_day_after_the_terms() -> None:
    issued = datetime(2026, 3, 28, 23, 30, tzinfo=UTC)  # already 29 March in Berlin
    due = due_at_for(issued, payment_terms_days=14, time_zone="Europe/Berlin")
    assert due == datetime(2026, 4, 12, 21, 59, 59, tzinfo=UTC)  # 23:59:59 CEST


@pytest.mark.parametrize(
    ("balance", "total", "credit"),
    [("0", "74.99", "0"), ("10", "74.99", "10"), ("100", "74.99", "74.99"), ("5", "0", "0")],
)
def test_a_new_invoice_takes_the_credit_it_needs(balance: str, total: str, credit: str) -> None:
    assert credit_to_apply(balance=D(balance), total=D(total)) == D(credit)


def test_amount_due_and_payment_split() -> None:
    due = amount_due(status="open", total=D("74.99"), credit_applied=D(10), amount_paid=D(30))
    assert due == D("34.99")
    assert amount_due(status="void", total=D(50), credit_applied=D(0), amount_paid=D(0)) == 0
    assert amount_due(status="paid", total=D(50), credit_applied=D(0), amount_paid=D(60)) == 0
    assert split_payment(D(50), due=due) == (D("34.99"), D("15.01"))
    assert split_payment(D(20), due=due) == (D(20), D(0))
    assert void_refund(credit_applied=D(10), amount_paid=D(30)) == D(40)
