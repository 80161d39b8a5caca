"""One SMTP send against a real aiosmtpd server, and how each refusal is classified."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from email.message import EmailMessage

from activities.notifications.email_delivery import send_email_message
from activities.notifications.message import build_message
from activities.notifications.outcome import AttemptKind
from activities.notifications.rendering import render_email
from devtools.servers import text_part

from notifications.seed import hybrid_context
from notifications.servers import SmtpFixture, free_port


def _message(to: str = "ada@example.com") -> EmailMessage:
    return build_message(
        render_email(hybrid_context()),
        mail_from="billing@platforma.example",
        to_address=to,
        to_name="Ada Lovelace",
        message_id="<abc@billing>",
        dedupe_key="invoice_generated:INV-2026-000001:email:ada@example.com",
        date=datetime(2026, 11, 1, tzinfo=UTC),
    )


async def test_message_arrives_multipart_with_both_parts_and_attachment(
    smtp_server: SmtpFixture,
) -> None:
    result = await send_email_message(_message(), smtp=smtp_server.settings)
    assert result.kind is AttemptKind.DELIVERED
    (received,) = smtp_server.handler.messages
    assert received["To"] == "Ada Lovelace <ada@example.com>"
    assert received["Message-ID"] == "<abc@billing>"
    assert received.get_content_type() == "multipart/mixed"
    html = received.get_body(preferencelist=("html",))
    assert html is not None
    assert "EUR 74.99" in html.get_content()
    assert "EUR 74.99" in text_part(received)
    (attachment,) = list(received.iter_attachments())
    assert attachment.get_filename() == "INV-2026-000001.html"


async def test_temporary_refusal_is_transient(smtp_server: SmtpFixture) -> None:
    smtp_server.handler.refuse_data = 1
    result = await send_email_message(_message(), smtp=smtp_server.settings)
    assert result.kind is AttemptKind.TRANSIENT
    assert "451" in str(result.error)
    assert smtp_server.handler.messages == []


async def test_permanent_refusal_of_the_message_is_permanent(smtp_server: SmtpFixture) -> None:
    smtp_server.handler.refuse_data = 1
    smtp_server.handler.refusal = "554 5.6.0 Message rejected"
    result = await send_email_message(_message(), smtp=smtp_server.settings)
    assert result.kind is AttemptKind.PERMANENT


async def test_unknown_recipient_is_permanent(smtp_server: SmtpFixture) -> None:
    smtp_server.handler.unknown_recipients = {"nobody@example.com"}
    result = await send_email_message(_message("nobody@example.com"), smtp=smtp_server.settings)
    assert result.kind is AttemptKind.PERMANENT
    assert "550" in str(result.error)


async def test_no_smtp_server_listening_is_transient(smtp_server: SmtpFixture) -> None:
    nowhere = dataclasses.replace(smtp_server.settings, port=free_port(), timeout=2.0)
    result = await send_email_message(_message(), smtp=nowhere)
    assert result.kind is AttemptKind.TRANSIENT
