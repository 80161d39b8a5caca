"""`billing simulate`: the seed's plan over simulated months (see billing_service.simulate)."""

from __future__ import annotations

import click


@click.command("simulate")
@click.option("--months", type=click.IntRange(1, 24), default=12, show_default=True)
def simulate(months: int) -> None:
    """Run the seed's hybrid plan on the time-skipping server and print its timeline."""
    raise click.ClickException("not yet")
