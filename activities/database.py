"""Run a blocking repository call from an async activity, with domain errors made final.

Repositories are synchronous SQLAlchemy code; activities run them in a worker thread so the
event loop keeps serving other activities. A `BillingError` (bad input, unknown object, illegal
transition) will not get better by retrying, so it becomes a non-retryable `ApplicationError`
whose type is the error's class name; anything else (a locked database, a dropped connection)
is raised as is and Temporal retries it.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from temporalio.exceptions import ApplicationError

from billing.errors import BillingError

P = ParamSpec("P")
R = TypeVar("R")


async def call_repository(function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    try:
        return await asyncio.to_thread(functools.partial(function, *args, **kwargs))
    except BillingError as error:
        raise ApplicationError(str(error), type=type(error).__name__, non_retryable=True) from error
