"""Properties of rating that must hold for every tier table and quantity (hypothesis)."""

from __future__ import annotations

import decimal
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from billing.catalog import TieredUsageComponent
from billing.charge_models import charge, charge_amount
from billing.invoice import rate_invoice
from billing.money import round_money

from .builders import pricing

quantities = st.decimals(min_value=0, max_value=100_000, places=3)
prices = st.decimals(min_value=0, max_value=100, places=4)
flats = st.decimals(min_value=0, max_value=50, places=2)


@st.composite
def tier_rows(draw: st.DrawFn, max_tiers: int = 4) -> list[dict[str, Any]]:
    count = draw(st.integers(min_value=1, max_value=max_tiers))
    bounds = sorted(
        draw(
            st.sets(
                st.decimals(min_value="0.001", max_value=50_000, places=3),
                min_size=count - 1,
                max_size=count - 1,
            )
        )
    )
    return [
        {"up_to": bound, "unit_price": draw(prices), "flat_price": draw(flats)}
        for bound in [*bounds, None]
    ]


def component(rows: list[dict[str, Any]], mode: str) -> TieredUsageComponent:
    return TieredUsageComponent.model_validate({"meter_id": "m", "tiers": rows, "tiers_mode": mode})


@given(tier_rows(), quantities, quantities)
def test_graduated_cost_is_monotone_in_quantity(
    rows: list[dict[str, Any]], a: Decimal, b: Decimal
) -> None:
    low, high = sorted((a, b))
    rule = component(rows, "graduated")
    assert charge_amount(rule, low) <= charge_amount(rule, high)


@given(prices, flats, quantities)
def test_with_one_tier_graduated_equals_volume(price: Decimal, flat: Decimal, q: Decimal) -> None:
    rows = [{"up_to": None, "unit_price": price, "flat_price": flat}]
    graduated = charge(component(rows, "graduated"), q)
    volume = charge(component(rows, "volume"), q)
    assert graduated.amount == volume.amount == q * price + flat


@given(tier_rows(), quantities, st.sampled_from(["graduated", "volume"]))
def test_tier_quantities_sum_to_the_quantity_and_tier_amounts_to_the_amount(
    rows: list[dict[str, Any]], q: Decimal, mode: str
) -> None:
    rule = component(rows, mode)
    result = charge(rule, q)
    assert sum((tier.quantity for tier in result.tiers), Decimal(0)) == q
    assert sum((tier.amount for tier in result.tiers), Decimal(0)) == result.amount
    assert result.amount == charge_amount(rule, q)
    for tier in result.tiers:
        assert tier.quantity >= 0
        assert tier.up_to is None or q <= tier.up_to or mode == "graduated"
        if mode == "graduated":  # each tier holds at most its own width
            assert tier.up_to is None or tier.from_units + tier.quantity <= tier.up_to


@given(
    st.lists(st.tuples(tier_rows(max_tiers=3), quantities), min_size=1, max_size=4),
    st.decimals(min_value=0, max_value="0.999", places=3),
    st.decimals(min_value=0, max_value=1000, places=2),
)
def test_total_is_the_sum_of_rounded_lines_plus_rounded_tax(
    usages: list[tuple[list[dict[str, Any]], Decimal]], tax_rate: Decimal, fee: Decimal
) -> None:
    components: list[dict[str, Any]] = [{"type": "recurring", "amount": fee}]
    components += [
        {"type": "usage", "meter_id": f"m{i}", "tiers": rows} for i, (rows, _) in enumerate(usages)
    ]
    invoice = rate_invoice(
        pricing=pricing(*components),
        quantities={f"m{i}": q for i, (_, q) in enumerate(usages)},
        tax_rate=tax_rate,
    )
    assert all(line.amount == round_money(line.amount, "EUR") for line in invoice.lines)
    assert invoice.subtotal == sum((line.amount for line in invoice.lines), Decimal(0))
    assert invoice.tax == (invoice.subtotal * tax_rate).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert invoice.total == invoice.subtotal + invoice.tax


@given(
    st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False),
    # A price has at most 64 decimal places (billing.money.Price): 0 or not below 1e-40.
    st.floats(min_value=0, max_value=1000, allow_nan=False, allow_infinity=False).filter(
        lambda price: price == 0 or price >= 1e-40
    ),
)
def test_a_float_input_rates_exactly_as_its_decimal_text(quantity: float, price: float) -> None:
    as_floats = pricing({"type": "usage", "meter_id": "m", "unit_price": price})
    as_text = pricing({"type": "usage", "meter_id": "m", "unit_price": str(price)})
    component_f, component_t = as_floats.components[0], as_text.components[0]
    assert component_f == component_t
    exact = decimal.Context(prec=64).multiply(Decimal(str(quantity)), Decimal(str(price)))
    assert charge_amount(component_f, str(quantity)) == exact  # all 32 digits, none rounded away
    assert charge_amount(component_f, quantity) == exact


@given(tier_rows(), quantities, st.integers(min_value=1, max_value=6))
def test_results_do_not_depend_on_the_ambient_decimal_context(
    rows: list[dict[str, Any]], q: Decimal, precision: int
) -> None:
    rule = component(rows, "graduated")
    expected = charge(rule, q).amount
    with decimal.localcontext(decimal.Context(prec=precision, rounding=decimal.ROUND_FLOOR)):
        assert charge(rule, q).amount == expected
        assert charge_amount(rule, q) == expected
        assert round_money(expected, "EUR") == expected.quantize(
            Decimal("0.01"), ROUND_HALF_UP, context=decimal.Context(prec=64)
        )


@given(tier_rows(), quantities, quantities, quantities)
def test_late_usage_deltas_add_up(
    rows: list[dict[str, Any]], a: Decimal, b: Decimal, c: Decimal
) -> None:
    first, second, third = sorted((a, b, c))
    rule = component(rows, "volume")
    step = charge_amount(rule, second) - charge_amount(rule, first)
    step += charge_amount(rule, third) - charge_amount(rule, second)
    assert step == charge_amount(rule, third) - charge_amount(rule, first)


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_round_money_matches_integer_half_up(thousandths: int) -> None:
    amount = Decimal(thousandths).scaleb(-3)
    cents, remainder = divmod(abs(thousandths), 10)
    cents += remainder >= 5
    expected = Decimal(cents if thousandths >= 0 else -cents).scaleb(-2)
    assert round_money(amount, "EUR") == expected
