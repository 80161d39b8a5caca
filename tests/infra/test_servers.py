"""Both real Temporal servers run workflows: a 30-day timer and a signal/query round trip."""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio import workflow
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker


@workflow.defn(sandboxed=True)
class SleepThirtyDays:
    @workflow.run
    async def run(self) -> str:
        started = workflow.now()
        await workflow.sleep(timedelta(days=30), summary="thirty days")
        return str((workflow.now() - started).days)


@workflow.defn
class Greeter:
    def __init__(self) -> None:
        self._names: list[str] = []
        self._done = False

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: self._done)
        return self._names

    @workflow.signal
    def greet(self, name: str) -> None:
        self._names.append(name)

    @workflow.signal
    def finish(self) -> None:
        self._done = True

    @workflow.query
    def names(self) -> list[str]:
        return list(self._names)


async def test_thirty_day_timer_completes_in_seconds_on_time_skipping_server(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    client = time_skipping_env.client
    async with Worker(client, task_queue=task_queue, workflows=[SleepThirtyDays]):
        elapsed_days = await client.execute_workflow(
            SleepThirtyDays.run, id=f"sleep-{uuid.uuid4()}", task_queue=task_queue
        )
    assert elapsed_days == "30"


async def test_signal_and_query_round_trip_on_dev_server(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    client = dev_env.client
    async with Worker(client, task_queue=task_queue, workflows=[Greeter]):
        handle: WorkflowHandle[Greeter, list[str]] = await client.start_workflow(
            Greeter.run, id=f"greeter-{uuid.uuid4()}", task_queue=task_queue
        )
        await handle.signal(Greeter.greet, "Ada")
        await handle.signal(Greeter.greet, "Grace")
        assert await handle.query(Greeter.names) == ["Ada", "Grace"]
        await handle.signal(Greeter.finish)
        assert await handle.result() == ["Ada", "Grace"]
