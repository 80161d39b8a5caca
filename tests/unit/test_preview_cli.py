"""`billing preview`: JSON shape, table output, and one-line errors with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from billing_service.cli import main

from .builders import SEED_PRICING


def write(tmp_path: Path, name: str, content: Any) -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


def run(tmp_path: Path, pricing: Any, usage: Any, *options: str) -> Result:
    args = [
        "preview",
        "--pricing",
        str(write(tmp_path, "pricing.json", pricing)),
        "--usage",
        str(write(tmp_path, "usage.json", usage)),
        *options,
    ]
    return CliRunner().invoke(main, args)


def test_json_output_is_the_seeds_hybrid_invoice(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        SEED_PRICING,
        {"bandwidth_egress": "350"},
        "--tax-rate",
        "0.20",
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.stderr
    invoice = json.loads(result.stdout)
    assert set(invoice) == {"currency", "lines", "subtotal", "tax", "total"}
    assert (invoice["currency"], invoice["subtotal"], invoice["tax"], invoice["total"]) == (
        "EUR",
        "62.49",
        "12.50",
        "74.99",
    )
    recurring, usage = invoice["lines"]
    assert recurring == {
        "description": "prod_web_hosting monthly fee",
        "quantity": "1",
        "amount": "49.99",
    }
    assert (usage["description"], usage["quantity"], usage["amount"]) == (
        "bandwidth_egress",
        "350",
        "12.50",
    )
    assert [(t["tier"], t["quantity"], t["unit_price"], t["amount"]) for t in usage["tiers"]] == [
        (1, "100", "0", "0"),
        (2, "250", "0.05", "12.50"),
    ]


def test_json_numbers_in_the_files_are_read_as_decimals(tmp_path: Path) -> None:
    raw_pricing = (
        '{"product_id": "p", "components": [{"type": "usage", "meter_id": "m", "unit_price": 0.1}]}'
    )
    result = run(tmp_path, raw_pricing, '{"m": 3}', "--format", "json")
    assert (
        json.loads(result.stdout)["total"] == "0.30"
    )  # 3 * binary 0.1 would be 0.30000000000000004


def test_table_output_shows_lines_tiers_and_totals(tmp_path: Path) -> None:
    result = run(tmp_path, SEED_PRICING, {"bandwidth_egress": 350}, "--tax-rate", "0.20")
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    for expected in (
        "Invoice preview: prod_web_hosting",
        "prod_web_hosting monthly fee",
        "49.99",
        "bandwidth_egress",
        "tier 2: 100 < q <= 1000",
        "250",
        "0.05",
        "12.50",
        "Subtotal",
        "62.49",
        "Tax (20%)",
        "Total",
        "74.99",
    ):
        assert expected in text
    assert result.stderr == ""


def test_the_seeds_volume_example_from_the_command_line(tmp_path: Path) -> None:
    plan = {
        "product_id": "vm_hosting",
        "components": [
            {
                "type": "usage",
                "meter_id": "vms",
                "tiers_mode": "volume",
                "tiers": [{"up_to": 10, "unit_price": 79.99}, {"up_to": None, "unit_price": 69.99}],
            }
        ],
    }
    result = run(tmp_path, plan, {"vms": 12}, "--format", "json")
    assert json.loads(result.stdout)["total"] == "839.88"


BAD_INPUT = [
    pytest.param(
        {**SEED_PRICING, "currency": "EUX"},
        {},
        (),
        "pricing.currency: unknown currency 'EUX'",
        id="unknown-currency",
    ),
    pytest.param(
        {
            **SEED_PRICING,
            "components": [
                {
                    "type": "usage",
                    "meter_id": "bw",
                    "tiers": [
                        {"up_to": 100, "unit_price": 0},
                        {"up_to": 50, "unit_price": 1},
                        {"up_to": None, "unit_price": 1},
                    ],
                }
            ],
        },
        {},
        (),
        "pricing.components[0].tiers[1].up_to: must be greater than tiers[0].up_to (100)",
        id="decreasing-tiers",
    ),
    pytest.param(
        SEED_PRICING,
        {"bandwidth": 3},
        (),
        "usage.bandwidth: meter 'bandwidth' is not priced by prod_web_hosting",
        id="unpriced-meter",
    ),
    pytest.param(
        SEED_PRICING,
        {"bandwidth_egress": "-3"},
        (),
        "usage.bandwidth_egress: must not be negative (got -3)",
        id="negative-usage",
    ),
    pytest.param(
        SEED_PRICING,
        {"bandwidth_egress": "lots"},
        (),
        "usage.bandwidth_egress: 'lots' is not a decimal number",
        id="usage-not-a-number",
    ),
    pytest.param(
        SEED_PRICING,
        {"bandwidth_egress": True},
        (),
        "usage.bandwidth_egress: expected a decimal number, got the boolean True",
        id="usage-bool",
    ),
    pytest.param(SEED_PRICING, [350], (), "usage: must be a JSON object", id="usage-not-an-object"),
    pytest.param(SEED_PRICING, "{oops", (), "--usage: ", id="usage-not-json"),
    pytest.param(
        SEED_PRICING,
        {},
        ("--tax-rate", "20"),
        "--tax-rate: must be at least 0 and below 1",
        id="tax-rate-as-percent",
    ),
    pytest.param(
        SEED_PRICING, {}, ("--format", "xml"), "Invalid value for '--format'", id="unknown-format"
    ),
]


@pytest.mark.parametrize(("pricing", "usage", "options", "message"), BAD_INPUT)
def test_bad_input_is_one_line_on_stderr_and_exit_code_2(
    tmp_path: Path, pricing: Any, usage: Any, options: tuple[str, ...], message: str
) -> None:
    result = run(tmp_path, pricing, usage, *options)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert message in lines[0]


def test_a_missing_file_or_option_is_one_line_too(tmp_path: Path) -> None:
    missing = CliRunner().invoke(
        main,
        [
            "preview",
            "--pricing",
            str(tmp_path / "nope.json"),
            "--usage",
            str(tmp_path / "nope.json"),
        ],
    )
    assert missing.exit_code == 2
    assert (
        missing.stderr.strip()
        == f"Error: --pricing: cannot read '{tmp_path / 'nope.json'}': No such file or directory"
    )
    no_option = CliRunner().invoke(main, ["preview", "--usage", "u.json"])
    assert no_option.exit_code == 2
    assert no_option.stderr.strip() == "Error: Missing option '--pricing'."
