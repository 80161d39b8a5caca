"""`billing usage import FILE`: JSON Lines and CSV into the usage ledger, rejections by line,
and a second run of the same file records nothing twice."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from billing_db.engine import make_engine
from billing_db.migrate import upgrade
from billing_db.tables import usage_events

from cli.cli_runner import Billing
from db.scenario import make_scenario

YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).isoformat()


def _rows(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(select(func.count()).select_from(usage_events)).scalar_one()
            )
    finally:
        engine.dispose()


def _billing(tmp_path: Path) -> tuple[Billing, str]:
    billing = Billing(tmp_path, env={"BILLING_ACCOUNT": "acct_acme"})
    url = f"sqlite:///{tmp_path / 'billing-test.db'}"  # test mode's database
    upgrade(url)
    engine = make_engine(url)
    make_scenario(engine, mode="test")
    engine.dispose()
    return billing, url


def test_a_json_lines_file_is_imported_once_even_when_run_twice(tmp_path: Path) -> None:
    billing, url = _billing(tmp_path)
    lines = [
        json.dumps({"event_id": f"e{i}", "meter_id": "bandwidth_egress", "quantity": i})
        for i in range(2500)
    ]
    lines[7] = "{not json"
    lines[9] = json.dumps({"event_id": "neg", "meter_id": "bandwidth_egress", "quantity": -1})
    path = tmp_path / "usage.jsonl"
    path.write_text("\n".join(lines) + "\n")

    first = billing.json("usage", "import", str(path), "--subscription", "sub_1")
    assert (first["accepted"], first["duplicates"]) == (2498, 0)
    assert [(r["index"], r["code"]) for r in first["rejected"]] == [
        (8, "invalid_line"),
        (10, "negative_quantity"),
    ]
    assert _rows(url) == 2498

    again = billing.json("usage", "import", str(path), "--subscription", "sub_1")
    assert (again["accepted"], again["duplicates"], len(again["rejected"])) == (0, 2498, 2)
    assert _rows(url) == 2498


def test_a_csv_file_names_each_events_subscription(tmp_path: Path) -> None:
    billing, url = _billing(tmp_path)
    path = tmp_path / "usage.csv"
    path.write_text(
        "subscription_id,event_id,meter_id,quantity,timestamp\n"
        f"sub_1,c1,bandwidth_egress,1.5,{YESTERDAY}\n"
        "sub_1,c2,bandwidth_egress,2,\n"
        "sub_nope,c3,bandwidth_egress,2,\n"
    )
    result = billing("usage", "import", str(path))
    assert result.exit_code == 0, result.output
    assert "2 new, 0 already recorded, 1 rejected" in result.stdout
    assert "unknown_subscription" in result.stdout
    assert _rows(url) == 2
