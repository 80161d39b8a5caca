"""docker-compose.yml (production shape) checked against the code without a Docker engine:
services, ports, variables and dependencies against billing_service/settings.py, the search
attributes against workflows/search_attributes.py, health checks and start order."""

from __future__ import annotations

import shlex
import tomllib
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from billing.contracts.common import TASK_QUEUE
from billing_service.cli.api import ApiSettings
from billing_service.settings import Settings
from devtools.stack import StackConfig
from scripts.server_tools import POSTGRES_MAJOR, SERVER_VERSION, UI_SERVER_VERSION
from workflows.search_attributes import dev_server_flags

from deploy.compose import (
    ENV_EXAMPLE,
    REPO,
    defaults_in,
    dependencies,
    interpolate,
    load_compose,
    published_ports,
    read_env_file,
    start_order,
    variables_in,
)

SERVICES = {
    "postgresql",
    "temporal",
    "temporal-admin-tools",
    "temporal-ui",
    "mailpit",
    "worker",
    "api",
}
SETTINGS_VARIABLES = {field.alias for field in Settings.model_fields.values() if field.alias}


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return load_compose()


@pytest.fixture(scope="module")
def example_env() -> dict[str, str]:
    return read_env_file(ENV_EXAMPLE)


@pytest.fixture(scope="module")
def services(raw: dict[str, Any], example_env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The services as `docker compose --env-file .env.example config` would resolve them."""
    resolved: dict[str, dict[str, Any]] = interpolate(raw, example_env)["services"]
    return resolved


@pytest.fixture(scope="module")
def defaults(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services with no env file at all: every variable at its written default."""
    resolved: dict[str, dict[str, Any]] = interpolate(raw, {})["services"]
    return resolved


def _environment(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment", {})
    assert isinstance(environment, dict), "environment is written as a mapping"
    return {name: str(value) for name, value in environment.items()}


def test_the_production_shape_has_exactly_its_seven_services(services: dict[str, Any]) -> None:
    assert set(services) == SERVICES


def test_every_variable_is_documented_in_env_example_and_has_one_default(
    raw: dict[str, Any], example_env: dict[str, str]
) -> None:
    used = variables_in(raw)
    assert used - set(example_env) == set(), "documented in .env.example"
    for name, written in defaults_in(raw).items():
        assert len(written) == 1, f"{name} has different defaults in different places: {written}"
        assert example_env[name] == next(iter(written)), f"{name}: .env.example vs default"


def test_env_example_names_only_compose_variables_or_worker_settings(
    raw: dict[str, Any], example_env: dict[str, str]
) -> None:
    commented = {
        line.lstrip("# ").partition("=")[0]
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line.startswith("# ") and "=" in line and line[2:3].isupper()
    }
    unknown = (set(example_env) | commented) - variables_in(raw) - SETTINGS_VARIABLES
    assert unknown == set()
    assert {v for v in example_env if "PASSWORD" in v} <= {
        v for v in example_env if example_env[v].startswith("change-me")
    }, "no real secret in the example"


def test_the_worker_environment_is_valid_worker_settings(
    services: dict[str, Any], example_env: dict[str, str]
) -> None:
    environment = _environment(services["worker"])
    assert set(environment) <= SETTINGS_VARIABLES, "every worker variable is a setting"
    optional = {k: v for k, v in example_env.items() if k in SETTINGS_VARIABLES}
    settings = Settings.model_validate({**optional, **environment})  # what the worker reads
    assert settings.temporal_task_queue == TASK_QUEUE
    assert settings.livemode
    assert settings.metrics_port == int(example_env["METRICS_PORT"])
    for required in ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "DATABASE_URL", "SMTP_HOST"):
        assert required in environment


def test_the_worker_reaches_temporal_postgresql_and_mailpit_by_service_name(
    services: dict[str, Any], defaults: dict[str, Any]
) -> None:
    for resolved in (services, defaults):
        worker = _environment(resolved["worker"])
        postgres = _environment(resolved["postgresql"])
        temporal = _environment(resolved["temporal"])
        host, port = worker["TEMPORAL_ADDRESS"].split(":")
        assert (host, port) == ("temporal", "7233")
        assert worker["TEMPORAL_NAMESPACE"] == temporal["DEFAULT_NAMESPACE"]
        url = make_url(worker["DATABASE_URL"])
        assert (url.get_backend_name(), url.host, url.port) == ("postgresql", "postgresql", 5432)
        assert (url.database, url.username, url.password) == (
            postgres["BILLING_DB_NAME"],
            postgres["BILLING_DB_USER"],
            postgres["BILLING_DB_PASSWORD"],
        )
        assert (worker["SMTP_HOST"], worker["SMTP_PORT"]) == ("mailpit", "1025")
        assert temporal["POSTGRES_SEEDS"] == "postgresql"
        assert (temporal["POSTGRES_USER"], temporal["POSTGRES_PWD"]) == (
            postgres["POSTGRES_USER"],
            postgres["POSTGRES_PASSWORD"],
        )


def test_the_api_runs_billing_api_with_the_workers_live_places(
    services: dict[str, Any], example_env: dict[str, str]
) -> None:
    api = services["api"]
    worker = _environment(services["worker"])
    environment = _environment(api)
    assert api["command"] == ["billing", "api"]
    assert api["image"] == services["worker"]["image"]
    for shared in ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_TASK_QUEUE", "DATABASE_URL"):
        assert environment[shared] == worker[shared], shared
    api_settings = ApiSettings.model_validate(environment)
    assert (api_settings.host, api_settings.port) == ("0.0.0.0", int(example_env["API_PORT"]))
    assert set(environment) <= SETTINGS_VARIABLES | {"API_HOST", "API_PORT"}
    assert "API_PORT" in " ".join(api["healthcheck"]["test"])


def test_the_registered_search_attributes_are_the_codes(services: dict[str, Any]) -> None:
    admin = services["temporal-admin-tools"]
    expected = dev_server_flags()[1::2]  # Name=Type, as the dev server is given them
    assert admin["command"] == expected
    assert admin["entrypoint"] == ["/bin/sh", "/deploy/register-search-attributes.sh"]
    assert (REPO / "deploy/temporal/register-search-attributes.sh").is_file()
    assert (
        _environment(admin)["TEMPORAL_NAMESPACE"]
        == _environment(services["temporal"])["DEFAULT_NAMESPACE"]
    )


def test_published_ports_are_distinct_and_bound_to_the_publish_address(
    services: dict[str, Any], example_env: dict[str, str]
) -> None:
    ports = {name: published_ports(spec) for name, spec in services.items()}
    assert {name: [p[1:] for p in found] for name, found in ports.items() if found} == {
        "postgresql": [(int(example_env["POSTGRES_PORT"]), 5432)],
        "temporal": [(int(example_env["TEMPORAL_PORT"]), 7233)],
        "temporal-ui": [(int(example_env["TEMPORAL_UI_PORT"]), 8080)],
        "mailpit": [(int(example_env["MAILPIT_UI_PORT"]), 8025)],
        "api": [(int(example_env["API_PORT"]), int(example_env["API_PORT"]))],
    }
    assert {p[0] for found in ports.values() for p in found} == {example_env["PUBLISH_ADDRESS"]}
    host_ports = [p[1] for found in ports.values() for p in found]
    assert len(host_ports) == len(set(host_ports))


def test_workers_scale_out_without_host_ports_and_expose_their_metrics(
    services: dict[str, Any], defaults: dict[str, Any]
) -> None:
    worker = services["worker"]
    assert "ports" not in worker, "replicas would collide on a published port"
    assert int(defaults["worker"]["deploy"]["replicas"]) == 2
    assert [str(p) for p in worker["expose"]] == [_environment(worker)["METRICS_PORT"]]
    probe = " ".join(worker["healthcheck"]["test"])
    assert "METRICS_PORT" in probe
    assert "/metrics" in probe
    assert worker["build"] == {"context": ".", "dockerfile": "Dockerfile"}
    grace = int(str(worker["stop_grace_period"]).removesuffix("s"))
    assert grace > 30, "longer than the worker's 30 s graceful shutdown (worker.py)"


def test_every_long_running_service_has_a_health_check(services: dict[str, Any]) -> None:
    for name in ("postgresql", "temporal", "mailpit", "worker", "api"):
        check = services[name]["healthcheck"]
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert check["retries"] >= 3, name
        assert check["interval"], name
        assert check["timeout"], name
    assert "pg_isready" in " ".join(services["postgresql"]["healthcheck"]["test"])
    assert "namespace describe" in " ".join(services["temporal"]["healthcheck"]["test"])


def test_services_start_in_dependency_order_on_healthy_dependencies(
    services: dict[str, Any],
) -> None:
    assert {name: dependencies(spec) for name, spec in services.items()} == {
        "postgresql": {},
        "temporal": {"postgresql": "service_healthy"},
        "temporal-admin-tools": {"temporal": "service_healthy"},
        "temporal-ui": {"temporal": "service_healthy"},
        "mailpit": {},
        "worker": {
            "postgresql": "service_healthy",
            "temporal": "service_healthy",
            "temporal-admin-tools": "service_completed_successfully",
            "mailpit": "service_healthy",
        },
        "api": {"temporal": "service_healthy", "worker": "service_healthy"},
    }
    order = start_order(services)
    assert order.index("postgresql") < order.index("temporal") < order.index("worker")
    assert order.index("temporal-admin-tools") < order.index("worker")
    assert services["temporal-admin-tools"]["restart"] == "no"


def test_mounted_files_exist_where_the_services_expect_them(services: dict[str, Any]) -> None:
    for spec in services.values():
        for volume in spec.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), volume
    dynamic_config = _environment(services["temporal"])["DYNAMIC_CONFIG_FILE_PATH"]
    assert dynamic_config.startswith("config/dynamicconfig/")
    name = dynamic_config.removeprefix("config/dynamicconfig/")
    assert (REPO / "deploy/temporal/dynamicconfig" / name).is_file()
    init_scripts = list((REPO / "deploy/postgres").glob("*.sh"))
    assert init_scripts, "the postgres init folder creates the billing database"


def test_the_dockerfile_builds_the_worker_from_the_lock_file_as_a_non_root_user() -> None:
    lines = [
        line.strip()
        for line in (REPO / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert lines[0] == "FROM python:3.11-slim"
    text = "\n".join(lines)
    assert "uv sync --frozen --no-dev" in text
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users
    assert users[-1] not in ("root", "0")
    assert lines[-1] == 'CMD ["python", "worker.py"]'
    copied = {
        source
        for line in lines
        if line.startswith("COPY ") and "--from" not in line
        for source in shlex.split(line)[1:-1]
    }
    for source in copied:
        assert (REPO / source).exists(), source
    packages = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["hatch"]["build"][
        "targets"
    ]["wheel"]["packages"]
    assert set(packages) <= copied, "every package of the wheel is in the image"
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    assert {".env", ".data", ".git"} <= set(ignored), "secrets and data stay out of the image"
    assert not copied & set(ignored), "the build context keeps what the Dockerfile copies"


def test_images_are_the_versions_make_stack_runs(services: dict[str, Any]) -> None:
    """docker compose and `make stack` (scripts/server_tools.py) run the same releases."""
    assert services["temporal"]["image"] == f"temporalio/auto-setup:{SERVER_VERSION}"
    assert services["temporal-admin-tools"]["image"].startswith(
        f"temporalio/admin-tools:{SERVER_VERSION}-"
    )
    assert services["temporal-ui"]["image"] == f"temporalio/ui:{UI_SERVER_VERSION}"
    assert services["postgresql"]["image"].startswith(f"postgres:{POSTGRES_MAJOR}.")


def test_make_stack_uses_the_compose_defaults_and_files(
    services: dict[str, Any], example_env: dict[str, str]
) -> None:
    local = StackConfig()
    in_step = {
        "POSTGRES_PORT": local.postgres_port,
        "TEMPORAL_PORT": local.temporal_port,
        "TEMPORAL_UI_PORT": local.ui_port,
        "WORKER_REPLICAS": local.workers,
        "NUM_HISTORY_SHARDS": local.history_shards,
        "TEMPORAL_NAMESPACE": local.namespace,
        "SMTP_PORT": local.smtp_port,
    }
    assert {name: str(value) for name, value in in_step.items()} == {
        name: example_env[name] for name in in_step
    }
    temporal = _environment(services["temporal"])
    assert temporal["NUM_HISTORY_SHARDS"] == str(local.history_shards)
    mounts = [str(volume) for volume in services["temporal"]["volumes"]]
    assert any(m.startswith("./deploy/temporal/dynamicconfig:") for m in mounts)
    assert temporal["DYNAMIC_CONFIG_FILE_PATH"].endswith("dynamicconfig/billing.yaml")
    postgres_mounts = [str(volume) for volume in services["postgresql"]["volumes"]]
    assert any(m.startswith("./deploy/postgres:") for m in postgres_mounts)
