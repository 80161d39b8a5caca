"""End-to-end: the dev server, the production worker in its own process, a migrated SQLite file
shared by the worker and the test, a real SMTP server (aiosmtpd) and a real HTTP receiver."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from billing_db.migrate import upgrade

from api.server import ApiProcess, api_environment
from e2e.processes import WorkerProcess, worker_environment
from notifications.servers import SmtpFixture, http_server, smtp_server

__all__ = ["http_server", "smtp_server"]

StartWorker = Callable[[], WorkerProcess]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'billing.db'}"
    upgrade(url)
    return url


@pytest.fixture
def temporal_address(dev_env: WorkflowEnvironment) -> str:
    address: str = dev_env.client.service_client.config.target_host
    return address


@pytest.fixture
def worker_process(
    temporal_address: str,
    task_queue: str,
    database_url: str,
    smtp_server: SmtpFixture,
    tmp_path: Path,
) -> Iterator[StartWorker]:
    """`worker_process()` starts one more `python worker.py` on this test's queue; every one
    still running is killed at the end (their logs are printed, shown for a failed test)."""
    started: list[WorkerProcess] = []

    def start() -> WorkerProcess:
        worker = WorkerProcess(
            environment=worker_environment(
                temporal_address=temporal_address,
                task_queue=task_queue,
                database_url=database_url,
                smtp_port=smtp_server.settings.port,
            ),
            log_path=tmp_path / f"worker-{len(started) + 1}.log",
        )
        worker.start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
    for worker in started:  # captured output: pytest shows it when the test fails
        print(f"--- {worker.log_path.name}\n{worker.log()[-6000:]}")


@pytest.fixture
def api_process(
    temporal_address: str,
    task_queue: str,
    database_url: str,
    dev_env: WorkflowEnvironment,
    tmp_path: Path,
) -> Iterator[ApiProcess]:
    """`billing api` for this test: test mode in the worker's namespace and database; live mode
    in a namespace nothing serves and a database of its own."""
    live_url = f"sqlite:///{tmp_path / 'billing-live.db'}"
    upgrade(live_url)
    process = ApiProcess(
        environment=api_environment(
            temporal_address=temporal_address,
            task_queue=task_queue,
            test_namespace=dev_env.client.namespace,
            live_namespace=f"live-{uuid.uuid4().hex[:8]}",
            test_database_url=database_url,
            live_database_url=live_url,
        ),
        log_path=tmp_path / "api.log",
    )
    process.start()
    yield process
    process.stop()
    print(f"--- api.log\n{process.log()[-6000:]}")
