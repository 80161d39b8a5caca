"""The `billing` command: one click group, one module per family of subcommands.

Each module defines its commands and is registered below with `main.add_command`.
"""

from __future__ import annotations

import click

from billing_service.cli.dev import dev_mail, dev_webhooks
from billing_service.cli.preview import preview


@click.group()
@click.version_option(package_name="temporal-billing")
def main() -> None:
    """Durable billing on Temporal: preview invoices, run the worker, drive subscriptions."""


# Subcommand registration (keep one line per module, alphabetical).
main.add_command(dev_mail)
main.add_command(dev_webhooks)
main.add_command(preview)
