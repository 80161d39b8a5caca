"""Notification activities: invoice emails (aiosmtplib) and Standard Webhooks (httpx)."""
