"""Invoices: one per subscription period, gap-free numbers, credit, usage marked, statuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from billing.invoice import RatedInvoice
from billing.periods import Period
from billing_db import repo_catalog, repo_invoices, repo_payments, repo_usage
from billing_db.errors import (
    CurrencyMismatchError,
    IllegalStatusTransitionError,
    InvalidRecordError,
    InvoicePeriodConflictError,
    UnknownInvoiceError,
    UnknownSubscriptionError,
)
from billing_db.records import InvoiceRecord
from billing_db.repo_invoices import ALLOWED_TRANSITIONS
from billing_db.tables import usage_events

from db.race import race
from db.scenario import (
    DECEMBER,
    METERS,
    NOVEMBER,
    OCTOBER,
    Scenario,
    event,
    make_scenario,
    rated,
    row_counts,
)

ISSUED_AT = datetime(2025, 11, 1, 0, 5, tzinfo=UTC)


def _create(
    engine: Engine,
    scenario: Scenario,
    *,
    period: Period = OCTOBER,
    gb: str = "0",
    status: Any = "open",
    watermark: int = 0,
    bill: RatedInvoice | None = None,
    subscription_period: Period | None = None,
) -> InvoiceRecord:
    return repo_invoices.create_invoice(
        engine,
        subscription_id=scenario.subscription_id,
        period=period,
        rated=bill or rated(scenario.pricing, gb=gb, period=period),
        issued_at=ISSUED_AT,
        payment_terms_days=14,
        status=status,
        watermark=watermark,
        subscription_period=subscription_period,
    )


def test_an_open_invoice_stores_the_rated_lines_totals_and_dates(engine: Engine) -> None:
    scenario = make_scenario(engine)
    bill = rated(scenario.pricing, gb="350")
    invoice = _create(engine, scenario, bill=bill)
    assert invoice.number == "ACME-000001"
    assert invoice.livemode is True
    assert invoice.status == "open"
    assert invoice.lines == bill.lines
    assert (invoice.subtotal, invoice.tax, invoice.total) == (bill.subtotal, bill.tax, bill.total)
    assert invoice.tax_rate == Decimal("0.20")
    assert invoice.amount_due == bill.total
    assert invoice.issued_at == ISSUED_AT
    # 14 days after 1 Nov (Paris) ends at 23:59:59 on 15 Nov, Paris time (UTC+1).
    assert invoice.due_at == datetime(2025, 11, 15, 22, 59, 59, tzinfo=UTC)
    assert [(c.from_status, c.to_status) for c in invoice.history] == [
        (None, "draft"),
        ("draft", "open"),
    ]
    assert repo_invoices.get_invoice(engine, invoice_number=invoice.number) == invoice


def test_a_second_call_for_the_same_period_returns_the_first_invoice_unchanged(
    engine: Engine,
) -> None:
    scenario = make_scenario(engine)
    first = _create(engine, scenario, gb="200")
    counts = row_counts(engine)
    again = _create(engine, scenario, gb="999")
    assert again == first
    assert row_counts(engine) == counts


def test_issuing_stores_the_subscriptions_next_period_also_on_a_retry(engine: Engine) -> None:
    """The workflow rolls over once the invoice is issued: the invoice's transaction stores the
    period it rolls over to, and so does a retry that finds the invoice (then a status write
    carrying the period stores it whatever the status does)."""
    scenario = make_scenario(engine)
    sub_id = scenario.subscription_id

    def stored() -> Period:
        return repo_catalog.get_subscription(engine, subscription_id=sub_id).current_period

    first = _create(engine, scenario, subscription_period=NOVEMBER)
    after_issue = stored()
    retried = _create(engine, scenario, subscription_period=DECEMBER)
    after_retry = stored()
    repo_catalog.set_subscription_status(
        engine, subscription_id=sub_id, status="active", at=ISSUED_AT, period=OCTOBER
    )
    assert (retried, after_issue, after_retry, stored()) == (first, NOVEMBER, DECEMBER, OCTOBER)


def test_another_end_for_an_invoiced_period_start_is_a_conflict(engine: Engine) -> None:
    scenario = make_scenario(engine)
    _create(engine, scenario)
    counts = row_counts(engine)
    shorter = Period(start=OCTOBER.start, end=OCTOBER.start + timedelta(days=10))
    with pytest.raises(InvoicePeriodConflictError, match="ACME-000001"):
        _create(engine, scenario, period=shorter)
    assert row_counts(engine) == counts


def test_numbers_are_gap_free_per_account_and_mode(engine: Engine) -> None:
    live = make_scenario(engine)
    test = make_scenario(
        engine,
        account_id="acct_sandbox",
        mode="test",
        subscription_id="sub_t",
        customer_id="cus_t",
    )
    numbers = [
        _create(engine, live, period=OCTOBER).number,
        _create(engine, test, period=OCTOBER).number,
        _create(engine, live, period=NOVEMBER).number,
    ]
    with pytest.raises(CurrencyMismatchError):
        _create(engine, live, period=DECEMBER, bill=_in_usd(live))
    numbers.append(_create(engine, live, period=DECEMBER).number)
    assert numbers == ["ACME-000001", "SANDBOX-TEST-000001", "ACME-000002", "ACME-000003"]
    sandbox = repo_invoices.get_invoice(engine, invoice_number="SANDBOX-TEST-000001")
    assert (sandbox.mode, sandbox.livemode) == ("test", False)


def _in_usd(scenario: Scenario) -> RatedInvoice:
    bill = rated(scenario.pricing)
    return bill.model_copy(update={"currency": "USD"})


def test_a_currency_other_than_the_pricing_raises_and_writes_nothing(engine: Engine) -> None:
    scenario = make_scenario(engine)
    counts = row_counts(engine)
    with pytest.raises(CurrencyMismatchError, match="EUR"):
        _create(engine, scenario, bill=_in_usd(scenario))
    assert row_counts(engine) == counts


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"status": "paid"}, InvalidRecordError),
        ({"watermark": -1}, InvalidRecordError),
        ({"payment_terms_days": -3}, InvalidRecordError),
        ({"issued_at": datetime(2025, 11, 1)}, InvalidRecordError),
        ({"subscription_id": "sub_missing"}, UnknownSubscriptionError),
    ],
    ids=["status", "watermark", "payment-terms", "naive-issue-date", "unknown-subscription"],
)
def test_bad_invoice_input_raises_and_writes_nothing(
    engine: Engine, change: dict[str, Any], error: type[Exception]
) -> None:
    scenario = make_scenario(engine)
    counts = row_counts(engine)
    arguments: dict[str, Any] = {
        "subscription_id": scenario.subscription_id,
        "period": OCTOBER,
        "rated": rated(scenario.pricing),
        "issued_at": ISSUED_AT,
        "payment_terms_days": 14,
        "status": "open",
        "watermark": 0,
        **change,
    }
    with pytest.raises(error):
        repo_invoices.create_invoice(engine, **arguments)
    assert row_counts(engine) == counts


def test_two_tasks_creating_the_same_periods_invoice_at_once_make_one(engine: Engine) -> None:
    scenario = make_scenario(engine)
    results = race(4, lambda: _create(engine, scenario, gb="120"))
    assert len({result.number for result in results}) == 1
    assert repo_invoices.list_invoices(engine, subscription_id=scenario.subscription_id) == [
        results[0]
    ]
    # The losers rolled back their numbers: the next invoice is number 2.
    assert _create(engine, scenario, period=NOVEMBER).number == "ACME-000002"


def test_creating_an_invoice_marks_the_counted_usage_as_billed(engine: Engine) -> None:
    scenario = make_scenario(engine)
    sub = scenario.subscription_id
    october = datetime(2025, 10, 10, tzinfo=UTC)
    repo_usage.record_usage(
        engine,
        subscription_id=sub,
        events=[
            event("a", 5, at=october),
            event("next-period", 7, at=NOVEMBER.start),
        ],
    )
    usage = repo_usage.period_usage(engine, subscription_id=sub, period=OCTOBER, meters=METERS)
    repo_usage.record_usage(engine, subscription_id=sub, events=[event("b", 1, at=october)])
    invoice = _create(engine, scenario, gb="5", watermark=usage.watermark)
    with engine.connect() as connection:
        billed = dict(
            connection.execute(select(usage_events.c.event_id, usage_events.c.invoice_id)).all()
        )
        invoice_id = billed["a"]
    assert invoice_id is not None
    assert billed == {"a": invoice_id, "next-period": None, "b": None}
    assert invoice.usage_watermark == usage.watermark


def test_customer_credit_is_applied_to_the_next_invoice(engine: Engine) -> None:
    scenario = make_scenario(engine)
    october = _create(engine, scenario)  # 49.99 + 20% = 59.99
    repo_payments.record_payment(
        engine,
        invoice_number=october.number,
        payment_id="pay_1",
        amount=Decimal("100.00"),
        currency="EUR",
        received_at=ISSUED_AT,
    )
    november = _create(engine, scenario, period=NOVEMBER)
    assert november.credit_applied == Decimal("40.01")
    assert november.amount_due == Decimal("19.98")
    balance = repo_invoices.customer_credit_balance(
        engine, customer_id=scenario.customer_id, currency="EUR"
    )
    assert balance == 0


def test_an_invoice_fully_covered_by_credit_is_paid_at_once(engine: Engine) -> None:
    scenario = make_scenario(engine)
    october = _create(engine, scenario)
    repo_payments.record_payment(
        engine,
        invoice_number=october.number,
        payment_id="pay_big",
        amount=Decimal("200.00"),
        currency="EUR",
        received_at=ISSUED_AT,
    )
    november = _create(engine, scenario, period=NOVEMBER)
    assert (november.status, november.credit_applied, november.amount_due) == (
        "paid",
        Decimal("59.99"),
        Decimal(0),
    )


# --- status changes --------------------------------------------------------------------------

STATUSES = ("draft", "open", "paid", "overdue", "void", "uncollectible")
#: How to bring a fresh open invoice into each status through allowed transitions.
PATHS: dict[str, list[str]] = {
    "draft": [],
    "open": ["open"],
    "paid": ["open", "paid"],
    "overdue": ["open", "overdue"],
    "void": ["void"],
    "uncollectible": ["open", "overdue", "uncollectible"],
}
AT = datetime(2025, 11, 20, tzinfo=UTC)


def _invoice_in(engine: Engine, status: str) -> InvoiceRecord:
    scenario = make_scenario(engine)
    invoice = _create(engine, scenario, status="draft")
    for step in PATHS[status]:
        invoice = repo_invoices.change_invoice_status(
            engine,
            invoice_number=invoice.number,
            to=step,  # type: ignore[arg-type]
            at=AT,
        )
    assert invoice.status == status
    return invoice


@pytest.mark.parametrize(
    ("current", "target"),
    [(current, target) for current in STATUSES for target in sorted(ALLOWED_TRANSITIONS[current])],
)
def test_every_allowed_transition_is_taken_and_recorded(
    engine: Engine, current: str, target: str
) -> None:
    invoice = _invoice_in(engine, current)
    changed = repo_invoices.change_invoice_status(
        engine,
        invoice_number=invoice.number,
        to=target,  # type: ignore[arg-type]
        at=AT,
        reason="test",
    )
    assert changed.status == target
    assert (changed.history[-1].from_status, changed.history[-1].to_status) == (current, target)
    assert changed.history[:-1] == invoice.history


@pytest.mark.parametrize("current", STATUSES)
def test_an_illegal_transition_raises_and_writes_nothing(engine: Engine, current: str) -> None:
    invoice = _invoice_in(engine, current)
    counts = row_counts(engine)
    illegal = [s for s in STATUSES if s != current and s not in ALLOWED_TRANSITIONS[current]]
    for target in illegal:
        with pytest.raises(IllegalStatusTransitionError, match=f"from {current} to {target}"):
            repo_invoices.change_invoice_status(
                engine,
                invoice_number=invoice.number,
                to=target,  # type: ignore[arg-type]
                at=AT,
            )
    assert row_counts(engine) == counts
    assert repo_invoices.get_invoice(engine, invoice_number=invoice.number) == invoice


@pytest.mark.parametrize("current", STATUSES)
def test_changing_to_the_same_status_is_a_no_op(engine: Engine, current: str) -> None:
    invoice = _invoice_in(engine, current)
    again = repo_invoices.change_invoice_status(
        engine,
        invoice_number=invoice.number,
        to=current,  # type: ignore[arg-type]
        at=AT + timedelta(days=1),
    )
    assert again == invoice


def test_approving_a_draft_issues_it_with_the_due_date_of_the_approval_day(
    engine: Engine,
) -> None:
    scenario = make_scenario(engine, time_zone="America/New_York")
    draft = _create(engine, scenario, status="draft")
    assert (draft.status, draft.issued_at, draft.due_at) == ("draft", None, None)
    approved_at = datetime(2025, 11, 3, 15, tzinfo=UTC)
    approved = repo_invoices.approve_invoice(engine, invoice_number=draft.number, at=approved_at)
    assert approved.status == "open"
    assert approved.issued_at == approved_at
    # 3 Nov + 14 days = 17 Nov, end of day in New York (UTC-5).
    assert approved.due_at == datetime(2025, 11, 18, 4, 59, 59, tzinfo=UTC)
    assert repo_invoices.approve_invoice(engine, invoice_number=draft.number, at=AT) == approved


def test_voiding_returns_applied_credit_and_payments_to_the_customer(engine: Engine) -> None:
    scenario = make_scenario(engine)
    invoice = _create(engine, scenario)
    repo_payments.record_payment(
        engine,
        invoice_number=invoice.number,
        payment_id="pay_part",
        amount=Decimal("10.00"),
        currency="EUR",
        received_at=AT,
    )
    void = repo_invoices.change_invoice_status(
        engine, invoice_number=invoice.number, to="void", at=AT, reason="duplicate"
    )
    assert (void.status, void.amount_due) == ("void", Decimal(0))
    balance = repo_invoices.customer_credit_balance(
        engine, customer_id=scenario.customer_id, currency="EUR"
    )
    assert balance == Decimal("10.00")


def test_an_unknown_invoice_number_raises(engine: Engine) -> None:
    with pytest.raises(UnknownInvoiceError, match="NOPE-1"):
        repo_invoices.change_invoice_status(engine, invoice_number="NOPE-1", to="void", at=AT)


def test_invoices_are_listed_by_filters(engine: Engine) -> None:
    scenario = make_scenario(engine)
    october = _create(engine, scenario)
    november = _create(engine, scenario, period=NOVEMBER, status="draft")
    assert repo_invoices.list_invoices(engine, account_id=scenario.account_id) == [
        october,
        november,
    ]
    assert repo_invoices.list_invoices(engine, statuses=["draft"]) == [november]
    assert repo_invoices.list_invoices(engine, customer_id="cus_other") == []
    found = repo_invoices.get_invoice_for_period(
        engine, subscription_id=scenario.subscription_id, period=NOVEMBER
    )
    assert found == november
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(usage_events)).scalar() == 0
