"""Session-wide Temporal servers for the test suite: always the real ones.

* `time_skipping_env`: Temporal's Java time-skipping test server (timelines of months run in
  seconds; no updates, visibility queries or continue-as-new suggestion).
* `dev_env`: the official `temporal` CLI dev server with our search attributes registered.
* `env`: parametrised over both, for tests that must hold on either server.
* `own_time_skipping_env`: a time-skipping server of the test's own, for tests whose abandoned
  child workflows complete: the Java test server stops skipping time for good once an abandoned
  child completes after its parent run closed (temporalio/sdk-java#1539).

The dev server suggests continue-as-new after `SUGGEST_CONTINUE_AS_NEW_AFTER` history events (the
production default is 4,096) so that tests of a few hundred signals cross a continue-as-new.

A missing server fails the test with instructions; it never skips it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from billing_service.temporal_client import register_search_attributes
from scripts.temporal_tools import ProvisioningError, TemporalTools, ensure_all
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES

SERVER_KINDS = ("time_skipping", "dev")
SUGGEST_CONTINUE_AS_NEW_AFTER = 100


@pytest.fixture(scope="session")
def temporal_tools() -> TemporalTools:
    try:
        return ensure_all()
    except ProvisioningError as error:
        pytest.fail(
            f"Temporal servers unavailable: {error}\n"
            "Run `make tools` (needs Go and Java/Maven, or internet access) and try again.",
            pytrace=False,
        )


async def _start_time_skipping(tools: TemporalTools) -> WorkflowEnvironment:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=tools.test_server,
        test_server_startup_timeout=timedelta(seconds=90),
    )
    await register_search_attributes(env.client)
    return env


@pytest.fixture(scope="session")
async def time_skipping_env(temporal_tools: TemporalTools) -> AsyncIterator[WorkflowEnvironment]:
    env = await _start_time_skipping(temporal_tools)
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
async def own_time_skipping_env(
    temporal_tools: TemporalTools,
) -> AsyncIterator[WorkflowEnvironment]:
    env = await _start_time_skipping(temporal_tools)
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
async def dev_env(temporal_tools: TemporalTools) -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=temporal_tools.dev_server,
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_startup_timeout=timedelta(seconds=90),
        dev_server_extra_args=[
            "--dynamic-config-value",
            f"limit.historyCount.suggestContinueAsNew={SUGGEST_CONTINUE_AS_NEW_AFTER}",
        ],
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(params=SERVER_KINDS)
def env(request: pytest.FixtureRequest) -> WorkflowEnvironment:
    """The same test on the time-skipping server and on the dev server."""
    environment: WorkflowEnvironment = request.getfixturevalue(f"{request.param}_env")
    return environment


@pytest.fixture
def task_queue(request: pytest.FixtureRequest) -> str:
    """A task queue of this test's own, so that no worker of another test picks up its tasks."""
    return f"test-{request.node.name[:40]}-{uuid.uuid4().hex[:8]}"
