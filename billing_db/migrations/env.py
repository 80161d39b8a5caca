"""Alembic environment: runs migrations on the engine `billing_db.engine.make_engine` builds.

The URL comes from the config's `sqlalchemy.url` (set by `billing_db.migrate`), else from
DATABASE_URL, else the default SQLite file.
"""

from __future__ import annotations

import os

from alembic import context

from billing_db.engine import make_engine
from billing_db.migrate import DEFAULT_URL, comparison_options
from billing_db.tables import metadata

config = context.config


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or os.environ.get("DATABASE_URL", DEFAULT_URL)


def run_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=metadata,
        literal_binds=True,
        **comparison_options(),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata, **comparison_options())
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection, target_metadata=metadata, **comparison_options()
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
