"""Worked examples of each pricing rule, from public documentation and from the seed.

Every row cites where its numbers come from; amounts are the exact, unrounded charge.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.catalog import PackageUsageComponent, PerUnitUsageComponent, RecurringComponent
from billing.charge_models import REGISTRY, charge, charge_amount, rule_name
from billing.errors import InvalidUsageError, PrecisionError

from .builders import tiered

# Stripe, "Set up tiered pricing" (https://docs.stripe.com/subscriptions/pricing-models/tiered-pricing):
# Typographic's fonts, first tier 1-5 at 7 USD, second 6-10 at 6.5 USD, third 11+ at 6 USD.
STRIPE_FONTS = [(5, "7"), (10, "6.5"), (None, "6")]

VOLUME_EXAMPLES = [
    # Stripe tiered-pricing docs, volume-based table:
    # 1 -> 7, 5 -> 35, 6 -> 39, 20 -> 120, 25 -> 150 USD.
    pytest.param(STRIPE_FONTS, "1", "7", id="stripe-volume-1-font"),
    pytest.param(STRIPE_FONTS, "5", "35", id="stripe-volume-5-fonts"),
    pytest.param(STRIPE_FONTS, "6", "39.0", id="stripe-volume-6-fonts"),
    pytest.param(STRIPE_FONTS, "20", "120", id="stripe-volume-20-fonts"),
    pytest.param(STRIPE_FONTS, "25", "150", id="stripe-volume-25-fonts"),
    # Lago, "Volume" charge model (https://getlago.com/docs/guide/plans/charges/charge-models/volume):
    # 0-10,000 at 0.0010, -50,000 at 0.0008, -100,000 at 0.0006, above at 0.0004, $10 flat fee each;
    # "65,000 API calls would cost 65,000 x $0.0006 + $10 = $49".
    pytest.param(
        [
            (10_000, "0.0010", 10),
            (50_000, "0.0008", 10),
            (100_000, "0.0006", 10),
            (None, "0.0004", 10),
        ],
        "65000",
        "49",
        id="lago-volume-65000-calls",
    ),
    # Zuplo, "Pricing models" (https://zuplo.com/docs/articles/monetization/pricing-models):
    # 0-1,000 at $0.10, 1,001-10,000 at $0.05, 10,001+ at $0.01; volume, 15,000 units = $150.
    pytest.param(
        [(1000, "0.10"), (10_000, "0.05"), (None, "0.01")], "15000", "150", id="zuplo-volume"
    ),
    # The seed's tiered example: 1-10 VMs at EUR 79.99, 11+ at EUR 69.99; 12 VMs by volume.
    pytest.param([(10, "79.99"), (None, "69.99")], "12", "839.88", id="seed-12-vms-volume"),
]

GRADUATED_EXAMPLES = [
    # Stripe tiered-pricing docs, graduated: "5 fonts result in the same charge as volume-based
    # pricing: 35 USD"; 6 fonts are 5 x 7 + 1 x 6.5 by the same page's rule (each tier summed).
    pytest.param(STRIPE_FONTS, "5", "35", id="stripe-graduated-5-fonts"),
    pytest.param(STRIPE_FONTS, "6", "41.5", id="stripe-graduated-6-fonts"),
    pytest.param(STRIPE_FONTS, "20", "127.5", id="stripe-graduated-20-fonts"),
    # Zuplo pricing-models docs, graduated: 15,000 units = 1,000 x 0.10 + 9,000 x 0.05 + 5,000 x
    # 0.01 = $600.
    pytest.param([(1000, "0.10"), (10_000, "0.05"), (None, "0.01")], "15000", "600", id="zuplo"),
    # Autumn, "Graduated pricing" (https://docs.useautumn.com/documentation/modelling-pricing/
    # graduated-pricing): first 1,000 at $0.01, next 9,000 at $0.008, above at $0.005;
    # 15,000 requests = $107.
    pytest.param([(1000, "0.01"), (10_000, "0.008"), (None, "0.005")], "15000", "107", id="autumn"),
    # Lago, "Graduated" (https://getlago.com/docs/guide/plans/charges/charge-models/graduated):
    # $1 per unit for the first 100, $0.50 for the next 100, $0.10 above; 250 units by that rule.
    pytest.param([(100, "1"), (200, "0.50"), (None, "0.10")], "250", "155", id="lago-graduated"),
    # The seed's tiered example graduated: 10 x 79.99 + 2 x 69.99.
    pytest.param([(10, "79.99"), (None, "69.99")], "12", "939.88", id="seed-12-vms-graduated"),
    # The seed's hybrid bandwidth tiers: 100 GB included, 0.05/GB to 1000, 0.03 above.
    pytest.param([(100, "0"), (1000, "0.05"), (None, "0.03")], "350", "12.50", id="seed-350-gb"),
    pytest.param([(100, "0"), (1000, "0.05"), (None, "0.03")], "100", "0", id="seed-100-gb"),
    pytest.param([(100, "0"), (1000, "0.05"), (None, "0.03")], "1500", "60.00", id="seed-1500-gb"),
    pytest.param([(100, "0"), (1000, "0.05"), (None, "0.03")], "100.5", "0.025", id="fractional"),
]

FLAT_FEE_EXAMPLES = [
    # Flat fees per tier (Stripe's `flat_amount`, Lago's "flat fee"): graduated charges the flat
    # fee of every tier that holds units, and the first tier's even at 0.
    pytest.param("graduated", "0", "200", [1], id="graduated-zero-charges-first-flat"),
    pytest.param("graduated", "500", "205.00", [1], id="graduated-first-tier"),
    pytest.param("graduated", "1000.5", "510.01", [1, 2], id="graduated-enters-second-tier"),
    pytest.param("graduated", "10001", "1090.03", [1, 2, 3], id="graduated-all-tiers"),
    # Volume charges only the flat fee of the tier containing the total.
    pytest.param("volume", "0", "200", [1], id="volume-zero-charges-first-flat"),
    pytest.param("volume", "1000", "210.00", [1], id="volume-upper-bound-is-inclusive"),
    pytest.param("volume", "1000.5", "320.010", [2], id="volume-just-above-bound"),
]
FLAT_TIERS = [(1000, "0.01", 200), (10_000, "0.02", 300), (None, "0.03", 400)]


@pytest.mark.parametrize(("tiers", "quantity", "expected"), VOLUME_EXAMPLES)
def test_volume_prices_every_unit_at_the_tier_of_the_total(
    tiers: list[tuple[object, ...]], quantity: str, expected: str
) -> None:
    assert charge_amount(tiered(tiers, mode="volume"), Decimal(quantity)) == Decimal(expected)


@pytest.mark.parametrize(("tiers", "quantity", "expected"), GRADUATED_EXAMPLES)
def test_graduated_prices_each_unit_at_its_own_tier(
    tiers: list[tuple[object, ...]], quantity: str, expected: str
) -> None:
    component = tiered(tiers, mode="graduated")
    assert charge_amount(component, Decimal(quantity)) == Decimal(expected)
    assert charge(component, Decimal(quantity)).amount == Decimal(expected)


@pytest.mark.parametrize(("mode", "quantity", "expected", "tiers_charged"), FLAT_FEE_EXAMPLES)
def test_flat_fees_are_charged_once_per_tier_reached(
    mode: str, quantity: str, expected: str, tiers_charged: list[int]
) -> None:
    result = charge(tiered(FLAT_TIERS, mode=mode), Decimal(quantity))
    assert result.amount == Decimal(expected)
    assert [tier.tier for tier in result.tiers] == tiers_charged


def test_graduated_breakdown_names_each_tier_with_its_bounds() -> None:
    result = charge(tiered([(100, "0"), (1000, "0.05"), (None, "0.03")]), Decimal(1500))
    rows = [
        (t.tier, t.from_units, t.up_to, t.quantity, t.unit_price, t.amount) for t in result.tiers
    ]
    assert rows == [
        (1, Decimal(0), Decimal(100), Decimal(100), Decimal("0"), Decimal(0)),
        (2, Decimal(100), Decimal(1000), Decimal(900), Decimal("0.05"), Decimal("45.00")),
        (3, Decimal(1000), None, Decimal(500), Decimal("0.03"), Decimal("15.00")),
    ]


PACKAGE_EXAMPLES = [
    # Lago, "Package" (https://getlago.com/docs/guide/plans/charges/charge-models/package):
    # $5 per 100 units, first 100 free: "201 units would cost $0 + $5 + $5 = $10".
    pytest.param("100", "5", "100", "201", "10", id="lago-201-units"),
    pytest.param("100", "5", "100", "100", "0", id="lago-free-units-only"),
    pytest.param("100", "5", "100", "0", "0", id="nothing-used"),
    # Chargebee, "Package pricing" (https://www.chargebee.com/docs/billing/2.0/product-catalog/
    # package-pricing): $1.25 per 1M tokens; 1,000,000 is one package, 1,500,000 rounds up to two.
    pytest.param("1000000", "1.25", "0", "1000000", "1.25", id="chargebee-exact-package"),
    pytest.param("1000000", "1.25", "0", "1500000", "2.50", id="chargebee-rounds-up"),
    pytest.param("0.5", "2", "0", "1.2", "6", id="fractional-package-size"),
]


@pytest.mark.parametrize(("size", "price", "free", "quantity", "expected"), PACKAGE_EXAMPLES)
def test_package_charges_whole_packages_after_free_units(
    size: str, price: str, free: str, quantity: str, expected: str
) -> None:
    component = PackageUsageComponent(
        meter_id="api_calls",
        package_size=Decimal(size),
        package_price=Decimal(price),
        free_units=Decimal(free),
    )
    assert charge_amount(component, Decimal(quantity)) == Decimal(expected)


def test_package_detail_explains_the_packages() -> None:
    component = PackageUsageComponent(
        meter_id="api_calls",
        package_size=Decimal(100),
        package_price=Decimal(5),
        free_units=Decimal(100),
    )
    assert charge(component, Decimal(201)).detail == "2 x 100 units at 5, first 100 units free"


def test_per_unit_is_quantity_times_price() -> None:
    # The seed's usage-based example: EUR 0.05/GB.
    component = PerUnitUsageComponent(meter_id="bandwidth_egress", unit_price=Decimal("0.05"))
    assert charge_amount(component, Decimal("350")) == Decimal("17.50")
    assert charge_amount(component, Decimal("0.333")) == Decimal("0.01665")


@pytest.mark.parametrize(
    ("proration", "expected"),
    [
        pytest.param("1", "79.99", id="full-period"),  # the seed's flat rate: VM hosting 79.99
        pytest.param("0.5", "39.995", id="half"),
        pytest.param("0", "0", id="nothing"),
    ],
)
def test_recurring_is_amount_times_proration(proration: str, expected: str) -> None:
    component = RecurringComponent(amount=Decimal("79.99"))
    assert charge_amount(component, Decimal(proration)) == Decimal(expected)


def test_recurring_proration_of_day_counts_keeps_half_cent_ties_exact() -> None:
    one_day_of_thirty = Decimal(1) / Decimal(30)  # 28 digits, below the true 1/30
    component = RecurringComponent(amount=Decimal("79.95"))
    assert charge_amount(component, one_day_of_thirty) != Decimal("2.665")  # not a known ratio
    from billing.money import DIVISION

    exact_factor = DIVISION.divide(Decimal(1), Decimal(30))  # as periods.proration_factor does
    assert charge_amount(component, exact_factor) == Decimal("2.665")
    assert charge(component, exact_factor).detail == "prorated 1/30"


def test_every_rule_is_registered_under_its_name() -> None:
    assert set(REGISTRY) == {"graduated", "volume", "package", "per_unit", "recurring"}
    assert rule_name(tiered([(None, "1")], mode="volume")) == "volume"
    assert rule_name(RecurringComponent(amount=Decimal(1))) == "recurring"


@pytest.mark.parametrize("quantity", ["-1", "NaN", "Infinity"])
def test_a_negative_or_non_finite_quantity_is_refused(quantity: str) -> None:
    with pytest.raises(InvalidUsageError, match="quantity must be a finite number >= 0"):
        charge_amount(tiered([(None, "1")]), Decimal(quantity))


def test_quantities_given_as_int_or_str_are_exact() -> None:
    component = tiered([(10, "79.99"), (None, "69.99")])
    assert charge_amount(component, 12) == charge_amount(component, "12") == Decimal("939.88")


def test_a_result_beyond_64_digits_raises_instead_of_rounding() -> None:
    component = PerUnitUsageComponent(meter_id="m", unit_price=Decimal("0." + "3" * 40))
    with pytest.raises(PrecisionError, match="64 significant digits"):
        charge_amount(component, Decimal("1." + "7" * 40))
