"""`billing api` as a separate process on a free port, configured only by environment
variables as an operator would run it, plus keys made the way an operator makes them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from billing_db import repo_api_keys
from billing_db.engine import make_engine
from billing_db.records import Mode
from billing_service.services import catalog as services

from notifications.servers import free_port

REPO = Path(__file__).resolve().parents[2]


@dataclass
class ApiProcess:
    """One `billing api` process; its output goes to `log_path`."""

    environment: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        env = {**os.environ, **self.environment, "API_PORT": str(self.port)}
        env.pop("BILLING_API_KEY", None)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(Path(sys.executable).parent / "billing"), "api", "--host", "127.0.0.1"],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"billing api exited; its log:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/openapi.json", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"billing api did not answer; its log:\n{self.log()}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def api_environment(
    *,
    temporal_address: str,
    task_queue: str,
    test_namespace: str,
    live_namespace: str,
    test_database_url: str,
    live_database_url: str,
) -> dict[str, str]:
    """Both modes' places, by their environment variables (billing_service/settings.py)."""
    return {
        "TEMPORAL_ADDRESS": temporal_address,
        "TEMPORAL_NAMESPACE": live_namespace,
        "TEMPORAL_TEST_NAMESPACE": test_namespace,
        "TEMPORAL_TASK_QUEUE": task_queue,
        "DATABASE_URL": live_database_url,
        "TEST_DATABASE_URL": test_database_url,
        "LOG_LEVEL": "INFO",
    }


def new_key(database_url: str, *, account_id: str, mode: Mode) -> str:
    """A key for `account_id` (created in `mode` when new), as `billing api-keys create` does."""
    engine = make_engine(database_url)
    try:
        services.account(engine, account_id=account_id, mode=mode)
        return repo_api_keys.create_api_key(engine, account_id=account_id, mode=mode).secret
    finally:
        engine.dispose()
