"""Fixtures of the notification tests: real SMTP and HTTP servers (see ``servers``)."""

from notifications.servers import http_server, smtp_server

__all__ = ["http_server", "smtp_server"]
