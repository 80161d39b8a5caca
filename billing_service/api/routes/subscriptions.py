"""Subscriptions and usage: every change goes through the subscription's workflow (start,
signals, updates, queries) via `billing_service.client`, after the database says the caller's
account owns what is named."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from fastapi import APIRouter

from billing.contracts.common import subscription_workflow_id
from billing.contracts.subscription import (
    CancelRequest,
    PlanChange,
    UsageBatch,
    UsageIntakeResult,
)
from billing.invoice import RatedInvoice
from billing_db import repo_catalog as catalog
from billing_db import repo_listing
from billing_service import client as billing
from billing_service.api.context import Caller
from billing_service.api.models import (
    Accepted,
    CancelIn,
    Page,
    PlanChangeIn,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionStarted,
    SubscriptionSummary,
    UsageIn,
)
from billing_service.api.problems import QueryTimeoutError
from billing_service.api.routes.common import (
    RESPONSES,
    CallerDep,
    Limit,
    StartingAfter,
    blocking,
    page_of,
)
from billing_service.services import subscriptions as services
from billing_service.services import usage

router = APIRouter(prefix="/v1/billing", responses=RESPONSES)
T = TypeVar("T")
#: How long a query waits for a worker before the API says none answered (503).
QUERY_SECONDS = 10.0


async def _owned(caller: Caller, subscription_id: str) -> services.Owned:
    """The subscription when the caller's account owns it (stored or just started)."""
    return await services.owned(
        await caller.client(),
        caller.engine,
        account_id=caller.account_id,
        subscription_id=subscription_id,
    )


async def _answered(query: Awaitable[T]) -> T:
    """A query's answer, or `QueryTimeoutError` when no worker answers in time."""
    try:
        return await asyncio.wait_for(query, QUERY_SECONDS)
    except TimeoutError:
        raise QueryTimeoutError(
            f"no worker answered within {QUERY_SECONDS:.0f} s: is a worker running for this "
            "mode's namespace and task queue?"
        ) from None


@router.post("/subscriptions", status_code=201, tags=["subscriptions"])
async def create_subscription(caller: CallerDep, request: SubscriptionIn) -> SubscriptionStarted:
    """Start the subscription's workflow (`SubscriptionWorkflow`); an id already used is 409.
    A past `start_at` backdates it: the periods already over are invoiced at once."""
    subscription_id = request.id or f"sub_{uuid.uuid4().hex[:20]}"
    document = {
        "subscription_id": subscription_id,
        "customer_id": request.customer_id,
        "pricing_version_id": request.pricing_id,
        "start_at": request.start_at,
    }
    subscription = services.subscription_input(
        document, account_id=caller.account_id, mode=caller.mode
    )
    await blocking(services.check_stored_ids, caller.engine, subscription, mode=caller.mode)
    handle = await billing.start_subscription(
        await caller.client(), subscription, task_queue=caller.resources.task_queue
    )
    return SubscriptionStarted(
        id=subscription_id,
        customer_id=request.customer_id,
        pricing_id=request.pricing_id,
        livemode=caller.livemode,
        workflow_id=subscription_workflow_id(subscription_id),
        run_id=handle.result_run_id or "",
        namespace=caller.resources.settings.temporal_namespace,
        start_at=subscription.start_at,
    )


@router.get("/subscriptions", tags=["subscriptions"])
async def list_subscriptions(
    caller: CallerDep, limit: Limit = 10, starting_after: StartingAfter = None
) -> Page[SubscriptionSummary]:
    """Subscriptions once their workflow has stored them (moments after the start)."""
    return await page_of(
        repo_listing.subscriptions_page,
        services.summary,
        caller,
        starting_after=starting_after,
        limit=limit,
    )


@router.get("/subscriptions/{subscription_id}", tags=["subscriptions"])
async def get_subscription(caller: CallerDep, subscription_id: str) -> SubscriptionOut:
    """The workflow's `status` query: period, usage so far, open invoices, what it waits for."""
    await _owned(caller, subscription_id)
    view = await _answered(billing.subscription_status(await caller.client(), subscription_id))
    return SubscriptionOut.model_validate(
        {**view.model_dump(), "id": subscription_id, "livemode": caller.livemode}
    )


@router.get("/subscriptions/{subscription_id}/upcoming_invoice", tags=["subscriptions"])
async def get_upcoming_invoice(caller: CallerDep, subscription_id: str) -> RatedInvoice:
    """The invoice if the period closed now: lines with tier breakdown, subtotal, tax, total."""
    await _owned(caller, subscription_id)
    return await _answered(billing.upcoming_invoice(await caller.client(), subscription_id))


@router.post("/subscriptions/{subscription_id}/cancel", status_code=202, tags=["subscriptions"])
async def cancel_subscription(
    caller: CallerDep, subscription_id: str, request: CancelIn
) -> Accepted:
    """At the period's end (default), or now with a prorated final invoice."""
    await _owned(caller, subscription_id)
    await billing.cancel_subscription(
        await caller.client(),
        subscription_id,
        CancelRequest(at_period_end=request.at_period_end, reason=request.reason),
    )
    when = "cancel at period end" if request.at_period_end else "cancel now"
    return Accepted(id=subscription_id, livemode=caller.livemode, requested=when)


@router.post(
    "/subscriptions/{subscription_id}/change_plan", status_code=202, tags=["subscriptions"]
)
async def change_plan(caller: CallerDep, subscription_id: str, request: PlanChangeIn) -> Accepted:
    """Switch to another stored pricing: from the next period, or now (both parts prorated)."""
    await _owned(caller, subscription_id)
    change = PlanChange(pricing_version_id=request.pricing_id, prorate_now=request.prorate_now)
    await blocking(services.check_plan_change, caller.engine, change, account_id=caller.account_id)
    await billing.change_plan(await caller.client(), subscription_id, change)
    return Accepted(id=subscription_id, livemode=caller.livemode, requested="change_plan")


async def _batch_target(caller: Caller, subscription_id: str) -> usage.Target:
    """The batch's own subscription; unknown or another account's is 404 for the request. One
    started moments ago and not yet stored by its workflow is a target `stored=False`."""
    resolve = usage.stored_resolver(caller.engine, account_id=caller.account_id)
    stored = (await blocking(resolve, [subscription_id])).get(subscription_id)
    if stored is not None:
        return stored
    started = await _owned(caller, subscription_id)
    meters = await blocking(catalog.list_meters, caller.engine, account_id=caller.account_id)
    priced = started.pricing.meter_ids()
    return usage.Target(
        subscription_id=subscription_id,
        meters={key: meter for key, meter in meters.items() if key in priced},
        started_at=started.started_at,
        stored=False,
    )


@router.post("/usage/events", tags=["usage"])
async def record_usage(caller: CallerDep, request: UsageIn) -> UsageIntakeResult:
    """Up to 1,000 events, of one subscription (`subscription_id` given once) or several (per
    event), each checked alone (subscription, meter, quantity, timestamp window): every valid
    event is committed to the usage ledger before the answer; `event_id` makes a repeat, by any
    path, count once (a duplicate is a success). Events of a subscription started moments ago,
    not yet stored by its workflow, go to its `record_usage` signal (durable in its history,
    recorded in the same ledger with the same key)."""
    now = datetime.now(UTC)
    stored = usage.stored_resolver(caller.engine, account_id=caller.account_id)
    resolve = stored
    if request.subscription_id is not None:
        own = await _batch_target(caller, request.subscription_id)

        def resolve(subscription_ids: Sequence[str]) -> dict[str, usage.Target]:
            return {**stored(subscription_ids), own.subscription_id: own}

    async with caller.resources.intake:
        batch, result, new = await blocking(
            usage.check_and_commit,
            caller.engine,
            request.events,
            resolve=resolve,
            now=now,
            subscription_id=request.subscription_id,
        )
    caller.resources.nudges.note(new)
    forwarded = [event for target, event in batch.valid if not target.stored]
    if forwarded and request.subscription_id is not None:
        await billing.send_usage(
            await caller.client(), request.subscription_id, UsageBatch(events=forwarded)
        )
        result = result.model_copy(update={"accepted": result.accepted + len(forwarded)})
    return result
