"""Make PostgreSQL available and run throwaway clusters for tests and benchmarks.

* `ensure`: find the server binaries (`initdb`, `pg_ctl`, `postgres`) on PATH, in
  POSTGRES_BIN_DIR or in Debian's /usr/lib/postgresql/<version>/bin; when they are missing, install
  Debian's `postgresql` package with apt-get (as root, or through sudo).
* `ThrowawayCluster`: `initdb` in a temporary folder, `postgres` on a free loopback port with
  fsync off, trust authentication for local connections, removed again on `stop()`. PostgreSQL
  refuses to run as root, so as root the cluster runs as the `postgres` user (created as a system
  user when missing) through `runuser`.

Usage: `python -m scripts.postgres_tools ensure` or `python -m scripts.postgres_tools run` (starts
a cluster, prints its URL and keeps it running until interrupted).
"""

from __future__ import annotations

import argparse
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")
DEBIAN_BIN_ROOT = Path("/usr/lib/postgresql")
UNPRIVILEGED_USER = "postgres"
INSTALL_HINT = (
    "Install PostgreSQL's server binaries (Debian/Ubuntu: `sudo apt-get install postgresql`), "
    "or point POSTGRES_BIN_DIR at the folder holding initdb and pg_ctl, then run "
    "`python -m scripts.postgres_tools ensure`."
)


class PostgresUnavailableError(RuntimeError):
    """PostgreSQL could not be found, installed or started; the message says how to fix it."""


def _log(message: str) -> None:
    print(f"[postgres-tools] {message}", file=sys.stderr, flush=True)


def _has_server_binaries(folder: Path) -> bool:
    return all((folder / name).is_file() for name in SERVER_BINARIES)


def _version_key(folder: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", folder.name))


def find_bin_dir() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres, or None when PostgreSQL is not installed."""
    explicit = os.environ.get("POSTGRES_BIN_DIR")
    if explicit:
        return Path(explicit) if _has_server_binaries(Path(explicit)) else None
    on_path = shutil.which("pg_ctl")
    if on_path and _has_server_binaries(Path(on_path).resolve().parent):
        return Path(on_path).resolve().parent
    if DEBIAN_BIN_ROOT.is_dir():
        versions = sorted(DEBIAN_BIN_ROOT.iterdir(), key=_version_key, reverse=True)
        for version in versions:
            if _has_server_binaries(version / "bin"):
                return version / "bin"
    return None


def _privileged_prefix() -> list[str]:
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo"):
        return ["sudo", "-n"]
    raise PostgresUnavailableError(
        f"PostgreSQL is missing and this user cannot install it. {INSTALL_HINT}"
    )


def install_with_apt() -> None:
    """Install Debian's `postgresql` package (apt-get update first)."""
    if not shutil.which("apt-get"):
        raise PostgresUnavailableError(
            f"PostgreSQL is missing and apt-get is not available. {INSTALL_HINT}"
        )
    prefix = _privileged_prefix()
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        [*prefix, "apt-get", "update"],
        [*prefix, "apt-get", "install", "-y", "--no-install-recommends", "postgresql"],
    ):
        _log(" ".join(command))
        result = subprocess.run(command, env=env, check=False)
        if result.returncode != 0:
            raise PostgresUnavailableError(
                f"`{' '.join(command)}` failed with exit code {result.returncode}. {INSTALL_HINT}"
            )


def ensure() -> Path:
    """The PostgreSQL binary folder, installing Debian's package first when it is missing."""
    found = find_bin_dir()
    if found is not None:
        return found
    _log("PostgreSQL server binaries not found; installing Debian's postgresql package")
    install_with_apt()
    found = find_bin_dir()
    if found is None:
        raise PostgresUnavailableError(
            f"apt-get installed postgresql but initdb/pg_ctl are still not found. {INSTALL_HINT}"
        )
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _run_as_user() -> str | None:
    """The user the cluster runs as when we are root (PostgreSQL refuses root), else None."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        _log(f"creating system user {UNPRIVILEGED_USER!r} to run PostgreSQL")
        subprocess.run(["useradd", "--system", "--no-create-home", UNPRIVILEGED_USER], check=True)
    return UNPRIVILEGED_USER


@dataclass
class ThrowawayCluster:
    """A PostgreSQL cluster in a temporary folder, reachable on 127.0.0.1:<port> as `postgres`."""

    bin_dir: Path
    port: int = 0
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="billing-pg-")))
    _user: str | None = None

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _command(self, *args: str) -> list[str]:
        prefix = ["runuser", "-u", self._user, "--"] if self._user else []
        return [*prefix, *args]

    def _run(self, *args: str) -> None:
        result = subprocess.run(self._command(*args), capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise PostgresUnavailableError(
                f"`{' '.join(args)}` failed ({result.returncode}):\n{result.stdout}{result.stderr}"
            )

    def start(self) -> ThrowawayCluster:
        self._user = _run_as_user()
        if self._user:
            shutil.chown(self.root, user=self._user)
        self.port = self.port or free_port()
        self._run(
            str(self.bin_dir / "initdb"),
            "--pgdata", str(self.data_dir),
            "--username", "postgres",
            "--auth", "trust",
            "--encoding", "UTF8",
            "--locale", "C.UTF-8",
            "--no-sync",
        )  # fmt: skip
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "--pgdata", str(self.data_dir),
            "--log", str(self.root / "postgres.log"),
            "--options", options,
            "--wait",
            "--timeout", "60",
            "start",
        )  # fmt: skip
        self._wait_until_accepting()
        return self

    def _wait_until_accepting(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise PostgresUnavailableError(f"PostgreSQL did not accept connections on {self.port}")

    def stop(self) -> None:
        self._user = self._user or _run_as_user()  # also for a cluster started by another process
        if self.data_dir.exists():
            subprocess.run(
                self._command(
                    str(self.bin_dir / "pg_ctl"), "--pgdata", str(self.data_dir),
                    "--mode", "immediate", "--wait", "stop",
                ),
                capture_output=True,
                check=False,
            )  # fmt: skip
        shutil.rmtree(self.root, ignore_errors=True)


def start_cluster() -> ThrowawayCluster:
    """Ensure PostgreSQL is installed and start a throwaway cluster."""
    return ThrowawayCluster(bin_dir=ensure()).start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.postgres_tools")
    parser.add_argument("command", choices=["ensure", "run"])
    args = parser.parse_args(argv)
    try:
        if args.command == "ensure":
            print(ensure())
            return 0
        cluster = start_cluster()
    except PostgresUnavailableError as error:
        _log(str(error))
        return 1
    print(cluster.url(), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        cluster.stop()


if __name__ == "__main__":
    sys.exit(main())
