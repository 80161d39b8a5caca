"""SubscriptionWorkflow: one long-running workflow per customer subscription.

Each run bills one period: it accepts usage (signal `record_usage`, update `submit_usage`),
persists it in batches, notifies usage thresholds, and when the period ends it aggregates the
period's usage from the database, rates it with the pure core, issues the invoice, notifies, hands
the invoice to an `InvoiceWorkflow` child (parent close policy ABANDON) and continues as new with
small state. Orchestration only: no I/O and no clock but `workflow.now()`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from billing.aggregation import property_key
    from billing.catalog import Meter
    from billing.contracts.activities import (
        AGGREGATE_PERIOD_USAGE,
        APPROVE_INVOICE,
        ISSUE_INVOICE,
        PREPARE_SUBSCRIPTION,
        RECORD_PAYMENT,
        RECORD_USAGE,
        REGISTER_PRICING,
        SET_SUBSCRIPTION_STATUS,
        ApproveInvoiceInput,
        IssueInvoiceInput,
        PeriodUsageInput,
        PeriodUsageResult,
        RecordPaymentInput,
        RecordUsageInput,
        RecordUsageResult,
        RegisteredPricing,
        RegisterPricingInput,
        SetSubscriptionStatusInput,
    )
    from billing.contracts.common import SubscriptionStatus, invoice_workflow_id
    from billing.contracts.invoice import (
        ForwardedPayment,
        InvoiceSummary,
        InvoiceWorkflowInput,
        PaymentResult,
        PaymentSubmission,
    )
    from billing.contracts.notifications import NotificationRequest
    from billing.contracts.subscription import (
        ApproveInvoice,
        CancelRequest,
        CarriedState,
        InvoiceStandingChanged,
        MeterUsage,
        PlanChange,
        RawUsageBatch,
        RejectedEvent,
        SubscriptionInput,
        SubscriptionPlan,
        SubscriptionStatusView,
        UsageAccepted,
        UsageEvent,
    )
    from billing.errors import BillingError
    from billing.invoice import RatedInvoice, rate_invoice
    from billing.money import EXACT, format_decimal
    from billing.periods import Period, first_period, next_period, proration_factor
    from billing.usage_intake import check_batch, check_event, parse_raw_batch, parse_raw_event
    from billing.validation import describe_validation_error
    from workflows import search_attributes as sa
    from workflows.activity_options import DATABASE
    from workflows.notify import notify

#: Events persisted per `record_usage` activity: large enough to keep history small under load.
FLUSH_BATCH = 5000
#: Set-aside events kept for the `status` query (the worker log has them all).
REJECTED_KEPT = 50


@dataclass
class _Ticket:
    """One `submit_usage` update waiting for its events to be durably recorded."""

    pending: set[str]
    new: int = 0
    duplicates: int = 0

    @property
    def done(self) -> bool:
        return not self.pending


@dataclass
class _Intake:
    """Accepted events not yet persisted, and the updates waiting for them."""

    buffer: dict[str, UsageEvent] = field(default_factory=dict)
    in_flight: set[str] = field(default_factory=set)
    tickets: list[_Ticket] = field(default_factory=list)


@workflow.defn(name="SubscriptionWorkflow")
class SubscriptionWorkflow:
    @workflow.init
    def __init__(self, subscription: dict[str, Any]) -> None:
        # The input arrives as plain JSON and is validated here, so that a malformed start (from
        # the `temporal` CLI, say) fails the workflow with the reason instead of failing its
        # workflow task over and over on "Failed decoding arguments".
        self._input_error: str | None = None
        self._input: SubscriptionInput | None = None
        try:
            self._input = SubscriptionInput.model_validate(subscription)
        except ValidationError as error:
            self._input_error = describe_validation_error(error)
        self._state: CarriedState | None = self._input.carried if self._input else None
        self._intake = _Intake()
        self._raw_before_ready: list[RawUsageBatch] = []
        self._status_dirty = False
        self._approvals: set[str] = set()
        self._last_flush_at = datetime.min.replace(tzinfo=UTC)
        self._waiting_for = "starting"
        if self._state is not None:
            for event in self._state.unpersisted_events:
                self._intake.buffer[event.event_id] = event

    # --- the run ----------------------------------------------------------------------------

    @workflow.run
    async def run(self, subscription: dict[str, Any]) -> SubscriptionStatusView:
        """`subscription`: a `SubscriptionInput` as JSON (contract/subscription-input...)."""
        if self._input is None:
            raise ApplicationError(
                f"invalid subscription input: {self._input_error}",
                type="InvalidSubscriptionInput",
                non_retryable=True,
            )
        if self._state is None:
            self._state = await self._start_new(self._input)
        state = self._state
        for raw in self._raw_before_ready:
            self._accept_raw(raw)
        self._raw_before_ready.clear()
        self._publish_search_attributes()

        while True:
            self._describe()
            if not self._has_work():
                state = self._require_state()
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(
                        self._has_work,
                        timeout=state.period.end - workflow.now(),
                        timeout_summary=f"until the invoice of {self._period_label()}",
                    )
            if self._intake.buffer:
                await self._flush()
                continue
            if self._status_dirty:
                await self._persist_status()
                continue
            if self._state.drafts_awaiting_approval and self._approvals:
                await self._approve_drafts()
                continue
            closing_at = self._closing_time()
            if closing_at is not None:
                finished = await self._close_period(closing_at)
                if finished:
                    return self.status()
                await self._continue_as_new()
            if workflow.info().is_continue_as_new_suggested():
                await self._continue_as_new()

    async def _start_new(self, subscription: SubscriptionInput) -> CarriedState:
        self._waiting_for = "persisting the subscription's configuration"
        plan = await workflow.execute_activity(
            PREPARE_SUBSCRIPTION,
            subscription.model_copy(update={"start_at": subscription.start_at or workflow.now()}),
            result_type=SubscriptionPlan,
            summary=f"persist customer, pricing and config of {subscription.subscription_id}",
            **DATABASE,
        )
        period = first_period(
            plan.started_at, invoice_day=plan.billing.invoice_day, tz=plan.timezone
        )
        return CarriedState(plan=plan, status="active", period=period, usage={})

    def _has_work(self) -> bool:
        state = self._require_state()
        return bool(
            self._intake.buffer
            or self._status_dirty
            or (state.drafts_awaiting_approval and self._approvals)
            or self._closing_time() is not None
            or workflow.info().is_continue_as_new_suggested()
        )

    def _closing_time(self) -> datetime | None:
        """When the current period must be invoiced now, the instant it closes at."""
        state = self._require_state()
        now = workflow.now()
        if now >= state.period.end:
            return state.period.end
        if state.cancel is not None and not state.cancel.at_period_end:
            return now
        if state.plan_change is not None and state.plan_change.prorate_now:
            return now
        return None

    # --- usage ------------------------------------------------------------------------------

    @workflow.signal(name="record_usage")
    def record_usage(self, batch: RawUsageBatch) -> None:
        """Accept a batch; an event that can never count is set aside with its reason."""
        if self._state is None:
            self._raw_before_ready.append(batch)
            return
        self._accept_raw(batch)

    def _accept_raw(self, batch: RawUsageBatch) -> None:
        state = self._require_state()
        now = workflow.now()
        for raw in batch.events:
            try:
                event = check_event(
                    parse_raw_event(raw),
                    meters=state.plan.meters,
                    started_at=state.plan.started_at,
                    now=now,
                )
            except BillingError as error:
                self._set_aside(raw.get("event_id"), str(error), now)
                continue
            self._enqueue(event)

    def _set_aside(self, event_id: object, reason: str, now: datetime) -> None:
        state = self._require_state()
        workflow.logger.warning("usage event %s set aside: %s", event_id, reason)
        rejected = RejectedEvent(
            event_id=event_id if isinstance(event_id, str) else None,
            reason=reason,
            received_at=now,
        )
        self._state = state.model_copy(
            update={"rejected": [*state.rejected, rejected][-REJECTED_KEPT:]}
        )

    def _enqueue(self, event: UsageEvent) -> bool:
        """Buffer an accepted event; False when the same id is already waiting or in flight."""
        if event.event_id in self._intake.buffer or event.event_id in self._intake.in_flight:
            return False
        self._intake.buffer[event.event_id] = event
        return True

    @workflow.update(name="submit_usage")
    async def submit_usage(self, batch: RawUsageBatch) -> UsageAccepted:
        """Record a batch and say how many events were new; a bad batch is refused whole.

        The batch arrives raw (like `record_usage`) so that a malformed event is refused by the
        validator with its field and reason instead of failing to decode."""
        await workflow.wait_condition(lambda: self._state is not None)
        state = self._require_state()
        try:
            events = check_batch(
                parse_raw_batch(batch.events),
                meters=state.plan.meters,
                started_at=state.plan.started_at,
                now=workflow.now(),
            )
        except BillingError as error:
            raise ApplicationError(str(error), type="InvalidUsage", non_retryable=True) from None
        ticket = _Ticket(pending=set())
        for event in events:
            if self._enqueue(event):
                ticket.pending.add(event.event_id)
            else:
                ticket.duplicates += 1
        self._intake.tickets.append(ticket)
        await workflow.wait_condition(lambda: ticket.done)
        return UsageAccepted(new=ticket.new, duplicates=ticket.duplicates)

    @submit_usage.validator
    def _validate_submit_usage(self, batch: RawUsageBatch) -> None:
        try:
            events = parse_raw_batch(batch.events)
        except BillingError as error:
            raise ValueError(str(error)) from None
        if self._state is None:
            return  # checked by the handler once the plan is known
        try:
            check_batch(
                events,
                meters=self._state.plan.meters,
                started_at=self._state.plan.started_at,
                now=workflow.now(),
            )
        except BillingError as error:
            raise ValueError(str(error)) from None

    async def _flush(self) -> None:
        state = self._require_state()
        events = list(self._intake.buffer.values())[:FLUSH_BATCH]
        for event in events:
            del self._intake.buffer[event.event_id]
            self._intake.in_flight.add(event.event_id)
        received_at = max(workflow.now(), self._last_flush_at + timedelta(microseconds=1))
        self._last_flush_at = received_at
        result = await workflow.execute_activity(
            RECORD_USAGE,
            RecordUsageInput(
                subscription_id=state.plan.subscription_id,
                events=events,
                received_at=received_at,
            ),
            result_type=RecordUsageResult,
            summary=f"record {len(events)} usage events",
            **DATABASE,
        )
        duplicates = set(result.duplicate_ids)
        state = self._require_state()
        usage = dict(state.usage)
        late = state.late_events
        for event in events:
            self._intake.in_flight.discard(event.event_id)
            is_new = event.event_id not in duplicates
            self._settle_ticket(event.event_id, is_new)
            if not is_new:
                continue
            assert event.timestamp is not None
            if event.timestamp < state.period.start:
                late += 1
            else:
                meter = state.plan.meters[event.meter_id]
                usage[meter.id] = _accumulate(usage.get(meter.id, MeterUsage()), event, meter)
        self._state = state.model_copy(update={"usage": usage, "late_events": late})
        self._intake.tickets = [ticket for ticket in self._intake.tickets if not ticket.done]
        await self._notify_thresholds()

    def _settle_ticket(self, event_id: str, is_new: bool) -> None:
        for ticket in self._intake.tickets:
            if event_id in ticket.pending:
                ticket.pending.discard(event_id)
                if is_new:
                    ticket.new += 1
                else:
                    ticket.duplicates += 1
                return

    async def _notify_thresholds(self) -> None:
        state = self._require_state()
        config = state.plan.notifications.usage_threshold
        notified = {meter: list(levels) for meter, levels in state.thresholds_notified.items()}
        for meter_id, usage in state.usage.items():
            included = state.plan.pricing.included_units(meter_id)
            if not included:
                continue
            percent = EXACT.multiply(usage.quantity, Decimal(100)) / included
            for threshold in config.thresholds:
                if percent < threshold or threshold in notified.get(meter_id, []):
                    continue
                notified.setdefault(meter_id, []).append(threshold)
                self._state = self._require_state().model_copy(
                    update={"thresholds_notified": notified}
                )
                await notify(
                    state.plan.notifications,
                    self._request(
                        "usage_threshold",
                        scope=f"{state.plan.subscription_id}:{state.period.start:%Y-%m-%d}"
                        f":{meter_id}:threshold-{threshold}",
                        data={
                            "threshold": threshold,
                            "meter": meter_id,
                            "quantity": format_decimal(usage.quantity),
                            "included": format_decimal(included),
                            "unit": state.plan.meters[meter_id].unit,
                        },
                    ),
                )

    # --- invoicing --------------------------------------------------------------------------

    async def _close_period(self, closing_at: datetime) -> bool:
        """Invoice the period up to `closing_at`; True when the subscription has ended."""
        state = self._require_state()
        plan = state.plan
        if closing_at > state.period.start:
            billed = Period(start=state.period.start, end=closing_at)
            await self._invoice(billed)
        state = self._require_state()
        cancel = state.cancel
        if cancel is not None and (not cancel.at_period_end or closing_at >= state.period.end):
            await self._end(cancel)
            return True
        rest_start = closing_at
        if closing_at >= state.period.end:
            upcoming = next_period(
                state.period, invoice_day=plan.billing.invoice_day, tz=plan.timezone
            )
        else:
            upcoming = Period(start=rest_start, end=state.period.end)
        if state.plan_change is not None:
            registered = await workflow.execute_activity(
                REGISTER_PRICING,
                RegisterPricingInput(
                    subscription_id=plan.subscription_id,
                    account_id=plan.account_id,
                    pricing=state.plan_change.pricing,
                    pricing_version_id=state.plan_change.pricing_version_id,
                ),
                result_type=RegisteredPricing,
                summary="switch to the new pricing",
                **DATABASE,
            )
            plan = plan.model_copy(
                update={
                    "pricing": registered.pricing,
                    "pricing_version_id": registered.pricing_version_id,
                    "meters": registered.meters,
                }
            )
        self._state = state.model_copy(
            update={
                "plan": plan,
                "period": upcoming,
                "usage": {},
                "late_events": 0,
                "thresholds_notified": {},
                "plan_change": None,
            }
        )
        return False

    async def _invoice(self, billed: Period) -> None:
        state = self._require_state()
        plan = state.plan
        self._waiting_for = f"invoicing {self._period_label(billed)}"
        usage = await workflow.execute_activity(
            AGGREGATE_PERIOD_USAGE,
            PeriodUsageInput(
                subscription_id=plan.subscription_id,
                period=billed,
                meters=list(plan.meters.values()),
            ),
            result_type=PeriodUsageResult,
            summary=f"aggregate usage of {self._period_label(billed)}",
            **DATABASE,
        )
        rated = self._rate(billed, usage)
        invoice = await workflow.execute_activity(
            ISSUE_INVOICE,
            IssueInvoiceInput(
                subscription_id=plan.subscription_id,
                period=billed,
                rated=rated,
                issued_at=workflow.now(),
                payment_terms_days=plan.billing.payment_terms_days,
                draft=not plan.billing.auto_generate_invoices,
                watermark=usage.watermark,
            ),
            result_type=InvoiceSummary,
            summary=f"issue the invoice of {self._period_label(billed)} ({rated.total} "
            f"{rated.currency})",
            **DATABASE,
        )
        if invoice.status == "draft":
            state = self._require_state()
            self._state = state.model_copy(
                update={
                    "drafts_awaiting_approval": [*state.drafts_awaiting_approval, invoice.number]
                }
            )
            return
        await self._publish_invoice(invoice)

    def _rate(self, billed: Period, usage: PeriodUsageResult) -> RatedInvoice:
        plan = self._require_state().plan
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
            raise RuntimeError(f"cannot rate {self._period_label(billed)}: {error}") from error

    async def _publish_invoice(self, invoice: InvoiceSummary) -> None:
        state = self._require_state()
        plan = state.plan
        await notify(
            plan.notifications,
            self._request("invoice_generated", scope=invoice.number, invoice=invoice.number),
        )
        try:
            await workflow.start_child_workflow(
                "InvoiceWorkflow",
                InvoiceWorkflowInput(
                    invoice=invoice,
                    account_id=plan.account_id,
                    subscription_workflow_id=workflow.info().workflow_id,
                    notifications=plan.notifications,
                    dunning=plan.billing.dunning,
                ),
                id=invoice_workflow_id(invoice.number),
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                static_summary=f"Invoice {invoice.number}: {invoice.total} {invoice.currency} "
                f"for {plan.customer_name}",
            )
        except WorkflowAlreadyStartedError:
            # Already watched (this invoice was published before, e.g. after a reset). If it is
            # another invoice with the same number, two databases share this namespace: say so.
            workflow.logger.warning(
                "invoice workflow %s already exists; not starting another",
                invoice_workflow_id(invoice.number),
            )
        state = self._require_state()
        if invoice.number not in state.open_invoices:
            self._state = state.model_copy(
                update={"open_invoices": [*state.open_invoices, invoice.number][-20:]}
            )

    async def _approve_drafts(self) -> None:
        state = self._require_state()
        for number in [n for n in state.drafts_awaiting_approval if n in self._approvals]:
            invoice = await workflow.execute_activity(
                APPROVE_INVOICE,
                ApproveInvoiceInput(
                    invoice_number=number,
                    approved_at=workflow.now(),
                ),
                result_type=InvoiceSummary,
                summary=f"approve draft {number}",
                **DATABASE,
            )
            state = self._require_state()
            self._state = state.model_copy(
                update={
                    "drafts_awaiting_approval": [
                        n for n in state.drafts_awaiting_approval if n != number
                    ]
                }
            )
            self._approvals.discard(number)
            await self._publish_invoice(invoice)

    async def _end(self, cancel: CancelRequest) -> None:
        self._state = self._require_state().model_copy(update={"status": "canceled"})
        await self._persist_status(reason=cancel.reason or "canceled")
        self._waiting_for = "nothing: the subscription is canceled"
        self._describe()
        await workflow.wait_condition(workflow.all_handlers_finished)

    # --- status, cancel, plan change, payments ------------------------------------------------

    @workflow.signal(name="cancel")
    async def cancel(self, request: CancelRequest) -> None:
        await workflow.wait_condition(lambda: self._state is not None)
        state = self._require_state()
        if state.status != "canceled":
            self._state = state.model_copy(update={"cancel": request})

    @workflow.signal(name="change_plan")
    async def change_plan(self, change: PlanChange) -> None:
        await workflow.wait_condition(lambda: self._state is not None)
        self._state = self._require_state().model_copy(update={"plan_change": change})

    @workflow.signal(name="approve_invoice")
    def approve_invoice(self, approval: ApproveInvoice) -> None:
        self._approvals.add(approval.invoice_number)

    @workflow.signal(name="invoice_standing")
    async def invoice_standing(self, change: InvoiceStandingChanged) -> None:
        """From an InvoiceWorkflow: one of our invoices went overdue, escalated or was settled."""
        await workflow.wait_condition(lambda: self._state is not None)
        state = self._require_state()
        overdue = dict(state.overdue_invoices)
        if change.standing == "settled":
            overdue.pop(change.invoice_number, None)
            open_invoices = [n for n in state.open_invoices if n != change.invoice_number]
        else:
            overdue[change.invoice_number] = change.standing
            open_invoices = state.open_invoices
        status: SubscriptionStatus = state.status
        if status != "canceled":
            if "suspend" in overdue.values():
                status = "suspended"
            elif overdue:
                status = "past_due"
            else:
                status = "active"
        self._state = state.model_copy(
            update={"overdue_invoices": overdue, "open_invoices": open_invoices, "status": status}
        )
        self._status_dirty = self._status_dirty or status != state.status

    @workflow.signal(name="record_payment")
    async def record_payment(self, payment: ForwardedPayment) -> None:
        """Forward a payment to the invoice's own workflow, which records it.

        When that workflow has already ended (paid, void, uncollectible), the payment is recorded
        directly instead, so that money received is never dropped: on a paid invoice it becomes
        customer credit; a void invoice refuses it, which is logged."""
        submission = PaymentSubmission.model_validate(
            payment.model_dump(exclude={"invoice_number"}, exclude_none=True)
        )
        handle = workflow.get_external_workflow_handle(invoice_workflow_id(payment.invoice_number))
        try:
            await handle.signal("record_payment", submission)
            return
        except ApplicationError as error:
            workflow.logger.info(
                "invoice %s has no running workflow (%s): recording payment %s directly",
                payment.invoice_number,
                error.message,
                payment.payment_id,
            )
        try:
            result = await workflow.execute_activity(
                RECORD_PAYMENT,
                RecordPaymentInput(
                    invoice_number=payment.invoice_number,
                    payment=submission.model_copy(
                        update={"received_at": submission.received_at or workflow.now()}
                    ),
                ),
                result_type=PaymentResult,
                summary=f"record payment {payment.payment_id} on {payment.invoice_number}",
                **DATABASE,
            )
        except ActivityError as error:
            workflow.logger.warning(
                "payment %s for invoice %s refused: %s",
                payment.payment_id,
                payment.invoice_number,
                error.cause or error,
            )
            return
        if result.status == "paid":
            await self.invoice_standing(
                InvoiceStandingChanged(invoice_number=payment.invoice_number, standing="settled")
            )

    async def _persist_status(self, reason: str | None = None) -> None:
        state = self._require_state()
        self._status_dirty = False
        await workflow.execute_activity(
            SET_SUBSCRIPTION_STATUS,
            SetSubscriptionStatusInput(
                subscription_id=state.plan.subscription_id,
                status=state.status,
                at=workflow.now(),
                reason=reason,
            ),
            summary=f"status -> {state.status}",
            **DATABASE,
        )
        self._publish_search_attributes()

    # --- queries ----------------------------------------------------------------------------

    @workflow.query(name="status")
    def status(self) -> SubscriptionStatusView:
        state = self._require_state()
        change = state.plan_change
        return SubscriptionStatusView(
            subscription_id=state.plan.subscription_id,
            customer_id=state.plan.customer_id,
            product_id=state.plan.pricing.product_id,
            status=state.status,
            period=state.period,
            next_invoice_at=None if state.status == "canceled" else state.period.end,
            usage=state.usage,
            late_events=state.late_events,
            open_invoices=state.open_invoices,
            overdue_invoices=sorted(state.overdue_invoices),
            drafts_awaiting_approval=state.drafts_awaiting_approval,
            rejected_events=state.rejected,
            cancel_at_period_end=bool(state.cancel and state.cancel.at_period_end),
            pending_plan_change=None
            if change is None
            else (change.pricing.product_id if change.pricing else f"v{change.pricing_version_id}"),
            waiting_for=self._waiting_for,
        )

    @workflow.query(name="upcoming_invoice")
    def upcoming_invoice(self) -> RatedInvoice:
        """The invoice of the current period if it closed now, from the usage accepted so far."""
        state = self._require_state()
        now = max(workflow.now(), state.period.start + timedelta(seconds=1))
        billed = Period(start=state.period.start, end=min(now, state.period.end))
        usage = PeriodUsageResult(
            quantities={meter: usage.quantity for meter, usage in state.usage.items()},
            watermark=0,
        )
        return self._rate(billed, usage)

    # --- helpers ----------------------------------------------------------------------------

    def _require_state(self) -> CarriedState:
        if self._state is None:
            raise ApplicationError("the subscription is still starting", non_retryable=True)
        return self._state

    def _request(
        self,
        event: str,
        *,
        scope: str,
        invoice: str | None = None,
        data: dict[str, object] | None = None,
    ) -> NotificationRequest:
        plan = self._require_state().plan
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

    def _period_label(self, period: Period | None = None) -> str:
        state = self._require_state()
        return (period or state.period).label(state.plan.timezone)

    def _publish_search_attributes(self) -> None:
        state = self._require_state()
        plan = state.plan
        workflow.upsert_search_attributes(
            [
                sa.CUSTOMER_ID.value_set(plan.customer_id),
                sa.SUBSCRIPTION_ID.value_set(plan.subscription_id),
                sa.PLAN.value_set(plan.pricing.product_id),
                sa.STATUS.value_set(state.status),
                sa.NEXT_INVOICE_AT.value_unset()
                if state.status == "canceled"
                else sa.NEXT_INVOICE_AT.value_set(state.period.end),
            ]
        )

    def _describe(self) -> None:
        state = self._require_state()
        if self._waiting_for.startswith("invoicing") or self._waiting_for == "starting":
            self._waiting_for = (
                f"the end of {self._period_label()} ({state.period.end:%Y-%m-%d %H:%M} UTC)"
            )
        usage = ", ".join(
            f"{meter} {format_decimal(u.quantity)} {state.plan.meters[meter].unit}"
            for meter, u in sorted(state.usage.items())
        )
        workflow.set_current_details(
            f"**{state.status}** · waiting for {self._waiting_for}\n\n"
            f"Usage this period: {usage or 'none yet'}\n\n"
            f"Open invoices: {', '.join(state.open_invoices) or 'none'}"
            + (
                f" · overdue: {', '.join(sorted(state.overdue_invoices))}"
                if state.overdue_invoices
                else ""
            )
        )

    async def _continue_as_new(self) -> None:
        """Drain accepted usage and finished handlers, then start a fresh run with small state."""
        while self._intake.buffer:
            await self._flush()
        await workflow.wait_condition(
            lambda: workflow.all_handlers_finished() and not self._intake.buffer
        )
        while self._intake.buffer:
            await self._flush()
        state = self._require_state()
        carried = state.model_copy(update={"run": state.run + 1, "unpersisted_events": []})
        workflow.continue_as_new(
            SubscriptionInput(
                subscription_id=state.plan.subscription_id,
                account_id=state.plan.account_id,
                customer_id=state.plan.customer_id,
                pricing_version_id=state.plan.pricing_version_id,
                start_at=state.plan.started_at,
                livemode=state.plan.livemode,
                carried=carried,
            )
        )


def _accumulate(usage: MeterUsage, event: UsageEvent, meter: Meter) -> MeterUsage:
    """The running aggregate after one more new event (the same rules as `billing.aggregation`)."""
    assert event.timestamp is not None
    events = usage.events + 1
    match meter.aggregation:
        case "sum":
            return usage.model_copy(
                update={"quantity": EXACT.add(usage.quantity, event.quantity), "events": events}
            )
        case "count":
            return usage.model_copy(update={"quantity": Decimal(events), "events": events})
        case "max":
            quantity = event.quantity if usage.events == 0 else max(usage.quantity, event.quantity)
            return usage.model_copy(update={"quantity": quantity, "events": events})
        case "latest":
            newer = usage.latest_at is None or (event.timestamp, event.event_id) > (
                usage.latest_at,
                usage.latest_event_id or "",
            )
            if not newer:
                return usage.model_copy(update={"events": events})
            return usage.model_copy(
                update={
                    "quantity": event.quantity,
                    "events": events,
                    "latest_at": event.timestamp,
                    "latest_event_id": event.event_id,
                }
            )
        case "unique_count":
            key = property_key(event.properties.get(meter.field_name or ""))
            distinct = usage.distinct
            if key is not None and key not in distinct:
                distinct = [*distinct, key]
            return usage.model_copy(
                update={"quantity": Decimal(len(distinct)), "events": events, "distinct": distinct}
            )
