"""Recorded InvoiceWorkflow histories (paid within the terms; unpaid up the whole dunning ladder)
replay against the current workflow code.

Re-record after a deliberate, versioned change:
`RECORD_HISTORIES=1 pytest tests/invoice_runs/test_payment_terms_and_dunning.py`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from billing_service.worker import SANDBOX
from workflows.invoice import InvoiceWorkflow

from replay.recording import HISTORIES

RECORDED = sorted(HISTORIES.glob("invoice_*.json"))


def test_invoice_histories_are_recorded() -> None:
    names = {path.stem for path in RECORDED}
    assert {"invoice_paid-run1", "invoice_unpaid_ladder-run1"} <= names, (
        "run RECORD_HISTORIES=1 pytest tests/invoice_runs/test_payment_terms_and_dunning.py"
    )


@pytest.mark.parametrize("path", RECORDED, ids=[path.stem for path in RECORDED])
async def test_recorded_invoice_history_replays_on_the_current_code(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, await asyncio.to_thread(path.read_text))
    replayer = Replayer(
        workflows=[InvoiceWorkflow], data_converter=pydantic_data_converter, workflow_runner=SANDBOX
    )
    await replayer.replay_workflow(history)  # raises on any nondeterminism
