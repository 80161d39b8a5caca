"""API keys of the HTTP API: created once and shown once, stored only as a SHA-256 digest.

A key is `pk_test_` or `pk_live_` followed by 32 random bytes (base64url), so a digest without
salt is safe to store and one indexed lookup by its prefix finds the row; the digests are then
compared in constant time. The key alone decides the account and the mode.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.engine import RowMapping

from billing_db.engine import transaction
from billing_db.errors import InvalidRecordError, NotFoundError
from billing_db.records import Mode, Record
from billing_db.repo_catalog import read_account
from billing_db.repo_common import utcnow
from billing_db.tables import api_keys

#: How many characters of a key name it in lists (`pk_test_` plus 8 random ones).
PREFIX_RANDOM_CHARS = 8
#: `last_used_at` is written at most this often per key, so reads do not all become writes.
LAST_USE_RESOLUTION = timedelta(minutes=1)


class UnknownApiKeyError(NotFoundError):
    pass


class ApiKeyRecord(Record):
    prefix: str
    account_id: str
    mode: Mode
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class NewApiKey(Record):
    """A key just created: `secret` is shown once and never stored."""

    record: ApiKeyRecord
    secret: str


def key_mode(secret: str) -> Mode | None:
    """The mode a key's prefix names, or None for anything else."""
    if secret.startswith("pk_test_"):
        return "test"
    if secret.startswith("pk_live_"):
        return "live"
    return None


def key_prefix(secret: str) -> str:
    mode = key_mode(secret) or ""
    return secret[: len(f"pk_{mode}_") + PREFIX_RANDOM_CHARS]


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _record(row: RowMapping) -> ApiKeyRecord:
    return ApiKeyRecord.model_validate(
        {key: row[key] for key in ApiKeyRecord.model_fields if key in row}
    )


def create_api_key(engine: Engine, *, account_id: str, mode: Mode) -> NewApiKey:
    """A new key for an existing account of `mode`."""
    secret = f"pk_{mode}_{secrets.token_urlsafe(32)}"
    with transaction(engine) as connection:
        account = read_account(connection, account_id)
        if account.mode != mode:
            raise InvalidRecordError(
                f"account {account_id!r} is a {account.mode}-mode account: "
                f"it cannot have a {mode}-mode key"
            )
        connection.execute(
            insert(api_keys).values(
                prefix=key_prefix(secret),
                account_id=account_id,
                mode=mode,
                key_hash=_digest(secret),
                created_at=utcnow(),
            )
        )
        row = connection.execute(
            select(api_keys).where(api_keys.c.prefix == key_prefix(secret))
        ).mappings()
        return NewApiKey(record=_record(row.one()), secret=secret)


def authenticate(engine: Engine, secret: str) -> ApiKeyRecord | None:
    """The key's record when `secret` is a valid, unrevoked key; None otherwise."""
    if key_mode(secret) is None or len(secret) > 200:
        return None
    with transaction(engine, write=False) as connection:
        row = (
            connection.execute(select(api_keys).where(api_keys.c.prefix == key_prefix(secret)))
            .mappings()
            .first()
        )
    if row is None or row["revoked_at"] is not None:
        return None
    if not hmac.compare_digest(row["key_hash"], _digest(secret)):
        return None
    record = _record(row)
    now = utcnow()
    if record.last_used_at is None or now - record.last_used_at > LAST_USE_RESOLUTION:
        with transaction(engine) as connection:
            connection.execute(
                update(api_keys).where(api_keys.c.prefix == record.prefix).values(last_used_at=now)
            )
    return record


def list_api_keys(engine: Engine, *, account_id: str | None = None) -> list[ApiKeyRecord]:
    query = select(api_keys).order_by(api_keys.c.created_at, api_keys.c.prefix)
    if account_id is not None:
        query = query.where(api_keys.c.account_id == account_id)
    with transaction(engine, write=False) as connection:
        return [_record(row) for row in connection.execute(query).mappings()]


def revoke_api_key(engine: Engine, *, prefix: str) -> ApiKeyRecord:
    """Revoke the key named by `prefix` (revoking it again changes nothing)."""
    with transaction(engine) as connection:
        row = (
            connection.execute(select(api_keys).where(api_keys.c.prefix == prefix))
            .mappings()
            .first()
        )
        if row is None:
            raise UnknownApiKeyError(f"prefix: no API key {prefix!r}")
        if row["revoked_at"] is None:
            connection.execute(
                update(api_keys).where(api_keys.c.prefix == prefix).values(revoked_at=utcnow())
            )
        query = select(api_keys).where(api_keys.c.prefix == prefix)
        return _record(connection.execute(query).mappings().one())
