"""Starting a subscription from stored ids, and finding one an account owns.

The mode comes from where the request lands (the CLI's mode, the API key's), never from the
payload: a `livemode` that contradicts it is refused. Stored ids are checked before anything
starts, so a typo or another account's id is refused at the edge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from billing.catalog import Pricing
from billing.contracts.subscription import PlanChange, SubscriptionInput
from billing.errors import InvalidConfigurationError
from billing.validation import parse
from billing_db import repo_catalog as catalog
from billing_db.errors import (
    AccountModeError,
    UnknownAccountError,
    UnknownCustomerError,
    UnknownPricingVersionError,
    UnknownSubscriptionError,
)
from billing_db.records import Mode, PricingVersionRecord, SubscriptionRecord
from billing_service import client as billing
from billing_service.api.models import SubscriptionSummary


def subscription_input(
    document: Mapping[str, Any], *, account_id: str, mode: Mode
) -> SubscriptionInput:
    """The start payload for `mode`: the document's `livemode`, when given, must agree."""
    livemode = mode == "live"
    if "livemode" in document and document["livemode"] is not livemode:
        raise InvalidConfigurationError(
            f"livemode: the input says {document['livemode']}, but this is {mode} mode"
        )
    data = {"account_id": account_id, **document, "livemode": livemode}
    return parse(SubscriptionInput, data, what="subscription")


def owned_pricing_version(
    engine: Engine, *, account_id: str, pricing_version_id: int
) -> PricingVersionRecord:
    """The pricing version when `account_id` owns it; another account's is "not found"."""
    version = catalog.get_pricing_version(engine, pricing_version_id=pricing_version_id)
    if version.account_id != account_id:
        raise UnknownPricingVersionError(  # the words of a missing one
            f"pricing_version_id: no pricing version {pricing_version_id!r}"
        )
    return version


def check_stored_ids(engine: Engine, subscription: SubscriptionInput, *, mode: Mode) -> None:
    """Refuse unknown or foreign stored ids, and an account of the other mode, before starting."""
    try:
        account = catalog.get_account(engine, account_id=subscription.account_id)
    except UnknownAccountError:
        if subscription.customer_id or subscription.pricing_version_id:
            raise
        return
    if account.mode != mode:
        raise AccountModeError(
            f"account {account.id!r} is a {account.mode}-mode account; this is {mode} mode"
        )
    if subscription.customer_id is not None:
        customer = catalog.get_customer(engine, customer_id=subscription.customer_id)
        if customer.account_id != account.id:
            raise UnknownCustomerError(f"customer_id: no customer {customer.id!r}")
    if subscription.pricing_version_id is not None:
        owned_pricing_version(
            engine, account_id=account.id, pricing_version_id=subscription.pricing_version_id
        )


async def start(
    client: Client, engine: Engine, subscription: SubscriptionInput, *, mode: Mode, task_queue: str
) -> str:
    """Check the stored ids, then start the subscription's workflow; its run id."""
    check_stored_ids(engine, subscription, mode=mode)
    handle = await billing.start_subscription(client, subscription, task_queue=task_queue)
    return handle.result_run_id or ""


def owned_subscription(
    engine: Engine, *, account_id: str, subscription_id: str
) -> SubscriptionRecord:
    """The subscription when `account_id` owns it; another account's is "not found"."""
    record = catalog.get_subscription(engine, subscription_id=subscription_id)
    if record.account_id != account_id:
        raise UnknownSubscriptionError(f"subscription_id: no subscription {subscription_id!r}")
    return record


def summary(record: SubscriptionRecord, livemode: bool) -> SubscriptionSummary:
    """A stored subscription as the API lists it (and `billing subscriptions list` prints it)."""
    return SubscriptionSummary(
        id=record.id,
        customer_id=record.customer_id,
        pricing_id=record.pricing_version_id,
        status=record.status,
        started_at=record.started_at,
        canceled_at=record.canceled_at,
        current_period=record.current_period,
        livemode=livemode,
    )


@dataclass(frozen=True)
class Owned:
    """A subscription an account owns: what its usage is checked against."""

    subscription_id: str
    pricing: Pricing
    started_at: datetime


async def _started(client: Client, subscription_id: str) -> tuple[SubscriptionInput, datetime]:
    """The input the subscription's current run started with, and when it started."""
    handle = billing.subscription_handle(client, subscription_id)
    missing = UnknownSubscriptionError(f"subscription_id: no subscription {subscription_id!r}")
    try:
        async for event in handle.fetch_history_events():
            payloads = list(event.workflow_execution_started_event_attributes.input.payloads)
            decoded = await client.data_converter.decode(payloads, [dict[str, Any]])
            try:
                # A run continued as new starts from its internal state, not a SubscriptionInput:
                # by then the subscription is stored, so this path never needs it.
                started = SubscriptionInput.model_validate(decoded[0] if decoded else None)
            except ValidationError:
                raise missing from None
            return started, event.event_time.ToDatetime(tzinfo=UTC)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise missing from None
        raise
    raise missing


async def owned(client: Client, engine: Engine, *, account_id: str, subscription_id: str) -> Owned:
    """The subscription when `account_id` owns it: stored, or started and not yet stored (its
    workflow's input names the account). Another account's is "not found", like a missing one."""
    try:
        record = catalog.get_subscription(engine, subscription_id=subscription_id)
    except UnknownSubscriptionError:
        record = None
    if record is not None:
        if record.account_id != account_id:
            raise UnknownSubscriptionError(f"subscription_id: no subscription {subscription_id!r}")
        version = catalog.get_pricing_version(engine, pricing_version_id=record.pricing_version_id)
        return Owned(subscription_id, version.pricing, record.started_at)
    started, at = await _started(client, subscription_id)
    if started.account_id != account_id:
        raise UnknownSubscriptionError(f"subscription_id: no subscription {subscription_id!r}")
    if started.pricing is not None:
        pricing = started.pricing
    else:
        version_id = started.pricing_version_id or 0
        pricing = catalog.get_pricing_version(engine, pricing_version_id=version_id).pricing
    return Owned(subscription_id, pricing, started.start_at or at)


def check_plan_change(engine: Engine, change: PlanChange, *, account_id: str) -> None:
    """A stored pricing named by a plan change must be the account's own."""
    if change.pricing_version_id is not None:
        owned_pricing_version(
            engine, account_id=account_id, pricing_version_id=change.pricing_version_id
        )
