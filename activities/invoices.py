"""Activities that issue invoices, record payments and move invoices through their statuses."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Engine
from temporalio import activity

from activities.database import call_repository
from billing.contracts.activities import (
    CHANGE_INVOICE_STATUS,
    ISSUE_DRAFT,
    ISSUE_INVOICE,
    STORE_PAYMENT,
    ApproveInvoiceInput,
    ChangeInvoiceStatusInput,
    IssueInvoiceInput,
    RecordPaymentInput,
)
from billing.contracts.invoice import (
    RECORD_DUNNING_STEP,
    InvoiceSummary,
    PaymentResult,
    RecordDunningStepInput,
)
from billing.errors import InvalidConfigurationError
from billing.money import round_money
from billing_db import repo_invoices, repo_payments
from billing_db.records import InvoiceRecord

_MONEY = ("subtotal", "tax", "total", "credit_applied", "amount_paid", "amount_due")


def invoice_summary(record: InvoiceRecord) -> InvoiceSummary:
    """The workflow's view of a stored invoice, amounts in the currency's minor unit.

    The database keeps six decimal places (`74.990000`); the amounts are exact in the minor
    unit, so showing them with its places (`74.99`) changes no value."""
    fields = record.model_dump(include=set(InvoiceSummary.model_fields))
    fields.update({name: in_minor_unit(fields[name], record.currency) for name in _MONEY})
    return InvoiceSummary.model_validate(fields)


def in_minor_unit(amount: Decimal, currency: str) -> Decimal:
    """`amount` with exactly the currency's decimal places; it must already be exact in them."""
    shown = round_money(amount, currency)
    if shown != amount:
        raise InvalidConfigurationError(f"{amount} is not a whole number of {currency} minor units")
    return shown


class InvoiceActivities:
    def __init__(self, *, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name=ISSUE_INVOICE)
    async def issue_invoice(self, request: IssueInvoiceInput) -> InvoiceSummary:
        """Create the period's invoice, or return the one a previous attempt created."""
        record = await call_repository(
            self._engine,
            repo_invoices.create_invoice,
            self._engine,
            subscription_id=request.subscription_id,
            period=request.period,
            rated=request.rated,
            issued_at=request.issued_at,
            payment_terms_days=request.payment_terms_days,
            status="draft" if request.draft else "open",
            watermark=request.watermark,
            subscription_period=request.subscription_period,
        )
        return invoice_summary(record)

    @activity.defn(name=ISSUE_DRAFT)
    async def approve_invoice(self, request: ApproveInvoiceInput) -> InvoiceSummary:
        """Issue a draft: it becomes open with its issue and due dates."""
        record = await call_repository(
            self._engine,
            repo_invoices.approve_invoice,
            self._engine,
            invoice_number=request.invoice_number,
            at=request.approved_at,
        )
        return invoice_summary(record)

    @activity.defn(name=STORE_PAYMENT)
    async def record_payment(self, request: RecordPaymentInput) -> PaymentResult:
        payment = request.payment
        if payment.received_at is None:
            raise InvalidConfigurationError("payment.received_at is resolved by the workflow")
        currency = payment.currency or await self._currency(request.invoice_number)
        recorded = await call_repository(
            self._engine,
            repo_payments.record_payment,
            self._engine,
            invoice_number=request.invoice_number,
            payment_id=payment.payment_id,
            amount=payment.amount,
            currency=currency,
            received_at=payment.received_at,
        )
        fields = recorded.model_dump(include=set(PaymentResult.model_fields))
        for name in ("amount_paid", "amount_due", "credit_added"):
            fields[name] = in_minor_unit(fields[name], currency)
        return PaymentResult.model_validate(fields)

    async def _currency(self, invoice_number: str) -> str:
        record = await call_repository(
            self._engine, repo_invoices.get_invoice, self._engine, invoice_number=invoice_number
        )
        return record.currency

    @activity.defn(name=CHANGE_INVOICE_STATUS)
    async def change_invoice_status(self, request: ChangeInvoiceStatusInput) -> InvoiceSummary:
        record = await call_repository(
            self._engine,
            repo_invoices.change_invoice_status,
            self._engine,
            invoice_number=request.invoice_number,
            to=request.to,
            at=request.at,
            reason=request.reason,
        )
        return invoice_summary(record)

    @activity.defn(name=RECORD_DUNNING_STEP)
    async def record_dunning_step(self, request: RecordDunningStepInput) -> InvoiceSummary:
        """Write a reminder or suspension to the invoice's history, once per step."""
        record = await call_repository(
            self._engine,
            repo_invoices.record_dunning_step,
            self._engine,
            invoice_number=request.invoice_number,
            step=request.step,
            at=request.at,
            note=request.note,
        )
        return invoice_summary(record)
