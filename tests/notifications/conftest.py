"""Fixtures of the notification tests: real SMTP and HTTP servers (``servers``) and a migrated
SQLite billing database holding the seed's hybrid example (``database``)."""

from notifications.database import engine, seeded, sqlite_template
from notifications.servers import http_server, smtp_server

__all__ = ["engine", "http_server", "seeded", "smtp_server", "sqlite_template"]
