"""Run the real `billing` command in-process (click's CliRunner) with a given environment.

The CLI calls `asyncio.run`, so async tests invoke it in a thread (`invoke_async`)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from billing import seed
from billing_service.cli import main

HYBRID_PRICING = seed.HYBRID_PRICING


@dataclass
class Billing:
    """`billing ...` with DATABASE_URL and the Temporal settings of one test."""

    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.env = {
            "DATABASE_URL": f"sqlite:///{self.data_dir / 'billing.db'}",
            "BILLING_API_KEY": "",
            "BILLING_MODE": "test",
            **self.env,
        }

    def __call__(self, *args: str, extra_env: dict[str, str] | None = None) -> Result:
        environment = {**self.env, **(extra_env or {})}
        # An empty BILLING_API_KEY means "no key" for these tests.
        unset = [key for key, value in environment.items() if value == ""]
        runner = CliRunner()
        return runner.invoke(
            main,
            list(args),
            env={k: (None if k in unset else v) for k, v in environment.items()},
            catch_exceptions=False,
        )

    async def invoke_async(self, *args: str, extra_env: dict[str, str] | None = None) -> Result:
        return await asyncio.to_thread(self, *args, extra_env=extra_env)

    def json(self, *args: str) -> Any:
        result = self(*args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    async def json_async(self, *args: str) -> Any:
        result = await self.invoke_async(*args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def write(self, name: str, data: Any) -> Path:
        path = self.data_dir / name
        path.write_text(json.dumps(data), encoding="utf-8")
        return path
