"""The seed's hybrid example, rated by the real core: EUR 49.99/month + tiered GB, 20 % VAT."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from activities.notifications.documents import invoice_document
from activities.notifications.view import EmailContext, InvoiceDocument
from billing.catalog import Meter, Pricing
from billing.invoice import RatedInvoice, rate_invoice
from billing.periods import Period

from workflow_runs.scenario import HYBRID_PRICING
from workflow_runs.scenario import METER as METER_JSON

METER = Meter.model_validate(METER_JSON)
PRICING = Pricing.model_validate(HYBRID_PRICING)
OCTOBER = Period(start=datetime(2026, 10, 1, tzinfo=UTC), end=datetime(2026, 11, 1, tzinfo=UTC))
ISSUED_AT = datetime(2026, 11, 1, tzinfo=UTC)
DUE_AT = datetime(2026, 11, 15, tzinfo=UTC)


def rate_hybrid(gigabytes: int = 350) -> RatedInvoice:
    return rate_invoice(
        pricing=PRICING,
        quantities={"bandwidth_egress": Decimal(gigabytes)},
        tax_rate=Decimal("0.20"),
        period=OCTOBER,
        meters={"bandwidth_egress": METER},
    )


def hybrid_document(number: str = "INV-2026-000001") -> InvoiceDocument:
    rated = rate_hybrid()
    return invoice_document(
        number=number,
        status="open",
        currency=rated.currency,
        period=OCTOBER,
        issued_at=ISSUED_AT,
        due_at=DUE_AT,
        lines=rated.lines,
        subtotal=rated.subtotal,
        tax_rate=rated.tax_rate,
        tax=rated.tax,
        total=rated.total,
        amount_due=rated.total,
        time_zone="UTC",
    )


def hybrid_context(event: str = "invoice_generated", *, livemode: bool = True) -> EmailContext:
    return EmailContext(
        event=event,
        brand="PLATFORMA",
        customer_name="Ada Lovelace",
        customer_email="ada@example.com",
        livemode=livemode,
        subscription_id="sub_1",
        invoice=hybrid_document(),
    )
