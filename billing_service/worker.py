"""The worker's composition root: settings -> database -> client -> one worker on `billing`.

`create_worker` is the one place that lists every workflow and activity; the worker process,
the demo and the tests all build their workers through it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, NoReturn

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.invoices import InvoiceActivities
from activities.notifications.activities import NotificationActivities
from activities.notifications.settings import SmtpSettings
from activities.subscriptions import SubscriptionActivities
from activities.usage import UsageActivities
from billing_db.engine import make_engine
from billing_db.migrate import upgrade
from billing_service.dependencies import StoppedWhileWaitingError, wait_for_dependency
from billing_service.logs import configure_logging
from billing_service.modes import settings_for_mode
from billing_service.settings import Mode, Settings
from billing_service.temporal_client import connect
from workflows.invoice import InvoiceWorkflow
from workflows.subscription import SubscriptionWorkflow

WORKFLOWS: Sequence[type] = (SubscriptionWorkflow, InvoiceWorkflow)

#: Workflow code runs in the sandbox with every module passed through from the host: the
#: workflow modules are imported once per process instead of once per workflow run. Re-importing
#: them for each of 1,000 runs starting at once cost most of the worker's CPU on invoice day
#: (workflow tasks over the 10 s timeout, retried; benchmarks/bench_invoice_day.py) and a copy of
#: each module per cached run. What this gives up: per-run isolation of module globals (our
#: workflow modules keep none that change) and the sandbox's member checks (`datetime.now`, ...)
#: inside the two top workflow modules; everything they import was passed through before too,
#: so unchecked there already. Builtins stay restricted; determinism is what the replay tests
#: (tests/replay, run with this runner) and the review keep.
SANDBOX = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_all_modules()
)

#: Activities (and local activities) one worker runs at once. Each does its database work in the
#: event loop's default thread pool (a handful of threads) and SQLite takes one writer at a time:
#: a worker that accepts more only makes each started attempt wait inside its start-to-close
#: timeout, and a notification that waits past its timeout is sent again. Left unstarted, they
#: wait in the task queue instead, where no timeout runs, or for another worker.
MAX_CONCURRENT_ACTIVITIES = 16

log = logging.getLogger("billing.worker")


def smtp_settings(settings: Settings) -> SmtpSettings:
    return SmtpSettings(
        host=settings.smtp_host,
        port=settings.smtp_port,
        mail_from=settings.mail_from,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        starttls=settings.smtp_starttls,
        use_tls=settings.smtp_use_tls,
        timeout=settings.smtp_timeout_seconds,
    )


def activities(
    *, engine: Engine, smtp: SmtpSettings, webhook_timeout_seconds: float, mode: Mode = "test"
) -> list[Callable[..., Any]]:
    """Every activity, bound to its dependencies; `mode` is the mode this worker serves."""
    subscriptions = SubscriptionActivities(engine=engine, mode=mode)
    usage = UsageActivities(engine=engine)
    invoices = InvoiceActivities(engine=engine)
    notifications = NotificationActivities(
        engine=engine, smtp=smtp, webhook_timeout_seconds=webhook_timeout_seconds
    )
    return [
        subscriptions.prepare_subscription,
        subscriptions.register_pricing,
        subscriptions.set_subscription_status,
        usage.record_usage,
        usage.count_recorded_usage,
        usage.aggregate_period_usage,
        invoices.issue_invoice,
        invoices.approve_invoice,
        invoices.record_payment,
        invoices.change_invoice_status,
        invoices.record_dunning_step,
        notifications.send_email,
        notifications.send_webhooks,
    ]


def create_worker(
    client: Client,
    *,
    task_queue: str,
    engine: Engine,
    smtp: SmtpSettings,
    webhook_timeout_seconds: float = 10.0,
    mode: Mode = "test",
    **options: Any,
) -> Worker:
    options.setdefault("max_concurrent_activities", MAX_CONCURRENT_ACTIVITIES)
    options.setdefault("max_concurrent_local_activities", MAX_CONCURRENT_ACTIVITIES)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=list(WORKFLOWS),
        workflow_runner=SANDBOX,
        activities=activities(
            engine=engine, smtp=smtp, webhook_timeout_seconds=webhook_timeout_seconds, mode=mode
        ),
        **options,
    )


async def run(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM; then finish in-flight activities (up to 30 s) and exit.

    The database and Temporal may come up after the worker: it waits for each (dependencies.py).
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    runtime = None
    if settings.metrics_port:
        runtime = Runtime(
            telemetry=TelemetryConfig(
                metrics=PrometheusConfig(bind_address=f"0.0.0.0:{settings.metrics_port}")
            )
        )
    try:
        await wait_for_dependency(
            "the billing database",
            lambda: asyncio.to_thread(upgrade, settings.database_url),
            retry_on=(OperationalError,),
            stop=stop,
        )
        client = await wait_for_dependency(
            f"Temporal at {settings.temporal_address}",
            lambda: connect(settings, runtime=runtime),
            retry_on=(RuntimeError,),
            stop=stop,
        )
    except StoppedWhileWaitingError as exc:
        log.info(str(exc))
        return
    engine = make_engine(settings.database_url)
    worker = create_worker(
        client,
        task_queue=settings.temporal_task_queue,
        engine=engine,
        smtp=smtp_settings(settings),
        webhook_timeout_seconds=settings.webhook_timeout_seconds,
        mode=settings.billing_mode,
        graceful_shutdown_timeout=timedelta(seconds=30),
        max_cached_workflows=settings.worker_max_cached_workflows,
    )
    log.info(
        "worker started",
        extra={
            "task_queue": settings.temporal_task_queue,
            "namespace": settings.temporal_namespace,
            "temporal": settings.temporal_address,
            "metrics_port": settings.metrics_port,
            "mode": settings.billing_mode,
        },
    )
    async with worker:
        await stop.wait()
        log.info("shutting down: finishing in-flight activities")
    engine.dispose()
    log.info("worker stopped")


def serve(settings: Settings) -> NoReturn:
    """Run the worker until SIGINT/SIGTERM and end the process with status 0 once it has drained.

    The process ends with `os._exit`: the SDK's Rust core keeps native threads that may still
    call into Python while the interpreter finalizes, which aborts a cleanly stopped worker with
    SIGABRT ("PyGILState_Release: thread state ... must be current", temporalio/sdk-python#300;
    seen here on one SIGTERM in a few hundred). Everything worth finishing has finished by then:
    in-flight activities, the database engine, the log handlers (flushed here). An error still
    propagates with its traceback and a non-zero status."""
    asyncio.run(run(settings))
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def main() -> None:
    """`python worker.py`: serve the mode's namespace and database (BILLING_MODE or the
    pk_test_/pk_live_ key; test by default), as `billing worker` does."""
    configured = Settings()
    settings = settings_for_mode(configured, configured.billing_mode)
    configure_logging(settings.log_level)
    serve(settings)
