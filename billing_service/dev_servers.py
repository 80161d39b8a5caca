"""Development servers that show what the billing service sends: mail catcher, webhook receiver.

Both print each arrival; the mail catcher can keep messages as ``.eml`` files and the webhook
receiver checks Standard Webhooks signatures when given the endpoint's secret. ``TinyHttpServer``
is a minimal HTTP/1.1 server on ``asyncio.start_server`` (one request per connection,
``Content-Length`` bodies), enough for webhook deliveries and for tests needing a real HTTP peer.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from http import HTTPStatus
from pathlib import Path
from typing import Any, Self

from aiosmtpd.smtp import SMTP, Envelope, Session

from billing.webhook_signing import WebhookVerificationError, verify

Emit = Callable[[str], None]

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class HttpRequest:
    """One request as received: header names lower-cased."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes = b""
    content_type: str = "application/json"


HttpHandler = Callable[[HttpRequest], Awaitable[HttpResponse]]


class BadHttpRequestError(Exception):
    """The bytes on the connection are not an HTTP/1.1 request this server understands."""


async def read_http_request(reader: asyncio.StreamReader) -> HttpRequest:
    """Parse a request line, headers and a ``Content-Length`` body from the stream."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        raise BadHttpRequestError("incomplete or oversized request head") from exc
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadHttpRequestError(f"bad request line {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise BadHttpRequestError(f"bad header line {line!r}")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise BadHttpRequestError("chunked bodies are not supported")
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError as exc:
        raise BadHttpRequestError("content-length is not an integer") from exc
    if length < 0 or length > MAX_BODY_BYTES:
        raise BadHttpRequestError("content-length out of range")
    try:
        body = await reader.readexactly(length)
    except asyncio.IncompleteReadError as exc:
        raise BadHttpRequestError("body shorter than content-length") from exc
    return HttpRequest(method=parts[0], path=parts[1], headers=headers, body=body)


def _encode_response(response: HttpResponse) -> bytes:
    try:
        reason = HTTPStatus(response.status).phrase
    except ValueError:
        reason = "Status"
    head = (
        f"HTTP/1.1 {response.status} {reason}\r\n"
        f"Content-Type: {response.content_type}\r\n"
        f"Content-Length: {len(response.body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + response.body


class TinyHttpServer:
    """Serve ``handler`` on a real loopback (or given) socket; port 0 picks a free port."""

    def __init__(self, handler: HttpHandler, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._handler = handler
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("server not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, self._host, self._port, limit=MAX_HEADER_BYTES
        )

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        await self._server.serve_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                request = await read_http_request(reader)
            except BadHttpRequestError as exc:
                response = HttpResponse(400, json.dumps({"error": str(exc)}).encode())
            else:
                response = await self._handler(request)
            writer.write(_encode_response(response))
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


# --- webhook receiver -------------------------------------------------------------------------


@dataclass
class WebhookReceiver:
    """Print every webhook delivery and, given a secret, whether its signature verifies.

    Answers 200 to a genuine (or, without a secret, any) delivery and 401 to a bad signature, so the
    sender's retry behaviour can be watched too.
    """

    emit: Emit
    secret: str | None = None
    received: list[HttpRequest] = field(default_factory=list)

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        self.received.append(request)
        verdict, status = self._verdict(request)
        self.emit(
            f"{request.method} {request.path} id={request.headers.get('webhook-id', '-')} "
            f"signature: {verdict}"
        )
        self.emit(_pretty_json(request.body))
        body = json.dumps({"received": status == 200, "signature": verdict}).encode()
        return HttpResponse(status, body)

    def _verdict(self, request: HttpRequest) -> tuple[str, int]:
        if self.secret is None:
            return "not checked (no --secret)", 200
        try:
            verify(self.secret, headers=request.headers, body=request.body)
        except WebhookVerificationError as exc:
            return f"INVALID ({exc})", 401
        return "valid", 200


def _pretty_json(body: bytes) -> str:
    try:
        return json.dumps(json.loads(body), indent=2, sort_keys=True)
    except ValueError:
        return body.decode("utf-8", "replace")


# --- mail catcher -----------------------------------------------------------------------------


def text_part(message: EmailMessage) -> str:
    """The plain-text body of a (possibly multipart) message, or an empty string."""
    part = message.get_body(preferencelist=("plain",))
    if part is None:
        return ""
    content: str = part.get_content()
    return content


@dataclass
class MailCatcher:
    """An aiosmtpd handler that accepts every message, prints it and optionally keeps it on disk."""

    emit: Emit
    save_dir: Path | None = None
    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        raw = envelope.original_content or envelope.content
        if not isinstance(raw, bytes):
            raise TypeError("aiosmtpd was expected to hand over raw bytes (decode_data=False)")
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.emit(
            f"--- mail from {envelope.mail_from} to {', '.join(envelope.rcpt_tos)}\n"
            f"Subject: {message['Subject']}\nMessage-ID: {message['Message-ID']}\n"
        )
        self.emit(text_part(message))
        if self.save_dir is not None:
            self.emit(f"saved to {self._save(raw, message)}")
        return "250 Message accepted for delivery"

    def _save(self, raw: bytes, message: EmailMessage) -> Path:
        """``<arrival time>-<hash of Message-ID>.eml``: a re-sent message is kept again beside
        the first, with the same hash, so repeats are easy to spot."""
        assert self.save_dir is not None
        self.save_dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(str(message["Message-ID"] or "").encode()).hexdigest()[:12]
        path = self.save_dir / f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{digest}.eml"
        path.write_bytes(raw)
        return path


async def start_mail_catcher(
    catcher: MailCatcher, *, host: str = "127.0.0.1", port: int = 1025
) -> asyncio.Server:
    """Listen for SMTP on ``host:port`` in the running event loop."""
    loop = asyncio.get_running_loop()

    def factory() -> Any:
        return SMTP(catcher, hostname="billing-dev-mail")

    return await loop.create_server(factory, host, port)
