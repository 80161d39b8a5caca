"""The `billing` command: one click group, one module per family of subcommands.

Subcommands are imported when they run, not when the group loads: `billing --help` must not pay
for Temporal, SQLAlchemy and the catalog (issue 17: 1.6 s before, ≤ 0.3 s now). Each entry below
names the command's module and a short help for the listing (a test loads every entry). The
development commands live in `devtools`, present in a source checkout only.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import click


@dataclass(frozen=True)
class Lazy:
    """Where a subcommand is defined, and its short help shown by `billing --help`."""

    target: str
    help: str
    dev: bool = False
    db: bool = False
    """Needs the database itself: refused when BILLING_API_URL points the CLI at an API."""


DEV_PACKAGE_MISSING = (
    "`billing {name}` is a development command: it needs the `devtools` package of a source "
    "checkout (run it there with `uv run billing {name}`)."
)

# Subcommand registration (keep one line per command, alphabetical).
COMMANDS: dict[str, Lazy] = {
    "api": Lazy("billing_service.cli.api:api", "Serve the HTTP API (/v1/billing).", db=True),
    "api-keys": Lazy("billing_service.cli.api:api_keys", "API keys: create/list/revoke.", db=True),
    "config": Lazy("billing_service.cli.catalog:config", "The account's billing configuration."),
    "customers": Lazy("billing_service.cli.catalog:customers", "Customers of the account."),
    "db": Lazy("billing_service.cli.ops:db", "The billing database.", db=True),
    "dev-mail": Lazy("devtools.cli:dev_mail", "A mail catcher for development.", dev=True),
    "dev-webhooks": Lazy("devtools.cli:dev_webhooks", "A webhook receiver for development.", True),
    "invoices": Lazy("billing_service.cli.invoices:invoices", "Invoices: list, approve, pay."),
    "meters": Lazy("billing_service.cli.catalog:meters", "Meters: what usage is measured."),
    "notifications": Lazy("billing_service.cli.catalog:notifications", "Channels and webhooks."),
    "preview": Lazy("billing_service.cli.preview:preview", "Preview a pricing's invoice."),
    "pricing": Lazy("billing_service.cli.catalog:pricing", "Pricings: fees and usage charges."),
    "simulate": Lazy("devtools.cli:simulate", "The seed's plan over simulated months.", True),
    "subscriptions": Lazy("billing_service.cli.subscriptions:subscriptions", "Subscriptions."),
    "usage": Lazy("billing_service.cli.subscriptions:usage", "Usage events for a subscription."),
    "worker": Lazy("billing_service.cli.ops:worker", "Run a worker for the mode.", db=True),
}


def load(name: str) -> click.Command:
    """Import subcommand `name`; a development command without `devtools` explains itself."""
    entry = COMMANDS[name]
    module_name, _, attribute = entry.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if not entry.dev or exc.name not in ("devtools", module_name):
            raise
        return _missing_dev_command(name, entry)
    command = getattr(module, attribute)
    assert isinstance(command, click.Command)
    return command


def _missing_dev_command(name: str, entry: Lazy) -> click.Command:
    return _explaining(name, entry, click.UsageError(DEV_PACKAGE_MISSING.format(name=name)))


def _api_url_set() -> bool:
    """BILLING_API_URL is set (in the environment or `.env`, as `Settings` reads it)."""
    from billing_service.cli.common import base_settings

    return bool((base_settings().billing_api_url or "").strip())


def _refused(name: str, entry: Lazy) -> click.Command:
    from billing_service.cli.common import NEEDS_DATABASE, InputError

    return _explaining(name, entry, InputError(NEEDS_DATABASE.format(name=name)))


def _explaining(name: str, entry: Lazy, error: click.ClickException) -> click.Command:
    """A stand-in for command `name` that takes any arguments and raises `error`."""

    def explain() -> None:
        raise error

    return click.Command(
        name,
        callback=explain,
        help=entry.help,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        add_help_option=False,
    )


class LazyGroup(click.Group):
    """A group that lists `COMMANDS` from their short help and imports one only to run it."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        if COMMANDS[cmd_name].db and _api_url_set():
            return _refused(cmd_name, COMMANDS[cmd_name])
        return load(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name].help) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup)
@click.version_option(package_name="temporal-billing")
def main() -> None:
    """Durable billing on Temporal: preview invoices, run the worker, drive subscriptions."""
