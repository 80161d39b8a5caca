"""The activities under a real Temporal worker: payloads cross the pydantic data converter, and
Temporal's retry policy (the one the workflows use) turns a refused first attempt into exactly one
delivery."""

from __future__ import annotations

import uuid

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistoryEventFilterType
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from billing.contracts.activities import SEND_EMAIL, SEND_WEBHOOKS
from billing.contracts.notifications import NotificationOutcome, NotificationRequest

from notifications.activity_env import make_activities
from notifications.database import BILLING_EMAIL, Seeded
from notifications.notify_workflow import NotifyOnceWorkflow
from notifications.servers import HttpFixture, SmtpFixture


async def _notify(
    env: WorkflowEnvironment,
    seeded: Seeded,
    smtp: SmtpFixture,
    task_queue: str,
    activity_name: str,
    request: NotificationRequest,
) -> tuple[list[NotificationOutcome], int]:
    activities = make_activities(seeded, smtp=smtp.settings)
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[NotifyOnceWorkflow],
        activities=[activities.send_email, activities.send_webhooks],
    ):
        handle = await env.client.start_workflow(
            NotifyOnceWorkflow.run,
            args=[activity_name, request],
            id=f"notify-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
        )
        outcomes = await handle.result()
        attempts = 0
        async for event in handle.fetch_history_events(
            event_filter_type=WorkflowHistoryEventFilterType.ALL_EVENT
        ):
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                attempts = event.activity_task_started_event_attributes.attempt
    return outcomes, attempts


async def test_temporal_retries_a_refused_email_into_exactly_one_delivery(
    time_skipping_env: WorkflowEnvironment,
    seeded: Seeded,
    smtp_server: SmtpFixture,
    task_queue: str,
) -> None:
    smtp_server.handler.refuse_data = 1
    outcomes, attempts = await _notify(
        time_skipping_env, seeded, smtp_server, task_queue, SEND_EMAIL, seeded.request()
    )
    assert [(o.channel, o.target, o.status) for o in outcomes] == [
        ("email", BILLING_EMAIL, "delivered")
    ]
    assert attempts == 2
    assert smtp_server.handler.refused == 1
    assert len(smtp_server.handler.messages) == 1


async def test_temporal_retries_a_500_webhook_into_exactly_one_delivery(
    time_skipping_env: WorkflowEnvironment,
    seeded: Seeded,
    smtp_server: SmtpFixture,
    http_server: HttpFixture,
    task_queue: str,
) -> None:
    endpoint = seeded.add_endpoint(http_server.url)
    http_server.receiver.statuses = [500, 200]
    outcomes, attempts = await _notify(
        time_skipping_env, seeded, smtp_server, task_queue, SEND_WEBHOOKS, seeded.request()
    )
    assert [(o.target, o.status) for o in outcomes] == [(endpoint.id, "delivered")]
    assert attempts == 2
    assert len(http_server.receiver.requests) == 2
