"""The InvoiceWorkflow contract: its input, payment signal and update, and the `invoice` query."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field

from billing.catalog import DunningPolicy, NotificationConfig
from billing.contracts.common import InvoiceStatus, Payload
from billing.contracts.notifications import NotificationRequest
from billing.contracts.subscription import Id
from billing.invoice import InvoiceLine
from billing.money import Amount, CurrencyCode, PositiveDecimal
from billing.periods import Period, UtcDatetime


class InvoiceSummary(Payload):
    """An issued invoice as the workflows see it (the database holds the full record)."""

    number: str
    subscription_id: str
    customer_id: str
    status: InvoiceStatus
    currency: str
    period: Period
    issued_at: UtcDatetime | None
    due_at: UtcDatetime | None
    subtotal: Amount
    tax: Amount
    total: Amount
    credit_applied: Amount = Decimal(0)
    amount_paid: Amount = Decimal(0)
    amount_due: Amount
    livemode: bool = False
    lines: list[InvoiceLine] = Field(default_factory=list)


class InvoiceWorkflowInput(Payload):
    invoice: InvoiceSummary
    account_id: str
    subscription_workflow_id: str
    notifications: NotificationConfig
    dunning: DunningPolicy = Field(default_factory=DunningPolicy)
    announcement: NotificationRequest | None = None
    """The `invoice_generated` notification, sent by this workflow as it starts (runs of the
    subscription from before issue 15 sent it themselves and leave this out)."""


class PaymentSubmission(Payload):
    """The `record_payment` signal and `submit_payment` update payload.

    `payment_id` is the idempotency key: the same id again changes nothing."""

    payment_id: Id
    amount: PositiveDecimal
    currency: CurrencyCode | None = None
    """When given it must be the invoice's currency."""
    received_at: UtcDatetime | None = None


class ForwardedPayment(PaymentSubmission):
    """A payment sent to the subscription workflow, naming the invoice it pays."""

    invoice_number: str


class PaymentResult(Payload):
    """What a payment did, as the database recorded it."""

    payment_id: str
    new: bool
    status: InvoiceStatus
    amount_paid: Amount
    amount_due: Amount
    credit_added: Amount = Decimal(0)


class VoidRequest(Payload):
    reason: str = Field(min_length=1)


class DunningRecord(Payload):
    """A step the ladder took (or an overdue/void/paid transition), for the `invoice` query."""

    action: Literal["overdue", "remind", "suspend", "uncollectible", "paid", "void"]
    at: UtcDatetime
    note: str | None = None


RECORD_DUNNING_STEP = "record_dunning_step"
"""The activity that writes a dunning step (reminder, suspension) to the invoice's history."""


class RecordDunningStepInput(Payload):
    invoice_number: str
    step: str
    """Unique per invoice, e.g. `remind-1`: a retry of the same step writes nothing."""
    at: UtcDatetime
    note: str


class InvoiceView(Payload):
    """The `invoice` query result."""

    invoice: InvoiceSummary
    payments: list[PaymentResult]
    dunning: list[DunningRecord]
    waiting_for: str
