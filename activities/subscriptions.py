"""Activities that persist a subscription's configuration and its status."""

from __future__ import annotations

from sqlalchemy import Engine
from temporalio import activity

from activities.database import call_repository
from billing.catalog import Pricing
from billing.contracts.activities import (
    PREPARE_SUBSCRIPTION,
    REGISTER_PRICING,
    SET_SUBSCRIPTION_STATUS,
    RegisteredPricing,
    RegisterPricingInput,
    SetSubscriptionStatusInput,
)
from billing.contracts.subscription import SubscriptionInput, SubscriptionPlan
from billing.errors import InvalidConfigurationError
from billing.periods import first_period
from billing_db import repo_catalog as catalog
from billing_db.errors import AccountModeError
from billing_db.records import AccountRecord, Mode, PricingVersionRecord


class SubscriptionActivities:
    """Catalog writes for SubscriptionWorkflow. Every method is idempotent."""

    def __init__(self, *, engine: Engine, mode: Mode = "test") -> None:
        self._engine = engine
        self._mode: Mode = mode

    @activity.defn(name=PREPARE_SUBSCRIPTION)
    async def prepare_subscription(self, subscription: SubscriptionInput) -> SubscriptionPlan:
        """Persist what the input gives inline, resolve what it names by id, and return the
        plan the workflow bills by. Running it twice stores everything once."""
        return await call_repository(self._engine, self._prepare, subscription)

    def _prepare(self, subscription: SubscriptionInput) -> SubscriptionPlan:
        engine = self._engine
        account = self._account(subscription)
        for meter in subscription.meters:
            catalog.create_meter(engine, account_id=account.id, meter=meter)
        if subscription.customer is not None:
            spec = subscription.customer
            customer = catalog.create_customer(
                engine,
                account_id=account.id,
                customer_id=spec.id,
                name=spec.name,
                billing_email=spec.email,
                time_zone=spec.timezone or account.billing.timezone,
            )
        else:
            assert subscription.customer_id is not None
            customer = catalog.get_customer(engine, customer_id=subscription.customer_id)
        if customer.account_id != account.id:
            raise InvalidConfigurationError(
                f"customer {customer.id!r} belongs to account {customer.account_id!r}, "
                f"not {account.id!r}"
            )
        pricing = self._pricing(account.id, subscription.pricing, subscription.pricing_version_id)
        meters = catalog.list_meters(engine, account_id=account.id)
        pricing.pricing.check_meters(meters)
        if pricing.pricing.currency != account.billing.currency:
            raise InvalidConfigurationError(
                f"pricing.currency {pricing.pricing.currency} differs from the account's billing "
                f"currency {account.billing.currency}"
            )
        assert subscription.start_at is not None, "the workflow resolves start_at"
        record = catalog.create_subscription(
            engine,
            subscription_id=subscription.subscription_id,
            account_id=account.id,
            customer_id=customer.id,
            pricing_version_id=pricing.id,
            started_at=subscription.start_at,
            current_period=first_period(
                subscription.start_at,
                invoice_day=account.billing.invoice_day,
                tz=customer.time_zone,
            ),
        )
        return SubscriptionPlan(
            subscription_id=record.id,
            account_id=account.id,
            customer_id=customer.id,
            customer_name=customer.name,
            timezone=customer.time_zone,
            pricing=pricing.pricing,
            pricing_version_id=pricing.id,
            meters={m: meters[m] for m in sorted(pricing.pricing.meter_ids())},
            billing=account.billing,
            notifications=account.notifications,
            livemode=account.livemode,
            started_at=record.started_at,
        )

    def _account(self, subscription: SubscriptionInput) -> AccountRecord:
        """The account, in the worker's mode: where the request landed decides, never a field."""
        if subscription.livemode is not None and subscription.livemode != (self._mode == "live"):
            raise AccountModeError(
                f"livemode: the input says {str(subscription.livemode).lower()}, but this worker "
                f"serves {self._mode} mode (its own namespace and database): start the "
                "subscription where that mode's worker listens, or leave livemode out"
            )
        account = catalog.ensure_account(
            self._engine,
            account_id=subscription.account_id,
            mode=self._mode,
            billing=subscription.billing,
            notifications=subscription.notifications,
        )
        if subscription.billing is not None or subscription.notifications is not None:
            account = catalog.update_account_config(
                self._engine,
                account_id=account.id,
                billing=subscription.billing,
                notifications=subscription.notifications,
            )
        return account

    def _pricing(
        self, account_id: str, pricing: Pricing | None, pricing_version_id: int | None
    ) -> PricingVersionRecord:
        if pricing is not None:
            return catalog.create_pricing_version(
                self._engine, account_id=account_id, pricing=pricing
            )
        assert pricing_version_id is not None
        record = catalog.get_pricing_version(self._engine, pricing_version_id=pricing_version_id)
        if record.account_id != account_id:
            raise InvalidConfigurationError(
                f"pricing_version_id {pricing_version_id} belongs to another account"
            )
        return record

    @activity.defn(name=REGISTER_PRICING)
    async def register_pricing(self, change: RegisterPricingInput) -> RegisteredPricing:
        """Store (or find) the new pricing version and point the subscription at it."""
        return await call_repository(self._engine, self._register_pricing, change)

    def _register_pricing(self, change: RegisterPricingInput) -> RegisteredPricing:
        record = self._pricing(change.account_id, change.pricing, change.pricing_version_id)
        meters = catalog.list_meters(self._engine, account_id=change.account_id)
        record.pricing.check_meters(meters)
        catalog.set_subscription_pricing(
            self._engine, subscription_id=change.subscription_id, pricing_version_id=record.id
        )
        return RegisteredPricing(
            pricing=record.pricing,
            pricing_version_id=record.id,
            meters={m: meters[m] for m in sorted(record.pricing.meter_ids())},
        )

    @activity.defn(name=SET_SUBSCRIPTION_STATUS)
    async def set_subscription_status(self, change: SetSubscriptionStatusInput) -> None:
        await call_repository(
            self._engine,
            catalog.set_subscription_status,
            self._engine,
            subscription_id=change.subscription_id,
            status=change.status,
            at=change.at,
            period=change.period,
        )
