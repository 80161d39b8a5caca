"""The first response to each POST sent with an Idempotency-Key, per account (Stripe's rule):
the same key and body replay it, another body is refused. Kept at least `RETENTION`.

A key is claimed before its request runs (a row without a response yet), so a second request
with the same key while the first is still running sees it in progress instead of running twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Engine, and_, delete, select, update
from sqlalchemy.exc import IntegrityError

from billing_db.engine import transaction
from billing_db.records import Record
from billing_db.repo_common import utcnow
from billing_db.tables import idempotent_requests

RETENTION = timedelta(hours=24)
IN_PROGRESS = 0
"""The status code of a claimed key whose request has not answered yet."""


class StoredResponse(Record):
    request_hash: str
    status_code: int
    response_body: str
    created_at: datetime

    @property
    def in_progress(self) -> bool:
        return self.status_code == IN_PROGRESS


def _key(account_id: str, key: str) -> ColumnElement[bool]:
    return and_(
        idempotent_requests.c.account_id == account_id,
        idempotent_requests.c.idempotency_key == key,
    )


def find_response(engine: Engine, *, account_id: str, key: str) -> StoredResponse | None:
    query = select(idempotent_requests).where(_key(account_id, key))
    with transaction(engine, write=False) as connection:
        row = connection.execute(query).mappings().first()
    if row is None:
        return None
    return StoredResponse(
        request_hash=row["request_hash"],
        status_code=row["status_code"],
        response_body=row["response_body"],
        created_at=row["created_at"],
    )


def claim(engine: Engine, *, account_id: str, key: str, request_hash: str) -> StoredResponse | None:
    """Claim `key` for a request about to run (None), or what the key already holds."""
    now = utcnow()
    try:
        with transaction(engine) as connection:
            connection.execute(
                delete(idempotent_requests).where(
                    idempotent_requests.c.created_at < now - RETENTION
                )
            )
            connection.execute(
                idempotent_requests.insert().values(
                    account_id=account_id,
                    idempotency_key=key,
                    request_hash=request_hash,
                    status_code=IN_PROGRESS,
                    response_body="",
                    created_at=now,
                )
            )
        return None
    except IntegrityError:
        return find_response(engine, account_id=account_id, key=key)


def save_response(
    engine: Engine, *, account_id: str, key: str, status_code: int, response_body: str
) -> None:
    """The claimed key's answer, replayed from now on."""
    with transaction(engine) as connection:
        connection.execute(
            update(idempotent_requests)
            .where(_key(account_id, key))
            .values(status_code=status_code, response_body=response_body)
        )


def release(engine: Engine, *, account_id: str, key: str) -> None:
    """Forget a claim whose request did not answer for good (a 5xx): it may be tried again."""
    with transaction(engine) as connection:
        connection.execute(delete(idempotent_requests).where(_key(account_id, key)))
