"""Run the same call in several threads released at one instant: a real race on the database."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def race(workers: int, action: Callable[[], T]) -> list[T]:
    """The results of `action` run by `workers` threads at once; the first error is re-raised."""
    barrier = threading.Barrier(workers)
    results: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            results.append(action())
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise errors[0]
    return results
