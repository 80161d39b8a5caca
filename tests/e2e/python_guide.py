"""The guide's scenario through the Python client (`billing_client`), shared by the tests that run
it against a `billing api` process: the four set-up calls, a customer, a subscription backdated a
month and its 350 GB; then its first invoice of 74.99 EUR, once a worker has issued it."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from billing_client import AsyncBilling
from billing_service.api.models import InvoiceOut, SubscriptionStarted
from devtools.demo import USAGE_GB, last_month_start


async def start_the_guide(client: AsyncBilling, run: str) -> SubscriptionStarted:
    """The guide's calls, literally, up to the usage of the subscription's first month."""
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
    assert (usage.accepted, usage.rejected, sum(USAGE_GB)) == (4, [], 350)
    return subscription


async def the_guides_invoice(
    client: AsyncBilling, subscription_id: str, *, seconds: float = 120
) -> InvoiceOut:
    """The subscription's first open invoice, once issued: 62.49 + 12.50 VAT = 74.99 EUR."""
    deadline = time.monotonic() + seconds
    while not (
        page := await client.billing.invoices.list(subscription_id=subscription_id, status="open")
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
    return invoice
