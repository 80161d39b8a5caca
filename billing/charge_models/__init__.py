"""One small module per pricing rule, behind one registry (Lago's charge models).

`charge(component, quantity)` picks the rule by the component (recurring; graduated or volume
by `tiers_mode`; package; per_unit) and returns the unrounded `ChargeResult`. For a recurring
component the quantity is the proration factor (1 for a full period).
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from billing.catalog import (
    AnyComponent,
    PackageUsageComponent,
    PerUnitUsageComponent,
    RecurringComponent,
    TieredUsageComponent,
)
from billing.charge_models.base import ChargeModel, ChargeResult, TierCharge, check_quantity
from billing.charge_models.graduated import Graduated
from billing.charge_models.package import Package
from billing.charge_models.per_unit import PerUnit
from billing.charge_models.recurring import Recurring
from billing.charge_models.volume import Volume
from billing.errors import PrecisionError
from billing.money import to_decimal

__all__ = [
    "REGISTRY",
    "ChargeModel",
    "ChargeResult",
    "TierCharge",
    "charge",
    "charge_amount",
    "rule_name",
]

#: Rule name -> charge model. A new rule is a module, a catalog component and one entry here.
REGISTRY: Mapping[str, ChargeModel[Any]] = MappingProxyType(
    {model.name: model for model in (Graduated(), Volume(), Package(), PerUnit(), Recurring())}
)


_RULES: Mapping[type, str] = MappingProxyType(
    {
        PackageUsageComponent: Package.name,
        PerUnitUsageComponent: PerUnit.name,
        RecurringComponent: Recurring.name,
    }
)


def rule_name(component: AnyComponent) -> str:
    """The registry key of the rule that prices `component`."""
    if isinstance(component, TieredUsageComponent):
        return component.tiers_mode
    name = _RULES.get(type(component))
    if name is None:
        raise TypeError(f"not a pricing component: {type(component).__name__}")
    return name


def _quantity(quantity: Decimal | int | str | float) -> Decimal:
    return check_quantity(quantity if type(quantity) is Decimal else to_decimal(quantity))


def _precision_error(quantity: object) -> PrecisionError:
    return PrecisionError(f"rating {quantity} needs more than 64 significant digits to stay exact")


def charge(component: AnyComponent, quantity: Decimal | int | str | float) -> ChargeResult:
    """The unrounded amount for `quantity` of `component`, with its tier breakdown."""
    try:
        return REGISTRY[rule_name(component)].charge(component, _quantity(quantity))
    except decimal.Inexact:
        raise _precision_error(quantity) from None


def charge_amount(component: AnyComponent, quantity: Decimal | int | str | float) -> Decimal:
    """The unrounded amount only: the fast path (no breakdown objects)."""
    try:
        return REGISTRY[rule_name(component)].amount(component, _quantity(quantity))
    except decimal.Inexact:
        raise _precision_error(quantity) from None
