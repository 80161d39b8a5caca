"""`billing simulate`: the seed's plan on its own time-skipping server, printed as a timeline."""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal
from pathlib import Path

from cli.cli_runner import Billing


async def test_simulate_bills_every_month_and_dunns_the_forgotten_invoice(tmp_path: Path) -> None:
    result = await Billing(tmp_path).invoke_async("simulate", "--months", "4", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    kinds = Counter(happening["kind"] for happening in report["timeline"])
    assert kinds["invoice"] == 4
    assert kinds["usage"] == 4
    assert kinds["payment"] == 4  # three on time, the third invoice 20 days after its due date
    assert (kinds["overdue"], kinds["reminder"], kinds["suspension"]) == (1, 2, 1)
    assert kinds["reactivated"] == 1
    times = [happening["at"] for happening in report["timeline"]]
    assert times == sorted(times)
    invoices = report["invoices"]
    assert [invoice["status"] for invoice in invoices] == ["paid"] * 4
    # The seed's month: 350 GB -> 49.99 + 250 GB x 0.05 = 62.49, + 20 % VAT = 74.99.
    assert Decimal(invoices[1]["total"]) == Decimal("74.99")
    assert report["final_status"] == "active"
    assert report["emails"] > 0
    assert report["webhooks"] > 0
