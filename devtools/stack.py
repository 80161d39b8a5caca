"""`make stack`: the docker-compose topology as local processes, from the same configuration files.

PostgreSQL (the billing database made by deploy/postgres/, Temporal's two databases created and
migrated by deploy/temporal/setup-schema.sh), the Temporal server (deploy/temporal/config/
billing.yaml, several history shards, deploy/temporal/dynamicconfig/), the namespace and our
search attributes, the Web UI server (its module's config/docker.yaml, as the image uses), a
mail catcher, N worker processes and the API (`billing api`).
Versions: scripts/server_tools.py, pinned in docker-compose.yml too.

Every process is started in a session of its own and its pid kept in `<state dir>/stack.json`,
so `make stack-down` (or `Stack.down`) stops exactly those. PostgreSQL's data lives in a temporary
folder and goes with `stack-down`: this is a development stack.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path

from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest, RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from billing_service.cli import COMMANDS
from billing_service.dependencies import wait_for_dependency
from billing_service.settings import Settings
from billing_service.temporal_client import connect, register_search_attributes
from scripts.postgres_tools import ThrowawayCluster
from scripts.postgres_tools import ensure as ensure_postgres
from scripts.server_tools import ServerTools, ensure_server_tools

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
BILLING_CLI = Path(sys.executable).parent / "billing"
STATE_FILE = "stack.json"
WORKER_STARTED = '"message": "worker started"'


class StackError(Exception):
    """The stack could not start; the message says which part and shows its output."""


@dataclass(frozen=True)
class StackConfig:
    """Ports and sizes, by docker-compose.yml's variable names where it has one."""

    state_dir: Path = REPO / ".data" / "stack"
    postgres_port: int = 5432
    temporal_port: int = 7233
    ui_port: int = 8080
    smtp_port: int = 1025
    api_port: int = 8000
    workers: int = 2
    history_shards: int = 4
    namespace: str = "default"
    billing_db: str = "billing"

    @classmethod
    def from_environment(cls, state_dir: Path | None = None) -> StackConfig:
        env = os.environ
        return cls(
            state_dir=state_dir or cls.state_dir,
            postgres_port=int(env.get("POSTGRES_PORT", cls.postgres_port)),
            temporal_port=int(env.get("TEMPORAL_PORT", cls.temporal_port)),
            ui_port=int(env.get("TEMPORAL_UI_PORT", cls.ui_port)),
            smtp_port=int(env.get("SMTP_PORT", cls.smtp_port)),
            api_port=int(env.get("API_PORT", cls.api_port)),
            workers=int(env.get("WORKER_REPLICAS", cls.workers)),
            history_shards=int(env.get("NUM_HISTORY_SHARDS", cls.history_shards)),
        )

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.temporal_port}"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def database_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.postgres_port}/{self.billing_db}"

    @property
    def mail_dir(self) -> Path:
        return self.state_dir / "mail"

    def worker_environment(self, index: int) -> dict[str, str]:
        """What docker-compose gives the worker service; test mode so `billing --test` sees it."""
        return {
            "TEMPORAL_ADDRESS": self.temporal_address,
            "TEMPORAL_NAMESPACE": self.namespace,
            "TEMPORAL_TEST_NAMESPACE": self.namespace,
            "BILLING_MODE": "test",
            "DATABASE_URL": self.database_url,
            "TEST_DATABASE_URL": self.database_url,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.smtp_port),
            "METRICS_PORT": str(self.temporal_port + 40 + index),
        }

    def settings(self) -> Settings:
        return Settings.model_validate(self.worker_environment(0) | {"METRICS_PORT": "0"})


@dataclass
class Process:
    """One started process: how to start it again, and its pid while it runs."""

    name: str
    command: list[str]
    environment: dict[str, str]
    cwd: str
    pid: int | None = None

    def log_path(self, state_dir: Path) -> Path:
        return state_dir / "logs" / f"{self.name}.log"

    def start(self, state_dir: Path) -> None:
        path = self.log_path(state_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab") as log:
            popen = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env={**os.environ, **self.environment},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid = popen.pid

    def running(self) -> bool:
        if self.pid is None:
            return False
        try:
            done, _status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:  # not our child (another `make stack` started it)
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return False
            return True
        return done == 0

    def signal(self, signum: signal.Signals) -> None:
        """Send `signum` to the process's own session (it and whatever it started)."""
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signum)

    def stop(self, *, grace: float = 40.0) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds (a worker finishes activities for 30)."""
        self.signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while self.running() and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.running():
            self.signal(signal.SIGKILL)
            while self.running():
                time.sleep(0.05)
        self.pid = None


@dataclass
class Stack:
    config: StackConfig
    tools: ServerTools
    postgres_bin: str
    postgres_root: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="billing-stack-pg-"))
    """In /tmp: the cluster runs as the `postgres` user when we are root, who must reach it."""
    processes: dict[str, Process] = field(default_factory=dict)
    worker_starts: dict[str, int] = field(default_factory=dict)

    # --- the whole stack ------------------------------------------------------------------

    @classmethod
    async def up(cls, config: StackConfig) -> Stack:
        if (config.state_dir / STATE_FILE).exists():
            raise StackError(f"a stack is running from {config.state_dir}: `make stack-down`")
        stack = cls(config, ensure_server_tools(), str(ensure_postgres()))
        for stale in ("logs", "mail"):  # a new stack has a new database: start them afresh
            shutil.rmtree(config.state_dir / stale, ignore_errors=True)
        config.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            await stack._start_all()
        except BaseException:
            stack.down()
            raise
        return stack

    async def _start_all(self) -> None:
        started = time.monotonic()
        self._start_postgres()
        self._run_script(DEPLOY / "postgres" / "10-create-billing-database.sh")
        self._run_script(DEPLOY / "temporal" / "setup-schema.sh")
        self._start("temporal-server", self._server_command(), self._server_environment())
        client = await self.wait_for_temporal()
        await self._register_namespace(client)
        self._start("temporal-ui", self._ui_command(), self._ui_environment())
        self._start("mail", self._mail_command(), {})
        for index in range(1, self.config.workers + 1):
            self.start_worker(index)
        for index in range(1, self.config.workers + 1):
            await self.wait_for_worker(index)
        # --- The API: `billing api`, started once the command exists. ---------------------------
        if "api" in COMMANDS:
            port = str(self.config.api_port)
            self._start("api", [str(BILLING_CLI), "api", "--port", port], self._api_environment())
        self._wait_for_http(self.config.ui_url)
        if "api" in self.processes:  # healthy once it serves its contract
            self._wait_for_http(f"{self.config.api_url}/openapi.json", process="api")
        print(f"[stack] up in {time.monotonic() - started:.1f} s", file=sys.stderr)

    def down(self) -> None:
        """Stop every process this stack started, then PostgreSQL; remove the state dir."""
        for process in self.processes.values():
            process.signal(signal.SIGTERM)  # all at once; then wait for each in turn
        for process in reversed(list(self.processes.values())):
            process.stop()
        ThrowawayCluster(
            bin_dir=Path(self.postgres_bin),
            port=self.config.postgres_port,
            root=Path(self.postgres_root),
        ).stop()
        (self.config.state_dir / STATE_FILE).unlink(missing_ok=True)

    def save(self) -> None:
        state = {
            "config": asdict(self.config) | {"state_dir": str(self.config.state_dir)},
            "postgres_bin": self.postgres_bin,
            "postgres_root": self.postgres_root,
            "tools": asdict(self.tools),
            "processes": {name: asdict(process) for name, process in self.processes.items()},
        }
        (self.config.state_dir / STATE_FILE).write_text(json.dumps(state, indent=2))

    @classmethod
    def load(cls, state_dir: Path) -> Stack:
        state = json.loads((state_dir / STATE_FILE).read_text())
        config = StackConfig(**(state["config"] | {"state_dir": state_dir}))
        stack = cls(
            config, ServerTools(**state["tools"]), state["postgres_bin"], state["postgres_root"]
        )
        stack.processes = {name: Process(**p) for name, p in state["processes"].items()}
        return stack

    # --- processes ------------------------------------------------------------------------

    def _start(self, name: str, command: list[str], environment: dict[str, str]) -> Process:
        process = Process(name, command, environment, cwd=str(REPO))
        process.start(self.config.state_dir)
        self.processes[name] = process
        self.save()
        return process

    def start_worker(self, index: int) -> Process:
        """`python worker.py` with the environment docker-compose gives its worker replicas."""
        command = [sys.executable, str(REPO / "worker.py")]
        name = f"worker-{index}"
        self.worker_starts[name] = self.worker_starts.get(name, 0) + 1
        return self._start(f"worker-{index}", command, self.config.worker_environment(index))

    async def wait_for_worker(self, index: int, seconds: float = 180) -> None:
        """Until worker `index` has migrated the database and polls (its `worker started`)."""
        name = f"worker-{index}"
        deadline = time.monotonic() + seconds
        while self.log(name).count(WORKER_STARTED) < self.worker_starts[name]:
            if not self.processes[name].running():
                raise StackError(f"{name} exited:\n{self.log(name)[-3000:]}")
            if time.monotonic() > deadline:
                raise StackError(f"{name} did not start in {seconds:.0f} s")
            await asyncio.sleep(0.3)

    async def restart_temporal(self) -> None:
        server = self.processes["temporal-server"]
        server.stop()
        server.start(self.config.state_dir)
        self.save()
        await self.wait_for_temporal()

    def log(self, name: str) -> str:
        path = self.processes[name].log_path(self.config.state_dir)
        return path.read_text(errors="replace") if path.exists() else ""

    # --- PostgreSQL -----------------------------------------------------------------------

    def _start_postgres(self) -> None:
        root = Path(self.postgres_root)
        ThrowawayCluster(
            bin_dir=Path(self.postgres_bin), port=self.config.postgres_port, root=root
        ).start()

    def _run_script(self, script: Path) -> None:
        """A deploy/ shell script, as docker-compose's containers run it."""
        path = os.pathsep.join(
            [self.postgres_bin, str(Path(self.tools.sql_tool).parent), os.environ["PATH"]]
        )
        environment = {
            **os.environ,
            "PATH": path,
            # deploy/postgres/: psql as the cluster's superuser
            "POSTGRES_USER": "postgres",
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.config.postgres_port),
            "BILLING_DB_NAME": self.config.billing_db,
            "BILLING_DB_USER": "billing",
            "BILLING_DB_PASSWORD": "billing",
            # deploy/temporal/setup-schema.sh: the schema tool
            "SQL_HOST": "127.0.0.1",
            "SQL_PORT": str(self.config.postgres_port),
            "SQL_USER": "postgres",
            "SQL_PASSWORD": "",
            "SCHEMA_DIR": self.tools.schema_dir,
        }
        result = subprocess.run(
            ["sh", str(script)], env=environment, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise StackError(f"{script.name} failed:\n{result.stdout}{result.stderr}")

    # --- Temporal -------------------------------------------------------------------------

    def _server_command(self) -> list[str]:
        return [
            self.tools.server,
            "--root", str(DEPLOY / "temporal"),
            "--config", "config",
            "--env", "billing",
            "--allow-no-auth",
            "start",
        ]  # fmt: skip

    def _server_environment(self) -> dict[str, str]:
        """What docker-compose gives the temporal service."""
        return {
            "TEMPORAL_PORT": str(self.config.temporal_port),
            "NUM_HISTORY_SHARDS": str(self.config.history_shards),
            "POSTGRES_SEEDS": "127.0.0.1",
            "DB_PORT": str(self.config.postgres_port),
            "POSTGRES_USER": "postgres",
            "POSTGRES_PWD": "",
            "DYNAMIC_CONFIG_FILE_PATH": str(DEPLOY / "temporal" / "dynamicconfig" / "billing.yaml"),
        }

    async def wait_for_temporal(self) -> Client:
        server = self.processes["temporal-server"]

        async def attempt() -> Client:
            if not server.running():
                raise StackError(f"temporal-server exited:\n{self.log('temporal-server')[-3000:]}")
            client = await connect(self.config.settings())
            await client.workflow_service.get_system_info(GetSystemInfoRequest())
            return client

        async with asyncio.timeout(180):
            return await wait_for_dependency(
                f"Temporal at {self.config.temporal_address}",
                attempt,
                retry_on=(RuntimeError, RPCError),
            )

    async def _register_namespace(self, client: Client) -> None:
        """`temporal operator namespace create` and our search attributes, idempotently."""
        try:
            await client.workflow_service.register_namespace(
                RegisterNamespaceRequest(
                    namespace=self.config.namespace,
                    workflow_execution_retention_period=Duration(
                        seconds=int(timedelta(days=30).total_seconds())
                    ),
                )
            )
        except RPCError as error:
            if error.status != RPCStatusCode.ALREADY_EXISTS:
                raise

        async def attempt() -> None:
            await register_search_attributes(client)

        async with asyncio.timeout(120):  # the namespace reaches the frontend's cache in ~10 s
            await wait_for_dependency("the namespace", attempt, retry_on=(RPCError,))

    def _ui_command(self) -> list[str]:
        root = self.tools.ui_config_root
        return [
            self.tools.ui_server,
            "--root",
            root,
            "--config",
            "config",
            "--env",
            "docker",
            "start",
        ]

    def _ui_environment(self) -> dict[str, str]:
        """What docker-compose gives the temporal-ui service (the image's config/docker.yaml)."""
        return {
            "TEMPORAL_ADDRESS": self.config.temporal_address,
            "TEMPORAL_UI_PORT": str(self.config.ui_port),
            "TEMPORAL_DEFAULT_NAMESPACE": self.config.namespace,
        }

    def _wait_for_http(self, url: str, seconds: float = 60, process: str | None = None) -> None:
        """Until `url` answers 2xx; `process`, when named, must keep running meanwhile."""
        deadline = time.monotonic() + seconds
        while True:
            if process is not None and not self.processes[process].running():
                raise StackError(f"{process} exited:\n{self.log(process)[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=5):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    # --- the API --------------------------------------------------------------------------

    def _api_environment(self) -> dict[str, str]:
        """The workers' environment: a pk_test_ key reaches their namespace and database."""
        return self.config.worker_environment(0) | {"API_PORT": str(self.config.api_port)}

    def create_api_key(self, account_id: str) -> str:
        """A new pk_test_ key for `account_id`, made with `billing api-keys create` as an
        operator would, in the database the API's test mode reads."""
        result = subprocess.run(
            [str(BILLING_CLI), "api-keys", "create", "--account", account_id, "--json"],
            cwd=REPO,
            env={**os.environ, **self._api_environment()},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            raise StackError(f"billing api-keys create failed:\n{result.stdout}{result.stderr}")
        key: str = json.loads(result.stdout)["key"]
        return key

    # --- mail -----------------------------------------------------------------------------

    def _mail_command(self) -> list[str]:
        port = str(self.config.smtp_port)
        return [
            str(BILLING_CLI),
            "dev-mail",
            "--port",
            port,
            "--save-dir",
            str(self.config.mail_dir),
        ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.stack", description=__doc__)
    parser.add_argument("command", choices=["up", "down"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[stack] %(message)s")
    config = StackConfig.from_environment()
    if args.command == "down":
        if not (config.state_dir / STATE_FILE).exists():
            print("[stack] no stack is running", file=sys.stderr)
            return 0
        Stack.load(config.state_dir).down()
        print("[stack] stopped", file=sys.stderr)
        return 0
    stack = asyncio.run(Stack.up(config))
    api = config.api_url if "api" in stack.processes else "(not yet)"
    print(
        f"Temporal      {config.temporal_address} (namespace {config.namespace})\n"
        f"Web UI        {config.ui_url}\n"
        f"PostgreSQL    {config.database_url}\n"
        f"Mail catcher  127.0.0.1:{config.smtp_port}, messages in {config.mail_dir}\n"
        f"HTTP API      {api}\n"
        f"Workers       {config.workers}, logs in {config.state_dir / 'logs'}\n"
        f"Processes     {', '.join(f'{n} ({p.pid})' for n, p in stack.processes.items())}\n"
        "Stop it with `make stack-down`."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
