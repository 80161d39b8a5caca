"""The guide's set-up steps (meters, pricing, billing config, notifications) and customers,
written into an account of one mode (created on first use; the other mode's is refused)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine

from billing.catalog import BillingConfig, Meter, NotificationConfig, Pricing
from billing.validation import parse
from billing_db import repo_catalog as catalog
from billing_db.records import (
    AccountRecord,
    CustomerRecord,
    MeterRecord,
    Mode,
    PricingVersionRecord,
    WebhookEndpointRecord,
)


def account(engine: Engine, *, account_id: str, mode: Mode) -> AccountRecord:
    return catalog.ensure_account(engine, account_id=account_id, mode=mode)


def create_meter(
    engine: Engine, *, account_id: str, mode: Mode, document: Mapping[str, Any]
) -> MeterRecord:
    """Define a meter (immutable; the same definition again returns it)."""
    meter = parse(Meter, dict(document), what="meter")
    owner = account(engine, account_id=account_id, mode=mode)
    return catalog.create_meter(engine, account_id=owner.id, meter=meter)


def create_pricing(
    engine: Engine, *, account_id: str, mode: Mode, document: Any
) -> PricingVersionRecord:
    """Store a pricing version (the same content again returns the existing version)."""
    pricing = parse(Pricing, document, what="pricing")
    owner = account(engine, account_id=account_id, mode=mode)
    return catalog.create_pricing_version(engine, account_id=owner.id, pricing=pricing)


def update_billing_config(
    engine: Engine, *, account_id: str, mode: Mode, changes: Mapping[str, Any]
) -> AccountRecord:
    """Change the fields given; the others keep their current values."""
    owner = account(engine, account_id=account_id, mode=mode)
    current = owner.billing.model_dump(mode="json")
    billing = parse(BillingConfig, {**current, **changes}, what="billing")
    return catalog.update_account_config(engine, account_id=owner.id, billing=billing)


def merged_notifications(
    current: NotificationConfig, changes: Mapping[str, Any]
) -> NotificationConfig:
    """Events named in `changes` take its channels on top of their current ones."""
    now = current.model_dump(mode="json")
    merged = {
        event: {**now.get(event, {}), **(changes.get(event) or {})}
        if isinstance(changes.get(event, {}), Mapping)
        else changes[event]
        for event in {*now, *changes}
    }
    return parse(NotificationConfig, merged, what="notifications")


def configure_notifications(
    engine: Engine,
    *,
    account_id: str,
    mode: Mode,
    changes: Mapping[str, Any],
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
) -> tuple[AccountRecord, WebhookEndpointRecord | None]:
    """Change channels per event (events not named keep theirs); optionally add an endpoint."""
    owner = account(engine, account_id=account_id, mode=mode)
    config = merged_notifications(owner.notifications, changes)
    endpoint = None
    if webhook_url is not None:
        endpoint = catalog.create_webhook_endpoint(
            engine, account_id=owner.id, url=webhook_url, secret=webhook_secret
        )
    updated = catalog.update_account_config(engine, account_id=owner.id, notifications=config)
    return updated, endpoint


def create_customer(
    engine: Engine,
    *,
    account_id: str,
    mode: Mode,
    customer_id: str,
    name: str,
    email: str,
    timezone: str | None = None,
    external_id: str | None = None,
) -> CustomerRecord:
    """A customer (the same details again return it); the time zone defaults to the config's."""
    owner = account(engine, account_id=account_id, mode=mode)
    return catalog.create_customer(
        engine,
        account_id=owner.id,
        customer_id=customer_id,
        name=name,
        billing_email=email,
        time_zone=timezone or owner.billing.timezone,
        external_id=external_id,
    )
