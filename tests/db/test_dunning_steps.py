"""Dunning steps are idempotent by `invoice_status_changes.dunning_step` and its unique
constraint (not by a text match on the reason), and an upgraded database keeps the steps older
code wrote: migration 0003 names them from their reason."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import Engine, insert, select

from billing_db import repo_invoices
from billing_db.engine import make_engine
from billing_db.migrate import alembic_config, pending_changes, upgrade
from billing_db.records import InvoiceRecord
from billing_db.tables import invoice_status_changes, invoices

from db.race import race
from db.scenario import OCTOBER, make_scenario, rated

ISSUED_AT = datetime(2025, 11, 1, 0, 5, tzinfo=UTC)
REMINDED_AT = datetime(2025, 11, 18, tzinfo=UTC)


def _open_invoice(engine: Engine) -> InvoiceRecord:
    scenario = make_scenario(engine)
    return repo_invoices.create_invoice(
        engine,
        subscription_id=scenario.subscription_id,
        period=OCTOBER,
        rated=rated(scenario.pricing, gb="120"),
        issued_at=ISSUED_AT,
        payment_terms_days=14,
        watermark=0,
    )


def _remind(engine: Engine, number: str, step: str = "remind-1", note: str = "first") -> None:
    repo_invoices.record_dunning_step(
        engine, invoice_number=number, step=step, at=REMINDED_AT, note=note
    )


def _steps(engine: Engine) -> list[tuple[str | None, str | None]]:
    """(dunning_step, reason) of every status change, in order."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(invoice_status_changes.c.dunning_step, invoice_status_changes.c.reason).order_by(
                invoice_status_changes.c.id
            )
        ).all()
    return [(step, reason) for step, reason in rows]


def test_a_retried_step_writes_one_row(engine: Engine) -> None:
    number = _open_invoice(engine).number
    _remind(engine, number)
    _remind(engine, number, note="the retry's note differs")
    race(4, lambda: _remind(engine, number))
    _remind(engine, number, step="remind-2", note="second")

    assert _steps(engine) == [
        (None, "created"),
        (None, "issued"),
        ("remind-1", "remind-1: first"),
        ("remind-2", "remind-2: second"),
    ]


def test_a_step_is_told_apart_by_its_column_not_by_a_reason_that_looks_like_it(
    engine: Engine,
) -> None:
    """A status change whose reason merely starts like a step does not stand for that step."""
    invoice = _open_invoice(engine)
    repo_invoices.change_invoice_status(
        engine, invoice_number=invoice.number, to="overdue", at=REMINDED_AT, reason="remind-1: no"
    )
    _remind(engine, invoice.number)

    assert _steps(engine)[-2:] == [(None, "remind-1: no"), ("remind-1", "remind-1: first")]


def test_upgrading_names_the_steps_older_code_wrote(engine: Engine, database_url: str) -> None:
    """Rows as the code before 0003 wrote them (no column) get their step from the reason: the
    same step again after the upgrade writes nothing; other changes stay unnamed."""
    invoice = _open_invoice(engine)
    with engine.begin() as connection:
        invoice_id = connection.execute(
            select(invoices.c.id).where(invoices.c.number == invoice.number)
        ).scalar_one()
        old_style = [
            ("open", "open", "remind-1: reminder 1 at +3 days"),
            ("open", "open", "remind-1: a duplicate an older race could leave"),
            ("open", "overdue", "late: after the payment terms"),
            ("overdue", "overdue", "suspend-2: subscription suspended at +14 days"),
            ("overdue", "overdue", "a note without a step"),
        ]
        connection.execute(
            insert(invoice_status_changes),
            [
                {
                    "invoice_id": invoice_id,
                    "from_status": from_status,
                    "to_status": to_status,
                    "reason": reason,
                    "at": REMINDED_AT,
                }
                for from_status, to_status, reason in old_style
            ],
        )
    engine.dispose()
    command.downgrade(alembic_config(database_url), "0002")
    upgrade(database_url)

    upgraded = make_engine(database_url)
    try:
        _remind(upgraded, invoice.number)
        _remind(upgraded, invoice.number, step="suspend-2")
        steps = _steps(upgraded)
    finally:
        upgraded.dispose()
    assert pending_changes(database_url) == []
    assert steps == [
        (None, "created"),
        (None, "issued"),
        ("remind-1", "remind-1: reminder 1 at +3 days"),
        (None, "remind-1: a duplicate an older race could leave"),
        (None, "late: after the payment terms"),
        ("suspend-2", "suspend-2: subscription suspended at +14 days"),
        (None, "a note without a step"),
    ]
