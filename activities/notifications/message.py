"""Assemble the MIME message: text and HTML alternatives, attachments, a stable Message-ID."""

from __future__ import annotations

from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from activities.notifications.rendering import RenderedEmail

DEDUPE_HEADER = "X-Billing-Notification"


def build_message(
    rendered: RenderedEmail,
    *,
    mail_from: str,
    to_address: str,
    to_name: str,
    message_id: str,
    dedupe_key: str,
    date: datetime,
) -> EmailMessage:
    """``message_id`` and ``dedupe_key`` are alike on every attempt: receivers can drop repeats."""
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = Address(display_name=to_name, addr_spec=to_address)
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    message[DEDUPE_HEADER] = dedupe_key
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    for attachment in rendered.attachments:
        message.add_attachment(
            attachment.content,
            maintype=attachment.maintype,
            subtype=attachment.subtype,
            filename=attachment.filename,
        )
    return message
