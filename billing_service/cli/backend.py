"""The one seam of the data commands: what they ask of wherever the data lives.

A command parses its flags, asks its backend (`CommandEnv.backend()`) and renders the view it gets
back. Two backends answer every question: `LocalBackend` (the services on the mode's database and
Temporal, `cli/local.py`) and `RemoteBackend` (a `billing api` through `billing_client`, when
BILLING_API_URL and BILLING_API_KEY are set, `cli/remote.py`). Both return the views below, so
`billing ...` prints the same thing either way by construction: the renderers never see where a
view came from. Customers and invoices are the stored records' models, which the CLI always
printed (the API's answers are turned back into them); a subscription listed is the API's
`SubscriptionSummary`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from pydantic import BaseModel

from billing.catalog import BillingConfig, Meter, NotificationConfig, Pricing
from billing.contracts.invoice import PaymentResult
from billing.contracts.subscription import (
    CancelRequest,
    PlanChange,
    SubscriptionInput,
    SubscriptionStatusView,
    UsageBatch,
)
from billing_db.records import CustomerRecord, InvoiceRecord
from billing_service.api.models import SubscriptionSummary


class MeterView(BaseModel):
    account_id: str
    meter: Meter


class PricingView(BaseModel):
    id: int
    product_id: str
    version: int
    pricing: Pricing


class ConfigView(BaseModel):
    account_id: str
    billing: BillingConfig


class NotificationsView(BaseModel):
    account_id: str
    notifications: NotificationConfig
    webhook_endpoints: list[str]
    new_secret: str | None = None
    """The `whsec_` secret of an endpoint this call registered (shown once)."""


class StartedView(BaseModel):
    subscription_id: str
    workflow_id: str
    run_id: str
    namespace: str
    start_at: datetime | None


class UsageCounts(BaseModel):
    """What the workflow's `submit_usage` updates said of the events sent."""

    new: int
    duplicates: int


class PaymentView(BaseModel):
    result: PaymentResult
    currency: str
    """The invoice's, to print the amounts to its minor unit."""


class InvoiceFilter(BaseModel):
    subscription_id: str | None = None
    customer_id: str | None = None
    statuses: list[str] | None = None
    limit: int = 100


class CatalogBackend(Protocol):
    """`meters`, `pricing`, `config`, `notifications` and `customers`."""

    def create_meter(self, document: Mapping[str, Any]) -> MeterView: ...

    def create_pricing(self, document: Any) -> PricingView: ...

    def update_config(self, changes: Mapping[str, Any]) -> ConfigView: ...

    def config(self) -> ConfigView: ...

    def configure_notifications(
        self,
        changes: Mapping[str, Any],
        *,
        webhook_url: str | None,
        webhook_secret: str | None,
    ) -> NotificationsView: ...

    def create_customer(
        self,
        *,
        customer_id: str,
        name: str,
        email: str,
        timezone: str | None,
        external_id: str | None,
    ) -> CustomerRecord: ...


class SubscriptionBackend(Protocol):
    """`subscriptions` and `usage`."""

    def start(self, subscription: SubscriptionInput) -> StartedView: ...

    def status(self, subscription_id: str) -> SubscriptionStatusView: ...

    def cancel(self, subscription_id: str, request: CancelRequest) -> None: ...

    def change_plan(self, subscription_id: str, change: PlanChange) -> None: ...

    def list_subscriptions(self, limit: int) -> list[SubscriptionSummary]:
        """The account's subscriptions once stored, by id."""
        ...

    def record_usage(
        self,
        subscription_id: str,
        batches: Sequence[UsageBatch],
        *,
        acknowledged: bool,
        advance: Callable[[int], None],
    ) -> UsageCounts | None:
        """Send every batch, calling `advance(events)` after each; counts when acknowledged."""
        ...


class InvoiceBackend(Protocol):
    """`invoices`."""

    @property
    def account_id(self) -> str: ...

    def list_invoices(self, selection: InvoiceFilter) -> list[InvoiceRecord]:
        """The account's invoices in the mode, oldest period first (then issue order)."""
        ...

    def invoice(self, number: str) -> InvoiceRecord: ...

    def pay(
        self,
        number: str,
        *,
        amount: Decimal | None,
        payment_id: str | None,
        currency: str | None,
    ) -> PaymentView: ...

    def void(self, number: str, reason: str) -> None: ...

    def approve(self, number: str) -> None:
        """Issue a draft; returns once the invoice is issued."""
        ...


class Backend(CatalogBackend, SubscriptionBackend, InvoiceBackend, Protocol):
    """Everything a data command may ask; closed when the command ends."""

    def close(self) -> None: ...
