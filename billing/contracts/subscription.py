"""The SubscriptionWorkflow contract: its input, signals, updates and query results.

Every model here is plain JSON on the wire (Decimals as strings, datetimes as ISO 8601), so the
`temporal` CLI or any SDK can start and drive a subscription. The JSON Schemas under `contract/`
are generated from these models.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from billing.catalog import BillingConfig, Meter, NotificationConfig, Pricing
from billing.contracts.common import Payload, SubscriptionStatus
from billing.identifiers import ID_RULE, is_identifier
from billing.money import DecimalValue
from billing.periods import Period, UtcDatetime

MAX_EVENTS_PER_BATCH = 1000
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _identifier(value: str) -> str:
    if not is_identifier(value):
        raise ValueError(f"{value!r} is not a valid id: {ID_RULE}")
    return value


def _email(value: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise ValueError(f"{value!r} is not an email address")
    return value


Id = Annotated[str, AfterValidator(_identifier)]
Email = Annotated[str, AfterValidator(_email)]


class CustomerSpec(Payload):
    """A customer given inline when a subscription starts."""

    id: Id
    name: str = Field(min_length=1)
    email: Email
    timezone: str | None = None
    """IANA time zone for the invoice calendar; defaults to the billing config's."""


class SubscriptionInput(Payload):
    """Start a subscription: configuration inline (persisted by the first activity) or by id."""

    subscription_id: Id
    account_id: Id = "acct_default"
    customer: CustomerSpec | None = None
    customer_id: Id | None = None
    meters: list[Meter] = Field(default_factory=list)
    pricing: Pricing | None = None
    pricing_version_id: int | None = None
    billing: BillingConfig | None = None
    """The account's billing config; stored when given, else the stored (or default) one is used."""
    notifications: NotificationConfig | None = None
    start_at: UtcDatetime | None = None
    """Defaults to when the workflow starts; a past time backdates and catches up at once."""
    livemode: bool | None = None
    """Optional: the mode is the worker's (its namespace and database). When given, it must
    match, or the subscription fails with a clear error instead of landing in the other mode."""

    @model_validator(mode="after")
    def _one_of_each(self) -> SubscriptionInput:
        if (self.customer is None) == (self.customer_id is None):
            raise ValueError("give exactly one of customer (inline) or customer_id")
        if (self.pricing is None) == (self.pricing_version_id is None):
            raise ValueError("give exactly one of pricing (inline) or pricing_version_id")
        return self


class SubscriptionPlan(Payload):
    """Everything the workflow needs to bill, resolved and persisted by `prepare_subscription`."""

    subscription_id: str
    account_id: str
    customer_id: str
    customer_name: str
    timezone: str
    pricing: Pricing
    pricing_version_id: int
    meters: dict[str, Meter]
    billing: BillingConfig
    notifications: NotificationConfig
    livemode: bool
    started_at: UtcDatetime


# --- usage -------------------------------------------------------------------------------------


class UsageEvent(Payload):
    """One metered event. `event_id` is the idempotency key within the subscription."""

    event_id: Id
    meter_id: Id
    quantity: DecimalValue
    timestamp: UtcDatetime | None = None
    """When the usage happened; defaults to when the workflow received it."""
    properties: dict[str, str | int | float | bool | None] = Field(default_factory=dict)


class UsageBatch(Payload):
    """The `record_usage` signal and `submit_usage` update payload."""

    events: list[UsageEvent] = Field(min_length=1, max_length=MAX_EVENTS_PER_BATCH)


class RawUsageBatch(Payload):
    """What the `record_usage` signal decodes: events stay raw so that one bad event is set
    aside with its reason instead of making the whole signal undecodable."""

    events: list[dict[str, Any]] = Field(default_factory=list)


class UsageAccepted(Payload):
    """The `submit_usage` result."""

    new: int
    duplicates: int


class RejectedEvent(Payload):
    """An event a signal carried that can never count, and why."""

    event_id: str | None
    reason: str
    received_at: UtcDatetime


class LedgerNudge(Payload):
    """`usage_recorded`: the usage ledger holds rows of this subscription up to this id (sent
    after a batch intake commits; coalesced, so at most one per subscription per second)."""

    up_to_row_id: int = Field(ge=0)


class UsageRejection(Payload):
    """One event of a usage batch that was not accepted: its place, its code and the reason."""

    index: int
    event_id: str | None
    code: str
    reason: str


class UsageIntakeResult(Payload):
    """What a usage batch did: committed, already held (a success, counted once), rejected."""

    accepted: int = 0
    """Events committed by this batch."""
    duplicates: int = 0
    """Valid events already in the ledger (or repeated in the batch)."""
    rejected: list[UsageRejection] = Field(default_factory=list)

    def plus(self, later: UsageIntakeResult, *, shift: int = 0) -> UsageIntakeResult:
        """Both batches' totals; `later`'s rejections placed `shift` events further on."""
        return UsageIntakeResult(
            accepted=self.accepted + later.accepted,
            duplicates=self.duplicates + later.duplicates,
            rejected=[
                *self.rejected,
                *(r.model_copy(update={"index": r.index + shift}) for r in later.rejected),
            ],
        )


class MeterUsage(Payload):
    """Running usage of one meter in the current period, as accepted so far.

    `latest_at`/`latest_event_id` serve the `latest` aggregation; the invoice itself is always
    aggregated from the database (see `billing.running`)."""

    quantity: DecimalValue = Decimal(0)
    events: int = 0
    latest_at: UtcDatetime | None = None
    latest_event_id: str | None = None
    distinct: list[str] = Field(default_factory=list)
    """No longer filled: `unique_count` keeps a bounded sketch instead."""
    estimated: bool = False
    """`unique_count` beyond a few hundred distinct values: `quantity` is an estimate."""


# --- other signals -----------------------------------------------------------------------------


class CancelRequest(Payload):
    at_period_end: bool = True
    reason: str | None = None


class PlanChange(Payload):
    """Switch pricing: from the next period, or now with both partial periods prorated."""

    pricing: Pricing | None = None
    pricing_version_id: int | None = None
    prorate_now: bool = False

    @model_validator(mode="after")
    def _one_pricing(self) -> PlanChange:
        if (self.pricing is None) == (self.pricing_version_id is None):
            raise ValueError("give exactly one of pricing (inline) or pricing_version_id")
        return self


class ApproveInvoice(Payload):
    invoice_number: str


class InvoiceStandingChanged(Payload):
    """Sent by an InvoiceWorkflow to its subscription when the invoice's standing changes."""

    invoice_number: str
    standing: Literal["overdue", "suspend", "settled"]


# --- queries -----------------------------------------------------------------------------------


class SubscriptionStatusView(Payload):
    """The `status` query result."""

    subscription_id: str
    customer_id: str
    product_id: str
    status: SubscriptionStatus
    period: Period
    next_invoice_at: UtcDatetime | None
    usage: dict[str, MeterUsage]
    late_events: int
    open_invoices: list[str]
    overdue_invoices: list[str]
    drafts_awaiting_approval: list[str]
    rejected_events: list[RejectedEvent]
    cancel_at_period_end: bool
    pending_plan_change: str | None
    waiting_for: str
