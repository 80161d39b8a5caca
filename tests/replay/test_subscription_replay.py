"""Recorded subscription histories replay against the current workflow code.

A replay failure means a code change would break workflows already running in production: make
it a versioned change (`workflow.patched`) instead, then re-record with RECORD_HISTORIES=1."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from billing_service.worker import SANDBOX
from workflows.invoice import InvoiceWorkflow
from workflows.subscription import SubscriptionWorkflow

from replay.recording import HISTORIES

RECORDED = sorted(HISTORIES.glob("subscription*.json"))


def test_subscription_histories_are_recorded() -> None:
    assert len(RECORDED) >= 3, "run RECORD_HISTORIES=1 pytest tests/workflow_runs to record"


@pytest.mark.parametrize("path", RECORDED, ids=[path.stem for path in RECORDED])
async def test_recorded_subscription_history_replays_on_the_current_code(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, await asyncio.to_thread(path.read_text))
    replayer = Replayer(
        workflows=[SubscriptionWorkflow, InvoiceWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=SANDBOX,
    )
    await replayer.replay_workflow(history)
