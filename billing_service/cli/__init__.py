"""The `billing` command: one click group, one module per family of subcommands.

Each module defines its commands and is registered below with `main.add_command`.
"""

from __future__ import annotations

import click

from billing_service.cli.api import api, api_keys
from billing_service.cli.catalog import config, customers, meters, notifications, pricing
from billing_service.cli.dev import dev_mail, dev_webhooks
from billing_service.cli.invoices import invoices
from billing_service.cli.ops import db, worker
from billing_service.cli.preview import preview
from billing_service.cli.simulate import simulate
from billing_service.cli.subscriptions import subscriptions, usage
from billing_service.cli.usage_import import import_usage


@click.group()
@click.version_option(package_name="temporal-billing")
def main() -> None:
    """Durable billing on Temporal: preview invoices, run the worker, drive subscriptions."""


# Subcommand registration (keep one line per module, alphabetical).
for command in (
    api,
    api_keys,
    config,
    customers,
    db,
    dev_mail,
    dev_webhooks,
    invoices,
    meters,
    notifications,
    preview,
    pricing,
    simulate,
    subscriptions,
    usage,
    worker,
):
    main.add_command(command)
usage.add_command(import_usage)
