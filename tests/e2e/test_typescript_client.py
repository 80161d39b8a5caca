"""The TypeScript client (`clients/typescript/`): its generated types are current, its test runs
the guide's four snippets exactly as the guide prints them, and `node --test` passes, both
against servers that fail on purpose and against a real `billing api` process with a fresh
`pk_test_` key, a worker and the dev server (customer, backdated subscription, 350 GB, the
74.99 EUR invoice)."""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from devtools.demo import USAGE_GB, last_month_start
from scripts.export_ts_types import TYPES, rendered

from api.server import ApiProcess, new_key
from e2e.conftest import StartWorker
from e2e.typescript import PACKAGE, REPO, build

GUIDE = REPO / "clients" / "guide.js"
GUIDE_TEST = PACKAGE / "test" / "guide.test.mjs"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("typescript-client"))


def guide_snippets() -> list[str]:
    """The guide's four calls, each from its first line to its closing `});`."""
    return re.findall(r"^(?:const meter = |await client\.)[\s\S]*?^\}\);$", GUIDE.read_text(), re.M)


def test_the_generated_types_are_current() -> None:
    assert TYPES.read_text() == rendered(), "run: uv run python -m scripts.export_ts_types"


def test_the_node_test_contains_the_guides_four_snippets_verbatim() -> None:
    snippets = guide_snippets()
    assert [s.split("(")[0] for s in snippets] == [
        "const meter = await client.billing.meters.create",
        "await client.billing.pricing.create",
        "await client.billing.config.update",
        "await client.billing.notifications.configure",
    ]
    text = GUIDE_TEST.read_text()
    for snippet in snippets:
        assert snippet in text


def test_the_guides_snippets_type_check_against_the_client(compiled: Path) -> None:
    """Typed TypeScript users paste the same lines: `tsc --strict` accepts them as written."""
    checked = compiled / "typecheck"
    checked.mkdir()
    body = "\n\n".join(guide_snippets())
    (checked / "guide.ts").write_text(
        'import { Billing } from "../src/index.js";\n\n'
        "export async function guide(client: Billing): Promise<string> {\n"
        f"{body}\n\nreturn meter.id;\n}}\n"
    )
    done = subprocess.run(
        ["node", "node_modules/typescript/bin/tsc", "--noEmit", "-p", "tsconfig.typecheck.json"],
        cwd=compiled,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _node_test(compiled: Path, name: str, env: dict[str, str], timeout: float) -> str:
    done = subprocess.run(
        ["node", "--test", "--test-reporter=spec", f"test/{name}"],
        cwd=compiled,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_retries_reuse_one_key_and_errors_are_typed(compiled: Path) -> None:
    output = _node_test(compiled, "retry.test.mjs", {}, timeout=120)
    assert "skipped 0" in output, output


def test_the_guide_verbatim_against_a_billing_api_process(
    compiled: Path,
    api_process: ApiProcess,
    database_url: str,
    worker_process: StartWorker,
    tmp_path: Path,
) -> None:
    run = uuid.uuid4().hex[:8]
    recorded = tmp_path / "usage-recorded"
    env = {
        "BILLING_API_URL": api_process.url,
        "BILLING_API_KEY": new_key(database_url, account_id=f"acct_ts{run}", mode="test"),
        "BILLING_RUN": run,
        "BILLING_START_AT": last_month_start(datetime.now(UTC)).isoformat(),
        "BILLING_USAGE_GB": str(list(USAGE_GB)),
        "BILLING_USAGE_RECORDED": str(recorded),
    }
    assert sum(USAGE_GB) == 350
    with (tmp_path / "node.log").open("w+") as log:
        node = subprocess.Popen(
            ["node", "--test", "--test-reporter=spec", "test/guide.test.mjs"],
            cwd=compiled,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            # The worker starts once the usage is in, so the backdated month is invoiced with it.
            deadline = time.monotonic() + 120
            while not recorded.exists() and node.poll() is None:
                assert time.monotonic() < deadline, "node never recorded the usage"
                time.sleep(0.2)
            if node.poll() is None:
                worker_process()
            returncode = node.wait(timeout=240)
        finally:
            if node.poll() is None:
                node.kill()
                node.wait()
        log.seek(0)
        output = log.read()
    assert returncode == 0, output
    assert "skipped 0" in output, output
