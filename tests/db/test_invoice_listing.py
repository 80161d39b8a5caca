"""Listing invoices costs a fixed number of statements, whatever the number of invoices (their
lines, payments and history are read for the whole page at once, not once per invoice), and
lists the same records as reading each invoice alone."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, event

from billing.periods import Period
from billing_db import repo_invoices, repo_listing, repo_payments
from billing_db.records import InvoiceRecord

from db.scenario import Scenario, make_scenario, rated

PAGE = 20


def _first_of(month: int) -> datetime:
    """The first of the `month`-th month counted from January 2024 (0)."""
    return datetime(2024 + month // 12, month % 12 + 1, 1, tzinfo=UTC)


def _month(index: int) -> Period:
    return Period(start=_first_of(index), end=_first_of(index + 1))


def _invoices(engine: Engine, scenario: Scenario, months: range) -> list[str]:
    """An invoice for each of `months`; every third is part-paid, every fourth reminded."""
    numbers = []
    for index in months:
        period = _month(index)
        invoice = repo_invoices.create_invoice(
            engine,
            subscription_id=scenario.subscription_id,
            period=period,
            rated=rated(scenario.pricing, gb=str(100 + 10 * index), period=period),
            issued_at=period.end,
            payment_terms_days=14,
            watermark=0,
        )
        if index % 3 == 0:
            repo_payments.record_payment(
                engine,
                invoice_number=invoice.number,
                payment_id=f"pay_{index}",
                amount=Decimal("10.00"),
                currency="EUR",
                received_at=period.end + timedelta(days=1),
            )
        if index % 4 == 0:
            repo_invoices.record_dunning_step(
                engine,
                invoice_number=invoice.number,
                step="remind-1",
                at=period.end + timedelta(days=17),
                note="first reminder",
            )
        numbers.append(invoice.number)
    return numbers


@contextmanager
def _counted(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements `engine` runs meanwhile."""
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _statements(engine: Engine, listing: Callable[[], list[InvoiceRecord]]) -> int:
    with _counted(engine) as statements:
        listing()
    return len(statements)


def _page(engine: Engine, scenario: Scenario) -> list[InvoiceRecord]:
    records, _more = repo_listing.invoices_page(
        engine, account_id=scenario.account_id, mode="live", limit=PAGE
    )
    return records


def _list(engine: Engine, scenario: Scenario) -> list[InvoiceRecord]:
    return repo_invoices.list_invoices(engine, account_id=scenario.account_id, limit=PAGE)


def test_a_page_of_invoices_costs_the_same_statements_as_a_page_of_two(engine: Engine) -> None:
    scenario = make_scenario(engine)
    numbers = _invoices(engine, scenario, range(2))
    listings = {"page": lambda: _page(engine, scenario), "list": lambda: _list(engine, scenario)}
    few = {name: _statements(engine, listing) for name, listing in listings.items()}
    numbers += _invoices(engine, scenario, range(2, PAGE))
    many = {name: _statements(engine, listing) for name, listing in listings.items()}

    alone = [repo_invoices.get_invoice(engine, invoice_number=number) for number in numbers]
    assert len(alone) == PAGE
    assert many == few
    assert many["list"] <= 6, many
    assert _page(engine, scenario) == alone
    assert _list(engine, scenario) == alone
