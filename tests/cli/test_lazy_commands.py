"""`billing` registers subcommands by module path; each entry must load the command it names."""

from __future__ import annotations

import click
import pytest

from billing_service.cli import COMMANDS, load


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_entry_loads_its_command(name: str) -> None:
    command = load(name)
    assert isinstance(command, click.Command)
    assert command.name == name
    assert command.help, f"{name} has no help text"
