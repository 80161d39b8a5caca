"""SubscriptionWorkflow: one long-running workflow per customer subscription.

One state, one writer. The run's whole state is one `SubscriptionState`, carried whole through
continue-as-new. Message handlers only record what was asked in it (update validators refuse bad
requests with a reason); the main loop alone performs I/O, and reads the state again after every
`await`. Before continue-as-new or the end it drains: stores buffered usage and waits until every
handler has finished.

`run()` is the billing process: wait for the invoice day (or a cancel or plan change) →
aggregate → rate → issue → hand the invoice to its own workflow (which announces it and watches
its payment) → continue as new.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from billing.contracts.activities import PeriodUsageResult
    from billing.contracts.invoice import ForwardedPayment
    from billing.contracts.subscription import (
        ApproveInvoice,
        CancelRequest,
        InvoiceStandingChanged,
        LedgerNudge,
        PlanChange,
        RawUsageBatch,
        SubscriptionInput,
        SubscriptionStatusView,
        UsageAccepted,
    )
    from billing.contracts.subscription_state import SubscriptionState
    from billing.errors import BillingError
    from billing.invoice import RatedInvoice
    from billing.periods import Period, first_period
    from billing.usage_intake import check_batch, parse_raw_batch
    from billing.validation import describe_validation_error
    from workflows import calls
    from workflows.subscription import invoicing
    from workflows.subscription.chores import Chores, record_standing
    from workflows.subscription.intake import Intake, Ticket, accept_raw
    from workflows.subscription.views import (
        carried_search_attributes,
        describe,
        period_label,
        publish_search_attributes,
        search_attributes_current,
        status_view,
    )

#: The key under which a run hands its state to the next one (internal, not in the contract).
CONTINUATION = "continuation"
#: The key older code used for the same.
_OLD_CONTINUATION = "carried"
#: Runs that count their running usage from the usage ledger (any writer's rows); runs of older
#: code counted the events they stored themselves, and replay that way.
LEDGER_COUNTING = "running-usage-from-the-ledger"


@workflow.defn(name="SubscriptionWorkflow")
class SubscriptionWorkflow:
    @workflow.init
    def __init__(self, subscription: dict[str, Any]) -> None:
        # The input arrives as plain JSON and is validated here, so that a malformed start (from
        # the `temporal` CLI, say) fails the workflow with the reason instead of failing its
        # workflow task over and over on "Failed decoding arguments".
        self._input_error: str | None = None
        self._input: SubscriptionInput | None = None
        self._state: SubscriptionState | None = None
        carried = subscription.get(CONTINUATION) or subscription.get(_OLD_CONTINUATION)
        try:
            if carried is None:
                self._input = SubscriptionInput.model_validate(subscription)
            elif workflow.info().continued_run_id is None:
                # Only a run's own continue-as-new hands over state: a caller's start must not
                # forge it (a status, open invoices, the usage counted so far).
                key = CONTINUATION if subscription.get(CONTINUATION) else _OLD_CONTINUATION
                self._input_error = (
                    f"{key}: internal state that a run hands to the next by "
                    "continue-as-new; a start cannot set it (see contract/"
                    "subscription-input.schema.json for what a start takes)"
                )
            else:
                self._state = SubscriptionState.model_validate(carried)
        except ValidationError as error:
            self._input_error = describe_validation_error(error)
        self._intake = Intake()
        self._raw_before_ready: list[RawUsageBatch] = []
        self._nudged_before_ready = 0
        self._waiting_for = "starting"

    # --- the process ------------------------------------------------------------------------

    @workflow.run
    async def run(self, subscription: dict[str, Any]) -> SubscriptionStatusView:
        """`subscription`: a `SubscriptionInput` as JSON (contract/subscription-input...)."""
        # Lean runs count from the ledger too: asking for that older patch as well would cost
        # each run two more history events (a marker and its search-attribute upsert).
        lean = workflow.patched(calls.LEAN_INVOICING)
        ledger = lean or workflow.patched(LEDGER_COUNTING)
        state = self._state or await self._start(ledger=ledger)
        chores = Chores(state, self._intake, ledger=ledger)
        state.ledger_nudged_row_id = max(state.ledger_nudged_row_id, self._nudged_before_ready)
        for event in state.unpersisted_events:  # from older code, which could carry some
            self._intake.enqueue(event)
        state.unpersisted_events = []
        for raw in self._raw_before_ready:
            accept_raw(state, self._intake, raw)
        self._raw_before_ready.clear()
        if not lean or not search_attributes_current(state):
            publish_search_attributes(state)  # lean runs usually inherit them: see _continue_as_new

        while True:
            closing_at = await self._wait_for_invoice_day(chores)
            if closing_at is None:
                if workflow.info().is_continue_as_new_suggested():
                    await self._drain(chores)
                    self._continue_as_new(state)
                continue
            self._waiting_for = f"invoicing {period_label(state)}"
            ended = await invoicing.close_period(state, closing_at)
            await self._drain(chores)
            if ended:
                self._waiting_for = "nothing: the subscription is canceled"
                describe(state, self._waiting_for)
                return self.status()
            self._continue_as_new(state)

    async def _start(self, *, ledger: bool) -> SubscriptionState:
        if self._input is None:
            raise ApplicationError(
                f"invalid subscription input: {self._input_error}",
                type="InvalidSubscriptionInput",
                non_retryable=True,
            )
        subscription = self._input
        self._waiting_for = "persisting the subscription's configuration"
        plan = await calls.PREPARE_SUBSCRIPTION(
            subscription.model_copy(update={"start_at": subscription.start_at or workflow.now()}),
            summary=f"persist customer, pricing and config of {subscription.subscription_id}",
        )
        period = first_period(
            plan.started_at, invoice_day=plan.billing.invoice_day, tz=plan.timezone
        )
        self._state = SubscriptionState(
            plan=plan,
            status="active",
            stored_status="active",
            period=period,
            ledger_row_id=0 if ledger else None,
        )
        return self._state

    async def _wait_for_invoice_day(self, chores: Chores) -> datetime | None:
        """Do the chores as they come until the period must be invoiced (its end, a cancel or a
        plan change now) or a continue-as-new is suggested; the instant it closes at, or None."""
        state = chores.state
        while True:
            chore = chores.next_chore()
            if chore is not None:
                await chore()
                if workflow.info().is_continue_as_new_suggested():
                    return None  # under a stream of usage, chores never run out
                continue
            closing_at = invoicing.closing_time(state, workflow.now())
            if closing_at is not None or workflow.info().is_continue_as_new_suggested():
                return closing_at
            self._waiting_for = (
                f"the end of {period_label(state)} ({state.period.end:%Y-%m-%d %H:%M} UTC)"
            )
            describe(state, self._waiting_for)
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: (
                        chores.next_chore() is not None
                        or invoicing.closing_time(state, workflow.now()) is not None
                        or workflow.info().is_continue_as_new_suggested()
                    ),
                    timeout=state.period.end - workflow.now(),
                    timeout_summary=f"until the invoice of {period_label(state)}",
                )

    async def _drain(self, chores: Chores) -> None:
        """Do every chore that comes until no handler is running and none is left."""
        while True:
            chore = chores.next_chore()
            if chore is not None:
                await chore()
                continue
            if workflow.all_handlers_finished():
                return
            await workflow.wait_condition(
                lambda: chores.next_chore() is not None or workflow.all_handlers_finished()
            )

    def _continue_as_new(self, state: SubscriptionState) -> None:
        state.run += 1
        workflow.continue_as_new(
            {
                "subscription_id": state.plan.subscription_id,
                CONTINUATION: state.model_dump(mode="json"),
            },
            search_attributes=carried_search_attributes(state),
        )

    # --- messages: each records what was asked ------------------------------------------------

    async def _ready(self) -> SubscriptionState:
        await workflow.wait_condition(lambda: self._state is not None)
        assert self._state is not None
        return self._state

    @workflow.signal(name="record_usage")
    def record_usage(self, batch: RawUsageBatch) -> None:
        """Accept a batch; an event that can never count is set aside with its reason."""
        if self._state is None:
            self._raw_before_ready.append(batch)
            return
        accept_raw(self._state, self._intake, batch)

    @workflow.signal(name="usage_recorded")
    def usage_recorded(self, nudge: LedgerNudge) -> None:
        """The usage ledger holds new rows of this subscription (stored by the HTTP intake or an
        import): the main loop counts them into the running usage."""
        if self._state is None:
            self._nudged_before_ready = max(self._nudged_before_ready, nudge.up_to_row_id)
            return
        state = self._state
        state.ledger_nudged_row_id = max(state.ledger_nudged_row_id, nudge.up_to_row_id)

    @workflow.update(name="submit_usage")
    async def submit_usage(self, batch: RawUsageBatch) -> UsageAccepted:
        """Record a batch and say how many events were new; a bad batch is refused whole.

        The batch arrives raw (like `record_usage`) so that a malformed event is refused by the
        validator with its field and reason instead of failing to decode."""
        state = await self._ready()
        try:
            events = check_batch(
                parse_raw_batch(batch.events),
                meters=state.plan.meters,
                started_at=state.plan.started_at,
                now=workflow.now(),
            )
        except BillingError as error:
            raise ApplicationError(str(error), type="InvalidUsage", non_retryable=True) from None
        ticket = Ticket(pending=set())
        for event in events:
            if self._intake.enqueue(event):
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
            if self._state is not None:  # else checked by the handler once the plan is known
                check_batch(
                    events,
                    meters=self._state.plan.meters,
                    started_at=self._state.plan.started_at,
                    now=workflow.now(),
                )
        except BillingError as error:
            raise ValueError(str(error)) from None

    @workflow.signal(name="cancel")
    async def cancel(self, request: CancelRequest) -> None:
        state = await self._ready()
        if not state.canceled:
            state.cancel = request
            state.cancel_requested_at = workflow.now()

    @workflow.signal(name="change_plan")
    async def change_plan(self, change: PlanChange) -> None:
        state = await self._ready()
        state.plan_change = change
        state.plan_change_requested_at = workflow.now()

    @workflow.update(name="approve_invoice")
    async def approve_draft(self, approval: ApproveInvoice) -> None:
        """Approve a draft and wait until it is issued, notified and watched."""
        state = self._require_state()
        number = approval.invoice_number
        self._record_approval(state, number)
        await workflow.wait_condition(lambda: number not in state.drafts_awaiting_approval)

    @approve_draft.validator
    def _validate_approval(self, approval: ApproveInvoice) -> None:
        state = self._require_state()
        if approval.invoice_number not in state.drafts_awaiting_approval:
            drafts = ", ".join(state.drafts_awaiting_approval) or "none"
            raise ValueError(
                f"{approval.invoice_number!r} is not a draft of this subscription awaiting "
                f"approval (drafts awaiting approval: {drafts})"
            )

    @workflow.signal(name="approve_invoice")
    async def approve_invoice(self, approval: ApproveInvoice) -> None:
        """The same as the update, for clients without updates; an unknown number is ignored
        when its draft never appears."""
        self._record_approval(await self._ready(), approval.invoice_number)

    @staticmethod
    def _record_approval(state: SubscriptionState, number: str) -> None:
        if number not in state.approvals:
            state.approvals = [*state.approvals, number][-20:]

    @workflow.signal(name="invoice_standing")
    async def invoice_standing(self, change: InvoiceStandingChanged) -> None:
        """From an InvoiceWorkflow: one of our invoices went overdue, escalated or was settled."""
        record_standing(await self._ready(), change)

    @workflow.signal(name="record_payment")
    async def record_payment(self, payment: ForwardedPayment) -> None:
        """A payment for one of our invoices: the main loop forwards it to the invoice."""
        state = await self._ready()
        state.payments = [*state.payments, payment]

    # --- queries ----------------------------------------------------------------------------

    @workflow.query(name="status")
    def status(self) -> SubscriptionStatusView:
        return status_view(self._require_state(), self._waiting_for)

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
        return invoicing.rate(state, billed, usage)

    def _require_state(self) -> SubscriptionState:
        if self._state is None:
            raise ApplicationError("the subscription is still starting", non_retryable=True)
        return self._state
