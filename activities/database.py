"""Run a blocking repository call from an async activity, with domain errors made final.

Repositories are synchronous SQLAlchemy code; activities run them in a worker thread so the
event loop keeps serving other activities. A `BillingError` (bad input, unknown object, illegal
transition) will not get better by retrying, so it becomes a non-retryable `ApplicationError`
whose type is the error's class name; anything else (a locked database, a dropped connection)
is raised as is and Temporal retries it.

On SQLite every call runs on one thread of its own, in the order the calls came. SQLite takes
one writer at a time; with calls spread over the event loop's thread pool, the others wait in
SQLite's busy handler (`BEGIN IMMEDIATE`, sleeping and retrying, not in turn), holding a thread
each: on invoice day some waited past a notification's start-to-close timeout and the email was
sent twice (benchmarks/bench_invoice_day.py). PostgreSQL takes concurrent writers: the loop's
default thread pool serves it.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from sqlalchemy import Engine
from temporalio.exceptions import ApplicationError

from billing.errors import BillingError
from billing_db.engine import is_sqlite

P = ParamSpec("P")
R = TypeVar("R")

_SQLITE_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")


async def in_database_thread(
    engine: Engine, function: Callable[P, R], *args: P.args, **kwargs: P.kwargs
) -> R:
    """`function(*args, **kwargs)` on the thread that serves `engine`'s kind of database."""
    executor = _SQLITE_THREAD if is_sqlite(engine) else None
    call = functools.partial(function, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(executor, call)


async def call_repository(
    engine: Engine, function: Callable[P, R], *args: P.args, **kwargs: P.kwargs
) -> R:
    """`in_database_thread`, with a `BillingError` made a non-retryable `ApplicationError`."""
    try:
        return await in_database_thread(engine, function, *args, **kwargs)
    except BillingError as error:
        raise ApplicationError(str(error), type=type(error).__name__, non_retryable=True) from error
