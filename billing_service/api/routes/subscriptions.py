"""Subscriptions and usage: every change goes through the subscription's workflow (start,
signals, updates, queries) via `billing_service.client`, after the database says the caller's
account owns what is named."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from typing import TypeVar

from fastapi import APIRouter

from billing.contracts.common import subscription_workflow_id
from billing.contracts.subscription import CancelRequest, PlanChange, UsageBatch
from billing.invoice import RatedInvoice
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
    UsageOut,
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


@router.post("/usage/events", status_code=202, tags=["usage"])
async def record_usage(caller: CallerDep, request: UsageIn) -> UsageOut:
    """Up to 1,000 events for one subscription, checked here by the rules of the workflow's
    `submit_usage` (a bad batch is refused whole, nothing is sent), then forwarded to its
    `record_usage` signal: accepted even before the workflow has run; `event_id` makes a repeat
    count once. With `acknowledged` they go to its `submit_usage` update instead, and the answer
    says how many were new (what `billing usage record` prints)."""
    subscription = await _owned(caller, request.subscription_id)
    events = await blocking(
        services.check_usage,
        caller.engine,
        subscription,
        account_id=caller.account_id,
        events=request.events,
    )
    client, batch = await caller.client(), UsageBatch(events=events)
    answer = UsageOut(
        subscription_id=request.subscription_id,
        livemode=caller.livemode,
        events=len(request.events),
    )
    if not request.acknowledged:
        await billing.send_usage(client, request.subscription_id, batch)
        return answer
    accepted = await billing.submit_usage(client, request.subscription_id, batch)
    return answer.model_copy(update={"new": accepted.new, "duplicates": accepted.duplicates})
