"""The published JSON Schemas under contract/ match the pydantic contract models."""

from __future__ import annotations

import json

from scripts.export_contract import CONTRACT, rendered


def test_contract_schemas_are_up_to_date_with_the_models() -> None:
    expected = rendered()
    committed = {path.name: path.read_text() for path in CONTRACT.glob("*.schema.json")}
    assert sorted(committed) == sorted(expected), "run: uv run python -m scripts.export_contract"
    stale = [name for name, text in expected.items() if committed[name] != text]
    assert not stale, f"out of date: {stale}; run: uv run python -m scripts.export_contract"


def test_the_subscription_input_schema_names_its_required_fields() -> None:
    schema = json.loads((CONTRACT / "subscription-input.schema.json").read_text())
    assert schema["required"] == ["subscription_id"]
    assert {"customer", "pricing", "billing", "notifications", "start_at"} <= set(
        schema["properties"]
    )
