"""Test mode never touches live data: two namespaces on the dev server, two SQLite files, one
real worker per mode, and only the `billing` command as the client."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from billing_db.engine import make_engine
from billing_service.cli.subscriptions import events_jsonl
from billing_service.temporal_client import register_search_attributes
from billing_service.worker import create_worker

from cli.cli_runner import HYBRID_PRICING, Billing
from notifications.servers import SmtpFixture

METER = {"name": "bandwidth_egress", "unit": "GB", "aggregation": "sum"}


async def _new_namespace(target: str, name: str) -> Client:
    """Register `name` with our search attributes and return a client once it answers."""
    bootstrap = await Client.connect(target)
    await bootstrap.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=name, workflow_execution_retention_period=Duration(seconds=86_400)
        )
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            client = await Client.connect(
                target, namespace=name, data_converter=pydantic_data_converter
            )
            await register_search_attributes(client)
            return client
        except RPCError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def _invoices(cli: Billing, mode: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 60
    while True:
        found: list[dict[str, Any]] = await cli.json_async("invoices", "list", mode)
        issued = [invoice for invoice in found if invoice["status"] != "draft"]
        if len(issued) >= count or time.monotonic() > deadline:
            return issued
        await asyncio.sleep(0.3)


async def test_a_test_mode_command_cannot_read_or_change_a_live_invoice(
    dev_env: WorkflowEnvironment, tmp_path: Path, smtp_server: SmtpFixture, task_queue: str
) -> None:
    target = dev_env.client.service_client.config.target_host
    test_namespace = f"billing-test-{uuid.uuid4().hex[:8]}"
    test_client = await _new_namespace(target, test_namespace)
    cli = Billing(
        tmp_path,
        env={
            "TEMPORAL_ADDRESS": target,
            "TEMPORAL_NAMESPACE": dev_env.client.namespace,
            "TEMPORAL_TEST_NAMESPACE": test_namespace,
            "TEMPORAL_TASK_QUEUE": task_queue,
        },
    )
    for mode in ("--live", "--test"):
        assert (await cli.invoke_async("db", "upgrade", mode)).exit_code == 0
    # Live catalog through the seed's steps, stored ids for the subscription.
    await cli.json_async("meters", "create", "--live", *_flags(METER))
    pricing = await cli.json_async(
        "pricing", "create", "--live", "--file", str(cli.write("pricing.json", HYBRID_PRICING))
    )
    await cli.json_async("config", "update", "--live", "--tax-rate", "0.20")
    await cli.json_async(
        "customers", "create", "--live", "--id", "cus_live", "--name", "Live Customer",
        "--email", "live@example.com",
    )  # fmt: skip

    live_engine = make_engine(f"sqlite:///{tmp_path / 'billing.db'}")
    test_engine = make_engine(f"sqlite:///{tmp_path / 'billing-test.db'}")
    # Each worker serves its mode's namespace and database, and says so.
    workers = [
        create_worker(
            dev_env.client, task_queue=task_queue, engine=live_engine,
            smtp=smtp_server.settings, mode="live",
        ),
        create_worker(
            test_client, task_queue=task_queue, engine=test_engine,
            smtp=smtp_server.settings, mode="test",
        ),
    ]  # fmt: skip
    try:
        async with workers[0], workers[1]:
            started = await cli.json_async(
                "subscriptions", "start", "--live", "--id", "sub_live", "--customer", "cus_live",
                "--pricing-version", str(pricing["pricing_version_id"]), "--backdate", "1m",
            )  # fmt: skip
            assert started["livemode"] is True
            [live_invoice] = await _invoices(cli, "--live", 1)
            number = live_invoice["number"]
            assert live_invoice["livemode"] is True
            assert "-TEST-" not in number

            # Test mode sees none of it, and cannot pay it or query its subscription.
            shown = await cli.invoke_async("invoices", "show", number, "--test")
            assert shown.exit_code == 1
            assert f"no invoice {number!r}" in shown.stderr
            paid = await cli.invoke_async("invoices", "pay", number, "--test")
            assert paid.exit_code == 1
            status = await cli.invoke_async("subscriptions", "status", "sub_live", "--test")
            assert status.exit_code == 1
            assert "not found" in status.stderr
            assert await cli.json_async("invoices", "list", "--test") == []

            # A test-mode subscription from inline JSON, with usage from a file in batches.
            document = {
                "subscription_id": "sub_test",
                "customer": {"id": "cus_test", "name": "Test Customer", "email": "t@example.com"},
                "meters": [METER],
                "pricing": HYBRID_PRICING,
                "billing": {"tax_rate": "0.20", "payment_terms_days": 14},
            }
            await cli.json_async(
                "subscriptions", "start", "--test", "--file", str(cli.write("sub.json", document)),
                "--backdate", "1m",
            )  # fmt: skip
            events = cli.data_dir / "events.jsonl"
            events.write_text(
                events_jsonl(
                    [
                        {"event_id": f"e{i}", "meter_id": "bandwidth_egress", "quantity": 0.1}
                        for i in range(1500)
                    ]
                )
            )
            args = (
                "usage",
                "record",
                "--test",
                "--subscription",
                "sub_test",
                "--file",
                str(events),
            )
            first = await cli.json_async(*args)
            assert (first["batches"], first["new"], first["duplicates"]) == (2, 1500, 0)
            again = await cli.json_async(*args)
            assert (again["new"], again["duplicates"]) == (0, 1500)
            view = await cli.json_async("subscriptions", "status", "sub_test", "--test")
            assert view["usage"]["bandwidth_egress"]["quantity"] == "150.0"

            [test_invoice] = await _invoices(cli, "--test", 1)
            assert test_invoice["livemode"] is False
            assert "-TEST-" in test_invoice["number"]
            payment = await cli.json_async("invoices", "pay", test_invoice["number"], "--test")
            assert payment["status"] == "paid"

            # The live invoice is untouched, and live mode cannot see the test invoice either.
            live_after = await cli.json_async("invoices", "show", number, "--live")
            assert (live_after["status"], live_after["amount_paid"]) == (
                "open",
                "0.00",
            )  # to the cent, as the API answers
            other = await cli.invoke_async("invoices", "show", test_invoice["number"], "--live")
            assert other.exit_code == 1
            await cli.json_async("subscriptions", "cancel", "sub_test", "--test", "--now")
            await cli.json_async("subscriptions", "cancel", "sub_live", "--live", "--now")
    finally:
        live_engine.dispose()
        test_engine.dispose()


def _flags(values: dict[str, str]) -> list[str]:
    return [part for key, value in values.items() for part in (f"--{key}", value)]
