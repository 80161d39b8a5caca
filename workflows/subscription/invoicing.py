"""Invoicing a period, the guide's process: aggregate → rate → issue → hand the invoice to its
own workflow (which announces it and watches its payment); then switch pricing if a plan change
waits, and roll over to the next period.

Called by the main loop only. Every function changes the run's one state object in place and
reads it again after each `await`, so what a message handler recorded meanwhile stands.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from billing.contracts.activities import (
        ApproveInvoiceInput,
        IssueInvoiceInput,
        PeriodUsageInput,
        PeriodUsageResult,
        RegisterPricingInput,
    )
    from billing.contracts.common import invoice_workflow_id
    from billing.contracts.invoice import InvoiceSummary, InvoiceWorkflowInput
    from billing.contracts.subscription import CancelRequest
    from billing.contracts.subscription_state import SubscriptionState
    from billing.errors import BillingError
    from billing.invoice import RatedInvoice, rate_invoice
    from billing.lifecycle import request_in_effect
    from billing.periods import Period, period_after, proration_factor
    from workflows import calls
    from workflows.notify import notify
    from workflows.subscription import intake
    from workflows.subscription.views import notification, period_label

#: Cancels and plan changes take effect from the instant they were asked (see `_in_effect`).
REQUESTS_FROM_THEIR_INSTANT = "requests-take-effect-from-their-instant"
#: Invoice numbers the status keeps as open (older ones are still watched by their workflows).
OPEN_KEPT = 20


def closing_time(state: SubscriptionState, now: datetime) -> datetime | None:
    """When the current period must be invoiced now, the instant it closes at."""
    if state.canceled:
        return None
    if now >= state.period.end:
        return state.period.end
    if state.cancel is not None and not state.cancel.at_period_end:
        return now
    if state.plan_change is not None and state.plan_change.prorate_now:
        return now
    return None


async def close_period(state: SubscriptionState, closing_at: datetime) -> bool:
    """Invoice the period up to `closing_at`, then end (True) or roll over (False).

    The invoice's activity also stores the period the subscription goes on with (the billing
    config and zone that decide it are not changed by a plan switch); a cancel that arrives
    meanwhile is corrected by the status write that follows it (`chores`)."""
    state.closing_at = closing_at
    plan = state.plan
    upcoming = period_after(
        state.period, closing_at=closing_at, invoice_day=plan.billing.invoice_day, tz=plan.timezone
    )
    if closing_at > state.period.start:
        then = upcoming if _ending_cancel(state, closing_at) is None else state.period
        await invoice(state, Period(start=state.period.start, end=closing_at), then=then)
    cancel = _ending_cancel(state, closing_at)
    if cancel is not None:
        state.status = "canceled"
        state.status_reason = cancel.reason or "canceled"
        state.closing_at = None
        return True
    change = state.plan_change
    if change is not None and _in_effect(state.plan_change_requested_at, closing_at):
        registered = await calls.REGISTER_PRICING(
            RegisterPricingInput(
                subscription_id=state.plan.subscription_id,
                account_id=state.plan.account_id,
                pricing=change.pricing,
                pricing_version_id=change.pricing_version_id,
            ),
            summary="switch to the new pricing",
        )
        state.plan = state.plan.model_copy(
            update={
                "pricing": registered.pricing,
                "pricing_version_id": registered.pricing_version_id,
                "meters": registered.meters,
            }
        )
        if state.plan_change is change:  # a newer change, sent meanwhile, waits its turn
            state.plan_change = None
            state.plan_change_requested_at = None
    intake.roll_over(state, upcoming)
    return False


def _ending_cancel(state: SubscriptionState, closing_at: datetime) -> CancelRequest | None:
    """The cancel that ends the subscription when the period closes at `closing_at`, if any."""
    cancel = state.cancel
    if cancel is None or not _in_effect(state.cancel_requested_at, closing_at):
        return None
    if not cancel.at_period_end or closing_at >= state.period.end:
        return cancel
    return None


def _in_effect(requested_at: datetime | None, closing_at: datetime) -> bool:
    """`request_in_effect`; runs recorded before the rule existed replay as they ran."""
    if request_in_effect(requested_at, closing_at):
        return True
    return not workflow.patched(REQUESTS_FROM_THEIR_INSTANT)


async def invoice(state: SubscriptionState, billed: Period, *, then: Period) -> None:
    """Issue the invoice of `billed`; the subscription's stored period becomes `then`."""
    plan = state.plan
    label = period_label(state, billed)
    usage = await calls.AGGREGATE_PERIOD_USAGE(
        PeriodUsageInput(
            subscription_id=plan.subscription_id, period=billed, meters=list(plan.meters.values())
        ),
        summary=f"aggregate usage of {label}",
    )
    rated = rate(state, billed, usage)
    issued = await calls.ISSUE_INVOICE(
        IssueInvoiceInput(
            subscription_id=plan.subscription_id,
            period=billed,
            rated=rated,
            issued_at=workflow.now(),
            payment_terms_days=plan.billing.payment_terms_days,
            draft=not plan.billing.auto_generate_invoices,
            watermark=usage.watermark,
            subscription_period=then,
        ),
        summary=f"issue the invoice of {label} ({rated.total} {rated.currency})",
    )
    if issued.status == "draft":
        state.drafts_awaiting_approval = [*state.drafts_awaiting_approval, issued.number]
        return
    await publish(state, issued)


def rate(state: SubscriptionState, billed: Period, usage: PeriodUsageResult) -> RatedInvoice:
    plan = state.plan
    try:
        return rate_invoice(
            pricing=plan.pricing,
            quantities=usage.quantities,
            tax_rate=plan.billing.tax_rate,
            period=billed,
            proration=proration_factor(
                billed, invoice_day=plan.billing.invoice_day, tz=plan.timezone
            ),
            late_usage=usage.late,
            meters=plan.meters,
            tz=plan.timezone,
        )
    except BillingError as error:
        # A configuration the core cannot rate: fail this workflow task (not the workflow),
        # so that fixing the code or data and redeploying resumes billing where it stopped.
        raise RuntimeError(f"cannot rate {period_label(state, billed)}: {error}") from error


async def publish(state: SubscriptionState, issued: InvoiceSummary) -> None:
    """Hand the invoice to its own workflow, which announces it (`invoice_generated`) and
    watches its payment. Runs from before LEAN_INVOICING announced it here first."""
    announcement = notification(
        state, "invoice_generated", scope=issued.number, invoice=issued.number
    )
    announced_by_invoice = workflow.patched(calls.LEAN_INVOICING)
    if not announced_by_invoice:
        await notify(state.plan.notifications, announcement)
    plan = state.plan
    try:
        await workflow.start_child_workflow(
            "InvoiceWorkflow",
            InvoiceWorkflowInput(
                invoice=issued,
                account_id=plan.account_id,
                subscription_workflow_id=workflow.info().workflow_id,
                notifications=plan.notifications,
                dunning=plan.billing.dunning,
                announcement=announcement if announced_by_invoice else None,
            ),
            id=invoice_workflow_id(issued.number),
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            static_summary=f"Invoice {issued.number}: {issued.total} {issued.currency} "
            f"for {plan.customer_name}",
        )
    except WorkflowAlreadyStartedError:
        # Already watched (this invoice was published before, e.g. after a reset). If it is
        # another invoice with the same number, two databases share this namespace: say so.
        workflow.logger.warning(
            "invoice workflow %s already exists; not starting another",
            invoice_workflow_id(issued.number),
        )
    if issued.number not in state.open_invoices:
        state.open_invoices = [*state.open_invoices, issued.number][-OPEN_KEPT:]


async def approve(state: SubscriptionState, number: str) -> None:
    """Approve a draft in the database, then publish it like any issued invoice."""
    approved = await calls.ISSUE_DRAFT(
        ApproveInvoiceInput(invoice_number=number, approved_at=workflow.now()),
        summary=f"approve draft {number}",
    )
    await publish(state, approved)
    state.drafts_awaiting_approval = [n for n in state.drafts_awaiting_approval if n != number]
    state.approvals = [n for n in state.approvals if n != number]
