"""The notification log: one row per dedupe key, so a retried activity never sends twice.

`claim_notification` before sending (it says whether the notification still needs sending),
`record_notification_attempt` after each attempt. A delivered or disabled notification is final.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import RowMapping

from billing_db.engine import transaction
from billing_db.errors import (
    InvalidRecordError,
    NotificationConflictError,
    UnknownNotificationError,
)
from billing_db.records import Channel, NotificationRecord
from billing_db.repo_common import check_aware, check_text, utcnow
from billing_db.tables import NOTIFICATION_CHANNELS, notifications

MAX_ERROR_LENGTH = 2000


def _record(row: RowMapping) -> NotificationRecord:
    return NotificationRecord.model_validate(
        {key: row[key] for key in NotificationRecord.model_fields}
    )


def _row(connection: Connection, dedupe_key: str, *, lock: bool = False) -> RowMapping | None:
    query = select(notifications).where(notifications.c.dedupe_key == dedupe_key)
    if lock:
        query = query.with_for_update()
    return connection.execute(query).mappings().first()


def claim_notification(
    engine: Engine, *, dedupe_key: str, channel: Channel, event: str, target: str
) -> NotificationRecord:
    """Insert a pending notification for `dedupe_key`, or return the one already there.

    Send only when the returned record's `should_send` is True. The same key for another
    channel or event raises `NotificationConflictError` (the key is meant to name one message).
    """
    check_text(dedupe_key, field="dedupe_key", max_length=255)
    check_text(event, field="event", max_length=64)
    check_text(target, field="target", max_length=2000)
    if channel not in NOTIFICATION_CHANNELS:
        raise InvalidRecordError(f"channel: 'email' or 'webhook', got {channel!r}")
    with transaction(engine) as connection:
        insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
        connection.execute(
            insert(notifications)
            .values(
                dedupe_key=dedupe_key,
                channel=channel,
                event=event,
                target=target,
                status="pending",
                attempts=0,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
        )
        row = _row(connection, dedupe_key)
        assert row is not None
        if (row["channel"], row["event"]) != (channel, event):
            raise NotificationConflictError(
                f"dedupe_key: {dedupe_key!r} already names a {row['channel']} notification "
                f"of {row['event']!r}"
            )
        return _record(row)


def record_notification_attempt(
    engine: Engine,
    *,
    dedupe_key: str,
    delivered: bool,
    error: str | None = None,
    message_id: str | None = None,
    disabled: bool = False,
    at: datetime | None = None,
) -> NotificationRecord:
    """Count one delivery attempt: delivered, failed (with the error, to retry) or disabled
    (the target refuses for good). A notification already delivered is left unchanged."""
    when = check_aware(at or utcnow(), field="at")
    with transaction(engine) as connection:
        row = _row(connection, dedupe_key, lock=True)
        if row is None:
            raise UnknownNotificationError(f"dedupe_key: no notification {dedupe_key!r}")
        if row["status"] == "delivered":
            return _record(row)
        if delivered:
            values = {"status": "delivered", "delivered_at": when, "message_id": message_id}
        else:
            values = {"status": "disabled" if disabled else "failed"}
        connection.execute(
            update(notifications)
            .where(notifications.c.dedupe_key == dedupe_key)
            .values(
                attempts=row["attempts"] + 1,
                last_error=error[:MAX_ERROR_LENGTH] if error else None,
                **values,
            )
        )
        updated = _row(connection, dedupe_key)
        assert updated is not None
        return _record(updated)


def get_notification(engine: Engine, *, dedupe_key: str) -> NotificationRecord:
    with transaction(engine, write=False) as connection:
        row = _row(connection, dedupe_key)
        if row is None:
            raise UnknownNotificationError(f"dedupe_key: no notification {dedupe_key!r}")
        return _record(row)


__all__ = ["claim_notification", "get_notification", "record_notification_attempt"]
