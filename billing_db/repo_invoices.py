"""Invoices: create one per subscription period, number them without gaps, move their status.

Numbers are gap-free and sequential per account and mode: `<PREFIX>-000001` in live mode and
`<PREFIX>-TEST-000001` in test mode, where PREFIX is the account's `invoice_prefix`. The counter
row (`invoice_sequences`) is incremented inside the invoice's own transaction, so a rolled-back
invoice never consumes a number, and concurrent creators queue on that row.

Due date: the end (23:59:59) of the local day `payment_terms_days` calendar days after the local
issue date, in the customer's time zone. The invoice is overdue after that instant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, Connection, Engine, Select, Table, func, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from billing.errors import BillingError
from billing.invoice import InvoiceLine, RatedInvoice
from billing.invoice_terms import (
    amount_due,
    credit_to_apply,
    due_at_for,
    invoice_number,
    void_refund,
)
from billing.lifecycle import INVOICE_TRANSITIONS
from billing.money import ZERO
from billing.periods import Period
from billing_db.engine import transaction
from billing_db.errors import (
    CurrencyMismatchError,
    IllegalStatusTransitionError,
    InvalidRecordError,
    InvoicePeriodConflictError,
    UnknownInvoiceError,
)
from billing_db.records import (
    InvoiceRecord,
    InvoiceStatus,
    PaymentRecord,
    StatusChangeRecord,
)
from billing_db.repo_catalog import (
    read_account,
    read_customer,
    read_pricing_version,
    read_subscription,
    write_subscription_period,
)
from billing_db.repo_common import RACE_RETRIES, check_aware, upsert_into, utcnow
from billing_db.repo_usage_rollups import refresh_unbilled
from billing_db.tables import (
    customer_credits,
    customers,
    invoice_lines,
    invoice_sequences,
    invoice_status_changes,
    invoices,
    payments,
    usage_events,
)
from billing_db.types import check_decimal6

ALLOWED_TRANSITIONS = INVOICE_TRANSITIONS
#: Statuses in which an invoice has been issued to the customer.
ISSUED = frozenset({"open", "overdue", "uncollectible", "paid"})
MAX_PAYMENT_TERMS_DAYS = 3650


# --- reading ---------------------------------------------------------------------------------


def _line(row: RowMapping) -> InvoiceLine:
    return InvoiceLine(
        kind=row["kind"],
        description=row["description"],
        meter_id=row["meter_id"],
        quantity=row["quantity"],
        unit=row["unit"],
        amount=row["amount"],
        tiers=row["tiers"],
        period_start=row["period_start"],
        period_end=row["period_end"],
    )


def amount_due_of(row: RowMapping) -> Decimal:
    """What the customer still owes on an invoice row (nothing on a void one)."""
    return amount_due(
        status=row["status"],
        total=row["total"],
        credit_applied=row["credit_applied"],
        amount_paid=row["amount_paid"],
    )


def _by_invoice(
    connection: Connection, table: Table, invoice_ids: list[int], *order: Column[Any]
) -> dict[int, list[RowMapping]]:
    """The rows of `table` belonging to any of `invoice_ids`, in one query, grouped by invoice."""
    grouped: dict[int, list[RowMapping]] = {invoice_id: [] for invoice_id in invoice_ids}
    if invoice_ids:
        query = select(table).where(table.c.invoice_id.in_(invoice_ids)).order_by(*order)
        for row in connection.execute(query).mappings():
            grouped[row["invoice_id"]].append(row)
    return grouped


def _records(connection: Connection, rows: Sequence[RowMapping]) -> list[InvoiceRecord]:
    """The invoices of `rows` with their lines, payments and history: three queries in all,
    whatever the number of invoices (a page of a list is not one query per invoice)."""
    ids = [row["id"] for row in rows]
    lines = _by_invoice(
        connection, invoice_lines, ids, invoice_lines.c.invoice_id, invoice_lines.c.position
    )
    paid = _by_invoice(connection, payments, ids, payments.c.id)
    history = _by_invoice(connection, invoice_status_changes, ids, invoice_status_changes.c.id)
    return [_assemble(row, lines[row["id"]], paid[row["id"]], history[row["id"]]) for row in rows]


def _record(connection: Connection, row: RowMapping) -> InvoiceRecord:
    return _records(connection, [row])[0]


def _assemble(
    row: RowMapping,
    lines: list[RowMapping],
    paid: list[RowMapping],
    history: list[RowMapping],
) -> InvoiceRecord:
    return InvoiceRecord(
        number=row["number"],
        account_id=row["account_id"],
        mode=row["mode"],
        livemode=row["mode"] == "live",
        subscription_id=row["subscription_id"],
        customer_id=row["customer_id"],
        status=row["status"],
        currency=row["currency"],
        period=Period(start=row["period_start"], end=row["period_end"]),
        created_at=row["created_at"],
        issued_at=row["issued_at"],
        due_at=row["due_at"],
        paid_at=row["paid_at"],
        payment_terms_days=row["payment_terms_days"],
        subtotal=row["subtotal"],
        tax_rate=row["tax_rate"],
        tax=row["tax"],
        total=row["total"],
        credit_applied=row["credit_applied"],
        amount_paid=row["amount_paid"],
        amount_due=amount_due_of(row),
        usage_watermark=row["usage_watermark"],
        lines=[_line(line) for line in lines],
        payments=[
            PaymentRecord(
                payment_id=payment["payment_id"],
                amount=payment["amount"],
                currency=payment["currency"],
                applied=payment["applied"],
                credited=payment["credited"],
                received_at=payment["received_at"],
            )
            for payment in paid
        ],
        history=[
            StatusChangeRecord(
                from_status=change["from_status"],
                to_status=change["to_status"],
                reason=change["reason"],
                at=change["at"],
            )
            for change in history
        ],
    )


def invoice_row(connection: Connection, invoice_number: str, *, lock: bool = False) -> RowMapping:
    """The invoice's row (locked FOR UPDATE on PostgreSQL when `lock`), or UnknownInvoiceError."""
    query: Select[Any] = select(invoices).where(invoices.c.number == invoice_number)
    if lock:
        query = query.with_for_update()
    row = connection.execute(query).mappings().first()
    if row is None:
        raise UnknownInvoiceError(f"invoice_number: no invoice {invoice_number!r}")
    return row


def read_invoice(connection: Connection, invoice_number: str) -> InvoiceRecord:
    return _record(connection, invoice_row(connection, invoice_number))


def _period_row(connection: Connection, subscription_id: str, start: datetime) -> RowMapping | None:
    query = select(invoices).where(
        invoices.c.subscription_id == subscription_id, invoices.c.period_start == start
    )
    return connection.execute(query).mappings().first()


def get_invoice(engine: Engine, *, invoice_number: str) -> InvoiceRecord:
    """The invoice with its lines, payments and status history."""
    with transaction(engine, write=False) as connection:
        return read_invoice(connection, invoice_number)


def get_invoice_for_period(
    engine: Engine, *, subscription_id: str, period: Period
) -> InvoiceRecord | None:
    """The subscription's invoice for the period starting at `period.start`, if any."""
    with transaction(engine, write=False) as connection:
        row = _period_row(connection, subscription_id, period.start)
        return None if row is None else _record(connection, row)


def list_invoices(
    engine: Engine,
    *,
    account_id: str | None = None,
    subscription_id: str | None = None,
    customer_id: str | None = None,
    statuses: Sequence[InvoiceStatus] | None = None,
    limit: int = 100,
) -> list[InvoiceRecord]:
    """Invoices matching every filter given, oldest period first."""
    query: Select[Any] = select(invoices)
    if account_id is not None:
        query = query.where(invoices.c.account_id == account_id)
    if subscription_id is not None:
        query = query.where(invoices.c.subscription_id == subscription_id)
    if customer_id is not None:
        query = query.where(invoices.c.customer_id == customer_id)
    if statuses is not None:
        query = query.where(invoices.c.status.in_(list(statuses)))
    query = query.order_by(invoices.c.period_start, invoices.c.id).limit(limit)
    with transaction(engine, write=False) as connection:
        return _records(connection, connection.execute(query).mappings().all())


# --- customer credit -------------------------------------------------------------------------


def credit_balance_in(connection: Connection, *, customer_id: str, currency: str) -> Decimal:
    value = connection.execute(
        select(func.sum(customer_credits.c.amount)).where(
            customer_credits.c.customer_id == customer_id,
            customer_credits.c.currency == currency,
        )
    ).scalar()
    return value if isinstance(value, Decimal) else ZERO


def customer_credit_balance(engine: Engine, *, customer_id: str, currency: str) -> Decimal:
    """The customer's unused credit in `currency` (overpayments and refunded invoices)."""
    with transaction(engine, write=False) as connection:
        read_customer(connection, customer_id)
        return credit_balance_in(connection, customer_id=customer_id, currency=currency)


def add_credit(
    connection: Connection,
    *,
    invoice: RowMapping,
    amount: Decimal,
    source: str,
    payment_row_id: int | None = None,
) -> None:
    """Append a ledger entry (positive: credit given, negative: credit consumed)."""
    connection.execute(
        insert(customer_credits).values(
            account_id=invoice["account_id"],
            customer_id=invoice["customer_id"],
            currency=invoice["currency"],
            amount=amount,
            source=source,
            payment_id=payment_row_id,
            invoice_id=invoice["id"],
            created_at=utcnow(),
        )
    )


# --- status changes --------------------------------------------------------------------------


def write_status(
    connection: Connection,
    invoice: RowMapping,
    *,
    to: str,
    at: datetime,
    reason: str | None,
    values: Mapping[str, Any] | None = None,
) -> None:
    """Set the invoice's status (plus `values`) and append the change to its history."""
    connection.execute(
        update(invoices).where(invoices.c.id == invoice["id"]).values(status=to, **(values or {}))
    )
    connection.execute(
        insert(invoice_status_changes).values(
            invoice_id=invoice["id"],
            from_status=invoice["status"],
            to_status=to,
            reason=reason,
            at=at,
        )
    )


def _open(connection: Connection, invoice: RowMapping, *, at: datetime) -> None:
    """draft -> open: set the issue and due dates; with nothing due it is paid at once."""
    customer = read_customer(connection, invoice["customer_id"])
    due_at = due_at_for(
        at, payment_terms_days=invoice["payment_terms_days"], time_zone=customer.time_zone
    )
    write_status(
        connection,
        invoice,
        to="open",
        at=at,
        reason="issued",
        values={"issued_at": at, "due_at": due_at},
    )
    opened = invoice_row(connection, invoice["number"])
    _settle_if_nothing_due(connection, opened, at=at)


def _settle_if_nothing_due(connection: Connection, invoice: RowMapping, *, at: datetime) -> None:
    if invoice["status"] in ("open", "overdue", "uncollectible") and amount_due_of(invoice) == 0:
        if invoice["total"] < 0:
            add_credit(connection, invoice=invoice, amount=-invoice["total"], source="invoice")
        write_status(
            connection, invoice, to="paid", at=at, reason="nothing due", values={"paid_at": at}
        )


def _void(connection: Connection, invoice: RowMapping, *, at: datetime, reason: str | None) -> None:
    """Voiding gives back what the invoice took: applied credit and payments become credit."""
    refund = void_refund(
        credit_applied=invoice["credit_applied"], amount_paid=invoice["amount_paid"]
    )
    if refund > 0:
        add_credit(connection, invoice=invoice, amount=refund, source="adjustment")
    write_status(connection, invoice, to="void", at=at, reason=reason)


def change_invoice_status(
    engine: Engine,
    *,
    invoice_number: str,
    to: InvoiceStatus,
    at: datetime,
    reason: str | None = None,
) -> InvoiceRecord:
    """Move an invoice along ALLOWED_TRANSITIONS; the same status again changes nothing.

    draft -> open issues it (as `approve_invoice`); -> paid sets paid_at; -> void returns the
    applied credit and any payments to the customer's credit. An illegal change raises
    `IllegalStatusTransitionError` and writes nothing.
    """
    when = check_aware(at, field="at")
    if to not in ALLOWED_TRANSITIONS:
        raise InvalidRecordError(f"to: unknown invoice status {to!r}")
    with transaction(engine) as connection:
        invoice = invoice_row(connection, invoice_number, lock=True)
        current = invoice["status"]
        if current == to:
            return _record(connection, invoice)
        if to not in ALLOWED_TRANSITIONS[current]:
            allowed = ", ".join(sorted(ALLOWED_TRANSITIONS[current])) or "none (final)"
            raise IllegalStatusTransitionError(
                f"invoice {invoice_number} cannot go from {current} to {to} "
                f"(allowed from {current}: {allowed})",
                current=current,
                requested=to,
            )
        if to == "open":
            _open(connection, invoice, at=when)
        elif to == "void":
            _void(connection, invoice, at=when, reason=reason)
        elif to == "paid":
            write_status(
                connection, invoice, to=to, at=when, reason=reason, values={"paid_at": when}
            )
        else:
            write_status(connection, invoice, to=to, at=when, reason=reason)
        return read_invoice(connection, invoice_number)


def record_dunning_step(
    engine: Engine, *, invoice_number: str, step: str, at: datetime, note: str
) -> InvoiceRecord:
    """Append a dunning step that keeps the invoice's status (a reminder, the subscription's
    suspension) to its history: a change from and to the current status, with the reason
    `"<step>: <note>"` and the step in `dunning_step`. `step` names the step uniquely per
    invoice (e.g. `remind-1`): the same step again (an activity retry) writes nothing, by the
    unique (invoice, step) and an insert that ignores the conflict. Raises
    `UnknownInvoiceError`, or `IllegalStatusTransitionError` for an invoice that was never
    issued (draft, void).
    """
    when = check_aware(at, field="at")
    key = step.strip()
    if not key or ":" in key or len(key) > 64:
        raise InvalidRecordError(f"step: 1-64 characters without ':', got {step!r}")
    with transaction(engine) as connection:
        invoice = invoice_row(connection, invoice_number, lock=True)
        if invoice["status"] not in ISSUED:
            raise IllegalStatusTransitionError(
                f"invoice {invoice_number} is {invoice['status']}: no dunning step applies",
                current=invoice["status"],
                requested=invoice["status"],
            )
        connection.execute(
            upsert_into(connection, invoice_status_changes)
            .values(
                invoice_id=invoice["id"],
                from_status=invoice["status"],
                to_status=invoice["status"],
                reason=f"{key}: {note}"[:500],
                at=when,
                dunning_step=key,
            )
            .on_conflict_do_nothing(index_elements=["invoice_id", "dunning_step"])
        )
        return read_invoice(connection, invoice_number)


def approve_invoice(engine: Engine, *, invoice_number: str, at: datetime) -> InvoiceRecord:
    """Issue a draft (draft -> open, issue date `at`, due date from the payment terms). An
    invoice already issued is returned unchanged; a void one raises."""
    with transaction(engine, write=False) as connection:
        status = invoice_row(connection, invoice_number)["status"]
    if status in ISSUED:
        return get_invoice(engine, invoice_number=invoice_number)
    return change_invoice_status(engine, invoice_number=invoice_number, to="open", at=at)


# --- creation --------------------------------------------------------------------------------


def _check_rated(rated: RatedInvoice) -> None:
    """Every amount must fit the columns exactly; raise naming the first that does not."""
    fields = {"subtotal": rated.subtotal, "tax": rated.tax, "total": rated.total}
    fields.update({f"lines[{i}].amount": line.amount for i, line in enumerate(rated.lines)})
    for field, value in fields.items():
        try:
            check_decimal6(value, field=field)
        except BillingError as error:
            raise InvalidRecordError(f"rated.{error}") from None


def _next_sequence(connection: Connection, *, account_id: str, mode: str) -> int:
    """Increment and return the account's counter for `mode`, locking it until commit."""
    statement = (
        upsert_into(connection, invoice_sequences)
        .values(account_id=account_id, mode=mode, last_value=1)
        .on_conflict_do_update(
            index_elements=["account_id", "mode"],
            set_={"last_value": invoice_sequences.c.last_value + 1},
        )
        .returning(invoice_sequences.c.last_value)
    )
    return int(connection.execute(statement).scalar_one())


def _mark_usage_billed(
    connection: Connection, *, invoice_id: int, subscription_id: str, period: Period, watermark: int
) -> None:
    """Bill the unbilled rows up to the watermark that `period_usage` counted: those in the
    period and the late ones of earlier invoiced periods; then recompute the unbilled part of
    the hourly rollups they leave.

    Under the subscription's invoice lock (as `period_usage`): no insert of the subscription is
    in flight while its rollups are recomputed from its rows."""
    read_subscription(connection, subscription_id, lock="update")
    in_invoiced_period = (
        select(invoices.c.id)
        .where(
            invoices.c.subscription_id == subscription_id,
            invoices.c.period_start <= usage_events.c.timestamp,
            invoices.c.period_end > usage_events.c.timestamp,
        )
        .exists()
    )
    timestamp = usage_events.c.timestamp
    connection.execute(
        update(usage_events)
        .where(
            usage_events.c.subscription_id == subscription_id,
            usage_events.c.invoice_id.is_(None),
            usage_events.c.id <= watermark,
            timestamp < period.end,
            (timestamp >= period.start) | in_invoiced_period,
        )
        .values(invoice_id=invoice_id)
    )
    refresh_unbilled(connection, subscription_id=subscription_id, before=period.end)


def _insert_invoice(
    connection: Connection,
    *,
    subscription_id: str,
    period: Period,
    rated: RatedInvoice,
    issued_at: datetime,
    payment_terms_days: int,
    status: str,
    watermark: int,
) -> str:
    subscription = read_subscription(connection, subscription_id)
    account = read_account(connection, subscription.account_id)
    pricing = read_pricing_version(connection, subscription.pricing_version_id).pricing
    if rated.currency != pricing.currency:
        raise CurrencyMismatchError(
            f"rated.currency: {rated.currency} but the subscription's pricing "
            f"({pricing.product_id}) is in {pricing.currency}"
        )
    # Lock the customer: concurrent invoices of one customer must not spend the same credit.
    connection.execute(
        select(customers.c.id).where(customers.c.id == subscription.customer_id).with_for_update()
    )
    balance = credit_balance_in(
        connection, customer_id=subscription.customer_id, currency=rated.currency
    )
    credit = credit_to_apply(balance=balance, total=rated.total)
    sequence = _next_sequence(connection, account_id=account.id, mode=account.mode)
    number = invoice_number(prefix=account.invoice_prefix, mode=account.mode, sequence=sequence)
    invoice_id = connection.execute(
        insert(invoices)
        .values(
            account_id=account.id,
            mode=account.mode,
            sequence=sequence,
            number=number,
            subscription_id=subscription_id,
            customer_id=subscription.customer_id,
            period_start=period.start,
            period_end=period.end,
            status="draft",
            created_at=utcnow(),
            payment_terms_days=payment_terms_days,
            currency=rated.currency,
            subtotal=rated.subtotal,
            tax_rate=rated.tax_rate,
            tax=rated.tax,
            total=rated.total,
            credit_applied=credit,
            amount_paid=ZERO,
            usage_watermark=watermark,
        )
        .returning(invoices.c.id)
    ).scalar_one()
    if rated.lines:
        connection.execute(
            insert(invoice_lines),
            [
                {
                    "invoice_id": invoice_id,
                    "position": position,
                    **line.model_dump(exclude={"tiers"}),
                    "tiers": [tier.model_dump(mode="json") for tier in line.tiers],
                }
                for position, line in enumerate(rated.lines)
            ],
        )
    connection.execute(
        insert(invoice_status_changes).values(
            invoice_id=invoice_id,
            from_status=None,
            to_status="draft",
            reason="created",
            at=issued_at,
        )
    )
    invoice = invoice_row(connection, number)
    if credit > 0:
        add_credit(connection, invoice=invoice, amount=-credit, source="invoice")
    if status == "open":
        _open(connection, invoice, at=issued_at)
    _mark_usage_billed(
        connection,
        invoice_id=invoice_id,
        subscription_id=subscription_id,
        period=period,
        watermark=watermark,
    )
    return number


def create_invoice(
    engine: Engine,
    *,
    subscription_id: str,
    period: Period,
    rated: RatedInvoice,
    issued_at: datetime,
    payment_terms_days: int,
    status: InvoiceStatus = "open",
    watermark: int,
    subscription_period: Period | None = None,
) -> InvoiceRecord:
    """Create the subscription's invoice for `period` in one transaction, or return the one that
    exists (a retry, or a concurrent creator that won) unchanged. `subscription_period`, when
    given, is stored as the subscription's current period in the same transaction (the
    workflow rolls over to it once the invoice is issued), also by a retry.

    The transaction applies the customer's available credit, allocates the next gap-free
    number, stores the invoice with its lines, issues it (`status='open'`: issue date
    `issued_at`, due date from `payment_terms_days`; a draft waits for `approve_invoice`) and
    marks the usage rows up to `watermark` that `period_usage` counted as billed by it. An
    invoice with nothing left to pay (credit covered it, or a zero total) is paid at once.
    """
    issued = check_aware(issued_at, field="issued_at")
    if status not in ("draft", "open"):
        raise InvalidRecordError(f"status: a new invoice is 'draft' or 'open', got {status!r}")
    if (
        isinstance(payment_terms_days, bool)
        or not 0 <= payment_terms_days <= MAX_PAYMENT_TERMS_DAYS
    ):
        raise InvalidRecordError(
            f"payment_terms_days: between 0 and {MAX_PAYMENT_TERMS_DAYS}, got {payment_terms_days}"
        )
    if isinstance(watermark, bool) or watermark < 0:
        raise InvalidRecordError(f"watermark: a usage row id (>= 0), got {watermark}")
    _check_rated(rated)
    for attempt in range(RACE_RETRIES):
        try:
            with transaction(engine) as connection:
                existing = _period_row(connection, subscription_id, period.start)
                if existing is None:
                    number = _insert_invoice(
                        connection,
                        subscription_id=subscription_id,
                        period=period,
                        rated=rated,
                        issued_at=issued,
                        payment_terms_days=payment_terms_days,
                        status=status,
                        watermark=watermark,
                    )
                    record = read_invoice(connection, number)
                elif existing["period_end"] != period.end:
                    raise InvoicePeriodConflictError(
                        f"period: subscription {subscription_id!r} already has invoice "
                        f"{existing['number']} for the period starting "
                        f"{period.start.isoformat()}, ending {existing['period_end'].isoformat()}"
                        f" (not {period.end.isoformat()})"
                    )
                else:
                    record = _record(connection, existing)
                if subscription_period is not None:
                    write_subscription_period(connection, subscription_id, subscription_period)
                return record
        except IntegrityError:
            # Lost the race on UNIQUE (subscription_id, period_start): read the winner's invoice.
            if attempt == RACE_RETRIES - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


__all__ = [
    "ALLOWED_TRANSITIONS",
    "approve_invoice",
    "change_invoice_status",
    "create_invoice",
    "customer_credit_balance",
    "due_at_for",
    "get_invoice",
    "get_invoice_for_period",
    "invoice_number",
    "list_invoices",
    "record_dunning_step",
]
