"""Payloads of the notification activities (send_email_notification, send_webhook_notification).

The workflow decides from the subscription's ``NotificationConfig`` which activity to call
(``channels_for_event``); the activities look up recipients, endpoints and secrets themselves, so no
address book and no secret ever enters workflow history.

``data`` carries what the event needs beyond the invoice, as JSON (amounts as decimal strings):

* ``usage_threshold``: ``threshold`` (percent, required), ``meter``, ``quantity``, ``included``,
  ``unit``
* ``payment_received``: ``amount`` (defaults to the invoice total), ``payment_id``
* ``payment_overdue``: ``days_overdue``; ``payment_reminder``: ``reminder`` (1, 2, ...)
* ``subscription_suspended``: ``reason``
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StringConstraints, model_validator

from billing.catalog import NotificationConfig, NotificationEvent

Channel = Literal["email", "webhook"]
OutcomeStatus = Literal["delivered", "skipped_already_delivered", "failed_permanently", "disabled"]

#: The notification log's dedupe_key column holds at most this many characters.
MAX_DEDUPE_KEY_LENGTH = 255

#: Events whose emails and webhooks are about one invoice: ``invoice_number`` is required.
INVOICE_EVENTS: frozenset[str] = frozenset(
    {
        "invoice_generated",
        "payment_received",
        "payment_overdue",
        "payment_reminder",
        "invoice_uncollectible",
    }
)

NonBlank = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"\S")]


class NotificationRequest(BaseModel):
    """One occurrence of a billing event to notify; ``scope`` makes it unique (``dedupe_key``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event: NotificationEvent
    account_id: NonBlank
    subscription_id: NonBlank
    customer_id: NonBlank
    invoice_number: str | None = None
    scope: NonBlank
    data: dict[str, JsonValue] = Field(default_factory=dict)
    livemode: bool = False

    @model_validator(mode="after")
    def _invoice_where_needed(self) -> NotificationRequest:
        if self.event in INVOICE_EVENTS and not self.invoice_number:
            raise ValueError(f"invoice_number is required for event {self.event!r}")
        if self.event == "usage_threshold" and "threshold" not in self.data:
            raise ValueError("data.threshold (percent) is required for event 'usage_threshold'")
        return self

    def dedupe_key(self, channel: Channel, target: str) -> str:
        """``event:scope:channel:target``: one notification log row per recipient.

        A key longer than the log's column (a very long address) keeps its first characters and
        ends with a hash of the whole key, so it stays unique and stable."""
        key = f"{self.event}:{self.scope}:{channel}:{target}"
        if len(key) <= MAX_DEDUPE_KEY_LENGTH:
            return key
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
        return f"{key[: MAX_DEDUPE_KEY_LENGTH - 33]}#{digest}"


class NotificationOutcome(BaseModel):
    """What happened to one recipient (the customer's mailbox, or one webhook endpoint)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    channel: Channel
    target: str
    status: OutcomeStatus
    message_id: str | None = None
    error: str | None = None


def channels_for_event(config: NotificationConfig, event: NotificationEvent) -> list[Channel]:
    """The activities to call for ``event`` under ``config``: email first, then webhook."""
    channels = config.channels_for(event)
    selected: list[Channel] = []
    if channels.email:
        selected.append("email")
    if channels.webhook:
        selected.append("webhook")
    return selected
