"""The TypeScript client built as CI builds it: `npm ci` from the committed lock file, then `tsc`.

`node_modules` is installed once per lock file into a cache outside the clone
(`$XDG_CACHE_HOME/temporal-billing/`, else `~/.cache/...`); each test session compiles a copy of
`clients/typescript/` in its own directory, so the clone stays untouched. Node ≥ 18 and npm (with
access to the npm registry, or a warm cache) are needed; without them the test fails, it never
skips.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "clients" / "typescript"


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "temporal-billing"


def _run(args: list[str], cwd: Path, what: str) -> None:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        pytest.fail(f"{what} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def node_modules() -> Path:
    """`node_modules` for the committed lock file, installed by `npm ci` when not cached yet."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            pytest.fail(f"`{tool}` not found: install Node.js >= 18 with npm", pytrace=False)
    lock = (PACKAGE / "package-lock.json").read_bytes()
    cached = _cache_root() / f"typescript-{hashlib.sha256(lock).hexdigest()[:16]}"
    if not (cached / "node_modules" / "typescript" / "bin" / "tsc").exists():
        staging = cached.with_name(f"{cached.name}.{uuid.uuid4().hex[:8]}")
        staging.mkdir(parents=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(PACKAGE / name, staging / name)
        _run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"], staging, "npm ci")
        try:
            staging.rename(cached)  # atomic: a concurrent session wins or loses cleanly
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
    return cached / "node_modules"


def build(into: Path) -> Path:
    """A compiled copy of the package in `into` (`dist/`, `test/`), ready for `node --test`."""
    for name in ("package.json", "tsconfig.json"):
        shutil.copy(PACKAGE / name, into / name)
    for folder in ("src", "test"):
        shutil.copytree(PACKAGE / folder, into / folder)
    (into / "node_modules").symlink_to(node_modules(), target_is_directory=True)
    (into / "tsconfig.typecheck.json").write_text(
        '{"extends": "./tsconfig.json", "compilerOptions": {"rootDir": "."},'
        ' "include": ["src", "typecheck"]}\n'
    )
    _run(["node", "node_modules/typescript/bin/tsc", "-p", "tsconfig.json"], into, "tsc")
    return into
