"""Status rules of the core: a subscription's status from its invoices' standings, usage
thresholds, and the period a usage event counts in."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing.errors import InvalidAmountError
from billing.lifecycle import (
    INVOICE_TRANSITIONS,
    SUBSCRIPTION_TRANSITIONS,
    InvoiceStatus,
    Standing,
    SubscriptionStatus,
    check_payment,
    crossed_thresholds,
    status_from_standings,
)
from billing.periods import Period, period_after, period_of

OCT = Period(start=datetime(2026, 10, 1, tzinfo=UTC), end=datetime(2026, 11, 1, tzinfo=UTC))
NOV = Period(start=datetime(2026, 11, 1, tzinfo=UTC), end=datetime(2026, 12, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    ("current", "overdue", "expected"),
    [
        ("active", {}, "active"),
        ("active", {"INV-1": "overdue"}, "past_due"),
        ("past_due", {"INV-1": "overdue", "INV-2": "suspend"}, "suspended"),
        ("suspended", {"INV-2": "overdue"}, "past_due"),
        ("suspended", {}, "active"),
        ("canceled", {"INV-1": "suspend"}, "canceled"),
    ],
)
def test_status_follows_the_worst_standing_unless_canceled(
    current: SubscriptionStatus, overdue: dict[str, Standing], expected: str
) -> None:
    assert status_from_standings(current, overdue) == expected


def test_every_status_the_rule_gives_is_a_transition_the_repository_allows() -> None:
    standings: list[dict[str, Standing]] = [{}, {"I": "overdue"}, {"I": "suspend"}]
    currents: list[SubscriptionStatus] = ["active", "past_due", "suspended"]
    for current in currents:
        for overdue in standings:
            after = status_from_standings(current, overdue)
            assert after == current or after in SUBSCRIPTION_TRANSITIONS[current]
    assert not SUBSCRIPTION_TRANSITIONS["canceled"]
    assert not INVOICE_TRANSITIONS["paid"]
    assert not INVOICE_TRANSITIONS["void"]


@pytest.mark.parametrize(
    ("quantity", "included", "notified", "expected"),
    [
        ("79.99", "100", [], []),
        ("80", "100", [], [80]),
        ("95", "100", [80], [90]),
        ("350", "100", [], [80, 90, 100]),
        ("350", None, [], []),
        ("350", "0", [], []),
    ],
)
def test_thresholds_crossed_and_not_yet_notified(
    quantity: str, included: str | None, notified: list[int], expected: list[int]
) -> None:
    limit = None if included is None else Decimal(included)
    assert crossed_thresholds(Decimal(quantity), limit, [100, 80, 90], notified) == expected


def test_usage_counts_in_the_period_of_its_timestamp() -> None:
    def of(instant: datetime, closing_at: datetime | None = None) -> Period | None:
        return period_of(instant, current=OCT, closing_at=closing_at, invoice_day=1, tz="UTC")

    assert of(OCT.start - timedelta(seconds=1)) is None  # late: an earlier period's
    assert of(OCT.start + timedelta(days=3)) == OCT
    assert of(NOV.start + timedelta(days=3)) == NOV  # sent during a catch-up
    assert of(datetime(2027, 1, 15, tzinfo=UTC)).start == datetime(2027, 1, 1, tzinfo=UTC)  # type: ignore[union-attr]
    # Closing early (a cancel or plan change now): after the close, the rest of the period.
    mid = OCT.start + timedelta(days=10)
    assert of(mid - timedelta(seconds=1), closing_at=mid) == OCT
    assert of(mid, closing_at=mid) == Period(start=mid, end=OCT.end)


def test_the_period_after_a_close() -> None:
    mid = OCT.start + timedelta(days=10)
    assert period_after(OCT, closing_at=mid, invoice_day=1, tz="UTC") == Period(
        start=mid, end=OCT.end
    )
    assert period_after(OCT, closing_at=OCT.end, invoice_day=1, tz="UTC") == NOV


@pytest.mark.parametrize(
    ("status", "amount", "currency", "void", "reason"),
    [
        ("open", "10.00", "USD", False, "currency: the payment is in USD, but invoice INV-1"),
        ("open", "10.001", None, False, "amount: 10.001 has more decimal places than EUR"),
        ("open", "10", None, True, "invoice INV-1 is void"),
        ("void", "10", "EUR", False, "invoice INV-1 is void"),
        ("draft", "10", None, False, "invoice INV-1 is a draft not yet issued"),
    ],
)
def test_a_payment_an_invoice_cannot_take_is_refused_with_the_reason(
    status: InvoiceStatus, amount: str, currency: str | None, void: bool, reason: str
) -> None:
    with pytest.raises(InvalidAmountError, match=re.escape(reason)):
        check_payment(
            invoice_number="INV-1",
            invoice_status=status,
            invoice_currency="EUR",
            amount=Decimal(amount),
            currency=currency,
            void_requested=void,
        )


@pytest.mark.parametrize("status", ["open", "overdue", "uncollectible", "paid"])
def test_an_issued_invoice_takes_a_payment_in_its_currency(status: InvoiceStatus) -> None:
    check_payment(
        invoice_number="INV-1",
        invoice_status=status,
        invoice_currency="EUR",
        amount=Decimal("74.99"),
        currency="EUR",
    )
