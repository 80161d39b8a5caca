"""Waiting for asynchronous outcomes: signals are processed, visibility catches up, activities run
in real time between time skips. Poll with a deadline; never sleep a fixed time and hope."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError

from billing.contracts.subscription import SubscriptionStatusView
from billing_service.client import subscription_status

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], *, seconds: float = 60
) -> T:
    """`probe()` once `done` holds, or its last value when the deadline passes."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        value = await probe()
        if done(value) or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.05)


async def status_when(
    client: Client,
    subscription_id: str,
    done: Callable[[SubscriptionStatusView], bool],
    *,
    seconds: float = 60,
) -> SubscriptionStatusView:
    """The subscription's `status` once `done` holds; fails the test at the deadline.

    A query refused while the subscription is still starting, or one that timed out on a busy
    machine, is simply asked again."""

    async def probe() -> SubscriptionStatusView | None:
        try:
            return await subscription_status(client, subscription_id)
        except (WorkflowQueryFailedError, RPCError):
            return None

    status = await eventually(probe, lambda s: s is not None and done(s), seconds=seconds)
    if status is None or not done(status):
        raise AssertionError(f"{subscription_id}: status never got there; last: {status}")
    return status
