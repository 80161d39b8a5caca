"""The installed package, as a new user gets it: the wheel built from this checkout, installed in a
fresh virtual environment with its runtime dependencies only (no dev group, no source tree)."""

from __future__ import annotations

import os
import subprocess
import tomllib
from pathlib import Path

import pytest

from deploy.compose import REPO

WHEEL_PACKAGES: list[str] = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["hatch"][
    "build"
]["targets"]["wheel"]["packages"]

# `uv run` names its own binary in $UV; `make` runs uv as `python3 -m uv`.
UV = [os.environ["UV"]] if os.environ.get("UV") else ["python3", "-m", "uv"]

IMPORT_EVERY_MODULE = """
import importlib, pkgutil, sys
for name in sys.argv[1:]:
    package = importlib.import_module(name)
    for module in pkgutil.walk_packages(package.__path__, name + "."):
        importlib.import_module(module.name)
"""


def _run(*command: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run outside the checkout with a clean environment: nothing leaks in from the source tree."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("VIRTUAL_ENV")}
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ directory of a fresh venv holding only the wheel and its runtime dependencies."""
    work = tmp_path_factory.mktemp("wheel")
    built = _run(*UV, "build", "--wheel", "--out-dir", work / "dist", REPO, cwd=work)
    assert built.returncode == 0, built.stderr
    (wheel,) = (work / "dist").glob("*.whl")
    venv = work / "venv"
    created = _run(*UV, "venv", "--quiet", venv, cwd=work)
    assert created.returncode == 0, created.stderr
    python = venv / "bin" / "python"
    pip = _run(*UV, "pip", "install", "--python", python, wheel, cwd=work)
    assert pip.returncode == 0, pip.stderr
    return venv / "bin"


def test_every_product_module_imports_with_runtime_dependencies_only(installed: Path) -> None:
    result = _run(installed / "python", "-c", IMPORT_EVERY_MODULE, *WHEEL_PACKAGES, cwd=installed)
    assert result.returncode == 0, result.stderr


def test_billing_help_lists_the_commands(installed: Path) -> None:
    result = _run(installed / "billing", "--help", cwd=installed)
    assert result.returncode == 0, result.stderr
    assert "worker" in result.stdout


def test_billing_worker_help(installed: Path) -> None:
    result = _run(installed / "billing", "worker", "--help", cwd=installed)
    assert result.returncode == 0, result.stderr
    assert "--live" in result.stdout


def test_billing_api_help(installed: Path) -> None:
    listing = _run(installed / "billing", "--help", cwd=installed).stdout
    assert any(line.split()[:1] == ["api"] for line in listing.splitlines()), listing
    result = _run(installed / "billing", "api", "--help", cwd=installed)
    assert result.returncode == 0, result.stderr


def test_a_dev_command_explains_it_needs_a_source_checkout(installed: Path) -> None:
    result = _run(installed / "billing", "dev-mail", "--port", "2525", cwd=installed)
    assert result.returncode == 2
    assert "development command" in result.stderr
    assert "Traceback" not in result.stderr
