"""The remote backend: the same questions as `LocalBackend`, asked of a `billing api` through the
Python client (`billing_client`, with its idempotency keys and retries), answered in the same
views. The key decides the account and the mode, as for any API caller.

The API's problems become the CLI's one-line errors with the local exit codes: the API's `detail`
is the domain's own message (`customer_id: no customer 'cus_x'`), so the line reads the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from billing.catalog import BillingConfig, Meter, NotificationConfig, Pricing
from billing.contracts.common import subscription_workflow_id
from billing.contracts.invoice import PaymentResult
from billing.contracts.subscription import (
    CancelRequest,
    PlanChange,
    SubscriptionInput,
    SubscriptionStatusView,
    UsageBatch,
)
from billing.validation import parse
from billing_client import (
    AuthenticationError,
    Billing,
    BillingConnectionError,
    BillingError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
)
from billing_db.records import CustomerRecord, InvoiceRecord
from billing_service.api.models import (
    ConfigOut,
    InvoiceOut,
    NotificationsOut,
    SubscriptionSummary,
)
from billing_service.cli.backend import (
    ConfigView,
    InvoiceFilter,
    MeterView,
    NotificationsView,
    PaymentView,
    PricingView,
    StartedView,
    UsageCounts,
)
from billing_service.cli.common import CommandEnv, CommandFailed, InputError, RemoteApi

#: 409s that the local commands report as refused input (exit 2), like their local error class.
_REFUSED_CONFLICTS = frozenset({"illegal_status_transition"})
#: What a subscription started through the API may name: stored ids and when it starts.
_STORED_IDS_ONLY = frozenset(
    {"subscription_id", "account_id", "customer_id", "pricing_version_id", "start_at", "livemode"}
)


@contextmanager
def api_errors(api: RemoteApi) -> Iterator[None]:
    """The API's problems as the CLI's errors: 422 and refused transitions exit 2, the rest 1."""
    try:
        yield
    except BillingConnectionError as exc:
        raise CommandFailed(f"cannot reach the billing API at {api.url}: {exc.detail}") from None
    except AuthenticationError as exc:
        raise CommandFailed(
            f"the billing API at {api.url} refused BILLING_API_KEY: {exc.detail}"
        ) from None
    except InvalidRequestError as exc:
        raise InputError(exc.detail) from None
    except ConflictError as exc:
        if exc.code in _REFUSED_CONFLICTS:
            raise InputError(exc.detail) from None
        raise CommandFailed(exc.detail) from None
    except NotFoundError as exc:
        raise CommandFailed(exc.detail) from None
    except BillingError as exc:
        raise CommandFailed(
            f"the billing API answered {exc.status} {exc.code}: {exc.detail}"
        ) from None


def _config(out: ConfigOut) -> ConfigView:
    fields = out.model_dump(include=set(BillingConfig.model_fields))
    return ConfigView(account_id=out.account_id, billing=BillingConfig.model_validate(fields))


class RemoteBackend:
    """One `Billing` client for the command; the key's account is asked once, when needed."""

    def __init__(self, env: CommandEnv, api: RemoteApi) -> None:
        self.env, self.api = env, api
        self.client = Billing(api_key=api.key, base_url=api.url)
        self._account_id: str | None = None

    def close(self) -> None:
        self.client.close()

    @property
    def account_id(self) -> str:
        """The key's account; an --account naming another one is refused, never ignored."""
        if self._account_id is None:
            self._remember(self.client.billing.config.retrieve().account_id)
        assert self._account_id is not None
        return self._account_id

    def _remember(self, account_id: str) -> None:
        if self.env.account_given and account_id != self.env.account_id:
            raise InputError(
                f"--account {self.env.account_id}: BILLING_API_KEY is a key of {account_id} "
                "(through the API the key decides the account)"
            )
        self._account_id = account_id

    def check_account(self) -> None:
        """Refuse a contradicting --account before anything is asked or changed."""
        if self.env.account_given:
            _ = self.account_id

    # --- catalog ---------------------------------------------------------------------------

    def create_meter(self, document: Mapping[str, Any]) -> MeterView:
        meter = parse(Meter, dict(document), what="meter")  # the local words for bad input
        out = self.client.billing.meters.create(**meter.model_dump(mode="json"))
        stored = Meter.model_validate(out.model_dump(include=set(Meter.model_fields)))
        return MeterView(account_id=self.account_id, meter=stored)

    def create_pricing(self, document: Any) -> PricingView:
        pricing = parse(Pricing, document, what="pricing")
        out = self.client.billing.pricing.create(**pricing.model_dump(mode="json"))
        stored = Pricing.model_validate(out.model_dump(include=set(Pricing.model_fields)))
        return PricingView(
            id=out.id, product_id=out.product_id, version=out.version, pricing=stored
        )

    def update_config(self, changes: Mapping[str, Any]) -> ConfigView:
        view = _config(self.client.billing.config.update(**changes))
        self._remember(view.account_id)
        return view

    def config(self) -> ConfigView:
        view = _config(self.client.billing.config.retrieve())
        self._remember(view.account_id)
        return view

    def configure_notifications(
        self,
        changes: Mapping[str, Any],
        *,
        webhook_url: str | None,
        webhook_secret: str | None,
    ) -> NotificationsView:
        out: NotificationsOut = self.client.billing.notifications.configure(**changes)
        secret = None
        if webhook_url is not None:
            endpoint = self.client.billing.webhook_endpoints.create(
                url=webhook_url, secret=webhook_secret
            )
            secret = endpoint.secret
            out = self.client.billing.notifications.retrieve()
        self._remember(out.account_id)
        return NotificationsView(
            account_id=out.account_id,
            notifications=NotificationConfig.model_validate(out.events),
            webhook_endpoints=out.webhook_endpoints,
            new_secret=secret,
        )

    def create_customer(
        self,
        *,
        customer_id: str,
        name: str,
        email: str,
        timezone: str | None,
        external_id: str | None,
    ) -> CustomerRecord:
        out = self.client.billing.customers.create(
            id=customer_id, name=name, email=email, timezone=timezone, external_id=external_id
        )
        return CustomerRecord(
            id=out.id,
            account_id=self.account_id,
            external_id=out.external_id,
            name=out.name,
            billing_email=out.email,
            time_zone=out.timezone,
            created_at=out.created_at,
        )

    # --- subscriptions and usage -----------------------------------------------------------

    def start(self, subscription: SubscriptionInput) -> StartedView:
        inline = sorted(set(subscription.model_dump(exclude_defaults=True)) - _STORED_IDS_ONLY)
        if inline:
            raise InputError(
                f"{', '.join(inline)}: through the API a subscription starts from stored ids "
                "(--customer, --pricing-version); inline configuration needs database access "
                "(unset BILLING_API_URL)"
            )
        workflow_id = subscription_workflow_id(subscription.subscription_id)
        try:
            out = self.client.billing.subscriptions.create(
                id=subscription.subscription_id,
                customer_id=subscription.customer_id,
                pricing_id=subscription.pricing_version_id,
                start_at=subscription.start_at,
            )
        except ConflictError as exc:
            if exc.code != "already_exists":
                raise
            raise CommandFailed(f"already started: workflow {workflow_id!r} exists") from None
        return StartedView(
            subscription_id=out.id,
            workflow_id=out.workflow_id,
            run_id=out.run_id,
            namespace=out.namespace,
            start_at=out.start_at,
        )

    def status(self, subscription_id: str) -> SubscriptionStatusView:
        out = self.client.billing.subscriptions.retrieve(subscription_id)
        return SubscriptionStatusView.model_validate(out.model_dump(exclude={"id", "livemode"}))

    def cancel(self, subscription_id: str, request: CancelRequest) -> None:
        self.client.billing.subscriptions.cancel(subscription_id, **request.model_dump())

    def change_plan(self, subscription_id: str, change: PlanChange) -> None:
        if change.pricing is not None:
            raise InputError("pricing: through the API a plan changes to a stored pricing")
        self.client.billing.subscriptions.change_plan(
            subscription_id, pricing_id=change.pricing_version_id, prorate_now=change.prorate_now
        )

    def list_subscriptions(self, limit: int) -> list[SubscriptionSummary]:
        found: list[SubscriptionSummary] = []
        for summary in self.client.billing.subscriptions.list(limit=min(limit, 100)):
            found.append(summary)
            if len(found) == limit:
                break
        return found

    def record_usage(
        self,
        subscription_id: str,
        batches: Sequence[UsageBatch],
        *,
        acknowledged: bool,
        advance: Callable[[int], None],
    ) -> UsageCounts | None:
        new = duplicates = 0
        for batch in batches:
            # The API commits every batch to the ledger before it answers (acknowledged or not).
            out = self.client.billing.usage.record(
                subscription_id=subscription_id,
                events=[event.model_dump(mode="json") for event in batch.events],
            )
            if out.rejected:
                first = out.rejected[0]
                raise CommandFailed(f"events[{first.index}]: {first.reason}")
            new, duplicates = new + out.accepted, duplicates + out.duplicates
            advance(len(batch.events))
        return UsageCounts(new=new, duplicates=duplicates) if acknowledged else None

    # --- invoices --------------------------------------------------------------------------

    def _record(self, out: InvoiceOut) -> InvoiceRecord:
        return InvoiceRecord.model_validate(
            {
                **out.model_dump(exclude={"id"}),
                "account_id": self.account_id,
                "mode": "live" if out.livemode else "test",
                "usage_watermark": 0,  # internal to the worker; never printed
            }
        )

    def list_invoices(self, selection: InvoiceFilter) -> list[InvoiceRecord]:
        """Every page the API's filters allow, then the local order and filters (the API lists in
        issue order and filters by one status and no customer)."""
        statuses = selection.statuses or []
        pages = self.client.billing.invoices.list(
            subscription_id=selection.subscription_id,
            status=statuses[0] if len(statuses) == 1 else None,
            limit=100,
        )
        found = [
            out
            for out in pages
            if (not statuses or out.status in statuses)
            and (selection.customer_id is None or out.customer_id == selection.customer_id)
        ]
        found.sort(key=lambda out: out.period.start)  # stable: issue order within a period
        return [self._record(out) for out in found[: selection.limit]]

    def invoice(self, number: str) -> InvoiceRecord:
        return self._record(self.client.billing.invoices.retrieve(number))

    def pay(
        self,
        number: str,
        *,
        amount: Decimal | None,
        payment_id: str | None,
        currency: str | None,
    ) -> PaymentView:
        invoice = self.client.billing.invoices.retrieve(number)
        out = self.client.billing.invoices.pay(
            number, amount=amount, payment_id=payment_id, currency=currency
        )
        result = PaymentResult.model_validate(
            out.model_dump(exclude={"invoice_number", "livemode"})
        )
        return PaymentView(result=result, currency=invoice.currency)

    def approve(self, number: str) -> None:
        self.client.billing.invoices.approve(number)

    def void(self, number: str, reason: str) -> None:
        self.client.billing.invoices.void(number, reason=reason)
