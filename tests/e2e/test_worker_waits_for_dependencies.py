"""A worker process started before PostgreSQL and Temporal waits for each, logging its retries,
and serves once they are up: the start order of `make stack` and docker-compose does not matter."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from scripts.postgres_tools import ThrowawayCluster, ensure
from scripts.temporal_tools import TemporalTools

from e2e.processes import WorkerProcess, worker_environment
from notifications.servers import SmtpFixture, free_port


@pytest.fixture
def cluster() -> Iterator[ThrowawayCluster]:
    """A PostgreSQL cluster with a port reserved but not started yet."""
    cluster = ThrowawayCluster(bin_dir=ensure(), port=free_port())
    try:
        yield cluster
    finally:
        cluster.stop()


async def _log_shows(worker: WorkerProcess, text: str, *, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while text not in worker.log():
        assert worker.process is not None
        assert worker.process.poll() is None, worker.log()
        assert time.monotonic() < deadline, f"no {text!r} in the worker's log:\n{worker.log()}"
        await asyncio.sleep(0.2)


async def test_worker_waits_for_the_database_then_temporal_then_serves(
    cluster: ThrowawayCluster,
    temporal_tools: TemporalTools,
    smtp_server: SmtpFixture,
    task_queue: str,
    tmp_path: Path,
) -> None:
    temporal_port = free_port()
    worker = WorkerProcess(
        environment=worker_environment(
            temporal_address=f"127.0.0.1:{temporal_port}",
            task_queue=task_queue,
            database_url=cluster.url(),
            smtp_port=smtp_server.settings.port,
        ),
        log_path=tmp_path / "worker.log",
    )
    worker.start()
    try:
        await _log_shows(worker, "the billing database unreachable, retrying")
        await asyncio.to_thread(cluster.start)
        await _log_shows(worker, f"Temporal at 127.0.0.1:{temporal_port} unreachable, retrying")
        assert worker.log().count("unreachable, retrying") >= 2
        env = await WorkflowEnvironment.start_local(
            port=temporal_port,
            data_converter=pydantic_data_converter,
            dev_server_existing_path=temporal_tools.dev_server,
            dev_server_startup_timeout=timedelta(seconds=90),
        )
        try:
            await _log_shows(worker, "worker started")
            await _wait_for_poller(env, task_queue)
        finally:
            await env.shutdown()
        assert worker.terminate() == 0
    finally:
        worker.stop()
        print(worker.log()[-6000:])


async def _wait_for_poller(env: WorkflowEnvironment, task_queue: str) -> None:
    """The worker polls this test's queue: it serves."""
    request = DescribeTaskQueueRequest(
        namespace=env.client.namespace,
        task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    async with asyncio.timeout(60):
        while True:
            described = await env.client.workflow_service.describe_task_queue(request)
            if described.pollers:
                return
            await asyncio.sleep(0.5)
