"""Real databases for the repository tests: a SQLite file and a throwaway PostgreSQL cluster.

`engine` is parametrised over both. The schema comes from the alembic migrations (never
`create_all`), migrated once per session into a template: a SQLite file copied for every test,
and a PostgreSQL template database copied for every test module, whose rows are deleted before
each test (CREATE/DROP DATABASE per test costs ~0.3 s in checkpoints). No row leaks between
tests either way.
PostgreSQL missing is a failure that says how to install it, never a skip.
"""

from __future__ import annotations

import itertools
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from billing_db.engine import make_engine
from billing_db.migrate import upgrade
from billing_db.tables import metadata
from scripts.postgres_tools import PostgresUnavailableError, ThrowawayCluster, start_cluster

BACKENDS = ("sqlite", "postgresql")
TEMPLATE = "billing_template"
_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[ThrowawayCluster]:
    try:
        cluster = start_cluster()
    except PostgresUnavailableError as error:
        pytest.fail(
            f"PostgreSQL is needed by the database tests and could not be started: {error}\n"
            "Run `make postgres` (or `python -m scripts.postgres_tools ensure`) to install it.",
            pytrace=False,
        )
    try:
        yield cluster
    finally:
        cluster.stop()


def _admin(cluster: ThrowawayCluster) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        host="127.0.0.1", port=cluster.port, user="postgres", dbname="postgres", autocommit=True
    )


@pytest.fixture(scope="session")
def postgres_template(postgres_cluster: ThrowawayCluster) -> str:
    """A PostgreSQL database migrated to head, copied by every test that needs one."""
    with _admin(postgres_cluster) as admin:
        admin.execute(f"CREATE DATABASE {TEMPLATE}")
    upgrade(postgres_cluster.url(TEMPLATE))
    return TEMPLATE


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head (WAL checkpointed into it), copied by every test."""
    path = tmp_path_factory.mktemp("sqlite-template") / "billing.db"
    upgrade(f"sqlite:///{path}")
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture(scope="module")
def module_postgresql_url(
    postgres_cluster: ThrowawayCluster, postgres_template: str
) -> Iterator[str]:
    """A PostgreSQL database of this test module, created from the migrated template."""
    name = f"test_{next(_numbers)}"
    with _admin(postgres_cluster) as admin:
        admin.execute(f"CREATE DATABASE {name} TEMPLATE {postgres_template} STRATEGY FILE_COPY")
    try:
        yield postgres_cluster.url(name)
    finally:
        with _admin(postgres_cluster) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


def _empty_postgresql(url: str) -> None:
    """Delete every row (children first) and drop tables a test created: a clean start."""
    ours = {table.name for table in metadata.sorted_tables} | {"alembic_version"}
    with psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(False)) as db:
        extra = db.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
        for (name,) in extra:
            if name not in ours:
                db.execute(f'DROP TABLE "{name}" CASCADE')
        for table in reversed(metadata.sorted_tables):
            db.execute(f"DELETE FROM {table.name}")


@pytest.fixture
def fresh_postgresql_url(module_postgresql_url: str) -> str:
    """The module's PostgreSQL database, emptied: no row of an earlier test is left."""
    _empty_postgresql(module_postgresql_url)
    return module_postgresql_url


@pytest.fixture
def fresh_sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "data" / "billing.db"
    path.parent.mkdir()
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str:
    """A freshly migrated, empty billing database: SQLite, then PostgreSQL."""
    url: str = request.getfixturevalue(f"fresh_{request.param}_url")
    return url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    try:
        yield engine
    finally:
        engine.dispose()
