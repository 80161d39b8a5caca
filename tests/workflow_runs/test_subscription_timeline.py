"""The subscription workflow over months of simulated time, on the time-skipping server."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import Engine, func, select
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from billing.contracts.subscription import CancelRequest
from billing_db.repo_invoices import list_invoices
from billing_db.tables import notifications
from billing_service.client import start_subscription
from workflows.subscription import SubscriptionWorkflow

from notifications.servers import SmtpFixture
from replay.recording import record_chain
from workflow_runs.clock import skip_to, start_of_next_month
from workflow_runs.conftest import StartWorker
from workflow_runs.polling import status_when
from workflow_runs.scenario import SEED_BILLING, hybrid_subscription, usage


async def test_hybrid_plan_bills_three_months_with_a_prorated_first_invoice_then_cancels(
    own_time_skipping_env: WorkflowEnvironment,
    billing_worker: StartWorker,
    engine: Engine,
    smtp_server: SmtpFixture,
    task_queue: str,
) -> None:
    env = own_time_skipping_env
    now = await env.get_current_time()
    # Mid-month start: the 10th of next month at noon UTC, so the first period is partial.
    first_boundary = start_of_next_month(now)
    start = first_boundary + timedelta(days=9, hours=12)
    # A ladder longer than the test: an invoice workflow completing would stop time skipping
    # (see tests/conftest.py); the ladder itself is tested on InvoiceWorkflow directly.
    subscription = hybrid_subscription(
        start_at=start,
        billing=SEED_BILLING | {"dunning": {"steps": [{"after_days": 90, "action": "remind"}]}},
    )
    await skip_to(env, start)

    async with billing_worker(env):
        handle = await start_subscription(env.client, subscription, task_queue=task_queue)
        # Month 1 (partial): 90 GB in two batches crosses the 80 % and 90 % thresholds.
        await handle.signal("record_usage", usage(("m1-a", 50)))
        await handle.signal("record_usage", usage(("m1-b", 40), ("m1-a", 50)))
        second_boundary = start_of_next_month(start)
        await skip_to(env, second_boundary + timedelta(hours=1))

        # Month 2 (full): 350 GB, the seed's example; thresholds notified again, once each.
        await handle.signal("record_usage", usage(("m2-a", 200), ("m2-b", 150)))
        third_boundary = start_of_next_month(second_boundary)
        await skip_to(env, third_boundary + timedelta(hours=1))

        # Month 3: 150 GB, then cancel at period end: the final invoice closes the workflow.
        await handle.signal("record_usage", usage(("m3-a", 150)))
        await handle.signal(SubscriptionWorkflow.cancel, CancelRequest(at_period_end=True))
        final = await handle.result()
        assert handle.result_run_id is not None
        await record_chain(env.client, handle.id, handle.result_run_id, "subscription-timeline")

    assert final.status == "canceled"
    invoices = sorted(
        list_invoices(engine, subscription_id=subscription.subscription_id),
        key=lambda invoice: invoice.period.start,
    )
    assert [(i.period.start, i.period.end) for i in invoices] == [
        (start, second_boundary),
        (second_boundary, third_boundary),
        (third_boundary, start_of_next_month(third_boundary)),
    ]
    # First period prorated by days: the start day counts, the boundary day does not.
    days_in_month = (second_boundary - first_boundary).days
    days_used = (second_boundary - start.replace(hour=0)).days
    prorated = (Decimal("49.99") * days_used / days_in_month).quantize(Decimal("0.01"))
    first_tax = (prorated * Decimal("0.20")).quantize(Decimal("0.01"))
    assert (invoices[0].subtotal, invoices[0].tax, invoices[0].total) == (
        prorated,
        first_tax,
        prorated + first_tax,
    )
    assert (invoices[1].subtotal, invoices[1].tax, invoices[1].total) == (
        Decimal("62.49"),
        Decimal("12.50"),
        Decimal("74.99"),
    )
    assert (invoices[2].subtotal, invoices[2].tax, invoices[2].total) == (
        Decimal("52.49"),
        Decimal("10.50"),
        Decimal("62.99"),
    )
    assert all(invoice.status != "draft" for invoice in invoices)

    with engine.connect() as connection:
        threshold_rows = connection.execute(
            select(notifications.c.dedupe_key, func.count())
            .where(notifications.c.event == "usage_threshold")
            .group_by(notifications.c.dedupe_key)
        ).all()
    assert all(count == 1 for _key, count in threshold_rows)
    # dedupe key: usage_threshold:<sub>:<period start>:<meter>:threshold-<n>:email:<address>
    crossed = sorted((key.split(":")[2], key.split(":")[4]) for key, _count in threshold_rows)
    periods = sorted({period for period, _threshold in crossed})
    assert len(periods) == 3
    assert crossed == sorted(
        [(periods[0], "threshold-80"), (periods[0], "threshold-90")]
        + [(period, f"threshold-{t}") for period in periods[1:] for t in (80, 90, 100)]
    )


async def test_a_quiet_month_is_one_run_of_at_most_20_history_events(
    own_time_skipping_env: WorkflowEnvironment,
    billing_worker: StartWorker,
    task_queue: str,
) -> None:
    """Issue 15's budget for an invoicing run: a month without usage messages wakes on its
    timer, aggregates and issues in one workflow task (local activities), hands the invoice to
    its own workflow and continues as new, in at most 20 events."""
    env = own_time_skipping_env
    start = start_of_next_month(await env.get_current_time())
    # Terms longer than the month, so the first invoice does not go overdue during it.
    subscription = hybrid_subscription(
        start_at=start,
        billing=SEED_BILLING
        | {
            "payment_terms_days": 45,
            "dunning": {"steps": [{"after_days": 90, "action": "remind"}]},
        },
    )
    await skip_to(env, start)
    async with billing_worker(env):
        handle = await start_subscription(env.client, subscription, task_queue=task_queue)
        await skip_to(env, start_of_next_month(start_of_next_month(start)) + timedelta(hours=1))
        await status_when(
            env.client, subscription.subscription_id, lambda s: len(s.open_invoices) == 2
        )
        first = await env.client.get_workflow_handle(
            handle.id, run_id=handle.result_run_id
        ).fetch_history()
        [ended] = [
            e.workflow_execution_continued_as_new_event_attributes
            for e in first.events
            if e.HasField("workflow_execution_continued_as_new_event_attributes")
        ]
        second_run = ended.new_execution_run_id
        quiet = await env.client.get_workflow_handle(handle.id, run_id=second_run).fetch_history()
        await handle.terminate("test over")

    kinds = Counter(EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in quiet.events)
    markers = Counter(
        e.marker_recorded_event_attributes.marker_name
        for e in quiet.events
        if e.HasField("marker_recorded_event_attributes")
    )
    # (events, activities through the server, markers, invoice workflows started, continued)
    seen = (
        len(quiet.events) <= 20,
        kinds["ACTIVITY_TASK_SCHEDULED"],
        dict(markers),
        kinds["START_CHILD_WORKFLOW_EXECUTION_INITIATED"],
        kinds["WORKFLOW_EXECUTION_CONTINUED_AS_NEW"],
    )
    names = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in quiet.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert seen == (True, 0, {"core_patch": 1, "core_local_activity": 2}, 1, 1), (kinds, names)
