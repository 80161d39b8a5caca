"""Invoice lines, subtotal, tax and total: the one entry point that rates a billing period.

Rounding happens in exactly one place per line: each line's exact amount is rounded half-up to
the currency's minor unit (`billing.money.round_money`). The subtotal is the sum of the rounded
lines, the tax is `round_money(subtotal * tax_rate)` (tax on the subtotal, not per line: one
rounding of the tax instead of one per line, so the tax is exactly the rate applied to what the
customer sees), and total = subtotal + tax.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from billing.catalog import (
    AnyComponent,
    Identifier,
    Meter,
    Pricing,
    RecurringComponent,
    TaxRate,
    UsageComponentType,
    check_tax_rate,
)
from billing.charge_models import ChargeResult, TierCharge, charge, charge_amount
from billing.errors import InvalidConfigurationError, InvalidUsageError, UnknownMeterError
from billing.money import (
    DIVISION,
    EXACT,
    ONE,
    ZERO,
    Amount,
    CurrencyCode,
    DecimalValue,
    Quantity,
    format_decimal,
    minor_units,
    round_money,
    to_decimal,
)
from billing.periods import Period, UtcDatetime

LineKind = Literal["recurring", "usage", "late_usage", "adjustment"]


class InvoiceLine(BaseModel):
    """One rounded line of an invoice."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: LineKind
    description: str
    meter_id: str | None = None
    quantity: DecimalValue
    unit: str | None = None
    amount: Amount = Field(description="rounded to the currency's minor unit")
    tiers: list[TierCharge] = Field(default_factory=list)
    period_start: UtcDatetime | None = None
    period_end: UtcDatetime | None = None


class LateUsage(BaseModel):
    """Usage of an already invoiced period that arrived after its invoice."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    meter_id: Identifier
    period: Period
    billed_quantity: Quantity
    new_quantity: Quantity


class RatedInvoice(BaseModel):
    """Rounded lines and their totals. Validation enforces the invoice arithmetic."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    currency: CurrencyCode
    lines: list[InvoiceLine]
    subtotal: Amount
    tax_rate: TaxRate
    tax: Amount
    total: Amount

    @model_validator(mode="after")
    def _totals_add_up(self) -> RatedInvoice:
        places = minor_units(self.currency)
        for index, line in enumerate(self.lines):
            if line.amount != round_money(line.amount, self.currency):
                raise InvalidConfigurationError(
                    f"lines[{index}].amount: {format_decimal(line.amount)} is not rounded to "
                    f"{places} decimal places ({self.currency})"
                )
        expected = totals(self.currency, self.lines, self.tax_rate)
        if (self.subtotal, self.tax, self.total) != expected:
            raise InvalidConfigurationError(
                "subtotal, tax and total must be the sum of the lines, round(subtotal * tax_rate) "
                f"and subtotal + tax: expected {', '.join(format_decimal(v) for v in expected)}"
            )
        return self


def totals(
    currency: str, lines: Sequence[InvoiceLine], tax_rate: Decimal
) -> tuple[Decimal, Decimal, Decimal]:
    """(subtotal, tax, total) of rounded lines."""
    subtotal = ZERO
    for line in lines:
        subtotal = EXACT.add(subtotal, line.amount)
    tax = round_money(EXACT.multiply(subtotal, tax_rate), currency)
    return subtotal, tax, EXACT.add(subtotal, tax)


def summarise(currency: str, lines: Sequence[InvoiceLine], tax_rate: Decimal) -> RatedInvoice:
    """A `RatedInvoice` from already rounded lines (e.g. after adding an adjustment line)."""
    subtotal, tax, total = totals(currency, lines, tax_rate)
    return RatedInvoice(
        currency=currency,
        lines=list(lines),
        subtotal=subtotal,
        tax_rate=tax_rate,
        tax=tax,
        total=total,
    )


def rate_usage_delta(
    component: AnyComponent, *, billed_quantity: Decimal, new_quantity: Decimal
) -> Decimal:
    """`rate(new) - rate(billed)`, unrounded: the correct late-usage charge under tiers."""
    return EXACT.subtract(
        charge_amount(component, new_quantity), charge_amount(component, billed_quantity)
    )


def _tier_delta(new: ChargeResult, billed: ChargeResult) -> list[TierCharge]:
    before = {tier.tier: tier for tier in billed.tiers}
    after = {tier.tier: tier for tier in new.tiers}
    deltas: list[TierCharge] = []
    for number in sorted(before.keys() | after.keys()):
        old, fresh = before.get(number), after.get(number)
        shape = fresh or old
        assert shape is not None
        quantity = EXACT.subtract(fresh.quantity if fresh else ZERO, old.quantity if old else ZERO)
        amount = EXACT.subtract(fresh.amount if fresh else ZERO, old.amount if old else ZERO)
        if quantity or amount:
            deltas.append(shape.model_copy(update={"quantity": quantity, "amount": amount}))
    return deltas


def _with_detail(description: str, result: ChargeResult) -> str:
    return f"{description} ({result.detail})" if result.detail else description


_FACTOR_PLACES = Decimal("0.000001")


def _shown_factor(proration: Decimal) -> Decimal:
    """The proration factor as a line quantity: at most 6 places (17/31 -> 0.548387).

    Only the shown quantity is shortened; the amount uses the exact ratio, named in the
    description ("prorated 17/31").
    """
    exponent = proration.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -6:
        return proration.quantize(_FACTOR_PLACES, context=DIVISION)
    return proration


def _recurring_line(
    pricing: Pricing,
    component: RecurringComponent,
    proration: Decimal,
    currency: str,
    period: Period | None,
    tz: str,
) -> InvoiceLine:
    result = charge(component, proration)
    description = component.description or f"{pricing.product_id} {component.cycle} fee"
    if period is not None:
        description += f", {period.label(tz)}"
    return InvoiceLine(
        kind="recurring",
        description=_with_detail(description, result),
        quantity=_shown_factor(proration),
        amount=round_money(result.amount, currency),
        period_start=period.start if period else None,
        period_end=period.end if period else None,
    )


def _usage_line(
    component: UsageComponentType,
    quantity: Decimal,
    currency: str,
    period: Period | None,
    meters: Mapping[str, Meter] | None,
) -> InvoiceLine:
    meter = meters.get(component.meter_id) if meters else None
    result = charge(component, quantity)
    description = component.description or (meter.name if meter else component.meter_id)
    return InvoiceLine(
        kind="usage",
        description=_with_detail(description, result),
        meter_id=component.meter_id,
        quantity=quantity,
        unit=meter.unit if meter else None,
        amount=round_money(result.amount, currency),
        tiers=result.tiers,
        period_start=period.start if period else None,
        period_end=period.end if period else None,
    )


def _late_line(
    pricing: Pricing, late: LateUsage, meters: Mapping[str, Meter] | None, tz: str
) -> InvoiceLine:
    component = pricing.usage_component(late.meter_id)
    new = charge(component, late.new_quantity)
    billed = charge(component, late.billed_quantity)
    meter = meters.get(late.meter_id) if meters else None
    return InvoiceLine(
        kind="late_usage",
        description=f"Late usage: {late.meter_id}, {late.period.label(tz)}",
        meter_id=late.meter_id,
        quantity=EXACT.subtract(late.new_quantity, late.billed_quantity),
        unit=meter.unit if meter else None,
        amount=round_money(EXACT.subtract(new.amount, billed.amount), pricing.currency),
        tiers=_tier_delta(new, billed),
        period_start=late.period.start,
        period_end=late.period.end,
    )


def check_quantities(pricing: Pricing, quantities: Mapping[str, object]) -> dict[str, Decimal]:
    """Usage per meter as exact Decimals; each problem is named `usage.<meter_id>: ...`.

    A meter this pricing does not price is refused (`UnknownMeterError`): a typo must not bill 0.
    Quantities may be Decimal, int, decimal strings or floats (converted through `str`).
    """
    checked: dict[str, Decimal] = {}
    for meter_id, raw in quantities.items():
        try:
            pricing.usage_component(meter_id)
        except UnknownMeterError as exc:
            raise UnknownMeterError(f"usage.{meter_id}: {exc}") from None
        try:
            value = to_decimal(raw)  # type: ignore[arg-type]  # checked inside
        except ValueError as exc:
            raise InvalidUsageError(f"usage.{meter_id}: {exc}") from None
        if value < 0:
            raise InvalidUsageError(
                f"usage.{meter_id}: must not be negative (got {format_decimal(value)})"
            )
        checked[meter_id] = value
    return checked


def _checked_tax_rate(tax_rate: Decimal) -> Decimal:
    try:
        return check_tax_rate(to_decimal(tax_rate))
    except ValueError as exc:
        raise InvalidConfigurationError(f"tax_rate: {exc}") from None


def rate_invoice(
    *,
    pricing: Pricing,
    quantities: Mapping[str, Decimal],
    tax_rate: Decimal,
    period: Period | None = None,
    proration: Decimal = ONE,
    late_usage: Sequence[LateUsage] = (),
    meters: Mapping[str, Meter] | None = None,
    tz: str = "UTC",
) -> RatedInvoice:
    """Rate one billing period of `pricing`.

    - one line per recurring component: `amount * proration` (only recurring fees are prorated);
    - one line per usage component, at `quantities[meter_id]` (0 when absent, so a graduated
      first tier's flat fee is still charged); a meter this pricing does not price is an error;
    - one line per `late_usage` entry: `rate(new_quantity) - rate(billed_quantity)`;
    - each line rounded once; subtotal = sum of lines; tax = round(subtotal * tax_rate).

    `meters`, when given, must define every priced meter; their names and units label the lines.
    `tz` is the customer's time zone, used only to label periods.
    """
    rate = _checked_tax_rate(tax_rate)
    factor = to_decimal(proration)
    if factor < 0:
        raise InvalidConfigurationError(
            f"proration: must not be negative, got {format_decimal(factor)}"
        )
    if meters is not None:
        pricing.check_meters(meters)
    usage = check_quantities(pricing, quantities)
    currency = pricing.currency
    lines = [
        _recurring_line(pricing, component, factor, currency, period, tz)
        if isinstance(component, RecurringComponent)
        else _usage_line(component, usage.get(component.meter_id, ZERO), currency, period, meters)
        for component in pricing.components
    ]
    lines += [_late_line(pricing, late, meters, tz) for late in late_usage]
    return summarise(currency, lines, rate)


__all__ = [
    "InvoiceLine",
    "LateUsage",
    "LineKind",
    "RatedInvoice",
    "check_quantities",
    "rate_invoice",
    "rate_usage_delta",
    "summarise",
    "totals",
]
