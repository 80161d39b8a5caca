"""Worker replicas migrate the database as they start (billing_service/worker.py): several
processes upgrading one empty PostgreSQL database at once all succeed, and it ends at head."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import psycopg

from billing_db.migrate import pending_changes
from scripts.postgres_tools import ThrowawayCluster

PROCESSES = 4
# Each process imports alembic first, then waits until all are ready: a real race on CREATE TABLE.
MIGRATE = """
import sys, time
from pathlib import Path
from billing_db.migrate import upgrade
url, ready, wanted = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
(ready / str(time.monotonic_ns())).touch()
while len(list(ready.iterdir())) < wanted:
    time.sleep(0.005)
upgrade(url)
"""


def test_processes_migrating_one_database_at_once_all_succeed(
    postgres_cluster: ThrowawayCluster, tmp_path: Path
) -> None:
    database = f"migrate_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(
        host="127.0.0.1", port=postgres_cluster.port, user="postgres", autocommit=True
    ) as admin:
        admin.execute(f"CREATE DATABASE {database}")
    url = postgres_cluster.url(database)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", MIGRATE, url, str(tmp_path), str(PROCESSES)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    failures = [p.communicate(timeout=120)[1] for p in processes if p.wait(timeout=120) != 0]
    assert failures == []
    assert pending_changes(url) == []
