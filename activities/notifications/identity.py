"""Stable identities derived from a notification's dedupe key, so a retried send is recognisable."""

from __future__ import annotations

import hashlib


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def email_message_id(key: str) -> str:
    """The ``Message-ID`` header: the same for every attempt of one notification."""
    return f"<{_digest(key)}@billing>"


def webhook_message_id(key: str) -> str:
    """The ``webhook-id`` header and body ``id``: the same for every attempt of one notification."""
    return f"msg_{_digest(key)}"
