"""The Python client (`billing_client`) against a real `billing api` process with a fresh
`pk_test_` key: the guide's four calls in Python, a customer, a backdated subscription, 350 GB
and the 74.99 EUR invoice (async client, with a worker on the dev server); and a lost response
behind a real TCP proxy: the POST is sent again with the same key and creates one object."""

from __future__ import annotations

import re
import uuid

import pytest

from billing_client import AsyncBilling, Billing, NotFoundError

from api.server import ApiProcess, new_key
from e2e.conftest import StartWorker
from e2e.proxy import DroppingProxy
from e2e.python_guide import start_the_guide, the_guides_invoice


async def test_the_guide_through_the_async_client_is_invoiced(
    api_process: ApiProcess, database_url: str, worker_process: StartWorker
) -> None:
    run = uuid.uuid4().hex[:8]
    key = new_key(database_url, account_id=f"acct_py{run}", mode="test")
    async with AsyncBilling(api_key=key, base_url=api_process.url) as client:
        subscription = await start_the_guide(client, run)
        worker_process()  # now, so the backdated month is invoiced with its usage
        await the_guides_invoice(client, subscription.id)
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
