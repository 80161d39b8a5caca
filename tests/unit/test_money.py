"""Money: minor units, exact conversion, and the one half-up rounding rule."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from billing.errors import InvalidAmountError, UnknownCurrencyError
from billing.money import (
    LARGEST_PRICE,
    CurrencyCode,
    DecimalValue,
    Price,
    format_decimal,
    minor_units,
    quantum,
    round_money,
    to_decimal,
    trimmed,
)


@pytest.mark.parametrize(
    ("currency", "places"),
    [
        ("EUR", 2),
        ("USD", 2),
        ("GBP", 2),
        ("CHF", 2),
        ("JPY", 0),
        ("KRW", 0),
        ("BHD", 3),
        ("KWD", 3),
        ("CLF", 4),
        ("eur", 2),
    ],
)
def test_minor_units_follow_iso_4217(currency: str, places: int) -> None:
    assert minor_units(currency) == places


@pytest.mark.parametrize("code", ["XYZ", "EURO", "", "E1R", "€"])
def test_an_unknown_currency_is_refused_with_its_code(code: str) -> None:
    with pytest.raises(UnknownCurrencyError, match="ISO 4217"):
        minor_units(code)


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("12.498", "EUR", "12.50"),  # the seed's VAT: 62.49 * 0.20
        ("2.665", "EUR", "2.67"),  # half goes up (not to even: 2.66)
        ("2.675", "EUR", "2.68"),  # a float would have made this 2.67
        ("0.125", "EUR", "0.13"),
        ("-2.665", "EUR", "-2.67"),  # credits round symmetrically, half away from zero
        ("1234.5", "JPY", "1235"),
        ("0.0005", "KWD", "0.001"),
        ("0.00049", "KWD", "0.000"),
        ("62.49", "EUR", "62.49"),
    ],
)
def test_round_money_is_half_up_to_the_minor_unit(
    amount: str, currency: str, expected: str
) -> None:
    rounded = round_money(Decimal(amount), currency)
    assert rounded == Decimal(expected)
    assert str(rounded) == expected  # exactly the currency's places, trailing zeros kept


def test_quantum_is_the_smallest_amount() -> None:
    assert quantum("EUR") == Decimal("0.01")
    assert quantum("JPY") == Decimal("1")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.1, "0.1"),  # through str, not binary (which is 0.1000000000000000055...)
        (2.675, "2.675"),
        (49.99, "49.99"),
        (1e-05, "0.00001"),
        (350, "350"),
        ("350", "350"),
        (" 0.05 ", "0.05"),
        (Decimal("1.10"), "1.10"),
    ],
)
def test_to_decimal_never_goes_through_binary(value: object, expected: str) -> None:
    assert to_decimal(value) == Decimal(expected)  # type: ignore[arg-type]
    assert to_decimal(value).as_tuple() == Decimal(expected).as_tuple()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "boolean"),
        (float("nan"), "finite"),
        (float("inf"), "finite"),
        ("NaN", "finite"),
        ("-Infinity", "finite"),
        (Decimal("sNaN"), "finite"),
        ("12,5", "not a decimal number"),
        ("", "not a decimal number"),
        (None, "got NoneType"),
        ([1], "got list"),
    ],
)
def test_to_decimal_refuses_what_is_not_a_finite_number(value: object, message: str) -> None:
    with pytest.raises(InvalidAmountError, match=message):
        to_decimal(value)  # type: ignore[arg-type]


class _Priced(BaseModel):
    amount: DecimalValue
    currency: CurrencyCode


def test_decimal_fields_accept_numbers_and_serialise_as_strings() -> None:
    model = _Priced.model_validate({"amount": 49.99, "currency": "eur"})
    assert model.amount == Decimal("49.99")
    assert model.currency == "EUR"
    assert model.model_dump(mode="json") == {"amount": "49.99", "currency": "EUR"}
    assert model.model_dump_json() == '{"amount":"49.99","currency":"EUR"}'
    assert _Priced.model_validate_json(model.model_dump_json()) == model


def test_decimal_fields_name_the_field_when_invalid() -> None:
    with pytest.raises(ValidationError) as caught:
        _Priced.model_validate({"amount": "forty", "currency": "EUR"})
    error = caught.value.errors()[0]
    assert error["loc"] == ("amount",)
    assert "'forty' is not a decimal number" in error["msg"]


def test_format_decimal_is_fixed_point() -> None:
    assert format_decimal(Decimal("1E+2")) == "100"
    assert format_decimal(Decimal("1E-7")) == "0.0000001"
    assert format_decimal(Decimal("12.50")) == "12.50"


def test_a_price_is_bounded_where_an_invoice_line_can_hold_it() -> None:
    price = TypeAdapter(Price)
    assert price.validate_python("999999999999.999999") == LARGEST_PRICE
    assert price.validate_python("1e-64") == Decimal("1E-64")
    for huge_or_tiny in ("1e999999", "1000000000000", "1e-999999", "1e-65"):
        with pytest.raises(ValidationError):
            price.validate_python(huge_or_tiny)


@pytest.mark.parametrize(
    ("stored", "shown"),
    [("150.000000", "150"), ("0.100000", "0.1"), ("12.340000", "12.34"), ("0.000000", "0"),
     ("1E+2", "100"), ("7", "7")],
)  # fmt: skip
def test_a_quantity_read_back_is_trimmed_to_what_was_sent(stored: str, shown: str) -> None:
    assert format_decimal(trimmed(Decimal(stored))) == shown
