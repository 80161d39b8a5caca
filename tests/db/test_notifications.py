"""The notification log: one row per dedupe key, attempts counted, delivered is final."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from billing_db import repo_notifications
from billing_db.errors import (
    InvalidRecordError,
    NotificationConflictError,
    UnknownNotificationError,
)
from billing_db.records import NotificationRecord

from db.race import race
from db.scenario import row_counts

KEY = "invoice_generated:ACME-000001:email"
AT = datetime(2025, 11, 1, 0, 10, tzinfo=UTC)


def _claim(engine: Engine, key: str = KEY) -> NotificationRecord:
    return repo_notifications.claim_notification(
        engine,
        dedupe_key=key,
        channel="email",
        event="invoice_generated",
        target="jane@example.com",
    )


def test_a_claim_inserts_a_pending_notification_once(engine: Engine) -> None:
    first = _claim(engine)
    again = _claim(engine)
    assert (first.status, first.attempts, first.should_send) == ("pending", 0, True)
    assert again == first
    assert row_counts(engine)["notifications"] == 1


def test_concurrent_claims_of_one_key_make_one_row(engine: Engine) -> None:
    results = race(4, lambda: _claim(engine))
    assert len({result.created_at for result in results}) == 1
    assert row_counts(engine)["notifications"] == 1


def test_a_failed_attempt_is_counted_and_the_notification_may_be_sent_again(
    engine: Engine,
) -> None:
    _claim(engine)
    failed = repo_notifications.record_notification_attempt(
        engine, dedupe_key=KEY, delivered=False, error="421 try later", at=AT
    )
    assert (failed.status, failed.attempts, failed.last_error, failed.should_send) == (
        "failed",
        1,
        "421 try later",
        True,
    )
    delivered = repo_notifications.record_notification_attempt(
        engine, dedupe_key=KEY, delivered=True, message_id="<m1@example>", at=AT
    )
    assert (delivered.status, delivered.attempts, delivered.delivered_at) == ("delivered", 2, AT)
    assert delivered.message_id == "<m1@example>"
    assert delivered.should_send is False
    assert _claim(engine) == delivered


def test_attempts_after_delivery_change_nothing(engine: Engine) -> None:
    _claim(engine)
    delivered = repo_notifications.record_notification_attempt(
        engine, dedupe_key=KEY, delivered=True, message_id="<m1@example>", at=AT
    )
    retried = repo_notifications.record_notification_attempt(
        engine, dedupe_key=KEY, delivered=False, error="timeout"
    )
    assert retried == delivered


def test_a_disabled_target_is_final(engine: Engine) -> None:
    _claim(engine)
    disabled = repo_notifications.record_notification_attempt(
        engine, dedupe_key=KEY, delivered=False, error="410 Gone", disabled=True
    )
    assert (disabled.status, disabled.should_send) == ("disabled", False)


def test_a_key_claimed_for_another_event_is_a_conflict(engine: Engine) -> None:
    _claim(engine)
    with pytest.raises(NotificationConflictError, match="invoice_generated"):
        repo_notifications.claim_notification(
            engine, dedupe_key=KEY, channel="webhook", event="payment_received", target="x"
        )


def test_bad_claims_and_unknown_keys_raise(engine: Engine) -> None:
    with pytest.raises(InvalidRecordError, match="channel"):
        repo_notifications.claim_notification(
            engine,
            dedupe_key=KEY,
            channel="sms",  # type: ignore[arg-type]
            event="invoice_generated",
            target="x",
        )
    with pytest.raises(UnknownNotificationError):
        repo_notifications.record_notification_attempt(engine, dedupe_key="nope", delivered=True)
    assert row_counts(engine)["notifications"] == 0
