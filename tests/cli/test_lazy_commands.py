"""`billing` registers subcommands by module path; each entry must load the command it names."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

from billing_service.cli import COMMANDS, load


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_entry_loads_its_command(name: str) -> None:
    command = load(name)
    assert isinstance(command, click.Command)
    assert command.name == name
    assert command.help, f"{name} has no help text"


def test_the_group_loads_without_the_heavy_dependencies() -> None:
    """`billing --help` stays fast: listing the commands imports no Temporal, SQLAlchemy or
    catalog module (measured by benchmarks/bench_cli_startup.py, never timed here)."""
    probe = (
        "import sys; from billing_service.cli import main; "
        "main(['--help'], standalone_mode=False); "
        "print('LOADED', *sorted(m for m in sys.modules if m.split('.')[0] in HEAVY))"
    )
    heavy = "{'temporalio', 'sqlalchemy', 'sqlmodel', 'pydantic', 'rich', 'billing', 'billing_db'}"
    result = subprocess.run(
        [sys.executable, "-c", f"HEAVY = {heavy}; {probe}"],
        capture_output=True,
        text=True,
        check=True,
    )
    [loaded] = [line for line in result.stdout.splitlines() if line.startswith("LOADED")]
    assert loaded.split()[1:] == []
    assert "worker" in result.stdout
