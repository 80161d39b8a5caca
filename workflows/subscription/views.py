"""What a SubscriptionWorkflow shows of its state: the `status` query, the Web UI's current
details and search attributes, and the requests it hands to notifications. Read-only."""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes

with workflow.unsafe.imports_passed_through():
    from billing.contracts.notifications import NotificationRequest
    from billing.contracts.subscription import MeterUsage, SubscriptionStatusView
    from billing.contracts.subscription_state import SubscriptionState
    from billing.money import format_decimal
    from billing.periods import Period
    from billing.running import MeterUsage as RunningUsage
    from workflows import search_attributes as sa


def _public(usage: RunningUsage) -> MeterUsage:
    return MeterUsage(
        quantity=usage.quantity,
        events=usage.events,
        latest_at=usage.latest_at,
        latest_event_id=usage.latest_event_id,
        estimated=usage.estimated,
    )


def status_view(state: SubscriptionState, waiting_for: str) -> SubscriptionStatusView:
    change = state.plan_change
    return SubscriptionStatusView(
        subscription_id=state.plan.subscription_id,
        customer_id=state.plan.customer_id,
        product_id=state.plan.pricing.product_id,
        status=state.status,
        period=state.period,
        next_invoice_at=None if state.canceled else state.period.end,
        usage={meter: _public(usage) for meter, usage in state.usage.items()},
        late_events=state.late_events,
        open_invoices=state.open_invoices,
        overdue_invoices=sorted(state.overdue_invoices),
        drafts_awaiting_approval=state.drafts_awaiting_approval,
        rejected_events=state.rejected,
        cancel_at_period_end=bool(state.cancel and state.cancel.at_period_end),
        pending_plan_change=None
        if change is None
        else (change.pricing.product_id if change.pricing else f"v{change.pricing_version_id}"),
        waiting_for=waiting_for,
    )


def period_label(state: SubscriptionState, period: Period | None = None) -> str:
    return (period or state.period).label(state.plan.timezone)


def describe(state: SubscriptionState, waiting_for: str) -> None:
    """The Web UI's current details: status, what the workflow waits for, usage, invoices."""
    usage = ", ".join(
        f"{meter} {'~' if u.estimated else ''}{format_decimal(u.quantity)} "
        f"{state.plan.meters[meter].unit}"
        for meter, u in sorted(state.usage.items())
        if meter in state.plan.meters
    )
    overdue = sorted(state.overdue_invoices)
    workflow.set_current_details(
        f"**{state.status}** · waiting for {waiting_for}\n\n"
        f"Usage this period: {usage or 'none yet'}\n\n"
        f"Open invoices: {', '.join(state.open_invoices) or 'none'}"
        + (f" · overdue: {', '.join(overdue)}" if overdue else "")
    )


def _search_attribute_values(state: SubscriptionState) -> list[SearchAttributePair[Any]]:
    plan = state.plan
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(sa.CUSTOMER_ID, plan.customer_id),
        SearchAttributePair(sa.SUBSCRIPTION_ID, plan.subscription_id),
        SearchAttributePair(sa.PLAN, plan.pricing.product_id),
        SearchAttributePair(sa.STATUS, state.status),
    ]
    if not state.canceled:
        pairs.append(SearchAttributePair(sa.NEXT_INVOICE_AT, state.period.end))
    return pairs


def publish_search_attributes(state: SubscriptionState) -> None:
    updates = [pair.key.value_set(pair.value) for pair in _search_attribute_values(state)]
    if state.canceled:
        updates.append(sa.NEXT_INVOICE_AT.value_unset())
    workflow.upsert_search_attributes(updates)


def search_attributes_current(state: SubscriptionState) -> bool:
    """Whether the run started with the search attributes `state` calls for (carried by a
    continue-as-new that set them), so it need not upsert them."""
    started_with = workflow.info().typed_search_attributes
    wanted = _search_attribute_values(state)
    stale_next_invoice = state.canceled and started_with.get(sa.NEXT_INVOICE_AT) is not None
    return not stale_next_invoice and all(started_with.get(p.key) == p.value for p in wanted)


def carried_search_attributes(state: SubscriptionState) -> TypedSearchAttributes:
    """The search attributes the next run starts with (set by continue-as-new, so that run
    needs no upsert of its own)."""
    return TypedSearchAttributes(_search_attribute_values(state))


def notification(
    state: SubscriptionState,
    event: str,
    *,
    scope: str,
    invoice: str | None = None,
    data: dict[str, object] | None = None,
) -> NotificationRequest:
    plan = state.plan
    return NotificationRequest.model_validate(
        {
            "event": event,
            "account_id": plan.account_id,
            "subscription_id": plan.subscription_id,
            "customer_id": plan.customer_id,
            "invoice_number": invoice,
            "scope": scope,
            "data": data or {},
            "livemode": plan.livemode,
        }
    )
