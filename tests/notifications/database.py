"""A migrated SQLite billing database holding the seed's hybrid example: one account (test mode),
one customer, one issued invoice for 350 GB (EUR 74.99) and the account's webhook endpoints."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine

from billing.catalog import BillingConfig, NotificationConfig
from billing.contracts.notifications import NotificationRequest
from billing.webhook_signing import generate_secret
from billing_db.engine import make_engine
from billing_db.migrate import upgrade
from billing_db.records import InvoiceRecord, WebhookEndpointRecord
from billing_db.repo_catalog import (
    create_account,
    create_customer,
    create_meter,
    create_pricing_version,
    create_subscription,
    create_webhook_endpoint,
)
from billing_db.repo_invoices import create_invoice

from notifications.seed import ISSUED_AT, METER, OCTOBER, PRICING, rate_hybrid

ACCOUNT_ID = "acct_platforma"
CUSTOMER_ID = "cus_ada"
SUBSCRIPTION_ID = "sub_ada"
BILLING_EMAIL = "ada@example.com"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrated once per session by the real alembic migrations; copied by every test."""
    path = tmp_path_factory.mktemp("notifications-template") / "billing.db"
    upgrade(f"sqlite:///{path}")
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture
def engine(sqlite_template: Path, tmp_path: Path) -> Iterator[Engine]:
    path = tmp_path / "billing.db"
    shutil.copyfile(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    try:
        yield engine
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Seeded:
    engine: Engine
    invoice: InvoiceRecord

    def add_endpoint(self, url: str, *, secret: str | None = None) -> WebhookEndpointRecord:
        return create_webhook_endpoint(
            self.engine, account_id=ACCOUNT_ID, url=url, secret=secret or generate_secret()
        )

    def request(
        self, event: str = "invoice_generated", *, scope: str | None = None, **changes: object
    ) -> NotificationRequest:
        fields: dict[str, object] = {
            "event": event,
            "account_id": ACCOUNT_ID,
            "subscription_id": SUBSCRIPTION_ID,
            "customer_id": CUSTOMER_ID,
            "invoice_number": self.invoice.number,
            "scope": scope or self.invoice.number,
            "data": {},
            "livemode": False,
        }
        return NotificationRequest.model_validate({**fields, **changes})


@pytest.fixture
def seeded(engine: Engine) -> Seeded:
    create_account(
        engine,
        account_id=ACCOUNT_ID,
        name="PLATFORMA",
        mode="test",
        billing=BillingConfig(),
        notifications=NotificationConfig(),
        invoice_prefix="INV",
    )
    create_customer(
        engine,
        account_id=ACCOUNT_ID,
        customer_id=CUSTOMER_ID,
        name="Ada Lovelace",
        billing_email=BILLING_EMAIL,
        time_zone="UTC",
    )
    create_meter(engine, account_id=ACCOUNT_ID, meter=METER)
    pricing = create_pricing_version(engine, account_id=ACCOUNT_ID, pricing=PRICING)
    create_subscription(
        engine,
        subscription_id=SUBSCRIPTION_ID,
        account_id=ACCOUNT_ID,
        customer_id=CUSTOMER_ID,
        pricing_version_id=pricing.id,
        started_at=OCTOBER.start,
        current_period=OCTOBER,
    )
    invoice = create_invoice(
        engine,
        subscription_id=SUBSCRIPTION_ID,
        period=OCTOBER,
        rated=rate_hybrid(),
        issued_at=ISSUED_AT,
        payment_terms_days=14,
        watermark=0,
    )
    return Seeded(engine=engine, invoice=invoice)
