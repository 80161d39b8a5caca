"""What the repositories take and return: frozen pydantic models, never ORM objects.

Field names follow `billing.contracts` where a record has a contract counterpart
(`InvoiceRecord` ~ `InvoiceSummary`, `PaymentRecorded` ~ `PaymentResult`, `UsageRecorded` ~
`UsageAccepted`), so an activity converts one into the other with `model_dump`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from billing.aggregation import PropertyValue, UsageRecord
from billing.catalog import BillingConfig, Meter, NotificationConfig, Pricing
from billing.invoice import InvoiceLine, LateUsage
from billing.money import DecimalValue
from billing.periods import Period, UtcDatetime

Mode = Literal["test", "live"]
SubscriptionStatus = Literal["active", "past_due", "suspended", "canceled"]
InvoiceStatus = Literal["draft", "open", "paid", "overdue", "void", "uncollectible"]
Channel = Literal["email", "webhook"]
NotificationStatus = Literal["pending", "delivered", "failed", "disabled"]


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AccountRecord(Record):
    id: str
    name: str
    mode: Mode
    invoice_prefix: str
    billing: BillingConfig
    notifications: NotificationConfig
    created_at: datetime

    @property
    def livemode(self) -> bool:
        return self.mode == "live"


class WebhookEndpointRecord(Record):
    id: str
    account_id: str
    url: str
    secret: str = Field(repr=False)
    enabled: bool
    disabled_reason: str | None
    created_at: datetime


class CustomerRecord(Record):
    id: str
    account_id: str
    external_id: str
    name: str
    billing_email: str
    time_zone: str
    created_at: datetime


class MeterRecord(Record):
    account_id: str
    meter: Meter
    created_at: datetime


class PricingVersionRecord(Record):
    id: int
    account_id: str
    product_id: str
    version: int
    content_hash: str
    pricing: Pricing
    created_at: datetime


class SubscriptionRecord(Record):
    id: str
    account_id: str
    customer_id: str
    pricing_version_id: int
    status: SubscriptionStatus
    started_at: datetime
    canceled_at: datetime | None
    current_period: Period
    created_at: datetime


class NewUsageRow(NamedTuple):
    """A usage row a batch intake stored (not a duplicate): what its workflow is nudged about
    (a tuple: a batch makes a thousand of these)."""

    id: int
    subscription_id: str


class UsageEventInput(Record):
    """One usage event to record. The quantity is checked by `record_usage` (finite, not
    negative, at most 6 decimal places), so that a bad event gets a domain error naming it."""

    event_id: str
    meter_id: str
    quantity: DecimalValue
    timestamp: UtcDatetime
    properties: dict[str, PropertyValue] | None = None


class UsageRecorded(Record):
    """How many events of a batch were new and how many were already recorded (or repeated
    inside the batch)."""

    new: int
    duplicates: int


class LedgerRows(Record):
    """A slice of a subscription's usage rows in id order, and where the ledger stood."""

    rows: list[UsageRecord]
    up_to_row_id: int
    """Every matching row with an id up to this one is in `rows` (and none above)."""
    latest_row_id: int
    """The highest row id committed when read: above `up_to_row_id`, rows remain."""


class PeriodUsage(Record):
    """A period's unbilled usage, the late usage of earlier invoiced periods, and the highest
    usage row id both were computed from (pass it to `create_invoice` as the watermark)."""

    quantities: dict[str, Decimal]
    late: list[LateUsage]
    watermark: int


class PaymentRecord(Record):
    payment_id: str
    amount: Decimal
    currency: str
    applied: Decimal
    """The part that paid the invoice."""
    credited: Decimal
    """The part beyond what was due, added to the customer's credit."""
    received_at: datetime


class StatusChangeRecord(Record):
    from_status: InvoiceStatus | None
    to_status: InvoiceStatus
    reason: str | None
    at: datetime


class InvoiceRecord(Record):
    """An invoice with its lines, payments and status history."""

    number: str
    account_id: str
    mode: Mode
    livemode: bool
    subscription_id: str
    customer_id: str
    status: InvoiceStatus
    currency: str
    period: Period
    created_at: datetime
    issued_at: datetime | None
    due_at: datetime | None
    paid_at: datetime | None
    payment_terms_days: int
    subtotal: Decimal
    tax_rate: Decimal
    tax: Decimal
    total: Decimal
    credit_applied: Decimal
    amount_paid: Decimal
    amount_due: Decimal
    usage_watermark: int
    lines: list[InvoiceLine]
    payments: list[PaymentRecord]
    history: list[StatusChangeRecord]


class PaymentRecorded(Record):
    """What recording a payment did (`new` is False when the payment id was already known)."""

    payment_id: str
    invoice_number: str
    new: bool
    status: InvoiceStatus
    amount_paid: Decimal
    amount_due: Decimal
    credit_added: Decimal


class NotificationRecord(Record):
    dedupe_key: str
    channel: Channel
    event: str
    target: str
    status: NotificationStatus
    attempts: int
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    message_id: str | None

    @property
    def should_send(self) -> bool:
        """False once delivered (never send twice) or disabled (the target refused for good)."""
        return self.status in ("pending", "failed")
