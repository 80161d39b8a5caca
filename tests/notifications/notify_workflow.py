"""A minimal workflow that calls one notification activity with the production retry policy."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from billing.contracts.activities import SEND_EMAIL
    from billing.contracts.notifications import NotificationOutcome, NotificationRequest
    from workflows.calls import SEND_EMAIL as EMAIL
    from workflows.calls import SEND_WEBHOOKS as WEBHOOKS


@workflow.defn
class NotifyOnceWorkflow:
    @workflow.run
    async def run(
        self, activity_name: str, request: NotificationRequest
    ) -> list[NotificationOutcome]:
        activity = EMAIL if activity_name == SEND_EMAIL else WEBHOOKS
        return await activity(request, summary=f"{activity_name}: {request.event}")
