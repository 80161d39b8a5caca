"""`billing simulate`: the seed's plan over simulated months (see billing_service.simulate)."""

from __future__ import annotations

import asyncio
import json

import click

from billing_service.cli.common import CommandFailed, first_line
from billing_service.simulate import SimulationError, format_timeline
from billing_service.simulate import simulate as run_simulation


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
