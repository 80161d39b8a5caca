"""Timeouts and retry policies for every activity call, in one place.

Database activities are short and idempotent: they retry quickly and without limit until they
succeed, because a transient failure (a locked SQLite file, a PostgreSQL failover) must never lose
accepted input. Invalid input raises a non-retryable ApplicationError from the activity instead.
Notifications retry with backoff for a day; then the workflow logs the failure and moves on, since
the invoice stands whether or not its email went out (the notification log shows the failure).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.common import RetryPolicy

DATABASE: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=60),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(milliseconds=200),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=30),
    ),
}

NOTIFICATION: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=60),
    "schedule_to_close_timeout": timedelta(days=1),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=2),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=10),
    ),
}
