"""A minimal workflow that calls one notification activity with the production retry policy."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from billing.contracts.notifications import NotificationOutcome, NotificationRequest
    from workflows.activity_options import NOTIFICATION


@workflow.defn
class NotifyOnceWorkflow:
    @workflow.run
    async def run(
        self, activity_name: str, request: NotificationRequest
    ) -> list[NotificationOutcome]:
        outcomes: list[NotificationOutcome] = await workflow.execute_activity(
            activity_name, request, result_type=list[NotificationOutcome], **NOTIFICATION
        )
        return outcomes
