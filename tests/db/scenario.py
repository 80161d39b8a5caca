"""A billing set-up for the repository tests: account, customer, meters, pricing, subscription."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func, select

from billing.catalog import BillingConfig, Meter, NotificationConfig, Pricing
from billing.invoice import RatedInvoice, rate_invoice
from billing.periods import Period
from billing_db import repo_catalog
from billing_db.records import Mode, UsageEventInput
from billing_db.repo_usage_rollups import Totals, fold, ledger_columns
from billing_db.tables import metadata, usage_events, usage_rollups

OCTOBER = Period(start=datetime(2025, 10, 1, tzinfo=UTC), end=datetime(2025, 11, 1, tzinfo=UTC))
NOVEMBER = Period(start=datetime(2025, 11, 1, tzinfo=UTC), end=datetime(2025, 12, 1, tzinfo=UTC))
DECEMBER = Period(start=datetime(2025, 12, 1, tzinfo=UTC), end=datetime(2026, 1, 1, tzinfo=UTC))

METERS = {
    "bandwidth_egress": Meter(
        id="bandwidth_egress", name="Bandwidth egress", unit="GB", aggregation="sum"
    ),
    "api_calls": Meter(id="api_calls", name="API calls", unit="call", aggregation="count"),
    "peak_vms": Meter(id="peak_vms", name="Peak VMs", unit="VM", aggregation="max"),
    "active_users": Meter(
        id="active_users",
        name="Active users",
        unit="user",
        aggregation="unique_count",
        field_name="user_id",
    ),
    "storage_gb": Meter(id="storage_gb", name="Storage", unit="GB", aggregation="latest"),
}

SEED_PRICING: dict[str, Any] = {
    "product_id": "prod_web_hosting",
    "currency": "EUR",
    "components": [
        {"type": "recurring", "amount": "49.99", "cycle": "monthly"},
        {
            "type": "usage",
            "meter_id": "bandwidth_egress",
            "tiers": [
                {"up_to": 100, "unit_price": 0},
                {"up_to": 1000, "unit_price": "0.05"},
                {"up_to": None, "unit_price": "0.03"},
            ],
        },
        {"type": "usage", "meter_id": "api_calls", "unit_price": "0.001"},
        {"type": "usage", "meter_id": "peak_vms", "unit_price": "10"},
        {"type": "usage", "meter_id": "active_users", "unit_price": "1"},
        {"type": "usage", "meter_id": "storage_gb", "unit_price": "0.1"},
    ],
}


@dataclass(frozen=True)
class Scenario:
    account_id: str
    customer_id: str
    subscription_id: str
    pricing: Pricing
    pricing_version_id: int


def make_scenario(
    engine: Engine,
    *,
    account_id: str = "acct_acme",
    mode: Mode = "live",
    subscription_id: str = "sub_1",
    customer_id: str = "cus_1",
    time_zone: str = "Europe/Paris",
    pricing: dict[str, Any] | None = None,
) -> Scenario:
    repo_catalog.create_account(
        engine,
        account_id=account_id,
        name="Acme Hosting",
        mode=mode,
        billing=BillingConfig(payment_terms_days=14, tax_rate=Decimal("0.20")),
        notifications=NotificationConfig(),
    )
    repo_catalog.create_customer(
        engine,
        account_id=account_id,
        customer_id=customer_id,
        name="Jane Doe",
        billing_email="jane@example.com",
        time_zone=time_zone,
    )
    for meter in METERS.values():
        repo_catalog.create_meter(engine, account_id=account_id, meter=meter)
    version = repo_catalog.create_pricing_version(
        engine, account_id=account_id, pricing=Pricing.model_validate(pricing or SEED_PRICING)
    )
    repo_catalog.create_subscription(
        engine,
        subscription_id=subscription_id,
        account_id=account_id,
        customer_id=customer_id,
        pricing_version_id=version.id,
        started_at=OCTOBER.start,
        current_period=OCTOBER,
    )
    return Scenario(
        account_id=account_id,
        customer_id=customer_id,
        subscription_id=subscription_id,
        pricing=version.pricing,
        pricing_version_id=version.id,
    )


def event(
    event_id: str,
    quantity: str | int = 1,
    *,
    meter_id: str = "bandwidth_egress",
    at: datetime = datetime(2025, 10, 15, 12, tzinfo=UTC),
    properties: dict[str, Any] | None = None,
) -> UsageEventInput:
    return UsageEventInput(
        event_id=event_id,
        meter_id=meter_id,
        quantity=Decimal(quantity),
        timestamp=at,
        properties=properties,
    )


def rated(
    pricing: Pricing, *, gb: str = "0", period: Period = OCTOBER, tax_rate: str = "0.20"
) -> RatedInvoice:
    return rate_invoice(
        pricing=pricing,
        quantities={"bandwidth_egress": Decimal(gb)},
        tax_rate=Decimal(tax_rate),
        period=period,
    )


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows per table: what "nothing was written" is checked against."""
    with engine.connect() as connection:
        return {
            table.name: int(
                connection.execute(select(func.count()).select_from(table)).scalar_one()
            )
            for table in metadata.sorted_tables
        }


RollupParts = tuple[tuple[Any, ...], tuple[Any, ...]]


def _part(totals: Totals | None) -> tuple[Any, ...]:
    if totals is None:
        return (0, Decimal(0), None, None, None, None, None)
    timestamp, event_id, quantity = totals.latest
    return (totals.count, totals.total, totals.largest, totals.last_row_id, timestamp, event_id,
            quantity)  # fmt: skip


def stored_rollups(engine: Engine) -> dict[tuple[str, str, datetime], RollupParts]:
    """Every rollup row as (all part, unbilled part)."""
    with engine.connect() as connection:
        rows = connection.execute(select(usage_rollups)).mappings().all()
    return {
        (row["subscription_id"], row["meter_id"], row["hour"]): (
            tuple(row[f"all_{name}"] for name in ROLLUP_FIELDS),
            tuple(row[f"unbilled_{name}"] for name in ROLLUP_FIELDS),
        )
        for row in rows
    }


ROLLUP_FIELDS = ("count", "sum", "max", "last_row_id", "latest_timestamp", "latest_event_id",
                 "latest_quantity")  # fmt: skip


def rollups_of_rows(engine: Engine) -> dict[tuple[str, str, datetime], RollupParts]:
    """The rollups the ledger rows call for, folded afresh (all rows; unbilled rows)."""
    ledger = usage_events.c
    with engine.connect() as connection:
        rows = connection.execute(select(*ledger_columns(), ledger.invoice_id)).all()
    everything = fold(row[:6] for row in rows)
    unbilled = fold(row[:6] for row in rows if row.invoice_id is None)
    return {key: (_part(totals), _part(unbilled.get(key))) for key, totals in everything.items()}


def assert_rollups_match_rows(engine: Engine) -> None:
    """The stored rollups are exactly those of the ledger rows."""
    assert stored_rollups(engine) == rollups_of_rows(engine)
