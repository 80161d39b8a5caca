"""Development servers that show what the billing service sends: mail catcher, webhook receiver.

Both print each arrival; the mail catcher can keep messages as ``.eml`` files and the webhook
receiver checks Standard Webhooks signatures when given the endpoint's secret. ``HttpServer``
hands every request to one handler (aiohttp underneath): webhook deliveries and tests needing a
real HTTP peer.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Self

from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session

from billing.webhook_signing import WebhookVerificationError, verify

Emit = Callable[[str], None]

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


class HttpServer:
    """Serve ``handler`` for every method and path with aiohttp; port 0 picks a free port."""

    def __init__(self, handler: HttpHandler, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._handler = handler
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        if self._runner is None or not self._runner.addresses:
            raise RuntimeError("server not started")
        port: int = self._runner.addresses[0][1]
        return port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_route("*", "/{tail:.*}", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def serve_forever(self) -> None:
        if self._runner is None:
            await self.start()
        await asyncio.Event().wait()

    async def _serve(self, request: web.Request) -> web.Response:
        received = HttpRequest(
            method=request.method,
            path=request.path_qs,
            headers={name.lower(): value for name, value in request.headers.items()},
            body=await request.read(),
        )
        response = await self._handler(received)
        return web.Response(
            status=response.status, body=response.body, content_type=response.content_type
        )


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
