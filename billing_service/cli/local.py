"""The local backend: the shared services on the mode's database and Temporal namespace (what the
HTTP API's routes call too), answering in the CLI's views (`cli/backend.py`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from billing.contracts.common import subscription_workflow_id
from billing.contracts.invoice import VoidRequest
from billing.contracts.subscription import (
    CancelRequest,
    PlanChange,
    SubscriptionInput,
    SubscriptionStatusView,
    UsageBatch,
)
from billing_db import repo_catalog, repo_invoices, repo_listing
from billing_db.records import AccountRecord, CustomerRecord, InvoiceRecord, SubscriptionRecord
from billing_db.repo_listing import MAX_LIMIT
from billing_service import client as billing
from billing_service.api.models import SubscriptionSummary
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
from billing_service.cli.common import CommandEnv, run_async
from billing_service.services import catalog, invoices, subscriptions


def _config(account: AccountRecord) -> ConfigView:
    return ConfigView(account_id=account.id, billing=account.billing)


class LocalBackend:
    """Every call opens what it needs (the database, Temporal) for its own duration."""

    def __init__(self, env: CommandEnv) -> None:
        self.env = env

    @property
    def account_id(self) -> str:
        return self.env.account_id

    def close(self) -> None:
        """Nothing is held between calls."""

    # --- catalog ---------------------------------------------------------------------------

    def create_meter(self, document: Mapping[str, Any]) -> MeterView:
        with self.env.engine() as engine:
            record = catalog.create_meter(
                engine, account_id=self.account_id, mode=self.env.mode, document=document
            )
        return MeterView(account_id=record.account_id, meter=record.meter)

    def create_pricing(self, document: Any) -> PricingView:
        with self.env.engine() as engine:
            record = catalog.create_pricing(
                engine, account_id=self.account_id, mode=self.env.mode, document=document
            )
        return PricingView(
            id=record.id,
            product_id=record.product_id,
            version=record.version,
            pricing=record.pricing,
        )

    def update_config(self, changes: Mapping[str, Any]) -> ConfigView:
        with self.env.engine() as engine:
            return _config(
                catalog.update_billing_config(
                    engine, account_id=self.account_id, mode=self.env.mode, changes=changes
                )
            )

    def config(self) -> ConfigView:
        with self.env.engine() as engine:
            return _config(catalog.account(engine, account_id=self.account_id, mode=self.env.mode))

    def configure_notifications(
        self,
        changes: Mapping[str, Any],
        *,
        webhook_url: str | None,
        webhook_secret: str | None,
    ) -> NotificationsView:
        with self.env.engine() as engine:
            account, endpoint = catalog.configure_notifications(
                engine,
                account_id=self.account_id,
                mode=self.env.mode,
                changes=changes,
                webhook_url=webhook_url,
                webhook_secret=webhook_secret,
            )
            endpoints = repo_catalog.list_webhook_endpoints(engine, account_id=account.id)
        return NotificationsView(
            account_id=account.id,
            notifications=account.notifications,
            webhook_endpoints=[e.url for e in endpoints],
            new_secret=endpoint.secret if endpoint is not None else None,
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
        with self.env.engine() as engine:
            return catalog.create_customer(
                engine,
                account_id=self.account_id,
                mode=self.env.mode,
                customer_id=customer_id,
                name=name,
                email=email,
                timezone=timezone,
                external_id=external_id,
            )

    # --- subscriptions and usage -----------------------------------------------------------

    def start(self, subscription: SubscriptionInput) -> StartedView:
        async def go() -> str:
            with self.env.engine() as engine:
                return await subscriptions.start(
                    await self.env.client(),
                    engine,
                    subscription,
                    mode=self.env.mode,
                    task_queue=self.env.settings.temporal_task_queue,
                )

        run_id = run_async(go())
        return StartedView(
            subscription_id=subscription.subscription_id,
            workflow_id=subscription_workflow_id(subscription.subscription_id),
            run_id=run_id,
            namespace=self.env.settings.temporal_namespace,
            start_at=subscription.start_at,
        )

    def status(self, subscription_id: str) -> SubscriptionStatusView:
        async def go() -> SubscriptionStatusView:
            return await billing.subscription_status(await self.env.client(), subscription_id)

        return run_async(go())

    def cancel(self, subscription_id: str, request: CancelRequest) -> None:
        async def go() -> None:
            await billing.cancel_subscription(await self.env.client(), subscription_id, request)

        run_async(go())

    def change_plan(self, subscription_id: str, change: PlanChange) -> None:
        with self.env.engine() as engine:
            subscriptions.check_plan_change(engine, change, account_id=self.account_id)

        async def go() -> None:
            await billing.change_plan(await self.env.client(), subscription_id, change)

        run_async(go())

    def list_subscriptions(self, limit: int) -> list[SubscriptionSummary]:
        found: list[SubscriptionRecord] = []
        more, after = True, None
        with self.env.engine() as engine:
            while more and len(found) < limit:
                page, more = repo_listing.subscriptions_page(
                    engine, account_id=self.account_id, starting_after=after, limit=MAX_LIMIT
                )
                found += page
                after = page[-1].id if page else None
        return [subscriptions.summary(record, self.env.livemode) for record in found[:limit]]

    def record_usage(
        self,
        subscription_id: str,
        batches: Sequence[UsageBatch],
        *,
        acknowledged: bool,
        advance: Callable[[int], None],
    ) -> UsageCounts | None:
        async def go() -> UsageCounts | None:
            client = await self.env.client()
            counts = UsageCounts(new=0, duplicates=0) if acknowledged else None
            for batch in batches:
                if counts is None:
                    await billing.send_usage(client, subscription_id, batch)
                else:
                    result = await billing.submit_usage(client, subscription_id, batch)
                    counts = UsageCounts(
                        new=counts.new + result.new,
                        duplicates=counts.duplicates + result.duplicates,
                    )
                advance(len(batch.events))
            return counts

        return run_async(go())

    # --- invoices --------------------------------------------------------------------------

    def list_invoices(self, selection: InvoiceFilter) -> list[InvoiceRecord]:
        with self.env.engine() as engine:
            found = repo_invoices.list_invoices(
                engine,
                account_id=self.account_id,
                subscription_id=selection.subscription_id,
                customer_id=selection.customer_id,
                statuses=selection.statuses or None,  # type: ignore[arg-type]
                limit=selection.limit,
            )
        return [invoices.rounded(record) for record in found if record.mode == self.env.mode]

    def _stored(self, number: str) -> InvoiceRecord:
        with self.env.engine() as engine:
            return invoices.find_invoice(engine, number=number, mode=self.env.mode)

    def invoice(self, number: str) -> InvoiceRecord:
        return invoices.rounded(self._stored(number))

    def pay(
        self,
        number: str,
        *,
        amount: Decimal | None,
        payment_id: str | None,
        currency: str | None,
    ) -> PaymentView:
        record = self._stored(number)
        payment = invoices.payment_for(
            record, amount=amount, payment_id=payment_id, currency=currency
        )

        async def go() -> Any:
            return await invoices.pay(await self.env.client(), number, payment)

        return PaymentView(result=run_async(go()), currency=record.currency)

    def approve(self, number: str) -> None:
        record = self._stored(number)
        invoices.check_approvable(record)

        async def go() -> None:
            await billing.approve_invoice(await self.env.client(), record.subscription_id, number)

        run_async(go())

    def void(self, number: str, reason: str) -> None:
        invoices.check_voidable(self._stored(number))

        async def go() -> None:
            await invoices.void(await self.env.client(), number, VoidRequest(reason=reason))

        run_async(go())
