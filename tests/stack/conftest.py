"""The production shape started for this package's tests: `make stack`'s processes on free ports,
in a state folder of the test session's own (devtools/stack.py)."""

from __future__ import annotations

import random
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devtools.stack import Stack, StackConfig

from notifications.servers import free_port, http_server

__all__ = ["http_server"]

# The Temporal ports are offsets from the frontend's (deploy/temporal/config/billing.yaml).
TEMPORAL_OFFSETS = (0, 1, 2, 6, 10, 20, 41, 42, 43, 100, 101, 102, 106)


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_temporal_port() -> int:
    """A frontend port whose whole block of service ports is free."""
    for _ in range(200):
        base = random.randrange(20_000, 32_000)  # membership ports are a smallint in SQL
        if all(_free(base + offset) for offset in TEMPORAL_OFFSETS):
            return base
    raise RuntimeError("no free block of ports for the Temporal server")


@pytest.fixture(scope="package")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    config = StackConfig(
        state_dir=Path(tmp_path_factory.mktemp("stack")),
        postgres_port=free_port(),
        temporal_port=free_temporal_port(),
        ui_port=free_port(),
        smtp_port=free_port(),
        api_port=free_port(),
        workers=2,
    )
    started = await Stack.up(config)
    try:
        yield started
    finally:
        started.down()
