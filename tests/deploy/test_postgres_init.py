"""deploy/postgres/ run as the postgres image runs it on an empty volume, against a real
throwaway PostgreSQL cluster: the billing role and database exist afterwards, the role owns the
database and can apply the migrations, and a second run changes nothing."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import psycopg
import pytest

from billing_db.migrate import upgrade
from scripts.postgres_tools import PostgresUnavailableError, ThrowawayCluster, start_cluster

from deploy.compose import REPO

INIT_SCRIPT = REPO / "deploy/postgres/10-create-billing-database.sh"


@pytest.fixture(scope="module")
def cluster() -> Iterator[ThrowawayCluster]:
    try:
        started = start_cluster()
    except PostgresUnavailableError as error:
        pytest.fail(f"PostgreSQL could not be started: {error}", pytrace=False)
    try:
        yield started
    finally:
        started.stop()


def _run_init(cluster: ThrowawayCluster) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "PATH": f"{cluster.bin_dir}:{os.environ['PATH']}",
        "PGHOST": "127.0.0.1",
        "PGPORT": str(cluster.port),
        "POSTGRES_USER": "postgres",
        "BILLING_DB_NAME": "billing_prod",
        "BILLING_DB_USER": "billing_owner",
        "BILLING_DB_PASSWORD": "it's a secret",
    }
    return subprocess.run(
        ["sh", str(INIT_SCRIPT)], env=environment, capture_output=True, text=True, check=False
    )


def test_the_init_script_creates_the_billing_database_owned_by_its_role(
    cluster: ThrowawayCluster,
) -> None:
    first = _run_init(cluster)
    assert first.returncode == 0, first.stderr
    again = _run_init(cluster)
    assert again.returncode == 0, again.stderr

    with psycopg.connect(
        host="127.0.0.1", port=cluster.port, user="postgres", dbname="postgres"
    ) as admin:
        owner = admin.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'billing_prod'"
        ).fetchall()
        role = admin.execute(
            "SELECT rolcanlogin, rolsuper FROM pg_roles WHERE rolname = 'billing_owner'"
        ).fetchall()
    assert owner == [("billing_owner",)]
    assert role == [(True, False)]

    url = f"postgresql+psycopg://billing_owner@127.0.0.1:{cluster.port}/billing_prod"
    upgrade(url)  # what every worker does at start, as the billing role
    with psycopg.connect(
        host="127.0.0.1", port=cluster.port, user="billing_owner", dbname="billing_prod"
    ) as billing:
        tables = {
            row[0]
            for row in billing.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        }
    assert {"invoices", "usage_events", "alembic_version"} <= tables
