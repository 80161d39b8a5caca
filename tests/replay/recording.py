"""Record workflow histories for the replay tests: `RECORD_HISTORIES=1 pytest tests/...`.

Tests that produce interesting histories call `record_chain` at their end; it does nothing unless
RECORD_HISTORIES is set, so the committed histories change only when someone asks for it (after a
deliberate, versioned change of a workflow's commands).
"""

from __future__ import annotations

import os
from pathlib import Path

from temporalio.client import Client

HISTORIES = Path(__file__).parent / "histories"


def recording() -> bool:
    return os.environ.get("RECORD_HISTORIES") == "1"


async def record_chain(client: Client, workflow_id: str, first_run_id: str, name: str) -> None:
    """Save every run of a workflow, following continue-as-new from `first_run_id`, as
    `histories/<name>-run<N>.json`."""
    if not recording():
        return
    HISTORIES.mkdir(exist_ok=True)
    run_id: str | None = first_run_id
    number = 1
    while run_id:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        (HISTORIES / f"{name}-run{number}.json").write_text(history.to_json())
        last = history.events[-1]
        if last.HasField("workflow_execution_continued_as_new_event_attributes"):
            run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
        else:
            run_id = None
        number += 1
