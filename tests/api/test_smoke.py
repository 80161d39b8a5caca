"""The API answers: the guide's four calls and a customer over a real socket."""

from __future__ import annotations

import httpx

from billing import seed

from api.conftest import Api


def test_the_guides_four_calls_and_a_customer(api: Api) -> None:
    with httpx.Client(base_url=api.url, headers=api.headers()) as http:
        meter = http.post("/v1/billing/meters", json=seed.METER)
        assert meter.status_code == 201, meter.text
        assert meter.json()["id"] == "bandwidth_egress"
        pricing = http.post("/v1/billing/pricing", json=seed.HYBRID_PRICING)
        assert pricing.status_code == 201, pricing.text
        config = http.patch("/v1/billing/config", json=seed.BILLING)
        assert config.status_code == 200, config.text
        assert config.json()["tax_rate"] == "0.2"
        notifications = http.put("/v1/billing/notifications", json=seed.NOTIFICATIONS)
        assert notifications.status_code == 200, notifications.text
        customer = http.post(
            "/v1/billing/customers",
            json={"id": "cus_smoke", "name": "Acme", "email": "billing@acme.example"},
        )
        assert customer.status_code == 201, customer.text
        assert http.get("/v1/billing/customers/cus_smoke").json()["livemode"] is False
        listed = http.get("/v1/billing/meters").json()
        assert [m["id"] for m in listed["data"]] == ["bandwidth_egress"]
