"""Invoice workflow tests: the real InvoiceWorkflow and activities on the real Temporal servers,
against a migrated SQLite billing database, a real SMTP server (aiosmtpd) and a real HTTP
webhook receiver. On the time-skipping server InvoiceWorkflow runs top-level (started by the test
client), never as an abandoned child (see tests/conftest.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from invoice_runs.scenario import Ledger
from notifications.database import engine, sqlite_template
from notifications.servers import HttpFixture, http_server, smtp_server
from workflow_runs.conftest import StartWorker, billing_worker

__all__ = [
    "StartWorker",
    "billing_worker",
    "engine",
    "http_server",
    "smtp_server",
    "sqlite_template",
]


@pytest.fixture
def ledger(engine: Engine, http_server: HttpFixture, task_queue: str) -> Ledger:
    """An account whose webhooks go to the test's HTTP receiver, ready to issue invoices."""
    return Ledger.create(engine, webhook_url=http_server.url, task_queue=task_queue)
