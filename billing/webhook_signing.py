"""Standard Webhooks signatures: sign outgoing webhooks and verify them on the receiving side.

The scheme (https://www.standardwebhooks.com): the signed content is ``f"{id}.{timestamp}.{body}"``,
the key is the base64-decoded part of the secret after ``whsec_``, and the ``webhook-signature``
header carries one or more space-separated ``v1,<base64 HMAC-SHA256>`` entries. Pure functions:
no I/O, so receivers (and our own dev receiver) can import them without the rest of the service.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_SECONDS = 300

HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_SIGNATURE = "webhook-signature"


class WebhookVerificationError(Exception):
    """The request is not a genuine, fresh webhook from the holder of the secret."""


class InvalidWebhookSecretError(ValueError):
    """The secret is not ``whsec_`` followed by base64."""


def generate_secret(*, num_bytes: int = 24) -> str:
    """A new random signing secret in the ``whsec_<base64>`` form."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(num_bytes)).decode("ascii")


def _secret_key(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise InvalidWebhookSecretError(f"webhook secret must start with {SECRET_PREFIX!r}")
    encoded = secret[len(SECRET_PREFIX) :]
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidWebhookSecretError("webhook secret after 'whsec_' is not base64") from exc
    if not key:
        raise InvalidWebhookSecretError("webhook secret after 'whsec_' is empty")
    return key


def sign(secret: str, *, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value ``v1,<base64>`` for this id, timestamp and exact body."""
    signed = msg_id.encode("utf-8") + b"." + str(timestamp).encode("ascii") + b"." + body
    digest = hmac.new(_secret_key(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def signature_headers(secret: str, *, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for one delivery attempt."""
    return {
        HEADER_ID: msg_id,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_SIGNATURE: sign(secret, msg_id=msg_id, timestamp=timestamp, body=body),
    }


def _header(headers: Mapping[str, str], name: str) -> str:
    lowered = {key.lower(): value for key, value in headers.items()}
    value = lowered.get(name)
    if value is None or not value.strip():
        raise WebhookVerificationError(f"missing header {name!r}")
    return value.strip()


def verify(
    secret: str,
    *,
    headers: Mapping[str, str],
    body: bytes,
    now: int | None = None,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> None:
    """Return if one of the request's v1 signatures matches and its timestamp is fresh, else raise.

    Header names are matched case-insensitively. A timestamp more than ``tolerance_seconds`` in the
    past or the future is refused (replay protection), before any signature is compared.
    """
    msg_id = _header(headers, HEADER_ID)
    raw_timestamp = _header(headers, HEADER_TIMESTAMP)
    signature_header = _header(headers, HEADER_SIGNATURE)
    try:
        timestamp = int(raw_timestamp)
    except ValueError as exc:
        raise WebhookVerificationError(f"{HEADER_TIMESTAMP} is not an integer") from exc
    current = int(time.time()) if now is None else now
    if timestamp < current - tolerance_seconds:
        raise WebhookVerificationError(f"{HEADER_TIMESTAMP} is too old")
    if timestamp > current + tolerance_seconds:
        raise WebhookVerificationError(f"{HEADER_TIMESTAMP} is in the future")
    expected = sign(secret, msg_id=msg_id, timestamp=timestamp, body=body)
    expected_b64 = expected.partition(",")[2].encode("ascii")
    for entry in signature_header.split(" "):
        version, _, value = entry.partition(",")
        if version != SIGNATURE_VERSION:
            continue
        if hmac.compare_digest(value.encode("ascii", "replace"), expected_b64):
            return
    raise WebhookVerificationError("no matching signature")
