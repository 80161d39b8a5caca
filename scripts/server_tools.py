"""Build and cache the production Temporal binaries for `make stack` and its acceptance test.

* `temporal-server`: `go install go.temporal.io/server/cmd/server@v<SERVER_VERSION>`, every service
  in one process (~2.5 min to build the first time);
* `temporal-sql-tool`: the same module's schema tool (creates and migrates the `temporal` and
  `temporal_visibility` databases from the module's `schema/postgresql/v12`);
* `ui-server`: the Temporal Web UI server `github.com/temporalio/ui-server/v2/cmd/server`, the
  version the `temporal` CLI we use embeds; its `config/docker.yaml` is the image's own config.

Binaries are cached outside the clone (TEMPORAL_TOOLS_CACHE, default ~/.cache/temporal-billing,
as scripts/temporal_tools.py); a lock file serialises concurrent builds. docker-compose.yml pins the
same versions (tests/deploy/test_compose.py). Usage: `python -m scripts.server_tools [--json]`.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from scripts.temporal_tools import ProvisioningError, cache_dir

SERVER_MODULE = "go.temporal.io/server"
SERVER_VERSION = "1.29.1"
UI_SERVER_MODULE = "github.com/temporalio/ui-server/v2"
UI_SERVER_VERSION = "2.42.1"
POSTGRES_MAJOR = 15
"""Debian's PostgreSQL, which scripts/postgres_tools.py installs; the compose image's major."""


@dataclass(frozen=True)
class ServerTools:
    server: str
    sql_tool: str
    ui_server: str
    schema_dir: str
    """The server module's `schema/postgresql/v12` (temporal/ and visibility/ inside)."""
    ui_config_root: str
    """The UI server module's folder: `--root` for `ui-server --env docker`."""


def _log(message: str) -> None:
    print(f"[server-tools] {message}", file=sys.stderr, flush=True)


@contextmanager
def _build_lock(folder: Path) -> Iterator[None]:
    with (folder / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _go(*args: str, env: dict[str, str] | None = None) -> str:
    if shutil.which("go") is None:
        raise ProvisioningError("Go is needed to build the Temporal server: install golang")
    result = subprocess.run(
        ["go", *args], env=env, capture_output=True, text=True, check=False, timeout=1800
    )
    if result.returncode != 0:
        raise ProvisioningError(f"go {' '.join(args)} failed:\n{result.stderr[-4000:]}")
    return result.stdout


def _install(package: str, version: str, target: Path) -> None:
    """`go install package@vversion` into `target` (built once, then only checked)."""
    if target.is_file():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with _build_lock(target.parent):
        if target.is_file():
            return
        _log(f"building {package}@v{version} (first time only, a few minutes)")
        started = time.monotonic()
        with tempfile.TemporaryDirectory(dir=target.parent) as gobin:
            env = {**os.environ, "GOBIN": gobin, "CGO_ENABLED": os.environ.get("CGO_ENABLED", "0")}
            _go("install", f"{package}@v{version}", env=env)
            (built,) = Path(gobin).iterdir()
            os.replace(built, target)
        size = target.stat().st_size / 1e6
        _log(f"built {target.name} in {time.monotonic() - started:.0f} s ({size:.0f} MB)")


def module_dir(module: str, version: str) -> Path:
    """The module's source folder in the Go module cache (downloaded when missing)."""
    info = json.loads(_go("mod", "download", "-json", f"{module}@v{version}"))
    return Path(info["Dir"])


def ensure_server_tools() -> ServerTools:
    server_home = cache_dir() / f"temporal-server-{SERVER_VERSION}"
    ui_home = cache_dir() / f"temporal-ui-server-{UI_SERVER_VERSION}"
    server = server_home / "temporal-server"
    sql_tool = server_home / "temporal-sql-tool"  # its name in the admin-tools image, as the
    # deploy/temporal/setup-schema.sh calls it (the stack puts this folder on PATH)
    ui_server = ui_home / "ui-server"
    _install(f"{SERVER_MODULE}/cmd/server", SERVER_VERSION, server)
    _install(f"{SERVER_MODULE}/cmd/tools/sql", SERVER_VERSION, sql_tool)
    _install(f"{UI_SERVER_MODULE}/cmd/server", UI_SERVER_VERSION, ui_server)
    server_source = module_dir(SERVER_MODULE, SERVER_VERSION)
    return ServerTools(
        server=str(server),
        sql_tool=str(sql_tool),
        ui_server=str(ui_server),
        schema_dir=str(server_source / "schema" / "postgresql" / "v12"),
        ui_config_root=str(module_dir(UI_SERVER_MODULE, UI_SERVER_VERSION)),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.server_tools")
    parser.add_argument("--json", action="store_true", help="print the paths as JSON")
    args = parser.parse_args(argv)
    try:
        tools = ensure_server_tools()
    except ProvisioningError as error:
        print(f"server-tools: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(asdict(tools)))
    else:
        for name, value in asdict(tools).items():
            print(f"{name}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
