"""The production worker (`python worker.py`) as a separate process, configured only through
environment variables, as an operator would run it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from notifications.servers import free_port

REPO = Path(__file__).resolve().parents[2]


@dataclass
class WorkerProcess:
    """One `python worker.py`; its output goes to `log_path` (shown when a test fails)."""

    environment: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self) -> None:
        env = {**os.environ, **self.environment}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "worker.py"],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def _running(self) -> subprocess.Popen[bytes]:
        if self.process is None or self.process.poll() is not None:
            raise AssertionError(f"the worker is not running; its log:\n{self.log()}")
        return self.process

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, in-flight activities are simply lost."""
        process = self._running()
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

    def terminate(self) -> int:
        """SIGTERM: the worker finishes in-flight activities and exits; its exit code."""
        process = self._running()
        process.send_signal(signal.SIGTERM)
        return process.wait(timeout=60)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def worker_environment(
    *, temporal_address: str, task_queue: str, database_url: str, smtp_port: int
) -> dict[str, str]:
    """Every setting the worker needs, by its environment variable (billing_service/settings.py)."""
    return {
        "TEMPORAL_ADDRESS": temporal_address,
        "TEMPORAL_NAMESPACE": "default",
        "TEMPORAL_TASK_QUEUE": task_queue,
        "DATABASE_URL": database_url,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "MAIL_FROM": "billing@platforma.example",
        "WEBHOOK_TIMEOUT_SECONDS": "5",
        "METRICS_PORT": str(free_port()),
        "LOG_LEVEL": "INFO",
        "BILLING_MODE": "test",
        # Test mode's namespace and database are the ones this test made for it.
        "TEMPORAL_TEST_NAMESPACE": "default",
        "TEST_DATABASE_URL": database_url,
    }
