"""The first response to each POST sent with an Idempotency-Key, per account (Stripe's rule):
the same key and body replay it, another body is refused. Kept at least `RETENTION`."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import IntegrityError

from billing_db.engine import transaction
from billing_db.records import Record
from billing_db.repo_common import utcnow
from billing_db.tables import idempotent_requests

RETENTION = timedelta(hours=24)


class StoredResponse(Record):
    request_hash: str
    status_code: int
    response_body: str
    created_at: datetime


def find_response(engine: Engine, *, account_id: str, key: str) -> StoredResponse | None:
    query = select(idempotent_requests).where(
        idempotent_requests.c.account_id == account_id,
        idempotent_requests.c.idempotency_key == key,
    )
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


def save_response(
    engine: Engine,
    *,
    account_id: str,
    key: str,
    request_hash: str,
    status_code: int,
    response_body: str,
) -> None:
    """Keep the response (the first one wins a race); entries past retention are dropped."""
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
                    status_code=status_code,
                    response_body=response_body,
                    created_at=now,
                )
            )
    except IntegrityError:
        return
