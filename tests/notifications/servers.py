"""Real servers for the notification tests: an aiosmtpd SMTP server and a tiny HTTP server, both on
free loopback ports."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from activities.notifications.settings import SmtpSettings
from devtools.servers import HttpRequest, HttpResponse, HttpServer, MailCatcher


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class ScriptedMailServer(MailCatcher):
    """The dev mail catcher, told to refuse the first ``refuse_data`` messages with ``refusal`` and
    to refuse recipients listed in ``unknown_recipients`` with 550."""

    refuse_data: int = 0
    refusal: str = "451 4.3.0 Try again later"
    unknown_recipients: set[str] = field(default_factory=set)
    refused: int = 0

    async def handle_RCPT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.unknown_recipients:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        if self.refused < self.refuse_data:
            self.refused += 1
            return self.refusal
        return await super().handle_DATA(server, session, envelope)


@dataclass
class SmtpFixture:
    handler: ScriptedMailServer
    settings: SmtpSettings

    async def about(self, text: str) -> list[EmailMessage]:
        """The messages received so far whose subject contains `text` (a probe for
        `eventually`: an invoice's email is sent by its own workflow, after the subscription
        shows the invoice)."""
        return [m for m in self.handler.messages if text in str(m["Subject"])]


@pytest.fixture
def smtp_server() -> Iterator[SmtpFixture]:
    handler = ScriptedMailServer(emit=lambda _line: None)
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings = SmtpSettings(
            host="127.0.0.1", port=port, mail_from="billing@platforma.example", timeout=5.0
        )
        yield SmtpFixture(handler=handler, settings=settings)
    finally:
        controller.stop()


@dataclass
class ScriptedReceiver:
    """Answers with ``statuses`` in order (the last one repeats) and keeps every request."""

    statuses: list[int] = field(default_factory=lambda: [200])
    delay_seconds: float = 0.0
    requests: list[HttpRequest] = field(default_factory=list)

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        self.requests.append(request)
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        return HttpResponse(status, b'{"ok": true}')


@dataclass
class HttpFixture:
    receiver: ScriptedReceiver
    server: HttpServer

    @property
    def url(self) -> str:
        return f"{self.server.url}/hooks"


@pytest.fixture
async def http_server() -> AsyncIterator[HttpFixture]:
    receiver = ScriptedReceiver()
    async with HttpServer(receiver) as server:
        yield HttpFixture(receiver=receiver, server=server)
