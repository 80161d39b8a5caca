"""Build the activities on the test database and servers; run them as Temporal would."""

from __future__ import annotations

from temporalio.testing import ActivityEnvironment

from activities.notifications import NotificationActivities, SmtpSettings
from billing.contracts.notifications import NotificationOutcome, NotificationRequest

from notifications.database import Seeded

UNUSED_SMTP = SmtpSettings(host="127.0.0.1", port=9, mail_from="billing@platforma.example")


def make_activities(
    seeded: Seeded, *, smtp: SmtpSettings = UNUSED_SMTP, timeout: float = 2.0
) -> NotificationActivities:
    return NotificationActivities(engine=seeded.engine, smtp=smtp, webhook_timeout_seconds=timeout)


async def run_email(
    activities: NotificationActivities, request: NotificationRequest
) -> list[NotificationOutcome]:
    result: list[NotificationOutcome] = await ActivityEnvironment().run(
        activities.send_email, request
    )
    return result


async def run_webhooks(
    activities: NotificationActivities, request: NotificationRequest
) -> list[NotificationOutcome]:
    result: list[NotificationOutcome] = await ActivityEnvironment().run(
        activities.send_webhooks, request
    )
    return result
