"""The `billing` command."""

from __future__ import annotations

import click


@click.group()
@click.version_option(package_name="temporal-billing")
def main() -> None:
    """Durable billing on Temporal: preview invoices, run the worker, drive subscriptions."""
