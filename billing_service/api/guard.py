"""The front of every request, before routing: a body limit (413), no NUL characters anywhere
(422; PostgreSQL cannot store them), and `Idempotency-Key` on POST (Stripe's rule: the same key
and body replay the first answer with `Idempotent-Replayed: true`, another body is refused).

A plain ASGI middleware, because it must read the whole body once and capture the answer.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from billing_db import repo_idempotency
from billing_service.api.context import Caller, identify
from billing_service.api.problems import problem

MAX_BODY_BYTES = 1_000_000
MAX_IDEMPOTENCY_KEY = 255
REPLAYED = "Idempotent-Replayed"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _has_nul(body: bytes) -> bool:
    return b"\x00" in body or b"\\u0000" in body.lower()


def _request_hash(scope: Scope, body: bytes) -> str:
    digest = hashlib.sha256()
    digest.update(
        f"{scope['method']} {scope['path']}?{scope.get('query_string', b'')!r}\n".encode()
    )
    digest.update(body)
    return digest.hexdigest()


class Guard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_target = scope.get("raw_path") or scope["path"].encode()
        if b"\x00" in unquote_to_bytes(raw_target + b"?" + scope.get("query_string", b"")):
            await problem(422, "nul_character", "the URL contains a NUL character")(
                scope, receive, send
            )
            return
        body = await self._read_body(receive)
        if body is None:
            await problem(413, "body_too_large", f"the body is larger than {MAX_BODY_BYTES} bytes")(
                scope, receive, send
            )
            return
        if _has_nul(body):
            await problem(422, "nul_character", "the body contains a NUL character (\\u0000)")(
                scope, receive, send
            )
            return
        replay = _replayer(body)
        key = _header(scope, b"idempotency-key")
        if scope["method"] != "POST" or key is None:
            await self.app(scope, replay, send)
            return
        if not key or len(key) > MAX_IDEMPOTENCY_KEY:
            await problem(
                422,
                "invalid_idempotency_key",
                f"Idempotency-Key: 1-{MAX_IDEMPOTENCY_KEY} characters",
                field="Idempotency-Key",
            )(scope, receive, send)
            return
        caller = self._caller(scope)
        if caller is None:  # the route answers 401
            await self.app(scope, replay, send)
            return
        await self._idempotent(scope, replay, send, caller, key, _request_hash(scope, body))

    @staticmethod
    async def _read_body(receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _caller(self, scope: Scope) -> Caller | None:
        authorization = _header(scope, b"authorization") or ""
        scheme, _, secret = authorization.partition(" ")
        if scheme.lower() != "bearer" or not secret:
            return None
        app: Any = scope["app"]
        found = identify(app.state.api, secret.strip())
        if found is not None:
            scope.setdefault("state", {})["caller"] = found
        return found

    async def _idempotent(
        self, scope: Scope, receive: Receive, send: Send, caller: Caller, key: str, digest: str
    ) -> None:
        owner = {"account_id": caller.account_id, "key": key}
        stored = repo_idempotency.claim(caller.engine, request_hash=digest, **owner)
        if stored is not None:
            await _answer_stored(stored, key, digest)(scope, receive, send)
            return
        captured: dict[str, Any] = {"status": 500, "headers": [], "body": b""}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = message.get("headers", [])
            elif message["type"] == "http.response.body":
                captured["body"] += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            if captured["status"] < 500 and captured["status"] not in (401, 429):
                media = next(
                    (v.decode() for k, v in captured["headers"] if k.lower() == b"content-type"),
                    "application/json",
                )
                body = json.dumps({"media_type": media, "body": captured["body"].decode()})
                repo_idempotency.save_response(
                    caller.engine, status_code=captured["status"], response_body=body, **owner
                )
            else:
                repo_idempotency.release(caller.engine, **owner)


def _answer_stored(stored: repo_idempotency.StoredResponse, key: str, digest: str) -> ASGIApp:
    """What a key already holds: in progress (409), another request (422), or the replay."""
    if stored.request_hash != digest:
        return problem(
            422,
            "idempotency_key_reused",
            f"Idempotency-Key {key!r} was used with another request; "
            "use a new key for a new request",
            field="Idempotency-Key",
        )
    if stored.in_progress:
        return problem(
            409,
            "idempotency_key_in_progress",
            f"a request with Idempotency-Key {key!r} is still running; retry shortly",
            field="Idempotency-Key",
        )
    data = json.loads(stored.response_body)
    return _Stored(stored.status_code, str(data["media_type"]), str(data["body"]).encode())


def _replayer(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


class _Stored:
    """The stored answer, replayed with `Idempotent-Replayed: true`."""

    def __init__(self, status: int, media_type: str, body: bytes) -> None:
        self.status, self.media_type, self.body = status, media_type, body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": self.status,
                "headers": [
                    (b"content-type", self.media_type.encode()),
                    (b"content-length", str(len(self.body)).encode()),
                    (REPLAYED.lower().encode(), b"true"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": self.body})
