"""Turn an invoice (from the database, or freshly rated) into the document emails show."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from activities.notifications.view import InvoiceDocument, InvoiceLineRow, TierRow
from billing.charge_models import TierCharge
from billing.errors import BillingError
from billing.invoice import InvoiceLine
from billing.periods import Period, zone_info
from billing_db.records import InvoiceRecord


class InvoiceNotIssuedError(BillingError):
    """Only an issued invoice (with an issue and a due date) can be sent to a customer."""


def _tier(tier: TierCharge) -> TierRow:
    return TierRow(
        lower=tier.from_units,
        upper=tier.up_to,
        quantity=tier.quantity,
        unit_price=tier.unit_price,
        flat_fee=tier.flat_price,
        amount=tier.amount,
    )


def _line(line: InvoiceLine) -> InvoiceLineRow:
    return InvoiceLineRow(
        description=line.description,
        quantity=line.quantity,
        unit=line.unit,
        amount=line.amount,
        tiers=tuple(_tier(tier) for tier in line.tiers),
    )


def invoice_document(
    *,
    number: str,
    status: str,
    currency: str,
    period: Period,
    issued_at: datetime,
    due_at: datetime,
    lines: Sequence[InvoiceLine],
    subtotal: Decimal,
    tax_rate: Decimal,
    tax: Decimal,
    total: Decimal,
    amount_due: Decimal,
    time_zone: str,
) -> InvoiceDocument:
    """Dates are shown in the customer's ``time_zone``; amounts are taken as rounded."""
    zone = zone_info(time_zone)
    return InvoiceDocument(
        number=number,
        status=status,
        currency=currency,
        period_start=period.start,
        period_end=period.end,
        period_label=period.label(time_zone),
        issue_date=issued_at.astimezone(zone).date(),
        due_at=due_at,
        due_date=due_at.astimezone(zone).date(),
        lines=tuple(_line(line) for line in lines),
        subtotal=subtotal,
        tax_rate=tax_rate,
        tax_amount=tax,
        total=total,
        amount_due=amount_due,
    )


def document_from_record(invoice: InvoiceRecord, *, time_zone: str) -> InvoiceDocument:
    if invoice.issued_at is None or invoice.due_at is None:
        raise InvoiceNotIssuedError(
            f"invoice {invoice.number} is a {invoice.status} invoice without issue/due date: "
            "approve it before notifying the customer"
        )
    return invoice_document(
        number=invoice.number,
        status=invoice.status,
        currency=invoice.currency,
        period=invoice.period,
        issued_at=invoice.issued_at,
        due_at=invoice.due_at,
        lines=invoice.lines,
        subtotal=invoice.subtotal,
        tax_rate=invoice.tax_rate,
        tax=invoice.tax,
        total=invoice.total,
        amount_due=invoice.amount_due,
        time_zone=time_zone,
    )
