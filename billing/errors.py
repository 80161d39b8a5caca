"""Domain errors with messages a person can act on.

Every error names the field or value at fault. The configuration and usage errors also derive
from `ValueError`, so that pydantic turns them into validation errors (with the field's location)
when they are raised inside a validator.
"""

from __future__ import annotations

import re


class BillingError(Exception):
    """Base of every error the billing domain raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidConfigurationError(BillingError, ValueError):
    """A meter, pricing, billing or notification configuration is not valid."""


class UnknownCurrencyError(InvalidConfigurationError):
    """A currency code that is not in the ISO 4217 table."""


class UnknownMeterError(InvalidConfigurationError):
    """A meter id that is not defined (or not priced) where it is used."""


class InvalidAmountError(BillingError, ValueError):
    """A value that is not a finite decimal number (NaN, infinity, bool, garbage text)."""


class InvalidUsageError(BillingError, ValueError):
    """Usage that cannot be rated: a negative quantity, an unpriced meter, a bad record."""


# Why an event can never count, one class per reason: the class names are the stable codes
# (`error_code`) the batch intake reports per rejected event.


class MissingSubscriptionError(InvalidUsageError):
    """An event that names no subscription (neither itself nor its batch)."""


class SubscriptionEndedError(InvalidUsageError):
    """Usage for a subscription that has ended: nothing will invoice it."""


class UnpricedUsageMeterError(InvalidUsageError):
    """The event's meter is not one the subscription's plan prices."""


class NegativeQuantityError(InvalidUsageError):
    """A usage quantity below zero."""


class FutureTimestampError(InvalidUsageError):
    """A timestamp further ahead of now than the tolerated clock skew."""


class TimestampBeforeStartError(InvalidUsageError):
    """A timestamp before the subscription started."""


class ExpiredTimestampError(InvalidUsageError):
    """A timestamp older than the late window: no invoice will ever bill it."""


class InvalidPeriodError(BillingError, ValueError):
    """A billing period that is empty, reversed, naive or outside its billing cycle."""


class PrecisionError(BillingError, ArithmeticError):
    """A result that would need more significant digits than exact rating allows."""


def error_code(exc: BaseException) -> str:
    """The stable code of an error, from its class: `UnknownCustomerError` -> `unknown_customer`."""
    name = type(exc).__name__.removesuffix("Error")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
