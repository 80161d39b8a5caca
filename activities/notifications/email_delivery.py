"""Send one email through aiosmtplib and say whether the failure, if any, is worth retrying.

SMTP reply codes decide: a 4xx reply is temporary by definition (RFC 5321), as are connection
errors and timeouts. A 5xx refusal of the recipient or of the message is permanent. Any other
5xx (authentication, sender refused) is our configuration, which an operator can fix while
Temporal keeps retrying, so it counts as transient rather than dropping the notification.
"""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib

from activities.notifications.outcome import AttemptKind, AttemptResult
from activities.notifications.settings import SmtpSettings


def _classify_reply(code: int, message: str) -> AttemptResult:
    kind = AttemptKind.PERMANENT if 500 <= code < 600 else AttemptKind.TRANSIENT
    return AttemptResult(kind, f"SMTP {code} {message}".strip())


async def send_email_message(message: EmailMessage, *, smtp: SmtpSettings) -> AttemptResult:
    """Deliver ``message`` to the recipients in its ``To`` header."""
    try:
        await aiosmtplib.send(
            message,
            hostname=smtp.host,
            port=smtp.port,
            username=smtp.username,
            password=smtp.password,
            use_tls=smtp.use_tls,
            start_tls=smtp.starttls,
            timeout=smtp.timeout,
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        refused = exc.recipients[0]
        return _classify_reply(refused.code, refused.message)
    except (aiosmtplib.SMTPRecipientRefused, aiosmtplib.SMTPDataError) as exc:
        return _classify_reply(exc.code, exc.message)
    except aiosmtplib.SMTPResponseException as exc:
        return AttemptResult(AttemptKind.TRANSIENT, f"SMTP {exc.code} {exc.message}")
    except (aiosmtplib.SMTPException, OSError) as exc:
        return AttemptResult(AttemptKind.TRANSIENT, f"{type(exc).__name__}: {exc}")
    return AttemptResult(AttemptKind.DELIVERED)
