"""The notification payloads and the routing the workflows take from the seed's config."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from billing.catalog import NotificationConfig, NotificationEvent
from billing.contracts.notifications import (
    MAX_DEDUPE_KEY_LENGTH,
    NotificationRequest,
    channels_for_event,
)

#: The seed's step 4, as the guide writes it.
SEED_NOTIFICATIONS = {
    "invoice_generated": {"email": True, "webhook": True},
    "payment_received": {"email": True},
    "payment_overdue": {"email": True, "webhook": True},
    "usage_threshold": {"email": True, "thresholds": [80, 90, 100]},
}
BASE = {
    "account_id": "acct_1",
    "subscription_id": "sub_1",
    "customer_id": "cus_1",
    "scope": "INV-2026-000001",
}


@pytest.mark.parametrize(
    ("event", "channels"),
    [
        ("invoice_generated", ["email", "webhook"]),
        ("payment_received", ["email"]),
        ("payment_overdue", ["email", "webhook"]),
        ("usage_threshold", ["email"]),
        ("payment_reminder", ["email"]),
        ("subscription_suspended", ["email"]),
        ("invoice_uncollectible", ["email"]),
    ],
)
def test_seed_config_routes_each_event_to_its_channels(
    event: NotificationEvent, channels: list[str]
) -> None:
    config = NotificationConfig.model_validate(SEED_NOTIFICATIONS)
    assert channels_for_event(config, event) == channels


def test_a_channel_switched_off_is_not_called() -> None:
    config = NotificationConfig.model_validate(
        {"invoice_generated": {"email": False, "webhook": True}, "payment_received": {}}
    )
    assert channels_for_event(config, "invoice_generated") == ["webhook"]
    assert channels_for_event(config, "payment_received") == []


def test_dedupe_key_is_event_scope_channel_target() -> None:
    request = NotificationRequest.model_validate(
        {**BASE, "event": "invoice_generated", "invoice_number": "INV-2026-000001"}
    )
    assert request.dedupe_key("email", "ada@example.com") == (
        "invoice_generated:INV-2026-000001:email:ada@example.com"
    )


def test_an_overlong_dedupe_key_stays_unique_within_the_column() -> None:
    request = NotificationRequest.model_validate({**BASE, "event": "subscription_suspended"})
    first = request.dedupe_key("email", "a" * 300 + "@example.com")
    second = request.dedupe_key("email", "a" * 300 + "@example.org")
    assert len(first) == len(second) == MAX_DEDUPE_KEY_LENGTH
    assert first != second
    assert first == request.dedupe_key("email", "a" * 300 + "@example.com")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"event": "invoice_generated"}, "invoice_number is required"),
        ({"event": "usage_threshold"}, "data.threshold"),
        ({"event": "invoice_sent"}, "event"),
        ({"event": "subscription_suspended", "account_id": " "}, "account_id"),
        ({"event": "subscription_suspended", "scope": ""}, "scope"),
        ({"event": "subscription_suspended", "smtp_password": "x"}, "smtp_password"),
    ],
)
def test_bad_requests_are_refused_naming_the_problem(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        NotificationRequest.model_validate({**BASE, **changes})


def test_request_round_trips_through_json() -> None:
    request = NotificationRequest.model_validate(
        {
            **BASE,
            "event": "usage_threshold",
            "data": {"threshold": 80, "quantity": "80.5", "meter": "bandwidth_egress"},
        }
    )
    assert NotificationRequest.model_validate_json(request.model_dump_json()) == request
