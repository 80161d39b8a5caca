"""Rating a billing period: lines rounded once, subtotal, tax, total, proration and late usage."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from billing.catalog import Meter, Pricing
from billing.errors import InvalidConfigurationError, InvalidUsageError, UnknownMeterError
from billing.invoice import (
    InvoiceLine,
    LateUsage,
    RatedInvoice,
    check_quantities,
    rate_invoice,
    rate_usage_delta,
    summarise,
)
from billing.periods import Period, first_period, proration_factor
from billing.validation import parse

from .builders import SEED_PRICING, pricing

OCTOBER = Period(start=datetime(2025, 10, 1, tzinfo=UTC), end=datetime(2025, 11, 1, tzinfo=UTC))
VM_TIERS = [{"up_to": 10, "unit_price": "79.99"}, {"up_to": None, "unit_price": "69.99"}]


def seed() -> Pricing:
    return parse(Pricing, SEED_PRICING)


def test_the_seeds_hybrid_plan_with_350_gb() -> None:
    invoice = rate_invoice(
        pricing=seed(), quantities={"bandwidth_egress": Decimal(350)}, tax_rate=Decimal("0.20")
    )
    assert [line.amount for line in invoice.lines] == [Decimal("49.99"), Decimal("12.50")]
    assert (invoice.subtotal, invoice.tax, invoice.total) == (
        Decimal("62.49"),
        Decimal("12.50"),
        Decimal("74.99"),
    )
    assert [str(v) for v in (invoice.subtotal, invoice.tax, invoice.total)] == [
        "62.49",
        "12.50",
        "74.99",
    ]


@pytest.mark.parametrize(("mode", "expected"), [("volume", "839.88"), ("graduated", "939.88")])
def test_the_seeds_12_vms(mode: str, expected: str) -> None:
    plan = pricing({"type": "usage", "meter_id": "vms", "tiers": VM_TIERS, "tiers_mode": mode})
    invoice = rate_invoice(pricing=plan, quantities={"vms": Decimal(12)}, tax_rate=Decimal(0))
    assert invoice.total == Decimal(expected)


def test_the_seeds_flat_rate_and_usage_based_examples() -> None:
    flat = pricing({"type": "recurring", "amount": "79.99", "cycle": "monthly"})
    invoice = rate_invoice(pricing=flat, quantities={}, tax_rate=Decimal("0.20"))
    assert (invoice.subtotal, invoice.tax, invoice.total) == (
        Decimal("79.99"),
        Decimal("16.00"),
        Decimal("95.99"),  # 15.998 rounds half-up to 16.00
    )
    per_gb = pricing({"type": "usage", "meter_id": "bandwidth_egress", "unit_price": "0.05"})
    invoice = rate_invoice(
        pricing=per_gb, quantities={"bandwidth_egress": Decimal("123.4")}, tax_rate=Decimal(0)
    )
    assert invoice.total == Decimal("6.17")  # 6.170


def test_each_line_is_rounded_once_and_the_subtotal_adds_rounded_lines() -> None:
    half_cents = pricing(
        *({"type": "usage", "meter_id": f"m{i}", "unit_price": "0.005"} for i in range(3))
    )
    invoice = rate_invoice(
        pricing=half_cents, quantities={f"m{i}": Decimal(1) for i in range(3)}, tax_rate=Decimal(0)
    )
    assert [line.amount for line in invoice.lines] == [Decimal("0.01")] * 3
    assert invoice.subtotal == Decimal("0.03")  # not round(0.015) = 0.02


def test_tax_is_the_rounded_rate_of_the_subtotal() -> None:
    plan = pricing(
        {"type": "recurring", "amount": "10.01"}, {"type": "recurring", "amount": "10.01"}
    )
    invoice = rate_invoice(pricing=plan, quantities={}, tax_rate=Decimal("0.075"))
    assert invoice.tax == Decimal("1.50")  # 20.02 * 0.075 = 1.5015; per line it would be 0.75 * 2
    assert invoice.total == Decimal("21.52")


def test_zero_decimal_currencies_round_to_whole_units() -> None:
    plan = pricing({"type": "usage", "meter_id": "calls", "unit_price": "0.5"}, currency="JPY")
    invoice = rate_invoice(pricing=plan, quantities={"calls": Decimal(3)}, tax_rate=Decimal("0.10"))
    assert (invoice.subtotal, invoice.tax, invoice.total) == (Decimal(2), Decimal(0), Decimal(2))


def test_a_meter_without_usage_still_gets_a_line_charging_the_first_flat_fee() -> None:
    plan = pricing(
        {
            "type": "usage",
            "meter_id": "gpu",
            "tiers": [
                {"up_to": 10, "unit_price": "1", "flat_price": "5"},
                {"up_to": None, "unit_price": "0.5"},
            ],
        }
    )
    invoice = rate_invoice(pricing=plan, quantities={}, tax_rate=Decimal(0))
    (line,) = invoice.lines
    assert (line.kind, line.meter_id, line.quantity, line.amount) == (
        "usage",
        "gpu",
        Decimal(0),
        Decimal("5"),
    )
    assert [tier.tier for tier in line.tiers] == [1]


def test_only_recurring_components_are_prorated() -> None:
    start = datetime(2025, 10, 15, 14, 30, tzinfo=UTC)
    partial = first_period(start, invoice_day=1, tz="UTC")
    factor = proration_factor(partial, invoice_day=1, tz="UTC")
    invoice = rate_invoice(
        pricing=seed(),
        quantities={"bandwidth_egress": Decimal(350)},
        tax_rate=Decimal("0.20"),
        period=partial,
        proration=factor,
    )
    recurring, usage = invoice.lines
    assert recurring.amount == Decimal("27.41")  # 49.99 * 17/31 = 27.4138...
    assert recurring.quantity == Decimal("0.548387")  # shown to 6 places; the amount is exact
    assert recurring.description == "prod_web_hosting monthly fee, 15-31 Oct 2025 (prorated 17/31)"
    assert usage.amount == Decimal("12.50")
    assert (recurring.period_start, recurring.period_end) == (partial.start, partial.end)
    assert invoice.subtotal == Decimal("39.91")


def test_a_prorated_half_cent_rounds_up() -> None:
    plan = pricing({"type": "recurring", "amount": "79.95"})
    one_day_of_november = first_period(datetime(2025, 11, 30, tzinfo=UTC), invoice_day=1, tz="UTC")
    factor = proration_factor(one_day_of_november, invoice_day=1, tz="UTC")
    invoice = rate_invoice(pricing=plan, quantities={}, tax_rate=Decimal(0), proration=factor)
    assert invoice.total == Decimal("2.67")  # 79.95 / 30 = 2.665 exactly


@pytest.mark.parametrize(
    ("billed", "new", "expected"),
    [
        ("350", "400", "2.50"),  # inside the 0.05 tier
        ("950", "1100", "5.50"),  # 50 at 0.05 + 100 at 0.03, not 150 at 0.05 (7.50)
        ("50", "120", "1.00"),  # 50 more were included, 20 at 0.05
        ("400", "400", "0.00"),
    ],
)
def test_late_usage_is_charged_as_the_difference_of_ratings(
    billed: str, new: str, expected: str
) -> None:
    late = LateUsage(
        meter_id="bandwidth_egress",
        period=OCTOBER,
        billed_quantity=Decimal(billed),
        new_quantity=Decimal(new),
    )
    invoice = rate_invoice(pricing=seed(), quantities={}, tax_rate=Decimal(0), late_usage=[late])
    line = invoice.lines[-1]
    assert line.kind == "late_usage"
    assert line.description == "Late usage: bandwidth_egress, 1-31 Oct 2025"
    assert line.amount == Decimal(expected)
    assert line.quantity == Decimal(new) - Decimal(billed)
    assert sum((tier.amount for tier in line.tiers), Decimal(0)) == Decimal(expected)
    assert (line.period_start, line.period_end) == (OCTOBER.start, OCTOBER.end)
    component = seed().usage_component("bandwidth_egress")
    assert rate_usage_delta(
        component, billed_quantity=Decimal(billed), new_quantity=Decimal(new)
    ) == Decimal(expected)


def test_late_usage_labels_the_period_in_the_customers_time_zone() -> None:
    paris_october = Period(
        start=datetime(2025, 9, 30, 22, tzinfo=UTC), end=datetime(2025, 10, 31, 23, tzinfo=UTC)
    )
    late = LateUsage(
        meter_id="bandwidth_egress",
        period=paris_october,
        billed_quantity=Decimal(0),
        new_quantity=Decimal(200),
    )
    invoice = rate_invoice(
        pricing=seed(), quantities={}, tax_rate=Decimal(0), late_usage=[late], tz="Europe/Paris"
    )
    assert invoice.lines[-1].description == "Late usage: bandwidth_egress, 1-31 Oct 2025"


def test_meters_label_lines_and_must_cover_every_priced_meter() -> None:
    meters = {"bandwidth_egress": Meter(name="bandwidth_egress", unit="GB", aggregation="sum")}
    invoice = rate_invoice(
        pricing=seed(),
        quantities={"bandwidth_egress": Decimal(1)},
        tax_rate=Decimal(0),
        meters=meters,
    )
    assert invoice.lines[1].unit == "GB"
    with pytest.raises(UnknownMeterError, match="meter 'bandwidth_egress' does not exist"):
        rate_invoice(pricing=seed(), quantities={}, tax_rate=Decimal(0), meters={})


def test_usage_of_an_unpriced_meter_is_refused() -> None:
    with pytest.raises(
        UnknownMeterError, match="meter 'bandwidth' is not priced by prod_web_hosting"
    ):
        rate_invoice(pricing=seed(), quantities={"bandwidth": Decimal(1)}, tax_rate=Decimal(0))


def test_negative_usage_is_refused() -> None:
    with pytest.raises(InvalidUsageError, match=r"usage\.bandwidth_egress: must not be negative"):
        rate_invoice(
            pricing=seed(), quantities={"bandwidth_egress": Decimal(-1)}, tax_rate=Decimal(0)
        )


@pytest.mark.parametrize("rate", ["1", "20", "-0.1"])
def test_a_tax_rate_outside_0_to_1_is_refused(rate: str) -> None:
    with pytest.raises(InvalidConfigurationError, match="tax_rate: must be at least 0 and below 1"):
        rate_invoice(pricing=seed(), quantities={}, tax_rate=Decimal(rate))


def test_a_rated_invoice_round_trips_through_json_with_decimal_strings() -> None:
    invoice = rate_invoice(
        pricing=seed(),
        quantities={"bandwidth_egress": Decimal(350)},
        tax_rate=Decimal("0.20"),
        period=OCTOBER,
    )
    dumped = invoice.model_dump(mode="json")
    assert (dumped["subtotal"], dumped["tax"], dumped["total"]) == ("62.49", "12.50", "74.99")
    assert dumped["lines"][1]["tiers"][1]["amount"] == "12.50"
    assert RatedInvoice.model_validate(dumped) == invoice
    assert RatedInvoice.model_validate_json(invoice.model_dump_json()) == invoice


def test_a_rated_invoice_whose_totals_do_not_add_up_is_refused() -> None:
    invoice = rate_invoice(pricing=seed(), quantities={}, tax_rate=Decimal("0.20"))
    tampered = invoice.model_dump(mode="json") | {"total": "100.00"}
    with pytest.raises(ValidationError, match="subtotal, tax and total must be"):
        RatedInvoice.model_validate(tampered)
    unrounded = invoice.model_dump(mode="json")
    unrounded["lines"][0]["amount"] = "49.991"
    with pytest.raises(ValidationError, match=r"lines\[0\].amount: 49.991 is not rounded"):
        RatedInvoice.model_validate(unrounded)


def test_summarise_adds_an_adjustment_line() -> None:
    invoice = rate_invoice(pricing=seed(), quantities={}, tax_rate=Decimal("0.20"))
    credit = InvoiceLine(
        kind="adjustment",
        description="Goodwill credit",
        quantity=Decimal(1),
        amount=Decimal("-9.99"),
    )
    adjusted = summarise(invoice.currency, [*invoice.lines, credit], invoice.tax_rate)
    assert (adjusted.subtotal, adjusted.tax, adjusted.total) == (
        Decimal("40.00"),
        Decimal("8.00"),
        Decimal("48.00"),
    )


def test_quantities_may_be_ints_strings_or_floats_converted_through_str() -> None:
    checked = check_quantities(seed(), {"bandwidth_egress": 350.1})
    assert checked == {"bandwidth_egress": Decimal("350.1")}
    assert check_quantities(seed(), {"bandwidth_egress": "350"}) == {
        "bandwidth_egress": Decimal(350)
    }
    with pytest.raises(InvalidUsageError, match=r"usage\.bandwidth_egress: expected a finite"):
        check_quantities(seed(), {"bandwidth_egress": float("nan")})
