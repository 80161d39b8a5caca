"""Meters, pricing components, billing and notification configuration: the seed's JSON contract.

Every model forbids unknown fields (a typo gets a message naming it) and is frozen. Use
`billing.validation.parse(Pricing, data, what="pricing")` at the edge for a one-line error.
Shapes (see ../shared/DESIGN.md):

- meter: `{name, unit, aggregation, reset_cycle}` (+ `id`, defaulting to the name; `field_name`
  for `unique_count`).
- pricing: `{product_id, currency, components: [...]}` where a component is
  `{"type": "recurring", amount, cycle}` or a usage component chosen by its fields:
  `tiers` (+ `tiers_mode` graduated|volume), `unit_price` (per unit), or
  `package_size` + `package_price` (+ `free_units`).
- billing: `{auto_generate_invoices, invoice_day, payment_terms_days, tax_rate, currency,
  timezone}`.
- notifications: one `{email, webhook}` per event; `usage_threshold` adds `thresholds` (percent
  of the included usage).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from functools import cached_property
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from billing.errors import InvalidConfigurationError, UnknownMeterError
from billing.identifiers import ID_RULE, is_identifier
from billing.money import (
    ZERO,
    CurrencyCode,
    DecimalValue,
    NonNegativeDecimal,
    PositiveDecimal,
    Price,
    format_decimal,
    minor_units,
)
from billing.tier_table import TierTable
from billing.validation import field_error

Aggregation = Literal["sum", "count", "max", "unique_count", "latest"]
ResetCycle = Literal["monthly", "weekly", "quarterly", "yearly", "never"]
RecurringCycle = Literal["monthly", "quarterly", "yearly"]
TiersMode = Literal["graduated", "volume"]
NotificationEvent = Literal[
    "invoice_generated",
    "payment_received",
    "payment_overdue",
    "usage_threshold",
    "payment_reminder",
    "subscription_suspended",
    "invoice_uncollectible",
]
NOTIFICATION_EVENTS: tuple[str, ...] = get_args(NotificationEvent)


def _identifier(value: str) -> str:
    if not is_identifier(value):
        raise InvalidConfigurationError(f"{value!r} is not a valid id: use {ID_RULE}")
    return value


def _non_blank(value: str) -> str:
    if not value.strip():
        raise InvalidConfigurationError("must not be empty")
    return value


Identifier = Annotated[str, AfterValidator(_identifier)]
Text = Annotated[str, AfterValidator(_non_blank)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- meters -------------------------------------------------------------------------------


class Meter(_Model):
    """What is measured and how a period's events become one quantity."""

    id: Identifier = Field(default="", description="stable id; defaults to the name")
    name: Text
    unit: Text
    aggregation: Aggregation
    reset_cycle: ResetCycle = "monthly"
    field_name: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _id_defaults_to_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("id") is None and "name" in data:
            return {**data, "id": data["name"]}
        return data

    @model_validator(mode="after")
    def _unique_count_names_its_field(self) -> Meter:
        if self.aggregation == "unique_count" and not (self.field_name or "").strip():
            raise field_error(
                ("field_name",),
                "is required when aggregation is unique_count: name the event property "
                "whose distinct values are counted",
            )
        return self


# --- pricing components -------------------------------------------------------------------


class Tier(_Model):
    """One price tier. `up_to` is inclusive and cumulative; `None` (JSON null) is infinity."""

    up_to: DecimalValue | None
    unit_price: Price
    flat_price: Price = ZERO


class RecurringComponent(_Model):
    """A fixed fee per cycle, prorated by days for a partial period."""

    type: Literal["recurring"] = "recurring"
    amount: Price
    cycle: RecurringCycle = "monthly"
    description: str | None = None


class TieredUsageComponent(_Model):
    """Usage priced by tiers: graduated (each unit at its tier, the default) or volume."""

    type: Literal["usage"] = "usage"
    meter_id: Identifier
    tiers: list[Tier]
    tiers_mode: TiersMode = "graduated"
    description: str | None = None

    @field_validator("tiers")
    @classmethod
    def _bounds_increase_and_end_unbounded(cls, tiers: list[Tier]) -> list[Tier]:
        if not tiers:
            raise InvalidConfigurationError("needs at least one tier")
        previous = ZERO
        last = len(tiers) - 1
        for index, tier in enumerate(tiers):
            if tier.up_to is None:
                if index != last:
                    raise field_error(
                        (index, "up_to"),
                        "only the last tier may be unbounded (null); "
                        f"tiers {index + 1}..{last + 1} would never be reached",
                    )
                continue
            if index == last:
                raise field_error(
                    (index, "up_to"),
                    "the last tier must have up_to null (unbounded) so that every quantity "
                    f"is priced, got {format_decimal(tier.up_to)}",
                )
            if tier.up_to <= previous:
                what = f"tiers[{index - 1}].up_to ({format_decimal(previous)})" if index else "0"
                raise field_error(
                    (index, "up_to"),
                    f"must be greater than {what}: bounds are cumulative and strictly "
                    f"increasing, got {format_decimal(tier.up_to)}",
                )
            previous = tier.up_to
        return tiers

    @cached_property
    def table(self) -> TierTable:
        """The tier boundaries, precomputed once for fast rating."""
        return TierTable.from_tiers(self.tiers)


class PerUnitUsageComponent(_Model):
    """Usage priced at one unit price."""

    type: Literal["usage"] = "usage"
    meter_id: Identifier
    unit_price: Price
    description: str | None = None


class PackageUsageComponent(_Model):
    """Usage sold in whole packages: `ceil(max(q - free_units, 0) / package_size)` of them."""

    type: Literal["usage"] = "usage"
    meter_id: Identifier
    package_size: PositiveDecimal
    package_price: Price
    free_units: NonNegativeDecimal = ZERO
    description: str | None = None


_USAGE_MARKERS = {
    "tiered usage": ("tiers", "tiers_mode"),
    "per-unit usage": ("unit_price",),
    "package usage": ("package_size", "package_price", "free_units"),
}
_USAGE_CLASSES: dict[type[BaseModel], str] = {
    TieredUsageComponent: "tiered usage",
    PerUnitUsageComponent: "per-unit usage",
    PackageUsageComponent: "package usage",
}


def _usage_kinds(value: dict[str, Any]) -> list[str]:
    return [
        kind
        for kind, markers in _USAGE_MARKERS.items()
        if any(marker in value for marker in markers)
    ]


def _usage_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        kinds = _usage_kinds(value)
        return kinds[0] if len(kinds) == 1 else None
    return _USAGE_CLASSES.get(type(value))


def _one_usage_kind(value: Any) -> Any:
    if isinstance(value, dict):
        kinds = _usage_kinds(value)
        if len(kinds) > 1:
            found = " and ".join(
                sorted(
                    marker for kind in kinds for marker in _USAGE_MARKERS[kind] if marker in value
                )
            )
            raise InvalidConfigurationError(
                "a usage component is priced by tiers, by unit_price or by package_size and "
                f"package_price, not several at once (found {found})"
            )
    return value


#: A usage component, chosen by the fields present: tiers, unit_price or package_*.
UsageComponent = Annotated[
    Annotated[TieredUsageComponent, Tag("tiered usage")]
    | Annotated[PerUnitUsageComponent, Tag("per-unit usage")]
    | Annotated[PackageUsageComponent, Tag("package usage")],
    Discriminator(
        _usage_tag,
        custom_error_type="usage_pricing_missing",
        custom_error_message=(
            "a usage component needs tiers, unit_price, or package_size and package_price"
        ),
    ),
    BeforeValidator(_one_usage_kind),
]


def _component_tag(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if kind in ("recurring", "usage") else None


#: Any pricing component, chosen by its `type`.
PricingComponent = Annotated[
    Annotated[RecurringComponent, Tag("recurring")] | Annotated[UsageComponent, Tag("usage")],
    Discriminator(
        _component_tag,
        custom_error_type="component_type",
        custom_error_message="type must be 'recurring' or 'usage'",
    ),
]

UsageComponentType = TieredUsageComponent | PerUnitUsageComponent | PackageUsageComponent
#: Any component as a plain union, for function signatures.
AnyComponent = RecurringComponent | UsageComponentType
_USAGE_TYPES = (TieredUsageComponent, PerUnitUsageComponent, PackageUsageComponent)


class Pricing(_Model):
    """The price of one product: recurring fees and usage charges in one currency."""

    product_id: Identifier
    currency: CurrencyCode = "EUR"
    components: list[PricingComponent]

    @model_validator(mode="after")
    def _components_are_consistent(self) -> Pricing:
        if not self.components:
            raise field_error(("components",), "needs at least one component")
        places = minor_units(self.currency)
        priced: dict[str, int] = {}
        for index, component in enumerate(self.components):
            if isinstance(component, RecurringComponent):
                exponent = component.amount.as_tuple().exponent
                if isinstance(exponent, int) and -exponent > places:
                    raise field_error(
                        ("components", index, "amount"),
                        f"{format_decimal(component.amount)} has more decimal places than "
                        f"{self.currency} allows ({places})",
                    )
                continue
            earlier = priced.setdefault(component.meter_id, index)
            if earlier != index:
                raise field_error(
                    ("components", index, "meter_id"),
                    f"meter {component.meter_id!r} is already priced by components[{earlier}]",
                )
        return self

    def usage_components(self) -> list[UsageComponentType]:
        """The usage components, in order."""
        return [c for c in self.components if isinstance(c, _USAGE_TYPES)]

    def recurring_components(self) -> list[RecurringComponent]:
        """The recurring components, in order."""
        return [c for c in self.components if isinstance(c, RecurringComponent)]

    def meter_ids(self) -> set[str]:
        """Every meter this pricing charges for."""
        return {c.meter_id for c in self.usage_components()}

    def usage_component(self, meter_id: str) -> UsageComponentType:
        """The usage component pricing `meter_id`, or `UnknownMeterError`."""
        for component in self.usage_components():
            if component.meter_id == meter_id:
                return component
        priced = ", ".join(sorted(self.meter_ids())) or "none"
        raise UnknownMeterError(
            f"meter {meter_id!r} is not priced by {self.product_id} (priced meters: {priced})"
        )

    def included_units(self, meter_id: str) -> Decimal | None:
        """Usage included in the price: the bound of a free first tier, or a package's free units.

        This is the base of the seed's usage_threshold percentages. `None` when the meter has
        no included usage (or is not priced here).
        """
        for component in self.usage_components():
            if component.meter_id != meter_id:
                continue
            if isinstance(component, TieredUsageComponent):
                first = component.tiers[0]
                if first.unit_price == 0 and first.flat_price == 0 and first.up_to is not None:
                    return first.up_to
            elif isinstance(component, PackageUsageComponent) and component.free_units > 0:
                return component.free_units
            return None
        return None

    def check_meters(self, meters: Mapping[str, Meter]) -> None:
        """Raise `UnknownMeterError` for the first usage component whose meter is not defined."""
        for index, component in enumerate(self.components):
            if isinstance(component, _USAGE_TYPES) and component.meter_id not in meters:
                known = ", ".join(sorted(meters)) or "none"
                raise UnknownMeterError(
                    f"components[{index}].meter_id: meter {component.meter_id!r} does not exist "
                    f"(defined meters: {known})"
                )


# --- billing and notifications ------------------------------------------------------------


def check_tax_rate(value: Decimal) -> Decimal:
    """A tax rate is a fraction in [0, 1): 0.20 is 20%."""
    if not ZERO <= value < 1:
        raise InvalidConfigurationError(
            f"must be at least 0 and below 1 (a fraction: 0.20 is 20%), got {format_decimal(value)}"
        )
    return value


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidConfigurationError(
            f"unknown IANA time zone {value!r} (e.g. UTC, Europe/Paris, America/New_York)"
        ) from None
    return value


def _in_range(low: int, high: int) -> AfterValidator:
    """An integer bound check whose message names both bounds (bools are refused: strict int)."""

    def check(value: int) -> int:
        if not low <= value <= high:
            raise InvalidConfigurationError(f"must be between {low} and {high}, got {value}")
        return value

    return AfterValidator(check)


TaxRate = Annotated[DecimalValue, AfterValidator(check_tax_rate)]
TimeZoneName = Annotated[str, AfterValidator(_timezone)]
InvoiceDay = Annotated[int, Field(strict=True), _in_range(1, 31)]
ThresholdPercent = Annotated[int, Field(strict=True), _in_range(1, 1000)]
PaymentTermsDays = Annotated[int, Field(strict=True), _in_range(0, 3650)]


DunningAction = Literal["remind", "suspend", "uncollectible"]


class DunningStep(_Model):
    """One rung of the dunning ladder, counted in days after the due date."""

    after_days: int = Field(ge=1, le=365)
    action: DunningAction


def _default_ladder() -> list[DunningStep]:
    return [
        DunningStep(after_days=3, action="remind"),
        DunningStep(after_days=7, action="remind"),
        DunningStep(after_days=14, action="suspend"),
        DunningStep(after_days=30, action="uncollectible"),
    ]


class DunningPolicy(_Model):
    """What happens after an invoice goes overdue. Default: reminders at +3 and +7 days,
    suspension at +14, uncollectible at +30."""

    steps: list[DunningStep] = Field(default_factory=_default_ladder)

    @field_validator("steps")
    @classmethod
    def _increasing(cls, steps: list[DunningStep]) -> list[DunningStep]:
        days = [step.after_days for step in steps]
        if days != sorted(set(days)):
            raise ValueError("dunning steps must have strictly increasing after_days")
        return steps


class BillingConfig(_Model):
    """When and how invoices are issued (the seed's step 3, plus the customer's time zone)."""

    auto_generate_invoices: bool = True
    invoice_day: InvoiceDay = 1
    payment_terms_days: PaymentTermsDays = 14
    tax_rate: TaxRate = ZERO
    currency: CurrencyCode = "EUR"
    timezone: TimeZoneName = "UTC"
    dunning: DunningPolicy = Field(default_factory=DunningPolicy)
    """What happens once an invoice is overdue (each invoice workflow follows its own ladder)."""


class ChannelConfig(_Model):
    """Which channels carry one notification event."""

    email: bool = False
    webhook: bool = False


class ThresholdConfig(ChannelConfig):
    """usage_threshold: notify when usage crosses these percentages of the included usage."""

    thresholds: list[ThresholdPercent] = Field(default_factory=lambda: [80, 90, 100])

    @field_validator("thresholds")
    @classmethod
    def _strictly_increasing(cls, thresholds: list[int]) -> list[int]:
        for index in range(1, len(thresholds)):
            if thresholds[index] <= thresholds[index - 1]:
                raise field_error(
                    (index,),
                    f"must be greater than thresholds[{index - 1}] ({thresholds[index - 1]}): "
                    f"thresholds are strictly increasing, got {thresholds[index]}",
                )
        return thresholds


def _channels(*, email: bool = False, webhook: bool = False) -> Any:
    return Field(default_factory=lambda: ChannelConfig(email=email, webhook=webhook))


class NotificationConfig(_Model):
    """Channels per billing event (the seed's step 4; dunning events default to email)."""

    invoice_generated: ChannelConfig = _channels(email=True, webhook=True)
    payment_received: ChannelConfig = _channels(email=True)
    payment_overdue: ChannelConfig = _channels(email=True, webhook=True)
    usage_threshold: ThresholdConfig = Field(
        default_factory=lambda: ThresholdConfig(email=True, thresholds=[80, 90, 100])
    )
    payment_reminder: ChannelConfig = _channels(email=True)
    subscription_suspended: ChannelConfig = _channels(email=True)
    invoice_uncollectible: ChannelConfig = _channels(email=True)

    def channels_for(self, event: str) -> ChannelConfig:
        """The channels of `event`; `InvalidConfigurationError` for an unknown event name."""
        if event not in NOTIFICATION_EVENTS:
            raise InvalidConfigurationError(
                f"unknown notification event {event!r}; expected one of "
                + ", ".join(NOTIFICATION_EVENTS)
            )
        channels: ChannelConfig = getattr(self, event)
        return channels
