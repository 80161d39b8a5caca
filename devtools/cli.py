"""The `billing` CLI's development commands: `dev-mail` and `dev-webhooks` (local catchers printing
what the service sends) and `simulate` (the seed's plan over simulated months).

Registered lazily by billing_service.cli, which says so when this package is absent (an installed
wheel).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import click

from billing.webhook_signing import SECRET_PREFIX
from billing_service.cli.common import CommandFailed, first_line
from devtools.servers import (
    HttpServer,
    MailCatcher,
    WebhookReceiver,
    start_mail_catcher,
)
from devtools.simulate import SimulationError, format_timeline
from devtools.simulate import simulate as run_simulation

DEFAULT_MAIL_DIR = Path(".data/mail")


def _echo(text: str) -> None:
    click.echo(text)
    sys.stdout.flush()


async def _serve_mail(host: str, port: int, save_dir: Path | None) -> None:
    server = await start_mail_catcher(
        MailCatcher(emit=_echo, save_dir=save_dir), host=host, port=port
    )
    _echo(f"dev-mail: SMTP on {host}:{port}" + (f", saving to {save_dir}" if save_dir else ""))
    async with server:
        await server.serve_forever()


async def _serve_webhooks(host: str, port: int, secret: str | None) -> None:
    server = HttpServer(WebhookReceiver(emit=_echo, secret=secret), host=host, port=port)
    await server.start()
    checking = "checking signatures" if secret else "NOT checking signatures (no --secret)"
    _echo(f"dev-webhooks: HTTP on {server.url}, {checking}")
    try:
        await server.serve_forever()
    finally:
        await server.close()


@click.command("dev-mail")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=1025, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--save-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_MAIL_DIR,
    show_default=True,
    help="Keep each message as an .eml file here.",
)
@click.option("--no-save", is_flag=True, help="Only print messages; keep no files.")
def dev_mail(host: str, port: int, save_dir: Path, no_save: bool) -> None:
    """A mail catcher for development: accept every message, print it and keep it."""
    try:
        asyncio.run(_serve_mail(host, port, None if no_save else save_dir))
    except KeyboardInterrupt:
        _echo("dev-mail: stopped")


@click.command("dev-webhooks")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8787, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--secret",
    envvar="BILLING_DEV_WEBHOOK_SECRET",
    default=None,
    help="The endpoint's whsec_ secret; signatures are verified when given.",
)
def dev_webhooks(host: str, port: int, secret: str | None) -> None:
    """A webhook receiver for development: print each delivery and verify its signature."""
    if secret is not None and not secret.startswith(SECRET_PREFIX):
        raise click.BadParameter(f"must start with {SECRET_PREFIX!r}", param_hint="--secret")
    try:
        asyncio.run(_serve_webhooks(host, port, secret))
    except KeyboardInterrupt:
        _echo("dev-webhooks: stopped")


@click.command("simulate")
@click.option("--months", type=click.IntRange(1, 36), default=12, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the timeline as JSON.")
def simulate(months: int, as_json: bool) -> None:
    """Run the seed's hybrid plan on the time-skipping server and print its timeline."""
    try:
        result = asyncio.run(run_simulation(months, emit=lambda text: click.echo(text, err=True)))
    except (SimulationError, RuntimeError) as exc:
        raise CommandFailed(f"simulation failed: {first_line(exc)}") from None
    if as_json:
        data = {
            "timeline": [
                {"at": h.at.isoformat(), "kind": h.kind, "text": h.text} for h in result.timeline
            ],
            "invoices": [i.model_dump(mode="json") for i in result.invoices],
            "emails": result.emails,
            "webhooks": result.webhooks,
            "final_status": result.final_status.status,
            "wall_seconds": round(result.wall_seconds, 2),
        }
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo("\n".join(format_timeline(result)))
