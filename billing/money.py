"""Decimal amounts, currency minor units and the one rounding rule.

Money is `Decimal`, never float. A float handed to a money field is converted through `str`
(`0.1` becomes `Decimal("0.1")`, not the binary `0.1000000000000000055...`).
Rating arithmetic runs in `EXACT`, a 64-digit context that traps `Inexact`: a product or sum
either is exact or raises, it is never silently rounded. The only rounding is `round_money`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import (
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
)
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import AfterValidator, PlainSerializer, PlainValidator

from billing.errors import InvalidAmountError, UnknownCurrencyError

#: Rating arithmetic: exact or an error (``decimal.Inexact``), never silently rounded.
EXACT = Context(
    prec=64,
    rounding=ROUND_HALF_EVEN,
    traps=[Inexact, InvalidOperation, DivisionByZero, Overflow],
)
#: Divisions whose result may not terminate (ratios of day counts): 64 significant digits.
DIVISION = Context(prec=64, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero])
#: Quantize to minor units; traps only what would be a bug (too many digits, division by zero).
_ROUNDING = Context(prec=64, rounding=ROUND_HALF_UP, traps=[InvalidOperation, Overflow])

ZERO = Decimal(0)
ONE = Decimal(1)

# ISO 4217 active codes and their minor units (the exponent of the smallest unit). Funds and
# metals without a minor unit (XAU, XDR, ...) are left out: nothing is invoiced in them.
_ZERO_DECIMALS = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE_DECIMALS = "BHD IQD JOD KWD LYD OMR TND"
_FOUR_DECIMALS = "CLF UYW"
_TWO_DECIMALS = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP "
    "BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD "
    "FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD "
    "KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD "
    "NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP "
    "SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED "
    "VES WST XCD XCG YER ZAR ZMW ZWG"
)


def _table() -> Mapping[str, int]:
    table: dict[str, int] = {}
    for codes, exponent in (
        (_ZERO_DECIMALS, 0),
        (_TWO_DECIMALS, 2),
        (_THREE_DECIMALS, 3),
        (_FOUR_DECIMALS, 4),
    ):
        for code in codes.split():
            table[code] = exponent
    return MappingProxyType(table)


#: ISO 4217 currency code -> number of decimal places of its minor unit.
MINOR_UNITS: Mapping[str, int] = _table()
_QUANTA: Mapping[str, Decimal] = MappingProxyType(
    {code: Decimal(1).scaleb(-exponent) for code, exponent in MINOR_UNITS.items()}
)
_CODE = re.compile(r"[A-Z]{3}")


def normalise_currency(code: object) -> str:
    """Return the upper-case ISO 4217 code, or raise `UnknownCurrencyError` naming it."""
    if not isinstance(code, str):
        raise UnknownCurrencyError(f"not a 3-letter ISO 4217 currency code: {code!r} (e.g. EUR)")
    upper = code.strip().upper()
    if not _CODE.fullmatch(upper):
        raise UnknownCurrencyError(f"not a 3-letter ISO 4217 currency code: {code!r} (e.g. EUR)")
    if upper not in MINOR_UNITS:
        raise UnknownCurrencyError(
            f"unknown currency {upper!r}: not an ISO 4217 code (e.g. EUR, USD, GBP, JPY)"
        )
    return upper


def minor_units(currency: str) -> int:
    """Decimal places of the currency's minor unit: EUR 2, JPY 0, KWD 3."""
    return MINOR_UNITS[normalise_currency(currency)]


def quantum(currency: str) -> Decimal:
    """The smallest amount of the currency: `Decimal("0.01")` for EUR, `Decimal("1")` for JPY."""
    return _QUANTA[normalise_currency(currency)]


def round_money(amount: Decimal, currency: str) -> Decimal:
    """THE rounding rule: half-up (half away from zero) to the currency's minor unit.

    Negative amounts (credits) round symmetrically: -2.665 EUR becomes -2.67.
    """
    step = _QUANTA.get(currency) or quantum(currency)
    return amount.quantize(step, rounding=ROUND_HALF_UP, context=_ROUNDING)


def to_decimal(value: Decimal | int | str | float) -> Decimal:
    """Convert a number to `Decimal` without ever going through binary floating point.

    Accepts Decimal, int, decimal strings and floats (converted through `str`, so `0.1` is
    exactly `Decimal("0.1")`). Rejects bool, NaN, infinities and anything else.
    """
    if isinstance(value, bool):
        raise InvalidAmountError(f"expected a decimal number, got the boolean {value}")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(str(value))
    elif isinstance(value, str):
        text = value.strip()
        try:
            result = Decimal(text)
        except InvalidOperation:
            raise InvalidAmountError(f"{value!r} is not a decimal number") from None
    else:
        raise InvalidAmountError(
            f"expected a decimal number (string, integer or number), got {type(value).__name__}"
        )
    if not result.is_finite():
        raise InvalidAmountError(f"expected a finite decimal number, got {value!r}")
    return result


def trimmed(value: Decimal) -> Decimal:
    """`value` without trailing fractional zeros, never in exponent form: a quantity read back
    from a fixed-scale column (`150.000000`) as it was sent (`150`, `0.1`)."""
    normal = value.normalize()
    exponent = normal.as_tuple().exponent
    return normal.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else normal


def format_decimal(value: Decimal) -> str:
    """Fixed-point text of a Decimal, never scientific: `Decimal("1E+2")` -> `"100"`."""
    return format(value, "f")


def _validate_decimal(value: Any) -> Decimal:
    return to_decimal(value)


def _non_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise InvalidAmountError(f"must not be negative (got {format_decimal(value)})")
    return value


def _positive(value: Decimal) -> Decimal:
    if value <= 0:
        raise InvalidAmountError(f"must be greater than 0 (got {format_decimal(value)})")
    return value


#: A Decimal field: accepts Decimal, int, str and float (via `str`), serialises to a JSON string.
DecimalValue = Annotated[
    Decimal,
    PlainValidator(_validate_decimal, json_schema_input_type=str | int | float),
    PlainSerializer(format_decimal, return_type=str, when_used="json"),
]
NonNegativeDecimal = Annotated[DecimalValue, AfterValidator(_non_negative)]
PositiveDecimal = Annotated[DecimalValue, AfterValidator(_positive)]
#: A usage quantity: never negative, may be fractional.
Quantity = NonNegativeDecimal
#: The largest price accepted (twelve integer digits, what an invoice line's column holds) and
#: the most decimal places a price may have (the precision rating computes in, `EXACT`).
LARGEST_PRICE = Decimal(10) ** 12 - Decimal(1).scaleb(-6)
PRICE_PLACES = 64


def _billable_price(value: Decimal) -> Decimal:
    if value > LARGEST_PRICE:
        raise InvalidAmountError(
            f"must be at most {format_decimal(LARGEST_PRICE)} "
            f"(got a number with {value.adjusted() + 1} integer digits)"
        )
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and value != 0 and exponent < -PRICE_PLACES:
        raise InvalidAmountError(f"must have at most {PRICE_PLACES} decimal places")
    return value


#: A price (unit price, flat fee, recurring amount): never negative, within the bounds above.
Price = Annotated[NonNegativeDecimal, AfterValidator(_billable_price)]
#: An amount of money on an invoice: may be negative (credits, corrections).
Amount = DecimalValue


def _validate_currency(value: Any) -> str:
    return normalise_currency(value)


#: An ISO 4217 code, accepted in any case and stored upper-case.
CurrencyCode = Annotated[str, PlainValidator(_validate_currency, json_schema_input_type=str)]
