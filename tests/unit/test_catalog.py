"""Catalog models: the seed's shapes, defaults, JSON round trips, and errors naming the field."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from billing.catalog import (
    BillingConfig,
    ChannelConfig,
    Meter,
    NotificationConfig,
    PackageUsageComponent,
    PerUnitUsageComponent,
    Pricing,
    RecurringComponent,
    ThresholdConfig,
    TieredUsageComponent,
)
from billing.errors import InvalidConfigurationError, UnknownMeterError
from billing.validation import parse

from .builders import SEED_PRICING


def test_the_seed_meter_gets_its_name_as_id() -> None:
    meter = parse(
        Meter,
        {"name": "bandwidth_egress", "unit": "GB", "aggregation": "sum", "reset_cycle": "monthly"},
    )
    assert meter.id == "bandwidth_egress"
    assert Meter.model_validate(meter.model_dump(mode="json")) == meter


def test_a_meter_id_can_be_chosen() -> None:
    meter = Meter(id="bw", name="Bandwidth egress", unit="GB", aggregation="sum")
    assert (meter.id, meter.reset_cycle) == ("bw", "monthly")


def test_the_seed_pricing_parses_into_typed_components() -> None:
    pricing = parse(Pricing, SEED_PRICING)
    recurring, usage = pricing.components
    assert isinstance(recurring, RecurringComponent)
    assert recurring.amount == Decimal("49.99")
    assert isinstance(usage, TieredUsageComponent)
    assert usage.tiers_mode == "graduated"  # the seed's default
    assert [t.up_to for t in usage.tiers] == [Decimal(100), Decimal(1000), None]
    assert pricing.meter_ids() == {"bandwidth_egress"}
    assert pricing.usage_components() == [usage]
    assert pricing.included_units("bandwidth_egress") == Decimal(100)


def test_pricing_round_trips_through_json_with_decimal_strings() -> None:
    pricing = parse(Pricing, SEED_PRICING)
    dumped = pricing.model_dump(mode="json")
    assert dumped["components"][0]["amount"] == "49.99"
    assert dumped["components"][1]["tiers"][2] == {
        "up_to": None,
        "unit_price": "0.03",
        "flat_price": "0",
    }
    assert Pricing.model_validate(dumped) == pricing
    assert Pricing.model_validate_json(pricing.model_dump_json()) == pricing


@pytest.mark.parametrize(
    ("component", "kind"),
    [
        ({"type": "usage", "meter_id": "m", "unit_price": "0.05"}, PerUnitUsageComponent),
        (
            {"type": "usage", "meter_id": "m", "package_size": 100, "package_price": 5},
            PackageUsageComponent,
        ),
        (
            {
                "type": "usage",
                "meter_id": "m",
                "tiers": [{"up_to": None, "unit_price": 1}],
                "tiers_mode": "volume",
            },
            TieredUsageComponent,
        ),
    ],
)
def test_a_usage_component_is_chosen_by_its_fields(component: dict[str, Any], kind: type) -> None:
    pricing = parse(Pricing, {"product_id": "p", "components": [component]})
    assert type(pricing.components[0]) is kind
    assert Pricing.model_validate_json(pricing.model_dump_json()) == pricing


def test_included_units_of_a_package_are_its_free_units() -> None:
    pricing = parse(
        Pricing,
        {
            "product_id": "p",
            "components": [
                {
                    "type": "usage",
                    "meter_id": "calls",
                    "package_size": 100,
                    "package_price": 5,
                    "free_units": 100,
                },
                {"type": "usage", "meter_id": "gb", "unit_price": "0.05"},
            ],
        },
    )
    assert pricing.included_units("calls") == Decimal(100)
    assert pricing.included_units("gb") is None
    assert pricing.included_units("unpriced") is None


def _with_components(*components: dict[str, Any]) -> dict[str, Any]:
    return {"product_id": "prod_web_hosting", "components": list(components)}


def _tiers(*rows: dict[str, Any]) -> dict[str, Any]:
    return {"type": "usage", "meter_id": "bw", "tiers": list(rows)}


PRICING_ERRORS = [
    pytest.param(
        _with_components(
            _tiers(
                {"up_to": 100, "unit_price": 0},
                {"up_to": 100, "unit_price": 1},
                {"up_to": None, "unit_price": 1},
            )
        ),
        "pricing.components[0].tiers[1].up_to: must be greater than tiers[0].up_to (100)",
        id="tiers-not-strictly-increasing",
    ),
    pytest.param(
        _with_components(_tiers({"up_to": 0, "unit_price": 0}, {"up_to": None, "unit_price": 1})),
        "pricing.components[0].tiers[0].up_to: must be greater than 0",
        id="first-bound-zero",
    ),
    pytest.param(
        _with_components(_tiers({"up_to": 100, "unit_price": 0}, {"up_to": 1000, "unit_price": 1})),
        "pricing.components[0].tiers[1].up_to: the last tier must have up_to null",
        id="last-tier-with-a-bound",
    ),
    pytest.param(
        _with_components(
            _tiers({"up_to": None, "unit_price": 0}, {"up_to": None, "unit_price": 1})
        ),
        "pricing.components[0].tiers[0].up_to: only the last tier may be unbounded",
        id="unbounded-tier-before-the-last",
    ),
    pytest.param(
        _with_components(_tiers()),
        "pricing.components[0].tiers: needs at least one tier",
        id="no-tiers",
    ),
    pytest.param(
        _with_components(_tiers({"up_to": None, "unit_price": "-0.05"})),
        "pricing.components[0].tiers[0].unit_price: must not be negative (got -0.05)",
        id="negative-unit-price",
    ),
    pytest.param(
        _with_components(_tiers({"up_to": None, "unit_price": 0, "flat_price": -1})),
        "pricing.components[0].tiers[0].flat_price: must not be negative",
        id="negative-flat-price",
    ),
    pytest.param(
        _with_components({"type": "recurring", "amount": -49.99}),
        "pricing.components[0].amount: must not be negative",
        id="negative-recurring-amount",
    ),
    pytest.param(
        _with_components({"type": "recurring", "amount": "49.999"}),
        "pricing.components[0].amount: 49.999 has more decimal places than EUR allows (2)",
        id="recurring-amount-finer-than-the-currency",
    ),
    pytest.param(
        _with_components({"type": "recurring", "amount": 10, "cycle": "daily"}),
        "pricing.components[0].cycle: Input should be 'monthly', 'quarterly' or 'yearly'",
        id="unknown-cycle",
    ),
    pytest.param(
        {**SEED_PRICING, "currency": "EUX"},
        "pricing.currency: unknown currency 'EUX'",
        id="unknown-currency",
    ),
    pytest.param(
        _with_components(
            {"type": "usage", "meter_id": "bw", "package_size": 0, "package_price": 5}
        ),
        "pricing.components[0].package_size: must be greater than 0",
        id="zero-package-size",
    ),
    pytest.param(
        _with_components({"type": "usage", "meter_id": "bw", "unit_price": 1, "tiers": []}),
        "pricing.components[0]: a usage component is priced by tiers, by unit_price or by "
        "package_size and package_price, not several at once (found tiers and unit_price)",
        id="ambiguous-usage-component",
    ),
    pytest.param(
        _with_components({"type": "usage", "meter_id": "bw"}),
        "pricing.components[0]: a usage component needs tiers, unit_price, or package_size",
        id="usage-component-without-price",
    ),
    pytest.param(
        _with_components({"type": "subscription", "amount": 1}),
        "pricing.components[0]: type must be 'recurring' or 'usage'",
        id="unknown-component-type",
    ),
    pytest.param(
        _with_components({"type": "usage", "meter_id": "bw", "unit_price": 1, "unit_prise": 2}),
        "pricing.components[0].unit_prise: is not a known field",
        id="typo-in-a-field-name",
    ),
    pytest.param(
        _with_components(
            {"type": "usage", "meter_id": "bw", "unit_price": 1},
            {"type": "usage", "meter_id": "bw", "unit_price": 2},
        ),
        "pricing.components[1].meter_id: meter 'bw' is already priced by components[0]",
        id="meter-priced-twice",
    ),
    pytest.param(
        {"product_id": "p", "components": []},
        "pricing.components: needs at least one component",
        id="no-components",
    ),
    pytest.param(
        {"components": [{"type": "recurring", "amount": 1}]},
        "pricing.product_id: is required",
        id="missing-product-id",
    ),
    pytest.param(
        _with_components({"type": "usage", "meter_id": "bw", "unit_price": "ten"}),
        "pricing.components[0].unit_price: 'ten' is not a decimal number",
        id="price-not-a-number",
    ),
]


@pytest.mark.parametrize(("data", "message"), PRICING_ERRORS)
def test_each_pricing_mistake_gets_a_message_naming_its_field(
    data: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidConfigurationError) as caught:
        parse(Pricing, data, what="pricing")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_check_meters_names_the_missing_meter() -> None:
    pricing = parse(Pricing, SEED_PRICING)
    meters = {"cpu_hours": Meter(name="cpu_hours", unit="h", aggregation="sum")}
    with pytest.raises(
        UnknownMeterError,
        match=r"components\[1\].meter_id: meter 'bandwidth_egress' does not exist",
    ):
        pricing.check_meters(meters)
    pricing.check_meters(
        {"bandwidth_egress": Meter(name="bandwidth_egress", unit="GB", aggregation="sum")}
    )


def test_unique_count_needs_a_field_name() -> None:
    with pytest.raises(
        InvalidConfigurationError,
        match=r"meter\.field_name: is required when aggregation is unique_count",
    ):
        parse(Meter, {"name": "users", "unit": "user", "aggregation": "unique_count"}, what="meter")
    assert (
        parse(
            Meter,
            {
                "name": "users",
                "unit": "user",
                "aggregation": "unique_count",
                "field_name": "user_id",
            },
        ).field_name
        == "user_id"
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"aggregation": "avg"}, "meter.aggregation: Input should be 'sum', 'count', 'max'"),
        ({"reset_cycle": "daily"}, "meter.reset_cycle: Input should be"),
        ({"name": ""}, "meter.name: must not be empty"),
        ({"id": "has space"}, "meter.id: 'has space' is not a valid id"),
    ],
)
def test_each_meter_mistake_names_its_field(data: dict[str, Any], message: str) -> None:
    base = {"name": "bandwidth_egress", "unit": "GB", "aggregation": "sum"}
    with pytest.raises(InvalidConfigurationError, match=message.replace("(", r"\(")):
        parse(Meter, {**base, **data}, what="meter")


def test_the_seed_billing_config_parses_and_defaults_are_the_seeds() -> None:
    config = parse(
        BillingConfig,
        {
            "auto_generate_invoices": True,
            "invoice_day": 1,
            "payment_terms_days": 14,
            "tax_rate": 0.20,
            "currency": "EUR",
        },
    )
    assert config.tax_rate == Decimal("0.2")
    assert config.timezone == "UTC"
    assert BillingConfig.model_validate(config.model_dump(mode="json")) == config
    assert BillingConfig() == BillingConfig(
        invoice_day=1, payment_terms_days=14, tax_rate=Decimal(0)
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"tax_rate": 1}, "billing.tax_rate: must be at least 0 and below 1"),
        (
            {"tax_rate": 20},
            "billing.tax_rate: must be at least 0 and below 1 (a fraction: 0.20 is 20%), got 20",
        ),
        ({"tax_rate": -0.1}, "billing.tax_rate: must be at least 0"),
        ({"invoice_day": 0}, "billing.invoice_day: must be between 1 and 31, got 0"),
        ({"invoice_day": 32}, "billing.invoice_day: must be between 1 and 31, got 32"),
        ({"invoice_day": True}, "billing.invoice_day: Input should be a valid integer"),
        ({"payment_terms_days": -1}, "billing.payment_terms_days: must be between 0 and 3650"),
        ({"currency": "ABC"}, "billing.currency: unknown currency 'ABC'"),
        ({"timezone": "Mars/Olympus"}, "billing.timezone: unknown IANA time zone 'Mars/Olympus'"),
        ({"invoice_days": 3}, "billing.invoice_days: is not a known field"),
    ],
)
def test_each_billing_mistake_names_its_field(data: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidConfigurationError) as caught:
        parse(BillingConfig, data, what="billing")
    assert message in str(caught.value)


def test_notification_defaults_are_the_seeds_step_4() -> None:
    config = NotificationConfig()
    assert config.invoice_generated == ChannelConfig(email=True, webhook=True)
    assert config.payment_received == ChannelConfig(email=True)
    assert config.payment_overdue == ChannelConfig(email=True, webhook=True)
    assert config.usage_threshold == ThresholdConfig(email=True, thresholds=[80, 90, 100])
    for dunning in ("payment_reminder", "subscription_suspended", "invoice_uncollectible"):
        assert config.channels_for(dunning) == ChannelConfig(email=True, webhook=False)


def test_the_seed_notification_config_parses_and_round_trips() -> None:
    config = parse(
        NotificationConfig,
        {
            "invoice_generated": {"email": True, "webhook": True},
            "payment_received": {"email": True},
            "payment_overdue": {"email": True, "webhook": True},
            "usage_threshold": {"email": True, "thresholds": [80, 90, 100]},
        },
    )
    assert config == NotificationConfig()
    assert NotificationConfig.model_validate_json(config.model_dump_json()) == config
    assert config.channels_for("usage_threshold").email is True


def test_channels_for_an_unknown_event_is_an_error() -> None:
    with pytest.raises(
        InvalidConfigurationError, match="unknown notification event 'invoice_paid'"
    ):
        NotificationConfig().channels_for("invoice_paid")


@pytest.mark.parametrize(
    ("thresholds", "message"),
    [
        (
            [80, 80],
            "notifications.usage_threshold.thresholds[1]: must be greater than thresholds[0] (80)",
        ),
        ([90, 80], "notifications.usage_threshold.thresholds[1]: must be greater than"),
        ([0, 50], "notifications.usage_threshold.thresholds[0]: must be between 1 and 1000, got 0"),
        (
            [50, 1001],
            "notifications.usage_threshold.thresholds[1]: must be between 1 and 1000, got 1001",
        ),
    ],
)
def test_thresholds_are_increasing_percentages_up_to_1000(
    thresholds: list[int], message: str
) -> None:
    with pytest.raises(InvalidConfigurationError) as caught:
        parse(
            NotificationConfig,
            {"usage_threshold": {"email": True, "thresholds": thresholds}},
            what="notifications",
        )
    assert message in str(caught.value)
