"""The seed's "Configure Billing" guide as data: its meter, hybrid pricing, billing config and
notifications, exactly as the guide writes them (JSON numbers included).

The demo, the simulation, the benchmarks and the tests all start from these, so the guide's
example lives in one place. Each is a plain JSON object: validate it with the catalog models
(`Meter`, `Pricing`, `BillingConfig`, `NotificationConfig`) or send it as a workflow input.
"""

from __future__ import annotations

from typing import Any

METER: dict[str, Any] = {
    "name": "bandwidth_egress",
    "unit": "GB",
    "aggregation": "sum",
    "reset_cycle": "monthly",
}
HYBRID_PRICING: dict[str, Any] = {
    "product_id": "prod_web_hosting",
    "currency": "EUR",
    "components": [
        {"type": "recurring", "amount": 49.99, "cycle": "monthly"},
        {
            "type": "usage",
            "meter_id": "bandwidth_egress",
            "tiers": [
                {"up_to": 100, "unit_price": 0},
                {"up_to": 1000, "unit_price": 0.05},
                {"up_to": None, "unit_price": 0.03},
            ],
        },
    ],
}
BILLING: dict[str, Any] = {
    "auto_generate_invoices": True,
    "invoice_day": 1,
    "payment_terms_days": 14,
    "tax_rate": 0.20,
    "currency": "EUR",
}
NOTIFICATIONS: dict[str, Any] = {
    "invoice_generated": {"email": True, "webhook": True},
    "payment_received": {"email": True},
    "payment_overdue": {"email": True, "webhook": True},
    "usage_threshold": {"email": True, "thresholds": [80, 90, 100]},
}
