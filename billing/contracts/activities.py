"""Activity names and payloads, so that workflows call activities without importing their code.

Workflows stay free of database, SMTP and HTTP imports: they name an activity here and pass one of
these payloads; `activities/` implements each name. Activity names differ from the workflows'
message names (`record_usage` is a signal, `store_usage_events` the activity that stores it), so
the Web UI never shows two different things under one name.
"""

from __future__ import annotations

from pydantic import Field

from billing.catalog import Meter, Pricing
from billing.contracts.common import InvoiceStatus, Payload, SubscriptionStatus
from billing.contracts.invoice import PaymentSubmission
from billing.contracts.subscription import UsageEvent
from billing.contracts.subscription_state import PeriodUsage
from billing.invoice import LateUsage, RatedInvoice
from billing.money import DecimalValue
from billing.periods import Period, UtcDatetime

PREPARE_SUBSCRIPTION = "prepare_subscription"
STORE_USAGE = "store_usage_events"
COUNT_RECORDED_USAGE = "count_recorded_usage"
AGGREGATE_PERIOD_USAGE = "aggregate_period_usage"
ISSUE_INVOICE = "issue_invoice"
ISSUE_DRAFT = "issue_draft_invoice"
SET_SUBSCRIPTION_STATUS = "set_subscription_status"
REGISTER_PRICING = "register_pricing"
STORE_PAYMENT = "store_payment"
CHANGE_INVOICE_STATUS = "change_invoice_status"
SEND_EMAIL = "send_email_notification"
SEND_WEBHOOKS = "send_webhook_notification"


class RecordUsageInput(Payload):
    subscription_id: str
    events: list[UsageEvent]
    """Timestamps resolved; ids unique within the list."""
    received_at: UtcDatetime
    """When the workflow flushed this batch, unique per flush: a retry of the same flush
    recognises the rows its earlier attempt wrote as its own, not as duplicates."""
    count: LedgerCountInput | None = None
    """Count the ledger's new rows into the running usage once the batch is stored."""


class RecordUsageResult(Payload):
    new: int
    duplicate_ids: list[str] = Field(default_factory=list)
    """Ids the database already held: these events count once, from their first arrival."""
    counted: LedgerUsage | None = None
    """The ledger's rows new to the workflow (its own and any others'), when it asked."""


class LedgerCountInput(Payload):
    """Count a subscription's usage rows above `after_row_id` into its running usage, in the
    periods its workflow sees (the rules of `billing.running.by_period`)."""

    subscription_id: str
    after_row_id: int | None
    """None: the workflow has counted no row itself (older code): count every row from the
    current period on and replace the running usage."""
    meters: dict[str, Meter]
    period: Period
    closing_at: UtcDatetime | None
    invoice_day: int
    timezone: str


class LedgerUsage(Payload):
    """Running usage of rows above the input's `after_row_id`, up to `up_to_row_id`."""

    up_to_row_id: int
    latest_row_id: int
    """The highest row id committed when counted: above `up_to_row_id`, more remain."""
    periods: list[PeriodUsage] = Field(default_factory=list)
    late_events: int = 0
    replace: bool = False


class PeriodUsageInput(Payload):
    subscription_id: str
    period: Period
    meters: list[Meter]


class PeriodUsageResult(Payload):
    quantities: dict[str, DecimalValue]
    late: list[LateUsage] = Field(default_factory=list)
    watermark: int
    """The highest usage row considered: the invoice bills exactly the rows up to it."""


class IssueInvoiceInput(Payload):
    subscription_id: str
    period: Period
    rated: RatedInvoice
    issued_at: UtcDatetime
    payment_terms_days: int
    draft: bool
    watermark: int
    subscription_period: Period | None = None
    """The subscription's period once this invoice is issued (the next one when the period rolls
    over), stored with the invoice: the database's current period follows every roll-over
    without an activity of its own."""


class ApproveInvoiceInput(Payload):
    invoice_number: str
    approved_at: UtcDatetime


class SetSubscriptionStatusInput(Payload):
    subscription_id: str
    status: SubscriptionStatus
    at: UtcDatetime
    reason: str | None = None
    period: Period | None = None
    """The workflow's current period, stored with the status."""


class RegisterPricingInput(Payload):
    subscription_id: str
    account_id: str
    pricing: Pricing | None = None
    pricing_version_id: int | None = None


class RegisteredPricing(Payload):
    pricing: Pricing
    pricing_version_id: int
    meters: dict[str, Meter]
    """The meters the new pricing prices: usage of any other meter is refused from now on."""


class RecordPaymentInput(Payload):
    invoice_number: str
    payment: PaymentSubmission
    """`received_at` resolved by the workflow."""


class ChangeInvoiceStatusInput(Payload):
    invoice_number: str
    to: InvoiceStatus
    at: UtcDatetime
    reason: str | None = None
