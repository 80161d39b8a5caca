"""Wait for what a process depends on (Temporal, the database) instead of dying at start.

Processes start in any order under docker-compose, systemd or `make stack`: a worker started
while Temporal or PostgreSQL is still coming up (or restarting) retries with capped exponential
backoff and says so in its log on every attempt, until the dependency answers or it is told to stop.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

log = logging.getLogger("billing.dependencies")


class StoppedWhileWaitingError(Exception):
    """The process was told to stop before its dependency answered."""


@dataclass(frozen=True)
class Backoff:
    """Delays of `first`, doubling up to `longest` seconds, each with ±`jitter` spread so that
    replicas started together do not retry in lockstep."""

    first: float = 0.5
    longest: float = 15.0
    jitter: float = 0.2

    def delay(self, attempt: int) -> float:
        base = min(self.longest, self.first * 2.0 ** (attempt - 1))
        return base * random.uniform(1 - self.jitter, 1 + self.jitter)


async def wait_for_dependency(
    what: str,
    attempt: Callable[[], Awaitable[T]],
    *,
    retry_on: tuple[type[BaseException], ...],
    stop: asyncio.Event | None = None,
    backoff: Backoff = Backoff(),
) -> T:
    """`attempt()`'s result, retried while it raises one of `retry_on`; logs each failure.

    Raises StoppedWhileWaitingError once `stop` is set during a wait.
    """
    number = 0
    while True:
        number += 1
        try:
            result = await attempt()
        except retry_on as exc:
            delay = backoff.delay(number)
            log.warning(
                f"{what} unreachable, retrying in {delay:.1f} s",
                extra={"dependency": what, "attempt": number, "error": _one_line(exc)},
            )
        else:
            if number > 1:
                log.info(f"{what} reachable", extra={"dependency": what, "attempt": number})
            return result
        if stop is None:
            await asyncio.sleep(delay)
            continue
        try:
            await asyncio.wait_for(stop.wait(), delay)
        except TimeoutError:
            continue
        raise StoppedWhileWaitingError(f"stopped while waiting for {what}")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
