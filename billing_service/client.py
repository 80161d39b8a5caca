"""The small Python client of the billing service: start and drive subscriptions and invoices.

The CLI, the demo and the tests all go through these functions, so that there is one way to
address a workflow (ids from `billing.contracts.common`) and one payload shape per call (the
contract models). The client must use the pydantic data converter (`temporal_client.connect`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy

from billing.contracts.common import TASK_QUEUE, invoice_workflow_id, subscription_workflow_id
from billing.contracts.invoice import (
    ForwardedPayment,
    InvoiceView,
    PaymentResult,
    PaymentSubmission,
    VoidRequest,
)
from billing.contracts.subscription import (
    MAX_EVENTS_PER_BATCH,
    ApproveInvoice,
    CancelRequest,
    LedgerNudge,
    PlanChange,
    SubscriptionInput,
    SubscriptionStatusView,
    UsageAccepted,
    UsageBatch,
    UsageEvent,
)
from billing.invoice import RatedInvoice


def _summary(subscription: SubscriptionInput) -> str:
    customer = subscription.customer.name if subscription.customer else subscription.customer_id
    product = subscription.pricing.product_id if subscription.pricing else "a stored pricing"
    return f"Subscription {subscription.subscription_id} for {customer} on {product}"


async def start_subscription(
    client: Client, subscription: SubscriptionInput, *, task_queue: str = TASK_QUEUE
) -> WorkflowHandle[Any, SubscriptionStatusView]:
    """Start the subscription's workflow; a subscription id can only ever be started once."""
    return await client.start_workflow(
        "SubscriptionWorkflow",
        subscription,
        id=subscription_workflow_id(subscription.subscription_id),
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        result_type=SubscriptionStatusView,
        static_summary=_summary(subscription),
    )


def subscription_handle(client: Client, subscription_id: str) -> WorkflowHandle[Any, Any]:
    return client.get_workflow_handle(subscription_workflow_id(subscription_id))


def invoice_handle(client: Client, invoice_number: str) -> WorkflowHandle[Any, Any]:
    return client.get_workflow_handle(invoice_workflow_id(invoice_number))


def usage_batches(
    events: Iterable[UsageEvent], *, size: int = MAX_EVENTS_PER_BATCH
) -> Iterable[UsageBatch]:
    """Cut events into batches of at most `size` (the contract's per-signal maximum)."""
    if not 1 <= size <= MAX_EVENTS_PER_BATCH:
        raise ValueError(f"batch size must be 1..{MAX_EVENTS_PER_BATCH}, got {size}")
    batch: list[UsageEvent] = []
    for event in events:
        batch.append(event)
        if len(batch) == size:
            yield UsageBatch(events=batch)
            batch = []
    if batch:
        yield UsageBatch(events=batch)


async def send_usage(client: Client, subscription_id: str, batch: UsageBatch) -> None:
    """Fire-and-forget: the `record_usage` signal (a bad event is set aside, never refused)."""
    await subscription_handle(client, subscription_id).signal("record_usage", batch)


async def nudge_usage(client: Client, subscription_id: str, up_to_row_id: int) -> None:
    """The `usage_recorded` signal: the ledger holds rows of the subscription up to that id."""
    nudge = LedgerNudge(up_to_row_id=up_to_row_id)
    await subscription_handle(client, subscription_id).signal("usage_recorded", nudge)


async def submit_usage(client: Client, subscription_id: str, batch: UsageBatch) -> UsageAccepted:
    """Validated and acknowledged: the `submit_usage` update (a bad batch is refused whole)."""
    result: UsageAccepted = await subscription_handle(client, subscription_id).execute_update(
        "submit_usage", batch, result_type=UsageAccepted
    )
    return result


async def subscription_status(client: Client, subscription_id: str) -> SubscriptionStatusView:
    result: SubscriptionStatusView = await subscription_handle(client, subscription_id).query(
        "status", result_type=SubscriptionStatusView
    )
    return result


async def upcoming_invoice(client: Client, subscription_id: str) -> RatedInvoice:
    result: RatedInvoice = await subscription_handle(client, subscription_id).query(
        "upcoming_invoice", result_type=RatedInvoice
    )
    return result


async def cancel_subscription(client: Client, subscription_id: str, request: CancelRequest) -> None:
    await subscription_handle(client, subscription_id).signal("cancel", request)


async def change_plan(client: Client, subscription_id: str, change: PlanChange) -> None:
    await subscription_handle(client, subscription_id).signal("change_plan", change)


async def approve_invoice(client: Client, subscription_id: str, invoice_number: str) -> None:
    """The `approve_invoice` update: refused unless the number is a draft awaiting approval;
    returns once the invoice is issued."""
    await subscription_handle(client, subscription_id).execute_update(
        "approve_invoice", ApproveInvoice(invoice_number=invoice_number)
    )


async def pay_invoice(
    client: Client, invoice_number: str, payment: PaymentSubmission
) -> PaymentResult:
    """The `submit_payment` update: refused with a clear message when it cannot apply."""
    result: PaymentResult = await invoice_handle(client, invoice_number).execute_update(
        "submit_payment", payment, result_type=PaymentResult
    )
    return result


async def forward_payment(client: Client, subscription_id: str, payment: ForwardedPayment) -> None:
    """A payment sent to the subscription, which forwards it to the named invoice."""
    await subscription_handle(client, subscription_id).signal("record_payment", payment)


async def void_invoice(client: Client, invoice_number: str, request: VoidRequest) -> None:
    await invoice_handle(client, invoice_number).signal("void_invoice", request)


async def invoice_view(client: Client, invoice_number: str) -> InvoiceView:
    result: InvoiceView = await invoice_handle(client, invoice_number).query(
        "invoice", result_type=InvoiceView
    )
    return result


def batch_of(events: Sequence[dict[str, Any]]) -> UsageBatch:
    """A `UsageBatch` from plain dicts, validated (raises pydantic's ValidationError)."""
    return UsageBatch.model_validate({"events": list(events)})
