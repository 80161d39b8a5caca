"""Notification activities: invoice emails (aiosmtplib) and Standard Webhooks (httpx)."""

from activities.notifications.activities import NotificationActivities
from activities.notifications.settings import SmtpSettings

__all__ = ["NotificationActivities", "SmtpSettings"]
