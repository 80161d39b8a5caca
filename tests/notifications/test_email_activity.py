"""`send_email_notification` end to end: the database, the templates and a real SMTP server."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError

from activities.notifications.identity import email_message_id
from billing_db.repo_notifications import get_notification
from devtools.servers import text_part

from notifications.activity_env import make_activities, run_email
from notifications.database import BILLING_EMAIL, Seeded
from notifications.servers import SmtpFixture


async def test_invoice_email_reaches_the_billing_email_with_the_invoice_in_both_parts(
    seeded: Seeded, smtp_server: SmtpFixture
) -> None:
    activities = make_activities(seeded, smtp=smtp_server.settings)
    request = seeded.request()
    (outcome,) = await run_email(activities, request)

    assert outcome.status == "delivered"
    assert outcome.target == BILLING_EMAIL
    key = request.dedupe_key("email", BILLING_EMAIL)
    assert outcome.message_id == email_message_id(key)
    (message,) = smtp_server.handler.messages
    assert message["To"] == f"Ada Lovelace <{BILLING_EMAIL}>"
    assert message["From"] == "billing@platforma.example"
    assert message["Message-ID"] == email_message_id(key)
    assert message["Subject"] == (
        f"[TEST] Invoice {seeded.invoice.number} from PLATFORMA — EUR 74.99 due 15 Nov 2026"
    )
    html_part = message.get_body(preferencelist=("html",))
    assert html_part is not None
    for part in (text_part(message), html_part.get_content()):
        for amount in ("EUR 62.49", "EUR 12.50", "EUR 74.99", "250 GB × EUR 0.05"):
            assert amount in part
        assert seeded.invoice.number in part
        assert "15 Nov 2026" in part


async def test_refused_first_attempt_then_accepted_delivers_exactly_once(
    seeded: Seeded, smtp_server: SmtpFixture
) -> None:
    smtp_server.handler.refuse_data = 1
    activities = make_activities(seeded, smtp=smtp_server.settings)
    request = seeded.request()
    key = request.dedupe_key("email", BILLING_EMAIL)

    with pytest.raises(ApplicationError, match="451") as refused:
        await run_email(activities, request)
    assert not refused.value.non_retryable
    failed = get_notification(seeded.engine, dedupe_key=key)
    assert (failed.status, failed.attempts) == ("failed", 1)
    assert "451" in str(failed.last_error)

    (retried,) = await run_email(activities, request)
    (again,) = await run_email(activities, request)

    assert retried.status == "delivered"
    assert again.status == "skipped_already_delivered"
    assert again.message_id == retried.message_id
    assert len(smtp_server.handler.messages) == 1
    logged = get_notification(seeded.engine, dedupe_key=key)
    assert (logged.status, logged.attempts, logged.message_id) == (
        "delivered",
        2,
        email_message_id(key),
    )


async def test_each_occurrence_is_its_own_notification(
    seeded: Seeded, smtp_server: SmtpFixture
) -> None:
    activities = make_activities(seeded, smtp=smtp_server.settings)
    number = seeded.invoice.number
    first = seeded.request("payment_reminder", scope=f"{number}:remind-1", data={"reminder": 1})
    second = seeded.request("payment_reminder", scope=f"{number}:remind-2", data={"reminder": 2})
    await run_email(activities, first)
    await run_email(activities, second)
    await run_email(activities, first)
    subjects = [message["Subject"] for message in smtp_server.handler.messages]
    assert subjects == [
        f"[TEST] Reminder 1: invoice {number} — EUR 74.99 due 15 Nov 2026",
        f"[TEST] Reminder 2: invoice {number} — EUR 74.99 due 15 Nov 2026",
    ]
    assert len({message["Message-ID"] for message in smtp_server.handler.messages}) == 2


async def test_permanent_refusal_is_logged_and_not_retried(
    seeded: Seeded, smtp_server: SmtpFixture
) -> None:
    smtp_server.handler.unknown_recipients = {BILLING_EMAIL}
    activities = make_activities(seeded, smtp=smtp_server.settings)
    request = seeded.request()

    (outcome,) = await run_email(activities, request)
    (again,) = await run_email(activities, request)

    assert outcome.status == "failed_permanently"
    assert "550" in str(outcome.error)
    assert again.status == "failed_permanently"
    logged = get_notification(seeded.engine, dedupe_key=request.dedupe_key("email", BILLING_EMAIL))
    assert (logged.status, logged.attempts) == ("disabled", 1)


async def test_a_smtp_server_that_is_down_is_retried_later(seeded: Seeded) -> None:
    activities = make_activities(seeded)  # port 9: nothing listens
    request = seeded.request()
    with pytest.raises(ApplicationError, match="not delivered yet") as down:
        await run_email(activities, request)
    assert not down.value.non_retryable
    logged = get_notification(seeded.engine, dedupe_key=request.dedupe_key("email", BILLING_EMAIL))
    assert (logged.status, logged.attempts) == ("failed", 1)


async def test_live_request_for_a_test_mode_account_is_refused_without_sending(
    seeded: Seeded, smtp_server: SmtpFixture
) -> None:
    activities = make_activities(seeded, smtp=smtp_server.settings)
    with pytest.raises(ApplicationError, match="livemode") as refused:
        await run_email(activities, seeded.request(livemode=True))
    assert refused.value.non_retryable
    assert refused.value.type == "NotificationMismatchError"
    assert smtp_server.handler.messages == []


async def test_unknown_invoice_is_a_non_retryable_error(
    seeded: Seeded, smtp_server: SmtpFixture
) -> None:
    activities = make_activities(seeded, smtp=smtp_server.settings)
    with pytest.raises(ApplicationError, match="INV-NOPE") as unknown:
        await run_email(activities, seeded.request(invoice_number="INV-NOPE"))
    assert unknown.value.non_retryable
    assert smtp_server.handler.messages == []


async def test_usage_threshold_email_needs_no_invoice(
    seeded: Seeded, smtp_server: SmtpFixture
) -> None:
    activities = make_activities(seeded, smtp=smtp_server.settings)
    request = seeded.request(
        "usage_threshold",
        scope="sub_ada:2026-10-01:bandwidth_egress:threshold-80",
        invoice_number=None,
        data={"threshold": 80, "meter": "bandwidth_egress", "quantity": "80", "included": "100"},
    )
    (outcome,) = await run_email(activities, request)
    assert outcome.status == "delivered"
    (message,) = smtp_server.handler.messages
    assert message["Subject"] == "[TEST] You have used 80% of your included bandwidth_egress"
    assert "80 used, 100 included" in text_part(message)
