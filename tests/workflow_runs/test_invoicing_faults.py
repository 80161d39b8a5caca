"""Retries never double-bill: an invoice activity that commits and then fails, twice."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine
from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.invoices import InvoiceActivities
from billing.contracts.activities import ISSUE_INVOICE, IssueInvoiceInput
from billing.contracts.invoice import InvoiceSummary
from billing_db.repo_invoices import list_invoices
from billing_service.client import start_subscription
from billing_service.worker import WORKFLOWS, activities

from notifications.servers import SmtpFixture
from replay.recording import record_chain
from workflow_runs.clock import at_day_of_month
from workflow_runs.polling import eventually, status_when
from workflow_runs.scenario import hybrid_subscription


def _committing_then_failing(engine: Engine, failures: int) -> tuple[Callable[..., Any], list[int]]:
    """`issue_invoice` that writes the invoice, then loses its answer `failures` times: the
    worst case for a retry, since the database already holds the invoice."""
    real = InvoiceActivities(engine=engine)
    attempts: list[int] = []

    @activity.defn(name=ISSUE_INVOICE)
    async def issue_invoice(request: IssueInvoiceInput) -> InvoiceSummary:
        attempts.append(activity.info().attempt)
        invoice = await real.issue_invoice(request)
        if activity.info().attempt <= failures:
            raise ConnectionResetError("connection lost after the invoice was committed")
        return invoice

    return issue_invoice, attempts


async def test_an_invoice_activity_that_fails_twice_after_committing_issues_one_invoice(
    own_time_skipping_env: WorkflowEnvironment,
    engine: Engine,
    smtp_server: SmtpFixture,
    task_queue: str,
) -> None:
    env = own_time_skipping_env
    # Today is the 10th; started 20 days ago: exactly one (partial) period closed on the 1st and
    # is invoiced at once, the next invoice day is weeks away.
    now = await at_day_of_month(env, day=10)
    subscription = hybrid_subscription(start_at=now - timedelta(days=20))
    flaky, attempts = _committing_then_failing(engine, failures=2)
    bound = activities(engine=engine, smtp=smtp_server.settings, webhook_timeout_seconds=5)
    replaced = [flaky if getattr(fn, "__name__", "") == "issue_invoice" else fn for fn in bound]
    async with Worker(
        env.client, task_queue=task_queue, workflows=list(WORKFLOWS), activities=replaced
    ):
        handle = await start_subscription(env.client, subscription, task_queue=task_queue)
        status = await status_when(
            env.client, subscription.subscription_id, lambda s: bool(s.open_invoices)
        )
        assert handle.result_run_id is not None
        await record_chain(env.client, handle.id, handle.result_run_id, "subscription-retried")
        invoices = list_invoices(engine, subscription_id=subscription.subscription_id)
        emails = await eventually(lambda: smtp_server.about(invoices[0].number), bool)

    assert attempts == [1, 2, 3]
    assert len(invoices) == 1
    assert status.open_invoices == [invoices[0].number]
    assert len(emails) == 1
