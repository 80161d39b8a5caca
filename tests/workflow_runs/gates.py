"""Hold a real activity open until the test says so, to open a race window on purpose.

`Gate.wrap(real)` returns an activity of the same name and types that runs the real one, but the
first `holds` calls wait for `release` first (after setting `entered`). The worker is built with
the wrapped activity in place of the real one; nothing about Temporal is mocked.
"""

from __future__ import annotations

import asyncio
import inspect
import typing
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from billing_service.worker import WORKFLOWS, activities

from notifications.servers import SmtpFixture
from workflow_runs.polling import eventually


@dataclass
class Gate:
    """One held activity: `entered` is set when a held call starts, `release` lets it run."""

    name: str
    holds: int = 1
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    calls: int = 0

    def wrap(self, real: Callable[[Any], Awaitable[Any]]) -> Callable[..., Any]:
        hints = typing.get_type_hints(real)
        parameter = next(iter(inspect.signature(real).parameters))

        async def held(request: Any) -> Any:
            self.calls += 1
            if self.calls <= self.holds:
                self.entered.set()
                await self.release.wait()
            return await real(request)

        held.__annotations__ = {"request": hints[parameter], "return": hints["return"]}
        return activity.defn(name=self.name)(held)


def gated_worker(
    env: WorkflowEnvironment,
    *,
    task_queue: str,
    engine: Engine,
    smtp: SmtpFixture,
    gates: Sequence[Gate],
) -> Worker:
    """The production worker's workflows and activities, with the gated ones swapped in."""
    by_name = {gate.name: gate for gate in gates}
    bound = activities(engine=engine, smtp=smtp.settings, webhook_timeout_seconds=5)
    swapped = [by_name[name].wrap(fn) if (name := _name(fn)) in by_name else fn for fn in bound]
    return Worker(env.client, task_queue=task_queue, workflows=list(WORKFLOWS), activities=swapped)


def _name(fn: Callable[..., Any]) -> str:
    """The activity name `@activity.defn` gave `fn` (not its Python name)."""
    definition = getattr(fn, "__temporal_activity_definition", None)
    return str(getattr(definition, "name", ""))


async def quiet(handle: WorkflowHandle[Any, Any], *, pending: set[str] | None = None) -> None:
    """Wait until the workflow has no workflow task outstanding and at most the `pending`
    activities running: every message sent so far has been handled."""
    allowed = pending or set()

    async def probe() -> bool:
        raw = (await handle.describe()).raw_description
        running = {a.activity_type.name for a in raw.pending_activities}
        return not raw.HasField("pending_workflow_task") and running <= allowed

    assert await eventually(probe, bool, seconds=60), "the workflow never settled"


async def signalled(handle: WorkflowHandle[Any, Any], name: str) -> bool:
    """Whether the workflow's current run has received signal `name`."""
    history = await handle.fetch_history()
    return any(
        event.workflow_execution_signaled_event_attributes.signal_name == name
        for event in history.events
        if event.HasField("workflow_execution_signaled_event_attributes")
    )
