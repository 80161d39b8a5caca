"""A run continued by the code before issue 12 (its state under `carried`, in the published
input) resumes on the one-state kernel: the state converts whole."""

from __future__ import annotations

import json
from pathlib import Path

from billing.contracts.subscription_state import SubscriptionState

OLD_INPUT = Path(__file__).parent / "data" / "subscription-continued-by-v1.json"


def test_the_state_an_older_run_carried_converts_whole() -> None:
    carried = json.loads(OLD_INPUT.read_text())["carried"]
    state = SubscriptionState.model_validate(carried)

    assert state.stored_status == state.status  # the older run had written its status
    assert not state.status_unsaved
    assert state.plan.subscription_id == carried["plan"]["subscription_id"]
    assert state.run == carried["run"]
    assert {m: u.quantity for m, u in state.usage.items()} == {
        m: type(state.usage[m].quantity)(u["quantity"]) for m, u in carried["usage"].items()
    }


def test_the_state_survives_its_own_json_round_trip() -> None:
    carried = json.loads(OLD_INPUT.read_text())["carried"]
    state = SubscriptionState.model_validate(carried)
    state.approvals = ["INV-1"]
    state.status = "past_due"
    again = SubscriptionState.model_validate(state.model_dump(mode="json"))
    assert again == state
    assert again.status_unsaved
