"""Workflow tests run the real workflows and activities on the real Temporal servers, against a
migrated SQLite billing database and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from billing_service.worker import create_worker

from notifications.database import engine, sqlite_template
from notifications.servers import SmtpFixture, http_server, smtp_server

__all__ = ["engine", "http_server", "smtp_server", "sqlite_template"]

StartWorker = Callable[..., Worker]


@pytest.fixture
def billing_worker(engine: Engine, smtp_server: SmtpFixture, task_queue: str) -> StartWorker:
    """`billing_worker(env, **options)`: the production worker wiring on this test's queue."""

    def start(env: WorkflowEnvironment, **options: Any) -> Worker:
        return create_worker(
            env.client,
            task_queue=task_queue,
            engine=engine,
            smtp=smtp_server.settings,
            **options,
        )

    return start
