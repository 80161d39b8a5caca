"""Make both real Temporal servers available and say where they are.

* Dev server with Web UI: the official `temporal` CLI. Found on PATH or given by TEMPORAL_CLI;
  else a cached `go install github.com/temporalio/cli/cmd/temporal@<version>`; else (no Go, but
  internet) the official release archive, checked against the release's published SHA-256 list.
* Time-skipping test server: the Java `io.temporal:temporal-test-server` from Maven Central with
  its dependency jars, behind a launcher that execs java. The SDK passes the port and toggles
  time skipping itself, so the launcher adds no flags. Without Java, `None` is returned and the
  SDK downloads its own.

Everything is cached outside the clone (TEMPORAL_TOOLS_CACHE, default
~/.cache/temporal-billing), so a second run only checks that files exist. Usage: `python -m
scripts.temporal_tools [--json]`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

CLI_MODULE = "github.com/temporalio/cli/cmd/temporal"
CLI_VERSION = "1.5.1"
TEST_SERVER_ARTIFACT = "io.temporal:temporal-test-server"
TEST_SERVER_VERSION = "1.38.0"
TEST_SERVER_MAIN = "io.temporal.testserver.TestServer"
RELEASE_BASE = f"https://github.com/temporalio/cli/releases/download/v{CLI_VERSION}"


class ProvisioningError(RuntimeError):
    """A server could not be made available; the message says how to fix it."""


@dataclass(frozen=True)
class TemporalTools:
    dev_server: str
    test_server: str | None
    """None means: let the SDK download its own test server (needs internet)."""


def cache_dir() -> Path:
    root = os.environ.get("TEMPORAL_TOOLS_CACHE") or Path.home() / ".cache" / "temporal-billing"
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _log(message: str) -> None:
    print(f"[temporal-tools] {message}", file=sys.stderr, flush=True)


# --- dev server -------------------------------------------------------------------------------


def ensure_dev_server() -> str:
    explicit = os.environ.get("TEMPORAL_CLI")
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise ProvisioningError(f"TEMPORAL_CLI={explicit} is not an executable file")
        return explicit
    on_path = shutil.which("temporal")
    if on_path:
        return on_path
    cached = cache_dir() / f"temporal-cli-{CLI_VERSION}" / "temporal"
    if cached.is_file():
        return str(cached)
    cached.parent.mkdir(parents=True, exist_ok=True)
    if shutil.which("go"):
        _build_cli_with_go(cached)
    else:
        _download_cli_release(cached)
    return str(cached)


def _build_cli_with_go(target: Path) -> None:
    _log(f"building {CLI_MODULE}@v{CLI_VERSION} with Go (first time only, a few minutes)")
    with tempfile.TemporaryDirectory(dir=target.parent) as gobin:
        env = {**os.environ, "GOBIN": gobin, "CGO_ENABLED": os.environ.get("CGO_ENABLED", "0")}
        result = subprocess.run(
            ["go", "install", f"{CLI_MODULE}@v{CLI_VERSION}"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ProvisioningError(
                f"go install {CLI_MODULE}@v{CLI_VERSION} failed:\n{result.stderr[-4000:]}\n"
                "Check GOPROXY/GOSUMDB reachability, or put a `temporal` binary on PATH "
                "(or set TEMPORAL_CLI)."
            )
        os.replace(Path(gobin) / "temporal", target)


def _download_cli_release(target: Path) -> None:
    system = platform.system().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower()
    )
    if system not in ("linux", "darwin") or arch is None:
        raise ProvisioningError(f"no Temporal CLI release for {system}/{platform.machine()}")
    archive_name = f"temporal_cli_{CLI_VERSION}_{system}_{arch}.tar.gz"
    _log(f"Go not found: downloading {archive_name} from the official release")
    try:
        checksums = _fetch(f"{RELEASE_BASE}/temporal_cli_{CLI_VERSION}_checksums.txt").decode()
        archive = _fetch(f"{RELEASE_BASE}/{archive_name}")
    except OSError as error:
        raise ProvisioningError(
            f"cannot download the Temporal CLI ({error}); install Go so it can be built from its "
            "module, or put `temporal` on PATH"
        ) from error
    expected = {
        name: digest for digest, name in (line.split() for line in checksums.splitlines() if line)
    }.get(archive_name)
    actual = hashlib.sha256(archive).hexdigest()
    if expected != actual:
        raise ProvisioningError(f"{archive_name}: SHA-256 {actual} does not match {expected}")
    with tempfile.TemporaryDirectory() as unpack:
        archive_path = Path(unpack) / archive_name
        archive_path.write_bytes(archive)
        with tarfile.open(archive_path) as tar:
            tar.extract("temporal", unpack, filter="data")
        shutil.move(str(Path(unpack) / "temporal"), target)
    target.chmod(0o755)


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as response:
        body: bytes = response.read()
        return body


# --- time-skipping test server ----------------------------------------------------------------

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.billing</groupId><artifactId>temporal-test-server-launcher</artifactId>
  <version>1</version><packaging>pom</packaging>
  <dependencies><dependency>
    <groupId>{group}</groupId><artifactId>{artifact}</artifactId><version>{version}</version>
  </dependency></dependencies>
</project>
"""


def ensure_test_server() -> str | None:
    explicit = os.environ.get("TEMPORAL_TEST_SERVER")
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise ProvisioningError(f"TEMPORAL_TEST_SERVER={explicit} is not an executable file")
        return explicit
    home = cache_dir() / f"temporal-test-server-{TEST_SERVER_VERSION}"
    launcher = home / "temporal-test-server"
    if launcher.is_file() and (home / "lib").is_dir():
        return str(launcher)
    java = shutil.which("java")
    if java is None:
        _log("java not found: the SDK will download its own time-skipping test server")
        return None
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ProvisioningError(
            "Java is installed but Maven is not: install Maven (apt-get install maven) so the "
            f"{TEST_SERVER_ARTIFACT} jars can be fetched from Maven Central"
        )
    _log(f"fetching {TEST_SERVER_ARTIFACT}:{TEST_SERVER_VERSION} and its jars from Maven Central")
    home.mkdir(parents=True, exist_ok=True)
    group, artifact = TEST_SERVER_ARTIFACT.split(":")
    pom = home / "pom.xml"
    pom.write_text(_POM.format(group=group, artifact=artifact, version=TEST_SERVER_VERSION))
    staging = home / "lib.partial"
    shutil.rmtree(staging, ignore_errors=True)
    result = subprocess.run(
        [mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
         f"-DoutputDirectory={staging}", "-DincludeScope=runtime"],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise ProvisioningError(f"Maven could not fetch the test server:\n{result.stdout[-4000:]}")
    shutil.rmtree(home / "lib", ignore_errors=True)
    staging.rename(home / "lib")
    launcher.write_text(
        "#!/bin/sh\n"
        "# Temporal's time-skipping test server; the SDK passes the port as the only argument.\n"
        f'exec "{java}" -Xss512k -XX:+UseSerialGC -cp "{home / "lib"}/*" {TEST_SERVER_MAIN} "$@"\n'
    )
    launcher.chmod(0o755)
    return str(launcher)


def ensure_all() -> TemporalTools:
    return TemporalTools(dev_server=ensure_dev_server(), test_server=ensure_test_server())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print the paths as JSON")
    args = parser.parse_args(argv)
    try:
        tools = ensure_all()
    except ProvisioningError as error:
        print(f"temporal-tools: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(asdict(tools)))
    else:
        print(f"TEMPORAL_CLI={tools.dev_server}")
        print(f"TEMPORAL_TEST_SERVER={tools.test_server or '(SDK download)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
