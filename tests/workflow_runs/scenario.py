"""The seed's hybrid web-hosting plan as a SubscriptionWorkflow input, and small helpers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from billing import seed
from billing.contracts.subscription import SubscriptionInput

METER = seed.METER
HYBRID_PRICING = seed.HYBRID_PRICING
SEED_BILLING = seed.BILLING


def hybrid_subscription(*, start_at: datetime | None = None, **overrides: Any) -> SubscriptionInput:
    suffix = uuid.uuid4().hex[:8]
    data: dict[str, Any] = {
        "subscription_id": f"sub_{suffix}",
        "account_id": "acct_platforma",
        "customer": {"id": f"cus_{suffix}", "name": "Acme GmbH", "email": "billing@acme.test"},
        "meters": [METER],
        "pricing": HYBRID_PRICING,
        "billing": SEED_BILLING,
        "start_at": start_at,
    }
    data.update(overrides)
    return SubscriptionInput.model_validate(data)


def on_its_own_account(subscription: SubscriptionInput) -> SubscriptionInput:
    """The subscription on an account of its own. Invoice numbers take their prefix from the
    account, so its invoices' workflow ids (`invoice-<number>`) cannot collide with another
    test's on the shared dev server; and a new account takes the worker's mode."""
    return subscription.model_copy(update={"account_id": f"acct_{subscription.subscription_id}"})


def usage(*events: tuple[str, float | int | str]) -> dict[str, Any]:
    """A `record_usage` signal body: (event_id, gigabytes) pairs on the bandwidth meter."""
    return {
        "events": [
            {"event_id": event_id, "meter_id": "bandwidth_egress", "quantity": quantity}
            for event_id, quantity in events
        ]
    }
