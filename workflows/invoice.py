"""InvoiceWorkflow: one issued invoice, from payment terms through dunning to its end.

Started by its subscription as a child with parent close policy ABANDON, so it outlives the
parent's continue-as-new. It waits durably for payment until the due date; unpaid, the invoice
goes overdue and the dunning ladder runs on durable timers (reminders, suspension, uncollectible).
A payment at any point stops the ladder; when the invoice is settled the subscription is told, so
it becomes active again once nothing is overdue. Orchestration only: no I/O, no clock but
`workflow.now()`.

Timing: the due date is the invoice's `due_at`, which the database sets to the end (23:59:59) of
the local day `payment_terms_days` after the local issue date in the customer's time zone
(`billing.invoice_terms.due_at_for`). The invoice goes overdue at that instant; dunning step
`+N days` fires N x 24 hours after it. Each scheduled change is recorded as of its deadline (not
as of the moment a busy worker got to it), so the history says when it was due to happen.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any, Literal

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from billing.catalog import DunningStep
    from billing.contracts.activities import ChangeInvoiceStatusInput, RecordPaymentInput
    from billing.contracts.common import InvoiceStatus, JsonObject
    from billing.contracts.invoice import (
        DunningRecord,
        InvoiceSummary,
        InvoiceView,
        InvoiceWorkflowInput,
        PaymentResult,
        PaymentSubmission,
        RecordDunningStepInput,
        VoidRequest,
    )
    from billing.contracts.notifications import NotificationRequest
    from billing.contracts.subscription import InvoiceStandingChanged
    from billing.errors import BillingError
    from billing.lifecycle import check_payment
    from billing.money import format_decimal
    from billing.validation import parse
    from workflows import calls
    from workflows import search_attributes as sa
    from workflows.notify import notify

_FINAL: frozenset[str] = frozenset({"paid", "void", "uncollectible"})
#: Activities renamed apart from the messages (issue 12); invoices run for weeks, so runs started
#: before it keep calling the old name (their histories replay: tests/replay).
_RENAMED_ACTIVITIES = "activity-names-apart-from-messages"


def _store_payment() -> calls.Activity[RecordPaymentInput, PaymentResult]:
    if workflow.patched(_RENAMED_ACTIVITIES):
        return calls.STORE_PAYMENT
    return calls.STORE_PAYMENT.named("record_payment")


@workflow.defn(name="InvoiceWorkflow")
class InvoiceWorkflow:
    @workflow.init
    def __init__(self, input: InvoiceWorkflowInput) -> None:
        self._input = input
        self._invoice: InvoiceSummary = input.invoice
        self._payments: list[PaymentResult] = []
        self._dunning: list[DunningRecord] = []
        self._lock = asyncio.Lock()
        self._void: VoidRequest | None = None
        self._waiting_for = "starting"

    @workflow.run
    async def run(self, input: InvoiceWorkflowInput) -> InvoiceView:
        self._publish_search_attributes()
        # Announced beside the payment watch, not before it: the due date runs from the issue
        # whether or not the mail server answers. Local activities: on invoice day a thousand
        # invoices announce themselves at once, and the server's round trips are the limit.
        announced = (
            asyncio.create_task(notify(input.notifications, input.announcement, local=True))
            if input.announcement is not None
            else None
        )
        if self._invoice.amount_due <= 0 and self._invoice.status == "open":
            await self._transition("paid", note="nothing due (covered by credit)")
        due_at = self._invoice.due_at or workflow.now()
        if not await self._settled_by(due_at, f"payment until the due date {due_at:%Y-%m-%d}"):
            await self._go_overdue(due_at)
            for index, step in enumerate(self._input.dunning.steps):
                deadline = due_at + timedelta(days=step.after_days)
                waiting = (
                    f"payment, else {step.action} at +{step.after_days} days ({deadline:%Y-%m-%d})"
                )
                if await self._settled_by(deadline, waiting):
                    break
                await self._take(step, index, deadline)
        await self._finish()
        if announced is not None:
            await announced
        return self.invoice()

    async def _settled_by(self, deadline: datetime, waiting_for: str) -> bool:
        """Wait until the invoice is paid or voided, or the deadline passes."""
        self._waiting_for = waiting_for
        self._describe()
        remaining = deadline - workflow.now()
        if self._is_final() or remaining <= timedelta(0):
            return self._is_final()
        try:
            await workflow.wait_condition(
                self._is_final, timeout=remaining, timeout_summary=waiting_for
            )
        except TimeoutError:
            return self._is_final()
        return True

    def _is_final(self) -> bool:
        return self._invoice.status in _FINAL or self._void is not None

    async def _go_overdue(self, due_at: datetime) -> None:
        async with self._lock:
            if self._is_final():
                return
            await self._transition("overdue", note="payment terms expired", at=due_at)
            await self._tell_subscription("overdue")
            await notify(
                self._input.notifications,
                self._request(
                    "payment_overdue",
                    scope=self._invoice.number,
                    data={"days_overdue": 0},
                ),
            )

    async def _take(self, step: DunningStep, index: int, deadline: datetime) -> None:
        async with self._lock:
            if self._is_final():
                return
            scope = f"{self._invoice.number}:{step.action}-{index + 1}"
            if step.action == "remind":
                reminders = sum(1 for record in self._dunning if record.action == "remind")
                note = f"reminder {reminders + 1} at +{step.after_days} days"
                await self._record_step(f"remind-{index + 1}", "remind", deadline, note)
                await notify(
                    self._input.notifications,
                    self._request(
                        "payment_reminder",
                        scope=scope,
                        data={"reminder": reminders + 1, "days_overdue": step.after_days},
                    ),
                )
            elif step.action == "suspend":
                note = f"subscription suspended at +{step.after_days} days"
                await self._record_step(f"suspend-{index + 1}", "suspend", deadline, note)
                await self._tell_subscription("suspend")
                await notify(
                    self._input.notifications,
                    self._request(
                        "subscription_suspended",
                        scope=scope,
                        data={"reason": f"invoice {self._invoice.number} is unpaid"},
                    ),
                )
            else:
                await self._transition(
                    "uncollectible", note=f"unpaid at +{step.after_days} days", at=deadline
                )
                await notify(
                    self._input.notifications,
                    self._request("invoice_uncollectible", scope=scope),
                )

    async def _record_step(
        self, step: str, action: Literal["remind", "suspend"], at: datetime, note: str
    ) -> None:
        """A step that keeps the invoice's status: recorded in its database history too."""
        await calls.RECORD_DUNNING_STEP(
            RecordDunningStepInput(
                invoice_number=self._invoice.number, step=step, at=at, note=note
            ),
            summary=f"{self._invoice.number}: {note}",
        )
        self._record(action, at, note)

    async def _finish(self) -> None:
        async with self._lock:
            if self._void is not None and self._invoice.status not in _FINAL:
                await self._transition("void", note=self._void.reason)
            if self._invoice.status in ("paid", "void"):
                # Also when never overdue: the subscription drops it from its open invoices.
                await self._tell_subscription("settled")
            if self._invoice.status == "paid" and self._invoice.amount_paid > 0:
                await notify(
                    self._input.notifications,
                    self._request(
                        "payment_received",
                        scope=self._invoice.number,
                        data={"amount": format_decimal(self._invoice.amount_paid)},
                    ),
                )
        self._waiting_for = f"nothing: the invoice is {self._invoice.status}"
        self._describe()
        await workflow.wait_condition(workflow.all_handlers_finished)

    # --- payments and void --------------------------------------------------------------------

    @workflow.signal(name="record_payment")
    async def record_payment(self, payment: PaymentSubmission) -> None:
        """A payment (or part of one); the same `payment_id` twice counts once.

        A payment this invoice cannot take is logged and dropped: a signal has no caller to
        refuse, and failing here would fail the whole invoice workflow."""
        try:
            self._check_payment(payment)
            await self._apply_payment(payment)
        except (ValueError, ApplicationError) as error:
            workflow.logger.warning("payment %s ignored: %s", payment.payment_id, error)

    @workflow.update(name="submit_payment")
    async def submit_payment(self, payment: JsonObject) -> PaymentResult:
        """Like `record_payment`, but refuses a bad payment and returns what it did.

        The payment (a `PaymentSubmission` in JSON) arrives raw so that a malformed one is
        refused by the validator with its field and reason instead of failing to decode."""
        return await self._apply_payment(self._parse_payment(payment))

    @submit_payment.validator
    def _validate_submit_payment(self, payment: JsonObject) -> None:
        self._check_payment(self._parse_payment(payment))

    @staticmethod
    def _parse_payment(payment: JsonObject) -> PaymentSubmission:
        try:
            return parse(PaymentSubmission, payment)
        except BillingError as error:
            raise ApplicationError(str(error), type="InvalidPayment", non_retryable=True) from None

    def _check_payment(self, payment: PaymentSubmission) -> None:
        invoice = self._invoice
        check_payment(
            invoice_number=invoice.number,
            invoice_status=invoice.status,
            invoice_currency=invoice.currency,
            amount=payment.amount,
            currency=payment.currency,
            void_requested=self._void is not None,
        )

    async def _apply_payment(self, payment: PaymentSubmission) -> PaymentResult:
        """Record the payment (once per id) and take on the invoice's new standing.

        A payment the database refuses (its id reused for another amount, the invoice voided
        meanwhile) raises ApplicationError with the database's message and changes nothing."""
        async with self._lock:
            received = payment.received_at or workflow.now()
            try:
                result = await _store_payment()(
                    RecordPaymentInput(
                        invoice_number=self._invoice.number,
                        payment=payment.model_copy(update={"received_at": received}),
                    ),
                    summary=f"record payment {payment.payment_id}: {payment.amount}",
                )
            except ActivityError as error:
                cause = error.cause
                if isinstance(cause, ApplicationError):
                    raise ApplicationError(
                        cause.message, type=cause.type, non_retryable=True
                    ) from None
                raise
            if result.new:
                self._payments.append(result)
            self._invoice = self._invoice.model_copy(
                update={
                    "status": result.status,
                    "amount_paid": result.amount_paid,
                    "amount_due": result.amount_due,
                }
            )
            if result.status == "paid":
                self._record("paid", received, f"paid in full by {payment.payment_id}")
            self._publish_search_attributes()
            self._describe()
            return result

    @workflow.signal(name="void_invoice")
    def void_invoice(self, request: VoidRequest) -> None:
        """Void the invoice (with a reason): it stops everything for this invoice."""
        if self._invoice.status not in _FINAL:
            self._void = request

    # --- query ---------------------------------------------------------------------------------

    @workflow.query(name="invoice")
    def invoice(self) -> InvoiceView:
        return InvoiceView(
            invoice=self._invoice,
            payments=self._payments,
            dunning=self._dunning,
            waiting_for=self._waiting_for,
        )

    # --- helpers ---------------------------------------------------------------------------------

    async def _transition(
        self, to: InvoiceStatus, *, note: str, at: datetime | None = None
    ) -> None:
        """Change the invoice's status in the database, as of `at` (default: now)."""
        when = at or workflow.now()
        updated = await calls.CHANGE_INVOICE_STATUS(
            ChangeInvoiceStatusInput(
                invoice_number=self._invoice.number, to=to, at=when, reason=note
            ),
            summary=f"{self._invoice.number}: {self._invoice.status} -> {to}",
        )
        self._invoice = updated.model_copy(update={"lines": self._invoice.lines})
        if to in ("overdue", "uncollectible", "void", "paid"):
            self._record(to, when, note)
        self._publish_search_attributes()
        self._describe()

    def _record(
        self,
        action: Literal["overdue", "remind", "suspend", "uncollectible", "paid", "void"],
        at: datetime,
        note: str | None,
    ) -> None:
        if any(record.action == action and record.note == note for record in self._dunning):
            return
        self._dunning.append(DunningRecord(action=action, at=at, note=note))

    async def _tell_subscription(self, standing: Literal["overdue", "suspend", "settled"]) -> None:
        handle = workflow.get_external_workflow_handle(self._input.subscription_workflow_id)
        try:
            await handle.signal(
                "invoice_standing",
                InvoiceStandingChanged(invoice_number=self._invoice.number, standing=standing),
            )
        except ApplicationError as error:  # the subscription has ended: nothing left to tell
            workflow.logger.info("subscription not told of %s: %s", standing, error)

    def _request(
        self, event: str, *, scope: str, data: dict[str, object] | None = None
    ) -> NotificationRequest:
        invoice = self._invoice
        return NotificationRequest.model_validate(
            {
                "event": event,
                "account_id": self._input.account_id,
                "subscription_id": invoice.subscription_id,
                "customer_id": invoice.customer_id,
                "invoice_number": invoice.number,
                "scope": scope,
                "data": data or {},
                "livemode": invoice.livemode,
            }
        )

    def _publish_search_attributes(self) -> None:
        invoice = self._invoice
        updates: list[SearchAttributeUpdate[Any]] = [
            sa.CUSTOMER_ID.value_set(invoice.customer_id),
            sa.SUBSCRIPTION_ID.value_set(invoice.subscription_id),
            sa.INVOICE_STATUS.value_set(invoice.status),
            sa.AMOUNT_DUE.value_set(float(invoice.amount_due)),
        ]
        if invoice.due_at is not None:
            updates.append(sa.DUE_AT.value_set(invoice.due_at))
        workflow.upsert_search_attributes(updates)

    def _describe(self) -> None:
        invoice = self._invoice
        workflow.set_current_details(
            f"**{invoice.status}** · {format_decimal(invoice.amount_due)} {invoice.currency} due"
            f" of {format_decimal(invoice.total)} · waiting for {self._waiting_for}"
        )
