"""The main loop's smaller duties between invoices, each one I/O step: store buffered usage,
forward a payment, write a status change, notify a crossed usage threshold, approve a draft.

`next_chore` says which is due (None: nothing); `do` performs it. The same pair serves the
waiting loop and the drain before continue-as-new or the end of the workflow.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from billing.contracts.activities import (
        RecordPaymentInput,
        RecordUsageInput,
        SetSubscriptionStatusInput,
    )
    from billing.contracts.common import invoice_workflow_id
    from billing.contracts.invoice import ForwardedPayment, PaymentSubmission
    from billing.contracts.subscription import InvoiceStandingChanged
    from billing.contracts.subscription_state import SubscriptionState
    from billing.lifecycle import crossed_thresholds, status_from_standings
    from billing.money import format_decimal
    from workflows import calls
    from workflows.notify import notify
    from workflows.subscription import intake, invoicing
    from workflows.subscription.intake import Intake
    from workflows.subscription.views import notification, publish_search_attributes

Chore = Callable[[], Awaitable[None]]


class Chores:
    """The duties of one run, over its state and usage intake."""

    def __init__(self, state: SubscriptionState, usage: Intake, *, ledger: bool) -> None:
        self.state = state
        self.intake = usage
        self.ledger = ledger
        """Running usage is counted from the ledger's rows (older runs: their own events)."""
        self._last_flush_at = datetime.min.replace(tzinfo=UTC)

    def next_chore(self) -> Chore | None:
        state = self.state
        if self.intake.buffer:
            return self._flush
        if self.ledger and state.ledger_uncounted:
            return self._count_ledger
        if state.payments:
            return self._forward_payment
        approvals = [n for n in state.approvals if n in state.drafts_awaiting_approval]
        if approvals:
            return lambda: invoicing.approve(state, approvals[0])
        if state.status_unsaved:
            return self._save_status
        if self._thresholds():
            return self._notify_threshold
        return None

    async def _flush(self) -> None:
        state = self.state
        events = self.intake.take()
        # Unique per flush, so a retried activity recognises its own earlier rows.
        received_at = max(workflow.now(), self._last_flush_at + timedelta(microseconds=1))
        self._last_flush_at = received_at
        result = await calls.STORE_USAGE(
            RecordUsageInput(
                subscription_id=state.plan.subscription_id,
                events=events,
                received_at=received_at,
                count=intake.ledger_count(state) if self.ledger else None,
            ),
            summary=f"record {len(events)} usage events",
        )
        new = self.intake.stored(events, result.duplicate_ids)
        if result.counted is None:
            intake.count_new(state, new)
        else:
            intake.count_ledger(state, result.counted)

    async def _count_ledger(self) -> None:
        """Count usage rows others stored (the HTTP intake, an import) into the running usage."""
        state = self.state
        asked = state.ledger_nudged_row_id
        counted = await calls.COUNT_RECORDED_USAGE(
            intake.ledger_count(state),
            summary=f"count usage rows above {state.ledger_row_id or 0}",
        )
        intake.count_ledger(state, counted)
        caught_up = counted.up_to_row_id >= counted.latest_row_id
        if caught_up and state.ledger_nudged_row_id == asked:
            # A nudge naming a row that does not exist (a hand-sent signal) is not chased again.
            state.ledger_nudged_row_id = min(asked, counted.up_to_row_id)

    async def _forward_payment(self) -> None:
        """Forward a payment to its invoice's workflow; when that has ended (paid, void,
        uncollectible), record it directly so money received is never dropped: on a paid
        invoice it becomes credit, a void invoice refuses it (logged)."""
        payment = self.state.payments[0]
        paid = await _forward(payment)
        self.state.payments = [p for p in self.state.payments if p is not payment]
        if paid:
            record_standing(
                self.state,
                InvoiceStandingChanged(invoice_number=payment.invoice_number, standing="settled"),
            )

    async def _save_status(self) -> None:
        state = self.state
        status, reason = state.status, state.status_reason
        await calls.SET_SUBSCRIPTION_STATUS(
            SetSubscriptionStatusInput(
                subscription_id=state.plan.subscription_id,
                status=status,
                at=workflow.now(),
                reason=reason,
                period=state.period,
            ),
            summary=f"status -> {status}",
        )
        state.stored_status = status
        publish_search_attributes(state)

    def _thresholds(self) -> list[tuple[str, int]]:
        """Crossed usage thresholds not notified yet, in an open period only: once the period
        ends its running usage no longer matters (the invoice counts from the database)."""
        state = self.state
        if state.closing_at is not None or workflow.now() >= state.period.end:
            return []
        config = state.plan.notifications.usage_threshold
        return [
            (meter_id, threshold)
            for meter_id, usage in sorted(state.usage.items())
            for threshold in crossed_thresholds(
                usage.quantity,
                state.plan.pricing.included_units(meter_id),
                config.thresholds,
                state.thresholds_notified.get(meter_id, []),
            )
        ]

    async def _notify_threshold(self) -> None:
        state = self.state
        meter_id, threshold = self._thresholds()[0]
        notified = state.thresholds_notified
        notified[meter_id] = [*notified.get(meter_id, []), threshold]
        included = state.plan.pricing.included_units(meter_id) or Decimal(0)
        request = notification(
            state,
            "usage_threshold",
            scope=f"{state.plan.subscription_id}:{state.period.start:%Y-%m-%d}"
            f":{meter_id}:threshold-{threshold}",
            data={
                "threshold": threshold,
                "meter": meter_id,
                "quantity": format_decimal(state.usage[meter_id].quantity),
                "included": format_decimal(included),
                "unit": state.plan.meters[meter_id].unit,
            },
        )
        await notify(state.plan.notifications, request)


def record_standing(state: SubscriptionState, change: InvoiceStandingChanged) -> None:
    """An invoice went overdue, escalated or was settled: the subscription's status follows
    (written to the database by the main loop)."""
    overdue = dict(state.overdue_invoices)
    if change.standing == "settled":
        overdue.pop(change.invoice_number, None)
        state.open_invoices = [n for n in state.open_invoices if n != change.invoice_number]
    else:
        overdue[change.invoice_number] = change.standing
    state.overdue_invoices = overdue
    state.status = status_from_standings(state.status, overdue)


async def _forward(payment: ForwardedPayment) -> bool:
    """True when the payment, recorded directly, paid its invoice."""
    submission = PaymentSubmission.model_validate(
        payment.model_dump(exclude={"invoice_number"}, exclude_none=True)
    )
    handle = workflow.get_external_workflow_handle(invoice_workflow_id(payment.invoice_number))
    try:
        await handle.signal("record_payment", submission)
        return False
    except ApplicationError as error:
        workflow.logger.info(
            "invoice %s has no running workflow (%s): recording payment %s directly",
            payment.invoice_number,
            error.message,
            payment.payment_id,
        )
    try:
        result = await calls.STORE_PAYMENT(
            RecordPaymentInput(
                invoice_number=payment.invoice_number,
                payment=submission.model_copy(
                    update={"received_at": submission.received_at or workflow.now()}
                ),
            ),
            summary=f"record payment {payment.payment_id} on {payment.invoice_number}",
        )
    except ActivityError as error:
        workflow.logger.warning(
            "payment %s for invoice %s refused: %s",
            payment.payment_id,
            payment.invoice_number,
            error.cause or error,
        )
        return False
    return result.status == "paid"
