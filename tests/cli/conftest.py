"""CLI tests reuse the notifications fixtures (real aiosmtpd) and the session's Temporal servers."""

from __future__ import annotations

from notifications.servers import smtp_server

__all__ = ["smtp_server"]
