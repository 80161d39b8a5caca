"""The API's JSON bodies: requests refuse unknown fields; amounts and quantities go out as
decimal strings (numbers are accepted on input); every object carries `id` and `livemode`."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from billing.catalog import Aggregation, ResetCycle
from billing.contracts.subscription import (
    MAX_EVENTS_PER_BATCH,
    Id,
    SubscriptionStatusView,
)
from billing.money import Amount, DecimalValue, PositiveDecimal
from billing.periods import Period

T = TypeVar("T")


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    """A list: `has_more` says whether `starting_after` the last `id` finds more."""

    data: list[T]
    has_more: bool


class MeterOut(BaseModel):
    id: str
    name: str
    unit: str
    aggregation: Aggregation
    reset_cycle: ResetCycle
    field_name: str | None = None
    livemode: bool
    created_at: datetime


class PricingOut(BaseModel):
    id: int
    product_id: str
    version: int
    currency: str
    components: list[dict[str, Any]]
    livemode: bool
    created_at: datetime


class ConfigPatch(Request):
    """The guide's five fields, the time zone and the dunning ladder; omitted ones are kept."""

    auto_generate_invoices: bool | None = None
    invoice_day: int | None = None
    payment_terms_days: int | None = None
    tax_rate: DecimalValue | None = None
    currency: str | None = None
    timezone: str | None = None
    dunning: dict[str, Any] | None = None


class ConfigOut(BaseModel):
    account_id: str
    livemode: bool
    auto_generate_invoices: bool
    invoice_day: int
    payment_terms_days: int
    tax_rate: DecimalValue
    currency: str
    timezone: str
    dunning: dict[str, Any]


class NotificationsOut(BaseModel):
    account_id: str
    livemode: bool
    events: dict[str, dict[str, Any]]
    webhook_endpoints: list[str]


class WebhookEndpointIn(Request):
    url: str = Field(max_length=2000)
    secret: str | None = Field(default=None, max_length=200)


class WebhookEndpointOut(BaseModel):
    id: str
    url: str
    enabled: bool
    livemode: bool
    created_at: datetime
    secret: str | None = Field(default=None, description="shown once, when created")


class CustomerIn(Request):
    id: Id
    name: str = Field(max_length=200)
    email: str = Field(max_length=320)
    timezone: str | None = Field(default=None, max_length=64)
    external_id: str | None = Field(default=None, max_length=200)


class CustomerOut(BaseModel):
    id: str
    name: str
    email: str
    timezone: str
    external_id: str
    livemode: bool
    created_at: datetime


class SubscriptionIn(Request):
    id: Id | None = Field(default=None, description="generated when omitted")
    customer_id: Id
    pricing_id: int = Field(ge=1, le=2**62)
    start_at: datetime | None = Field(default=None, description="a past time backdates")


class SubscriptionStarted(BaseModel):
    id: str
    customer_id: str
    pricing_id: int
    livemode: bool
    workflow_id: str
    run_id: str = Field(description="the workflow run this start created")
    namespace: str = Field(description="the Temporal namespace of the key's mode")
    start_at: datetime | None


class SubscriptionSummary(BaseModel):
    id: str
    customer_id: str
    pricing_id: int
    status: str
    started_at: datetime
    canceled_at: datetime | None
    current_period: Period
    livemode: bool


class SubscriptionOut(SubscriptionStatusView):
    """The subscription workflow's `status` query, with the API's `id` and `livemode`."""

    id: str
    livemode: bool


class CancelIn(Request):
    at_period_end: bool = True
    reason: str | None = Field(default=None, max_length=500)


class PlanChangeIn(Request):
    pricing_id: int = Field(ge=1, le=2**62)
    prorate_now: bool = False


class Accepted(BaseModel):
    id: str
    livemode: bool
    requested: str


class UsageIn(Request):
    subscription_id: Id | None = None
    """The subscription of every event that names none."""
    events: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=MAX_EVENTS_PER_BATCH,
        description=(
            "1-1,000 events `{event_id, meter_id, quantity, timestamp?, properties?, "
            "subscription_id?}`, each checked alone: a bad one is rejected with its reason"
        ),
    )


class InvoiceLineOut(BaseModel):
    kind: str
    description: str
    meter_id: str | None
    quantity: DecimalValue
    unit: str | None
    amount: Amount
    tiers: list[dict[str, Any]]
    period_start: datetime | None
    period_end: datetime | None


class PaymentOut(BaseModel):
    payment_id: str
    amount: Amount
    currency: str
    applied: Amount
    credited: Amount
    received_at: datetime


class StatusChangeOut(BaseModel):
    from_status: str | None
    to_status: str
    reason: str | None
    at: datetime


class InvoiceOut(BaseModel):
    id: str
    number: str
    livemode: bool
    status: str
    subscription_id: str
    customer_id: str
    currency: str
    period: Period
    created_at: datetime
    issued_at: datetime | None
    due_at: datetime | None
    paid_at: datetime | None
    payment_terms_days: int
    subtotal: Amount
    tax_rate: DecimalValue
    tax: Amount
    total: Amount
    credit_applied: Amount
    amount_paid: Amount
    amount_due: Amount
    lines: list[InvoiceLineOut]
    payments: list[PaymentOut]
    history: list[StatusChangeOut]


class PaymentIn(Request):
    payment_id: Id | None = Field(default=None, description="idempotency key; generated if omitted")
    amount: PositiveDecimal | None = Field(default=None, description="default: the amount due")
    currency: str | None = Field(default=None, max_length=3)


class PaymentResultOut(BaseModel):
    invoice_number: str
    livemode: bool
    payment_id: str
    new: bool
    status: str
    amount_paid: Amount
    amount_due: Amount
    credit_added: Amount


class VoidIn(Request):
    reason: str = Field(min_length=1, max_length=500)
