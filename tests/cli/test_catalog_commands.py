"""The seed's set-up steps through `billing`, on real SQLite files, in test and live mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from billing_db import repo_catalog
from billing_db.engine import make_engine
from billing_service.modes import database_url_for_test_mode, settings_for_mode
from billing_service.settings import Settings

from cli.cli_runner import HYBRID_PRICING, Billing


@pytest.fixture
def billing(tmp_path: Path) -> Billing:
    cli = Billing(tmp_path)
    for mode in ("--test", "--live"):
        result = cli("db", "upgrade", mode)
        assert result.exit_code == 0, result.output
    return cli


def test_test_mode_has_its_own_namespace_and_database() -> None:
    live = Settings(TEMPORAL_NAMESPACE="billing", DATABASE_URL="sqlite:///.data/billing.db")
    test = settings_for_mode(live, "test")
    assert (test.temporal_namespace, test.database_url) == (
        "billing-test",
        "sqlite:///.data/billing-test.db",
    )
    assert test.billing_mode == "test"
    assert settings_for_mode(live, "live").temporal_namespace == "billing"
    assert database_url_for_test_mode("postgresql://u:p@db:5432/billing") == (
        "postgresql://u:p@db:5432/billing_test"
    )


def test_the_seed_steps_store_the_catalog_in_the_test_database_only(
    billing: Billing, tmp_path: Path
) -> None:
    meter = billing.json(
        "meters", "create", "--name", "bandwidth_egress", "--unit", "GB", "--aggregation", "sum"
    )
    assert meter["id"] == "bandwidth_egress"
    assert meter["livemode"] is False
    pricing = billing.json(
        "pricing", "create", "--file", str(billing.write("p.json", HYBRID_PRICING))
    )
    assert (pricing["product_id"], pricing["version"]) == ("prod_web_hosting", 1)
    config = billing.json(
        "config", "update", "--invoice-day", "1", "--payment-terms-days", "14",
        "--tax-rate", "0.20", "--currency", "EUR", "--timezone", "Europe/Berlin",
    )  # fmt: skip
    assert config["billing"]["tax_rate"] == "0.20"
    notifications = billing.json(
        "notifications", "configure", "--invoice-generated", "email,webhook",
        "--payment-received", "email", "--usage-threshold", "email", "--thresholds", "80,90,100",
        "--webhook-url", "http://127.0.0.1:9/hooks",
    )  # fmt: skip
    assert notifications["notifications"]["invoice_generated"] == {"email": True, "webhook": True}
    assert notifications["webhook_secret"].startswith("whsec_")
    customer = billing.json(
        "customers", "create", "--id", "cus_test", "--name", "Test Customer",
        "--email", "test@example.com",
    )  # fmt: skip
    assert customer["time_zone"] == "Europe/Berlin"  # the billing config's, set above

    test_engine = make_engine(f"sqlite:///{tmp_path / 'billing-test.db'}")
    live_engine = make_engine(f"sqlite:///{tmp_path / 'billing.db'}")
    try:
        account = repo_catalog.get_account(test_engine, account_id="acct_default")
        assert account.mode == "test"
        assert account.billing.invoice_day == 1
        assert repo_catalog.get_customer(test_engine, customer_id="cus_test").name == (
            "Test Customer"
        )
        with pytest.raises(LookupError):
            repo_catalog.get_account(live_engine, account_id="acct_default")
    finally:
        test_engine.dispose()
        live_engine.dispose()


def test_bad_input_is_one_line_with_exit_2_and_changes_nothing(billing: Billing) -> None:
    assert billing("config", "update", "--tax-rate", "0.19").exit_code == 0
    refused = billing("config", "update", "--tax-rate", "1.5", "--invoice-day", "40")
    assert refused.exit_code == 2
    assert refused.stderr.count("\n") == 1
    assert "billing.invoice_day: must be between 1 and 31, got 40" in refused.stderr
    assert "billing.tax_rate" in refused.stderr
    assert billing.json("config", "show")["billing"]["tax_rate"] == "0.19"

    bad = dict(HYBRID_PRICING, currency="EURO")
    result = billing("pricing", "create", "--file", str(billing.write("bad.json", bad)))
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: pricing.currency")

    missing_meter = billing(
        "pricing", "create", "--file", str(billing.write("p.json", HYBRID_PRICING))
    )
    assert missing_meter.exit_code == 2
    assert "meter 'bandwidth_egress' does not exist" in missing_meter.stderr

    no_option = billing("customers", "create", "--id", "cus_x")
    assert no_option.exit_code == 2
    assert no_option.stderr.count("\n") == 1


def test_a_live_flag_against_a_test_key_is_refused(billing: Billing) -> None:
    result = billing("config", "show", "--live", extra_env={"BILLING_API_KEY": "pk_test_abc"})
    assert result.exit_code == 2
    assert "--live contradicts BILLING_API_KEY, a pk_test_ key" in result.stderr
    keyed = billing("config", "show", "--json", extra_env={"BILLING_API_KEY": "pk_live_abc"})
    assert keyed.exit_code == 0, keyed.output
    assert json.loads(keyed.stdout)["livemode"] is True


def test_a_database_that_was_never_migrated_is_named(tmp_path: Path) -> None:
    result = Billing(tmp_path)(
        "meters", "create", "--name", "m", "--unit", "u", "--aggregation", "sum"
    )
    assert result.exit_code == 1
    assert "run `billing db upgrade --test` first" in result.stderr
