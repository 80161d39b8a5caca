"""A subscription driven with the `temporal` CLI binary as the only client: JSON in, JSON out,
exactly the commands the README shows. The worker runs as its own process."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from temporalio.testing import WorkflowEnvironment

from scripts.temporal_tools import TemporalTools

from e2e.conftest import StartWorker
from workflow_runs.scenario import HYBRID_PRICING, METER, SEED_BILLING


class TemporalCli:
    def __init__(self, binary: str, address: str) -> None:
        self._binary = binary
        self._address = address

    async def __call__(self, *args: str) -> Any:
        """Run `temporal <args> --output json`; its parsed JSON (the command must succeed)."""
        process = await asyncio.create_subprocess_exec(
            self._binary,
            *args,
            "--address",
            self._address,
            "--output",
            "json",
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = await process.communicate()
        assert process.returncode == 0, f"temporal {' '.join(args)}: {err.decode()}{out.decode()}"
        return json.loads(out) if out.strip() else None

    async def query_status(self, workflow_id: str) -> dict[str, Any]:
        answer = await self("workflow", "query", "--workflow-id", workflow_id, "--name", "status")
        result: dict[str, Any] = answer["queryResult"][0]
        return result


async def _until(probe: Any, done: Any, *, seconds: float = 60) -> Any:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        value = await probe()
        if done(value) or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.2)


async def test_a_subscription_is_started_signalled_and_queried_with_the_temporal_cli_alone(
    dev_env: WorkflowEnvironment,
    temporal_tools: TemporalTools,
    temporal_address: str,
    task_queue: str,
    worker_process: StartWorker,
) -> None:
    cli = TemporalCli(temporal_tools.dev_server, temporal_address)
    suffix = uuid.uuid4().hex[:8]
    workflow_id = f"subscription-sub_cli_{suffix}"
    subscription = {
        "subscription_id": f"sub_cli_{suffix}",
        "account_id": f"acct_cli{suffix}",
        "customer": {"id": f"cus_cli_{suffix}", "name": "Acme GmbH", "email": "ops@acme.test"},
        "meters": [METER],
        "pricing": HYBRID_PRICING,
        "billing": SEED_BILLING,
        "start_at": datetime.now(UTC).isoformat(),
    }
    worker_process()

    started = await cli(
        "workflow", "start", "--type", "SubscriptionWorkflow", "--task-queue", task_queue,
        "--workflow-id", workflow_id, "--input", json.dumps(subscription),
    )  # fmt: skip
    assert started["workflowId"] == workflow_id
    events = [
        {"event_id": "evt_1", "meter_id": "bandwidth_egress", "quantity": "12.5"},
        {"event_id": "evt_2", "meter_id": "bandwidth_egress", "quantity": 30},
    ]
    await cli(
        "workflow", "signal", "--workflow-id", workflow_id, "--name", "record_usage",
        "--input", json.dumps({"events": events}),
    )  # fmt: skip
    # The same event again (a client's retry) and a bad one, which is set aside with its reason.
    await cli(
        "workflow", "signal", "--workflow-id", workflow_id, "--name", "record_usage",
        "--input", json.dumps({"events": [events[0], {"event_id": "evt_bad",
                                                     "meter_id": "cpu_hours", "quantity": 1}]}),
    )  # fmt: skip
    accepted = await cli(
        "workflow", "update", "execute", "--workflow-id", workflow_id, "--name", "submit_usage",
        "--input", json.dumps({"events": [events[1], {"event_id": "evt_3",
                                                     "meter_id": "bandwidth_egress",
                                                     "quantity": 7.5}]}),
    )  # fmt: skip
    assert accepted["result"] == {"new": 1, "duplicates": 1}

    status = await _until(
        lambda: cli.query_status(workflow_id),
        lambda s: (
            s["usage"].get("bandwidth_egress", {}).get("events") == 3 and s["rejected_events"]
        ),
    )
    assert status["subscription_id"] == f"sub_cli_{suffix}"
    assert (status["status"], status["product_id"]) == ("active", "prod_web_hosting")
    assert Decimal(status["usage"]["bandwidth_egress"]["quantity"]) == Decimal(50)  # Decimal JSON
    assert status["usage"]["bandwidth_egress"]["events"] == 3
    assert [r["event_id"] for r in status["rejected_events"]] == ["evt_bad"]
    assert "cpu_hours" in status["rejected_events"][0]["reason"]
    assert status["open_invoices"] in ([], None)  # the CLI prints an empty list as null

    upcoming = await cli(
        "workflow", "query", "--workflow-id", workflow_id, "--name", "upcoming_invoice"
    )  # fmt: skip
    invoice = upcoming["queryResult"][0]
    assert invoice["currency"] == "EUR"
    assert [line["kind"] for line in invoice["lines"]][:1] == ["recurring"]

    await cli(
        "workflow", "signal", "--workflow-id", workflow_id, "--name", "cancel",
        "--input", json.dumps({"at_period_end": False, "reason": "end of the e2e test"}),
    )  # fmt: skip
    result = await cli("workflow", "result", "--workflow-id", workflow_id)
    assert result["status"] == "COMPLETED"
    assert result["result"]["status"] == "canceled"
