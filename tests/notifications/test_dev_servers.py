"""`billing dev-mail` and `billing dev-webhooks` as real processes: start, send, read the output."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx

from activities.notifications.email_delivery import send_email_message
from activities.notifications.message import build_message
from activities.notifications.outcome import AttemptKind
from activities.notifications.rendering import render_email
from activities.notifications.settings import SmtpSettings
from activities.notifications.webhook_delivery import post_webhook
from billing.webhook_signing import generate_secret

from notifications.seed import hybrid_context
from notifications.servers import free_port

BILLING = str(Path(sys.executable).parent / "billing")
STARTUP_SECONDS = 20.0


class Output:
    def __init__(self, stream: asyncio.StreamReader) -> None:
        self._stream = stream
        self.lines: list[str] = []

    async def wait_for(self, text: str, *, seconds: float = 10.0) -> str:
        """Read lines until one contains ``text``; return everything read so far."""
        async with asyncio.timeout(seconds):
            while not any(text in line for line in self.lines):
                line = await self._stream.readline()
                if not line:
                    raise AssertionError(f"process ended before {text!r}: {self.lines}")
                self.lines.append(line.decode())
        return "".join(self.lines)


@asynccontextmanager
async def running(*args: str) -> AsyncIterator[Output]:
    process = await asyncio.create_subprocess_exec(
        BILLING, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    assert process.stdout is not None
    output = Output(process.stdout)
    try:
        yield output
    finally:
        process.send_signal(signal.SIGINT)
        await output.wait_for("stopped")
        await asyncio.wait_for(process.wait(), 10)


async def test_dev_mail_prints_and_keeps_each_message(tmp_path: Path) -> None:
    port = free_port()
    mail_dir = tmp_path / "mail"
    async with running("dev-mail", "--port", str(port), "--save-dir", str(mail_dir)) as output:
        await output.wait_for("dev-mail: SMTP on", seconds=STARTUP_SECONDS)
        message = build_message(
            render_email(hybrid_context()),
            mail_from="billing@platforma.example",
            to_address="ada@example.com",
            to_name="Ada Lovelace",
            message_id="<dev@billing>",
            dedupe_key="invoice_generated:INV-2026-000001:email:ada@example.com",
            date=datetime(2026, 11, 1, tzinfo=UTC),
        )
        settings = SmtpSettings(host="127.0.0.1", port=port, mail_from="billing@platforma.example")
        assert (await send_email_message(message, smtp=settings)).kind is AttemptKind.DELIVERED
        printed = await output.wait_for("saved to")

    assert "mail from billing@platforma.example to ada@example.com" in printed
    assert "Subject: Invoice INV-2026-000001 from PLATFORMA — EUR 74.99 due 15 Nov 2026" in printed
    assert "Total" in printed
    assert "EUR 74.99" in printed
    (saved,) = mail_dir.glob("*.eml")
    assert b"Message-ID: <dev@billing>" in saved.read_bytes()


async def test_dev_webhooks_prints_each_delivery_and_checks_its_signature() -> None:
    port = free_port()
    secret = generate_secret()
    async with running("dev-webhooks", "--port", str(port), "--secret", secret) as output:
        await output.wait_for("dev-webhooks: HTTP on", seconds=STARTUP_SECONDS)
        async with httpx.AsyncClient() as client:
            kinds = [
                (
                    await post_webhook(
                        client,
                        url=f"http://127.0.0.1:{port}/hooks",
                        secret=signing_secret,
                        msg_id=msg_id,
                        timestamp=int(time.time()),
                        body=b'{"type":"invoice.generated","total":"74.99"}',
                        timeout_seconds=5,
                    )
                ).kind
                for signing_secret, msg_id in ((secret, "msg_good"), (generate_secret(), "msg_bad"))
            ]
        printed = await output.wait_for("id=msg_bad")
        await output.wait_for('"total": "74.99"')

    assert kinds == [AttemptKind.DELIVERED, AttemptKind.PERMANENT]  # 200, then 401
    assert "POST /hooks id=msg_good signature: valid" in printed
    assert "id=msg_bad signature: INVALID (no matching signature)" in printed
