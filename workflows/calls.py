"""Every activity a workflow calls, in one place: its name, payload and result types, timeouts
and retry policy. Workflows call `PREPARE_SUBSCRIPTION(arg, summary=...)` instead of passing a
string name, a result type and an options dict at each call site.

Database activities are short and idempotent: they retry quickly and without limit until they
succeed, because a transient failure (a locked SQLite file, a PostgreSQL failover) must never lose
accepted input; invalid input raises a non-retryable ApplicationError instead.

The short database steps of invoicing (aggregate the period, issue the invoice) run as local
activities: in the worker that runs the workflow task, inside that task, with no activity task
through the server and no workflow task to hear of the result. On invoice day that halves the
server round trips and the history of an invoicing run (benchmarks/bench_invoice_day.py). Their
retry semantics differ from an activity's:
- attempts run and retry inside the workflow task (the SDK keeps the task alive past its 10 s
  timeout by heartbeating it); only the final result is written to history, as a marker, so the
  attempts and their errors are in the worker's log, not in the history; a backoff longer than
  a minute is slept on a workflow timer and the step is tried again;
- a worker that dies before the workflow task completes loses the marker: the next worker runs
  the step again. The repositories make that harmless: an invoice is found by its unique key
  (subscription and period start) and returned as stored, and an aggregate only reads;
- a step held long (a lock, a failover) delays the messages sent meanwhile until the task's next
  heartbeat (8 s), so steps that wait on something else stay activities.
Preparing a new subscription stays an activity on purpose: its workflow task ends there, so the
usage sent right after a backdated start (signals included) is taken before the past periods are
invoiced. Runs that began before this change replay with activities (`workflow.patched`).

Notifications are at-least-once: a worker that dies after the SMTP server's `250` (or the
webhook's 2xx) but before the delivery record is written sends again, with the same Message-ID /
webhook-id, so receivers can drop the repeat. The start-to-close timeout is sized to the SMTP and
HTTP client timeouts (the activity gives up first), so a lost attempt is retried within seconds,
not after a minute; retries back off for a day, then the workflow logs the failure and moves on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Generic, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from billing.contracts import activities as names
    from billing.contracts import invoice as names_invoice
    from billing.contracts.activities import (
        ApproveInvoiceInput,
        ChangeInvoiceStatusInput,
        IssueInvoiceInput,
        LedgerCountInput,
        LedgerUsage,
        PeriodUsageInput,
        PeriodUsageResult,
        RecordPaymentInput,
        RecordUsageInput,
        RecordUsageResult,
        RegisteredPricing,
        RegisterPricingInput,
        SetSubscriptionStatusInput,
    )
    from billing.contracts.invoice import (
        InvoiceSummary,
        PaymentResult,
        RecordDunningStepInput,
    )
    from billing.contracts.notifications import NotificationOutcome, NotificationRequest
    from billing.contracts.subscription import SubscriptionInput, SubscriptionPlan

#: The patch of issue 15's lean invoicing run: aggregate and issue run as local activities, and
#: the invoice's own workflow announces it (`InvoiceWorkflowInput.announcement`).
LEAN_INVOICING = "lean-invoicing"

#: Longest the SMTP or webhook client waits (settings `smtp_timeout_seconds`,
#: `webhook_timeout_seconds`, both 10 s by default), plus room to render and record.
NOTIFICATION_TIMEOUT = timedelta(seconds=20)

In = TypeVar("In", bound=BaseModel)
Out = TypeVar("Out")


@dataclass(frozen=True)
class Options:
    start_to_close: timedelta
    retry: RetryPolicy
    schedule_to_close: timedelta | None = None
    #: Run as a local activity: in runs that have the patch `local_from`, or always if None.
    local: bool = False
    local_from: str | None = LEAN_INVOICING


DATABASE = Options(
    start_to_close=timedelta(seconds=60),
    retry=RetryPolicy(
        initial_interval=timedelta(milliseconds=200),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=30),
    ),
)
LOCAL_DATABASE = dataclasses.replace(DATABASE, local=True)
NOTIFICATION = Options(
    start_to_close=NOTIFICATION_TIMEOUT,
    schedule_to_close=timedelta(days=1),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=2),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=10),
    ),
)


@dataclass(frozen=True)
class Activity(Generic[In, Out]):
    """One activity as workflows see it; calling it runs the activity and returns its result."""

    name: str
    input: type[In]
    result: type[Out]
    options: Options = DATABASE

    def named(self, name: str) -> Activity[In, Out]:
        """The same activity under an older name, for runs started before a rename."""
        return dataclasses.replace(self, name=name)

    def locally(self) -> Activity[In, Out]:
        """The same activity, always run as a local activity (for a code path only new runs
        take, so no patch has to decide it)."""
        options = dataclasses.replace(self.options, local=True, local_from=None)
        return dataclasses.replace(self, options=options)

    async def __call__(self, arg: In, *, summary: str) -> Out:
        patch = self.options.local_from
        local = self.options.local and (patch is None or workflow.patched(patch))
        execute: Callable[..., Awaitable[Out]] = (
            workflow.execute_local_activity if local else workflow.execute_activity
        )
        return await execute(
            self.name,
            arg,
            result_type=self.result,
            summary=summary,
            start_to_close_timeout=self.options.start_to_close,
            schedule_to_close_timeout=self.options.schedule_to_close,
            retry_policy=self.options.retry,
        )


PREPARE_SUBSCRIPTION = Activity(names.PREPARE_SUBSCRIPTION, SubscriptionInput, SubscriptionPlan)
REGISTER_PRICING = Activity(names.REGISTER_PRICING, RegisterPricingInput, RegisteredPricing)
SET_SUBSCRIPTION_STATUS = Activity(
    names.SET_SUBSCRIPTION_STATUS, SetSubscriptionStatusInput, type(None)
)
STORE_USAGE = Activity(names.STORE_USAGE, RecordUsageInput, RecordUsageResult)
COUNT_RECORDED_USAGE = Activity(names.COUNT_RECORDED_USAGE, LedgerCountInput, LedgerUsage)
AGGREGATE_PERIOD_USAGE = Activity(
    names.AGGREGATE_PERIOD_USAGE, PeriodUsageInput, PeriodUsageResult, LOCAL_DATABASE
)
ISSUE_INVOICE = Activity(names.ISSUE_INVOICE, IssueInvoiceInput, InvoiceSummary, LOCAL_DATABASE)
ISSUE_DRAFT = Activity(names.ISSUE_DRAFT, ApproveInvoiceInput, InvoiceSummary)
STORE_PAYMENT = Activity(names.STORE_PAYMENT, RecordPaymentInput, PaymentResult)
CHANGE_INVOICE_STATUS = Activity(
    names.CHANGE_INVOICE_STATUS, ChangeInvoiceStatusInput, InvoiceSummary
)
RECORD_DUNNING_STEP = Activity(
    names_invoice.RECORD_DUNNING_STEP, RecordDunningStepInput, InvoiceSummary
)
SEND_EMAIL = Activity(
    names.SEND_EMAIL, NotificationRequest, list[NotificationOutcome], NOTIFICATION
)
SEND_WEBHOOKS = Activity(
    names.SEND_WEBHOOKS, NotificationRequest, list[NotificationOutcome], NOTIFICATION
)
