"""`billing db upgrade` and `billing worker`, each for one mode's database and namespace.

The worker's workflows and activities, and alembic, are imported when the command runs (not for
`--help`)."""

from __future__ import annotations

import click

from billing_service.cli.common import CommandEnv, Group, with_env
from billing_service.logs import configure_logging


@click.group("db", cls=Group)
def db() -> None:
    """The billing database."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@with_env
def db_upgrade(env: CommandEnv, revision: str) -> None:
    """Apply the alembic migrations to the mode's database."""
    from billing_db.migrate import upgrade

    upgrade(env.settings.database_url, revision)
    data = {"database_url": env.settings.database_url, "revision": revision, "mode": env.mode}
    env.emit(data, f"Database {env.settings.database_url} is at {revision} ({env.mode} mode).")


@click.command("worker")
@with_env
def worker(env: CommandEnv) -> None:
    """Run a worker for the mode's namespace and database until SIGINT/SIGTERM."""
    from billing_service import worker as worker_process

    configure_logging(env.settings.log_level)
    worker_process.serve(env.settings)
