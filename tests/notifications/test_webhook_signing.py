"""Standard Webhooks sign/verify: the pure functions receivers import."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from billing.webhook_signing import (
    InvalidWebhookSecretError,
    WebhookVerificationError,
    generate_secret,
    sign,
    signature_headers,
    verify,
)

SECRET = "whsec_" + base64.b64encode(b"a 24-byte secret for test").decode()
BODY = b'{"id":"msg_1","type":"invoice.generated"}'
NOW = 1_790_000_000


def test_signature_is_hmac_sha256_of_id_timestamp_body_with_decoded_key() -> None:
    expected = hmac.new(b"a 24-byte secret for test", b"msg_1.1790000000." + BODY, hashlib.sha256)
    assert sign(SECRET, msg_id="msg_1", timestamp=NOW, body=BODY) == (
        "v1," + base64.b64encode(expected.digest()).decode()
    )


def test_matches_the_standard_webhooks_reference_vector() -> None:
    # The example published by the Standard Webhooks specification.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    signature = sign(secret, msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp=1614265330, body=body)
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_verify_accepts_the_signature_made_with_the_same_secret() -> None:
    headers = signature_headers(SECRET, msg_id="msg_1", timestamp=NOW, body=BODY)
    verify(SECRET, headers=headers, body=BODY, now=NOW + 10)


def test_verify_matches_header_names_case_insensitively() -> None:
    headers = signature_headers(SECRET, msg_id="msg_1", timestamp=NOW, body=BODY)
    verify(SECRET, headers={k.title(): v for k, v in headers.items()}, body=BODY, now=NOW)


def test_verify_refuses_another_secret() -> None:
    headers = signature_headers(SECRET, msg_id="msg_1", timestamp=NOW, body=BODY)
    with pytest.raises(WebhookVerificationError, match="no matching signature"):
        verify(generate_secret(), headers=headers, body=BODY, now=NOW)


def test_verify_refuses_a_tampered_body() -> None:
    headers = signature_headers(SECRET, msg_id="msg_1", timestamp=NOW, body=BODY)
    with pytest.raises(WebhookVerificationError, match="no matching signature"):
        verify(SECRET, headers=headers, body=BODY.replace(b"generated", b"paid"), now=NOW)


def test_verify_refuses_a_timestamp_older_than_five_minutes() -> None:
    headers = signature_headers(SECRET, msg_id="msg_1", timestamp=NOW, body=BODY)
    verify(SECRET, headers=headers, body=BODY, now=NOW + 300)
    with pytest.raises(WebhookVerificationError, match="too old"):
        verify(SECRET, headers=headers, body=BODY, now=NOW + 301)


def test_verify_refuses_a_timestamp_from_the_future() -> None:
    headers = signature_headers(SECRET, msg_id="msg_1", timestamp=NOW + 301, body=BODY)
    with pytest.raises(WebhookVerificationError, match="future"):
        verify(SECRET, headers=headers, body=BODY, now=NOW)


def test_verify_refuses_a_replayed_signature_under_a_new_timestamp() -> None:
    headers = signature_headers(SECRET, msg_id="msg_1", timestamp=NOW, body=BODY)
    headers["webhook-timestamp"] = str(NOW + 60)
    with pytest.raises(WebhookVerificationError, match="no matching signature"):
        verify(SECRET, headers=headers, body=BODY, now=NOW + 60)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_verify_names_a_missing_header(missing: str) -> None:
    headers = signature_headers(SECRET, msg_id="msg_1", timestamp=NOW, body=BODY)
    del headers[missing]
    with pytest.raises(WebhookVerificationError, match=missing):
        verify(SECRET, headers=headers, body=BODY, now=NOW)


def test_verify_accepts_any_of_several_space_separated_signatures() -> None:
    """During secret rotation a sender signs with the old and the new secret."""
    old, new = generate_secret(), SECRET
    headers = signature_headers(new, msg_id="msg_1", timestamp=NOW, body=BODY)
    old_sig = sign(old, msg_id="msg_1", timestamp=NOW, body=BODY)
    headers["webhook-signature"] = f"v1a,xyz {old_sig} {headers['webhook-signature']}"
    verify(new, headers=headers, body=BODY, now=NOW)
    verify(old, headers=headers, body=BODY, now=NOW)


@pytest.mark.parametrize("secret", ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_***", "whsec_"])
def test_malformed_secret_is_refused_with_a_specific_error(secret: str) -> None:
    with pytest.raises(InvalidWebhookSecretError, match="whsec_"):
        sign(secret, msg_id="msg_1", timestamp=NOW, body=BODY)


def test_generated_secrets_are_whsec_prefixed_and_distinct() -> None:
    first, second = generate_secret(), generate_secret()
    assert first.startswith("whsec_")
    assert first != second
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 24
