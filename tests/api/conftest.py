"""A `billing api` process for the session: the dev server (test mode in namespace `default`,
live mode in a namespace of its own), one SQLite file (or PostgreSQL database) per mode, keys for
two test accounts and one live account. No worker: these tests stop at the edge (what reaches a
workflow is in tests/e2e/test_api_guide.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from temporalio.testing import WorkflowEnvironment

from billing_db.migrate import upgrade
from scripts.postgres_tools import ThrowawayCluster

from api.server import ApiProcess, api_environment, new_key
from db.conftest import postgres_cluster, postgres_template
from notifications.servers import free_port

__all__ = ["postgres_cluster", "postgres_template"]


@dataclass(frozen=True)
class Api:
    url: str
    test_database_url: str
    live_database_url: str
    key: str
    """pk_test_ key of account A."""
    other_key: str
    """pk_test_ key of account B."""
    live_key: str
    """pk_live_ key of account L."""
    process: ApiProcess

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.key}"}


@pytest.fixture(scope="session")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The API with nothing listening at its Temporal address: the edge alone."""
    yield from _api(
        tmp_path_factory, temporal_address=f"127.0.0.1:{free_port()}", namespace="default"
    )


@pytest.fixture(scope="session")
def api_on_temporal(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Api]:
    """The API on the dev server (test mode in its `default` namespace), without a worker."""
    yield from _api(
        tmp_path_factory,
        temporal_address=dev_env.client.service_client.config.target_host,
        namespace=dev_env.client.namespace,
    )


@pytest.fixture(scope="session")
def api_on_postgresql(
    dev_env: WorkflowEnvironment,
    postgres_cluster: ThrowawayCluster,
    postgres_template: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Api]:
    """The API on the dev server with a PostgreSQL database per mode."""
    urls = []
    for mode in ("test", "live"):
        name = f"api_{mode}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(
            host="127.0.0.1", port=postgres_cluster.port, user="postgres", autocommit=True
        ) as admin:
            admin.execute(f"CREATE DATABASE {name} TEMPLATE {postgres_template}")
        urls.append(postgres_cluster.url(name))
    yield from _api(
        tmp_path_factory,
        temporal_address=dev_env.client.service_client.config.target_host,
        namespace=dev_env.client.namespace,
        urls=(urls[0], urls[1]),
    )


def _api(
    tmp_path_factory: pytest.TempPathFactory,
    *,
    temporal_address: str,
    namespace: str,
    urls: tuple[str, str] | None = None,
) -> Iterator[Api]:
    folder: Path = tmp_path_factory.mktemp("api")
    run = uuid.uuid4().hex[:8]
    if urls is None:
        urls = (f"sqlite:///{folder / 'billing-test.db'}", f"sqlite:///{folder / 'billing.db'}")
        for url in urls:
            upgrade(url)
    test_url, live_url = urls
    process = ApiProcess(
        environment=api_environment(
            temporal_address=temporal_address,
            task_queue=f"api-{run}",
            test_namespace=namespace,
            live_namespace=f"live-unregistered-{run}",
            test_database_url=test_url,
            live_database_url=live_url,
        ),
        log_path=folder / "api.log",
    )
    process.start()
    try:
        yield Api(
            url=process.url,
            test_database_url=test_url,
            live_database_url=live_url,
            key=new_key(test_url, account_id=f"acct_a{run}", mode="test"),
            other_key=new_key(test_url, account_id=f"acct_b{run}", mode="test"),
            live_key=new_key(live_url, account_id=f"acct_l{run}", mode="live"),
            process=process,
        )
    finally:
        process.stop()
        print(f"--- api.log\n{process.log()[-6000:]}")
