"""The server's floor for invoice day: a minimal workflow doing one local activity, nothing else.

`bench_invoice_day` starts as many of these as it starts subscriptions, the same way (the same
client, 50 starts in flight), on a worker of its own, and prints how many complete per second:
what this server and one Python worker allow at best, so the invoicing rate can be read against it.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn(name="bench_floor_step")
async def floor_step(number: int) -> int:
    """Does nothing: the floor measures the server and the SDK, not the work."""
    return number


@workflow.defn(name="BenchFloorWorkflow")
class FloorWorkflow:
    @workflow.run
    async def run(self, number: int) -> int:
        result: int = await workflow.execute_local_activity(
            floor_step, number, start_to_close_timeout=timedelta(seconds=10)
        )
        return result
