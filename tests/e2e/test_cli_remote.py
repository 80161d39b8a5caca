"""The `billing` CLI against a real `billing api` process (BILLING_API_URL, a fresh `pk_test_`
key) prints what it prints on the database itself: each command runs both ways on one scenario
and the outputs are compared whole. The remote runs have a database and a Temporal address that
do not exist, so nothing can come from anywhere but the API."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from temporalio.testing import WorkflowEnvironment

from billing import seed
from billing_client import Billing as BillingClient
from billing_service.cli.subscriptions import events_jsonl
from devtools.demo import USAGE_GB, last_month_start

from api.server import ApiProcess, new_key
from cli.cli_runner import Billing
from e2e.conftest import StartWorker

Run = tuple[Result, Result]


class Twins:
    """One `billing` on the database (with the key's account) and one on the API."""

    def __init__(self, local: Billing, remote: Billing, account: str, api: str) -> None:
        self.local, self.remote, self.account, self.api = local, remote, account, api

    def on_db(self, *args: str) -> Result:
        """`billing ...` on the database, for the key's account."""
        return self.local(*args, "--account", self.account)

    def both(self, *args: str) -> Run:
        return self.on_db(*args), self.remote(*args)

    def same(self, *args: str) -> Result:
        """Run both ways; exit code, stdout and stderr must be the same."""
        local, remote = self.both(*args)
        assert (remote.exit_code, remote.stdout, remote.stderr) == (
            local.exit_code,
            local.stdout,
            local.stderr,
        ), f"billing {' '.join(args)}"
        return remote

    def same_ok(self, *args: str) -> Result:
        result = self.same(*args)
        assert result.exit_code == 0, result.output
        return result

    def remote_json(self, *args: str) -> Any:
        result = self.remote(*args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)


@pytest.fixture
def twins(
    api_process: ApiProcess,
    database_url: str,
    temporal_address: str,
    task_queue: str,
    dev_env: WorkflowEnvironment,
    tmp_path: Path,
) -> Twins:
    account = f"acct_cli{uuid.uuid4().hex[:8]}"
    key = new_key(database_url, account_id=account, mode="test")
    local = Billing(
        tmp_path,
        env={
            "TEMPORAL_ADDRESS": temporal_address,
            "TEMPORAL_NAMESPACE": "nowhere-live",
            "TEMPORAL_TEST_NAMESPACE": dev_env.client.namespace,
            "TEMPORAL_TASK_QUEUE": task_queue,
            "TEST_DATABASE_URL": database_url,
        },
    )
    laptop = tmp_path / "laptop"
    laptop.mkdir()
    remote = Billing(
        laptop,
        env={
            "BILLING_API_URL": api_process.url,
            "BILLING_API_KEY": key,
            "DATABASE_URL": f"sqlite:///{laptop / 'missing' / 'billing.db'}",
            "TEMPORAL_ADDRESS": "127.0.0.1:9",
        },
    )
    return Twins(local, remote, account, api_process.url)


def _invoices(twins: Twins, subscription_id: str, seconds: float = 120) -> list[dict[str, Any]]:
    deadline = time.monotonic() + seconds
    while True:
        found = twins.remote_json("invoices", "list", "--subscription", subscription_id)
        if [invoice for invoice in found if invoice["status"] == "open"]:
            return list(found)
        assert time.monotonic() < deadline, "gave up waiting for the first invoice"
        time.sleep(0.3)


def test_every_data_command_prints_the_same_through_the_api(
    twins: Twins, worker_process: StartWorker
) -> None:
    run = uuid.uuid4().hex[:6]
    for output in ((), ("--json",)):  # the second run of each is a no-op returning the first
        twins.same_ok(
            "meters", "create", "--name", "bandwidth_egress", "--unit", "GB",
            "--aggregation", "sum", "--reset-cycle", "monthly", *output,
        )  # fmt: skip
        pricing = twins.local.write("pricing.json", seed.HYBRID_PRICING)
        twins.same_ok("pricing", "create", "--file", str(pricing), *output)
        dearer = {**seed.HYBRID_PRICING, "components": [
            {"type": "recurring", "amount": "59.99", "cycle": "monthly"},
            *seed.HYBRID_PRICING["components"][1:],
        ]}  # fmt: skip
        twins.same_ok("pricing", "create", "--file", str(twins.local.write("v2.json", dearer)))
        twins.same_ok(
            "config", "update", "--invoice-day", "1", "--payment-terms-days", "14",
            "--tax-rate", "0.20", "--currency", "EUR", *output,
        )  # fmt: skip
        twins.same_ok("config", "show", *output)
        twins.same_ok(
            "notifications", "configure", "--invoice-generated", "email,webhook",
            "--payment-received", "email", "--usage-threshold", "email",
            "--thresholds", "80,90,100", *output,
        )  # fmt: skip
        twins.same_ok(
            "customers", "create", "--id", f"cus_{run}", "--name", "Acme GmbH",
            "--email", "billing@acme.example", *output,
        )  # fmt: skip

    # One subscription started each way, a month back; the answers differ only in ids.
    start_at = last_month_start(datetime.now(UTC))
    start = (
        "subscriptions", "start", "--customer", f"cus_{run}", "--pricing-version", "1",
        "--start-at", start_at.isoformat(), "--json",
    )  # fmt: skip
    started = {
        where: json.loads(billing(*start, "--id", f"sub_{run}_{where}").stdout)
        for where, billing in (("local", twins.on_db), ("remote", twins.remote))
    }
    assert started["remote"]["run_id"]
    assert started["local"]["run_id"]
    ids = ("subscription_id", "workflow_id", "run_id")
    assert {k: v for k, v in started["remote"].items() if k not in ids} == {
        k: v for k, v in started["local"].items() if k not in ids
    }
    assert started["remote"]["workflow_id"] == f"subscription-sub_{run}_remote"
    subscription = f"sub_{run}_remote"
    again = twins.same(
        "subscriptions", "start", "--id", subscription, "--customer", f"cus_{run}",
        "--pricing-version", "1",
    )  # fmt: skip
    assert again.exit_code == 1
    assert (
        again.stderr == f"Error: already started: workflow 'subscription-{subscription}' exists\n"
    )

    # The month's 350 GB, signalled before a worker runs (both ways: the repeat counts once).
    events = twins.local.data_dir / "events.jsonl"
    events.write_text(
        events_jsonl(
            [
                {
                    "event_id": f"evt_{week}",
                    "meter_id": "bandwidth_egress",
                    "quantity": gigabytes,
                    "timestamp": (start_at + timedelta(days=week * 7 + 2)).isoformat(),
                }
                for week, gigabytes in enumerate(USAGE_GB)
            ]
        )
    )
    for output in ((), ("--json",)):
        twins.same_ok(
            "usage", "record", "--subscription", subscription, "--file", str(events),
            "--no-wait", *output,
        )  # fmt: skip
    worker_process()
    found = _invoices(twins, subscription)
    number = next(invoice["number"] for invoice in found if invoice["status"] == "open")

    # Acknowledged usage: each way a new event, then each way the other's again.
    new = {"local": f"evt_now_{run}_l", "remote": f"evt_now_{run}_r"}
    record = ("usage", "record", "--subscription", subscription, "--meter", "bandwidth_egress")
    local = twins.on_db(*record, "--quantity", "1.5", "--event-id", new["local"])
    remote = twins.remote(*record, "--quantity", "1.5", "--event-id", new["remote"])
    assert remote.exit_code == local.exit_code == 0, (local.output, remote.output)
    assert (
        remote.stdout
        == local.stdout
        == ("Recorded 1 events in 1 batches: 1 new, 0 duplicates. (test mode)\n")
    )
    local = twins.on_db(*record, "--quantity", "1.5", "--event-id", new["remote"])
    remote = twins.remote(*record, "--quantity", "1.5", "--event-id", new["local"])
    assert remote.stdout == local.stdout
    assert "0 new, 1 duplicates" in remote.stdout

    for output in ((), ("--json",)):
        twins.same_ok("subscriptions", "status", subscription, *output)
        twins.same_ok("invoices", "list", *output)
        twins.same_ok("invoices", "list", "--status", "open", "--status", "paid", *output)
        twins.same_ok("invoices", "list", "--customer", f"cus_{run}", "--limit", "1", *output)
        twins.same_ok("invoices", "show", number, *output)
    shown = twins.remote_json("invoices", "show", number)
    assert (shown["total"], shown["amount_due"], shown["currency"]) == ("74.99", "74.99", "EUR")

    paid = twins.remote("invoices", "pay", number, "--payment-id", f"pay_{run}")
    assert paid.exit_code == 0, paid.output
    assert "paid" in paid.stdout
    assert "74.99" in paid.stdout
    replayed = twins.on_db(
        "invoices", "pay", number, "--payment-id", f"pay_{run}", "--amount", "74.99"
    )
    words = [line.split() for line in paid.stdout.replace("True", "False").splitlines()]
    assert [line.split() for line in replayed.stdout.splitlines()] == words  # the same id: not new
    twins.same_ok("invoices", "show", number)
    refused = twins.same("invoices", "void", number, "--reason", "test")
    assert (refused.exit_code, refused.stderr) == (
        2,
        f"Error: invoice {number} is paid: it cannot be voided\n",
    )

    unknown = twins.same("subscriptions", "change-plan", subscription, "--pricing-version", "99")
    assert (unknown.exit_code, unknown.stderr) == (
        1,
        "Error: pricing_version_id: no pricing version 99\n",
    )
    local = twins.on_db(
        "subscriptions", "change-plan", f"sub_{run}_local", "--pricing-version", "2"
    )
    remote = twins.remote("subscriptions", "change-plan", subscription, "--pricing-version", "2")
    assert remote.exit_code == local.exit_code == 0, (local.output, remote.output)
    assert remote.stdout == local.stdout.replace(f"sub_{run}_local", subscription)
    assert "moves to pricing 2 from the next period" in remote.stdout
    for output in ((), ("--json",)):
        listed = twins.same_ok("subscriptions", "list", *output)
        assert f"sub_{run}_local" in listed.stdout
        assert subscription in listed.stdout
        twins.same_ok("subscriptions", "list", "--limit", "1", *output)
    not_a_draft = twins.same("invoices", "approve", number)
    assert (not_a_draft.exit_code, not_a_draft.stderr) == (
        2,
        f"Error: invoice {number} is paid: only a draft can be approved\n",
    )

    local = twins.on_db("subscriptions", "cancel", f"sub_{run}_local")
    remote = twins.remote("subscriptions", "cancel", subscription)
    assert remote.exit_code == local.exit_code == 0
    assert remote.stdout == local.stdout.replace(f"sub_{run}_local", subscription)


def test_a_webhook_endpoint_registered_through_the_api_is_listed_both_ways(twins: Twins) -> None:
    registered = twins.remote_json(
        "notifications", "configure", "--payment-received", "email,webhook",
        "--webhook-url", "http://127.0.0.1:9/hooks",
    )  # fmt: skip
    assert registered["webhook_secret"].startswith("whsec_")
    assert registered["webhook_endpoints"] == ["http://127.0.0.1:9/hooks"]
    assert registered["notifications"]["payment_received"] == {"email": True, "webhook": True}
    listed = twins.same_ok("notifications", "configure")
    assert "http://127.0.0.1:9/hooks" in listed.stdout
    assert "secret" not in listed.stdout


def test_errors_read_the_same_through_the_api(twins: Twins) -> None:
    missing_customer = twins.same(
        "subscriptions", "start", "--id", "sub_x", "--customer", "cus_missing",
        "--pricing-version", "1",
    )  # fmt: skip
    assert (missing_customer.exit_code, missing_customer.stderr) == (
        1,
        "Error: customer_id: no customer 'cus_missing'\n",
    )
    missing_invoice = twins.same("invoices", "show", "NOPE-TEST-000001")
    assert missing_invoice.exit_code == 1
    assert "NOPE-TEST-000001" in missing_invoice.stderr
    bad_meter = twins.same(
        "meters", "create", "--name", "m", "--unit", "u", "--aggregation", "sum", "--id", "bad id"
    )
    assert bad_meter.exit_code == 2
    unknown_meter = twins.local.write("unknown-meter.json", seed.HYBRID_PRICING)
    priced = twins.same("pricing", "create", "--file", str(unknown_meter))
    assert priced.exit_code == 2
    assert "meter 'bandwidth_egress' does not exist" in priced.stderr


def test_commands_that_need_the_database_refuse_through_the_api(twins: Twins) -> None:
    for command in (
        ("db", "upgrade"),
        ("worker",),
        ("api",),
        ("api-keys", "list"),
        ("api-keys", "create", "--account", "acct_x"),
    ):
        result = twins.remote(*command)
        assert result.exit_code == 2, command
        assert result.stderr == (
            f"Error: `billing {command[0]}` needs database access; unset BILLING_API_URL to run "
            "it against the local database\n"
        )
    assert twins.remote("preview", "--help").exit_code == 0  # offline: no database, no API


def test_a_url_without_a_key_is_refused(twins: Twins) -> None:
    result = twins.remote("config", "show", extra_env={"BILLING_API_KEY": ""})
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: BILLING_API_URL is set but BILLING_API_KEY is not: set both to use the remote "
        "API (a pk_test_ or pk_live_ key), or unset BILLING_API_URL\n"
    )


def test_the_key_decides_the_account_and_mode(twins: Twins) -> None:
    other = twins.remote("config", "show", "--account", "acct_someone_else")
    assert other.exit_code == 2
    assert other.stderr == (
        f"Error: --account acct_someone_else: BILLING_API_KEY is a key of {twins.account} "
        "(through the API the key decides the account)\n"
    )
    meter = ("meters", "create", "--name", "m", "--unit", "u", "--aggregation", "sum")
    elsewhere = twins.remote(*meter, "--account", "acct_someone_else")
    assert (elsewhere.exit_code, elsewhere.stderr) == (other.exit_code, other.stderr)
    key = twins.remote.env["BILLING_API_KEY"]
    with BillingClient(api_key=key, base_url=twins.api) as client:
        assert list(client.billing.meters.list()) == []  # refused before anything was sent
    assert twins.remote("config", "show", "--account", twins.account).exit_code == 0
    live = twins.remote("config", "show", "--live")
    assert (live.exit_code, live.stderr) == (
        2,
        "Error: --live contradicts BILLING_API_KEY, a pk_test_ key: unset the key or use --test\n",
    )
    revoked = twins.remote("config", "show", extra_env={"BILLING_API_KEY": "pk_test_unknown"})
    assert revoked.exit_code == 1
    assert "refused BILLING_API_KEY" in revoked.stderr
