"""The Python client (`billing_client`) against a real `billing api` process with a fresh
`pk_test_` key: the guide's four calls in Python, a customer, a backdated subscription, 350 GB
and the 74.99 EUR invoice (async client, with a worker on the dev server); and a lost response
behind a real TCP proxy: the POST is sent again with the same key and creates one object."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from billing_client import AsyncBilling, Billing, NotFoundError
from devtools.demo import USAGE_GB, last_month_start

from api.server import ApiProcess, new_key
from e2e.conftest import StartWorker
from e2e.proxy import DroppingProxy


async def test_the_guide_through_the_async_client_is_invoiced(
    api_process: ApiProcess, database_url: str, worker_process: StartWorker
) -> None:
    run = uuid.uuid4().hex[:8]
    key = new_key(database_url, account_id=f"acct_py{run}", mode="test")
    async with AsyncBilling(api_key=key, base_url=api_process.url) as client:
        meter = await client.billing.meters.create(
            name="bandwidth_egress", unit="GB", aggregation="sum", reset_cycle="monthly"
        )
        pricing = await client.billing.pricing.create(
            product_id="prod_web_hosting",
            components=[
                {"type": "recurring", "amount": 49.99, "cycle": "monthly"},
                {
                    "type": "usage",
                    "meter_id": meter.id,
                    "tiers": [
                        {"up_to": 100, "unit_price": 0},  # 100GB included
                        {"up_to": 1000, "unit_price": 0.05},  # EUR 0.05/GB
                        {"up_to": None, "unit_price": 0.03},  # Volume discount
                    ],
                },
            ],
            currency="EUR",
        )
        config = await client.billing.config.update(
            auto_generate_invoices=True,
            invoice_day=1,  # Generate on 1st of each month
            payment_terms_days=14,  # Due in 14 days
            tax_rate=0.20,  # 20% VAT
            currency="EUR",
        )
        await client.billing.notifications.configure(
            invoice_generated={"email": True, "webhook": True},
            payment_received={"email": True},
            payment_overdue={"email": True, "webhook": True},
            usage_threshold={"email": True, "thresholds": [80, 90, 100]},
        )
        assert (str(config.tax_rate), config.invoice_day) == ("0.2", 1)
        assert [p.id async for p in client.billing.pricing.list(limit=1)] == [pricing.id]

        customer = await client.billing.customers.create(
            id=f"cus_{run}", name="Test GmbH", email="test-customer@example.com"
        )
        start_at = last_month_start(datetime.now(UTC))
        subscription = await client.billing.subscriptions.create(
            id=f"sub_{run}", customer_id=customer.id, pricing_id=pricing.id, start_at=start_at
        )
        usage = await client.billing.usage.record(
            subscription_id=subscription.id,
            events=[
                {
                    "event_id": f"evt_{run}_{week}",
                    "meter_id": meter.id,
                    "quantity": gigabytes,
                    "timestamp": start_at + timedelta(days=week * 7 + 2),
                }
                for week, gigabytes in enumerate(USAGE_GB)
            ],
        )
        assert (usage.events, sum(USAGE_GB)) == (4, 350)

        worker_process()  # now, so the backdated month is invoiced with its usage
        deadline = time.monotonic() + 120
        while not (
            page := await client.billing.invoices.list(
                subscription_id=subscription.id, status="open"
            )
        ).data:
            assert time.monotonic() < deadline, "gave up waiting for the first invoice"
            await asyncio.sleep(0.3)
        invoice = await client.billing.invoices.retrieve(page.data[0].number)
        assert (invoice.currency, str(invoice.subtotal), str(invoice.tax), str(invoice.total)) == (
            "EUR",
            "62.49",
            "12.50",
            "74.99",
        )
        assert [str(line.amount) for line in invoice.lines] == ["49.99", "12.50"]
        with pytest.raises(NotFoundError) as missing:
            await client.billing.invoices.retrieve("MISSING-TEST-000001")
        assert missing.value.status == 404


def test_a_lost_response_is_retried_with_the_same_key_and_creates_one_object(
    api_process: ApiProcess, database_url: str
) -> None:
    key = new_key(database_url, account_id=f"acct_retry{uuid.uuid4().hex[:8]}", mode="test")
    proxy = DroppingProxy(upstream_port=api_process.port, drop=1)
    try:
        with Billing(api_key=key, base_url=proxy.url) as client:
            created = client.billing.pricing.create(
                product_id="prod_retry",
                components=[{"type": "recurring", "amount": "9.99", "cycle": "monthly"}],
            )
    finally:
        proxy.close()
    posts = [bytes(sent) for sent in proxy.sent if sent.startswith(b"POST /v1/billing/pricing")]
    assert len(posts) == 2, proxy.sent
    keys = {re.search(rb"(?i)idempotency-key: (\S+)", post).group(1) for post in posts}  # type: ignore[union-attr]
    assert len(keys) == 1
    assert b"201" in proxy.answered[0].split(b"\r\n")[0]  # created upstream, lost on the way
    assert b"idempotent-replayed: true" in proxy.answered[1].lower()

    with Billing(api_key=key, base_url=api_process.url) as client:
        stored = list(client.billing.pricing.list())
    assert [(p.id, p.product_id, p.version) for p in stored] == [(created.id, "prod_retry", 1)]
