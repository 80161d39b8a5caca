"""Apply the alembic migrations (`billing db upgrade`, and the worker at start) and check that
the tables and the migrations agree (`pending_changes`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel.sql.sqltypes import AutoString

from billing_db.engine import make_engine, normalise_url
from billing_db.tables import metadata

MIGRATIONS = Path(__file__).parent / "migrations"
DEFAULT_URL = "sqlite:///.data/billing.db"
MIGRATION_LOCK = 0x62696C6C  # "bill": the advisory lock key migrations take on PostgreSQL


def _render_item(kind: str, item: Any, _context: Any) -> str | bool:
    """Render sqlmodel's AutoString as a plain String, so migrations need no sqlmodel import."""
    if kind == "type" and isinstance(item, AutoString):
        return f"sa.String(length={item.length})" if item.length else "sa.String()"
    return False


def comparison_options() -> dict[str, Any]:
    """Options shared by env.py and `pending_changes` so autogenerate compares like upgrade."""
    return {"compare_type": True, "render_as_batch": True, "render_item": _render_item}


def alembic_config(url: str) -> Config:
    """An alembic configuration for `url` built in code (no ini file needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    rendered = normalise_url(url).render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision` (default: the latest).

    On PostgreSQL, under an advisory lock: worker replicas starting together each migrate at
    start, and two alembic runs racing on an empty database both try CREATE TABLE.
    """
    config = alembic_config(url)
    if make_url(url).get_backend_name() != "postgresql":
        command.upgrade(config, revision)
        return
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            connection.commit()  # the lock is the session's; alembic runs its own transaction
            try:
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
                connection.commit()
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
                connection.commit()
    finally:
        engine.dispose()


def pending_changes(url: str) -> list[Any]:
    """What autogenerate would add to a new migration: empty when tables and migrations agree."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts=comparison_options())
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()
