"""Column types that keep money exact and timestamps UTC on both SQLite and PostgreSQL.

* `Decimal6`: a decimal with 6 places. PostgreSQL stores `NUMERIC(18, 6)`. SQLite has no exact
  decimal type (its NUMERIC affinity turns `0.1` into a binary float), so there the value is
  stored as a 64-bit integer count of millionths: exact, and `SUM`/`MAX` in SQL stay exact.
  A value with more than 6 decimal places is refused, never rounded.
* `Decimal6Sum`: a sum of `Decimal6` values (the usage rollups): unbounded NUMERIC on PostgreSQL;
  integer millionths on SQLite while the sum fits 64 bits, else REAL, which marks it inexact
  (SQLite's own `+` turns an overflowing integer into REAL the same way); reading an inexact sum
  raises `InexactSumError`, so the reader can go back to the rows.
* `ExactDecimal`: any finite decimal, exactly (proration factors, tier prices, tax rates):
  unconstrained NUMERIC on PostgreSQL, the decimal's text on SQLite. Not for SQL arithmetic.
* `UTCDateTime`: timezone-aware UTC in and out. PostgreSQL stores `timestamptz`; SQLite stores
  the naive UTC text SQLAlchemy writes, and the type attaches UTC again when reading. A naive
  datetime is refused.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Context, Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Numeric, String
from sqlalchemy.types import TypeDecorator, TypeEngine

from billing.errors import InvalidAmountError
from billing.money import format_decimal, to_decimal

SCALE = 6
PRECISION = 18
_QUANTUM = Decimal(1).scaleb(-SCALE)
#: The largest magnitude a Decimal6 column holds (12 integer digits, 6 decimals).
MAX_DECIMAL6 = Decimal(10) ** (PRECISION - SCALE) - _QUANTUM


def check_decimal6(value: Decimal, *, field: str) -> Decimal:
    """Return `value` if a Decimal6 column stores it exactly, else raise naming `field`."""
    if not value.is_finite():
        raise InvalidAmountError(f"{field}: expected a finite number, got {value}")
    if value != value.quantize(_QUANTUM):
        raise InvalidAmountError(f"{field}: at most {SCALE} decimal places are stored, got {value}")
    if abs(value) > MAX_DECIMAL6:
        raise InvalidAmountError(f"{field}: {value} exceeds the largest storable {MAX_DECIMAL6}")
    return value


class Decimal6(TypeDecorator[Decimal]):
    """An exact decimal with 6 places: NUMERIC(18, 6), or integer millionths on SQLite."""

    impl = Numeric(PRECISION, SCALE, asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(PRECISION, SCALE, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        checked = check_decimal6(to_decimal(value), field="decimal column")
        if dialect.name == "sqlite":
            return int(checked.scaleb(SCALE))
        return checked

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-SCALE).quantize(_QUANTUM)
        return Decimal(value).quantize(_QUANTUM)


#: Quantizes sums of any size (NUMERIC is unbounded on PostgreSQL).
_WIDE = Context(prec=1000)
#: The range of SQLite's integers (64-bit signed).
SQLITE_INTEGER_MAX = 2**63 - 1


class InexactSumError(ArithmeticError):
    """A `Decimal6Sum` read on SQLite went past 64 bits (stored as REAL): not exact."""


class Decimal6Sum(TypeDecorator[Decimal]):
    """A sum of `Decimal6` values, exact (see the module docstring for SQLite's overflow)."""

    impl = Numeric(asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        exact = to_decimal(value)
        if dialect.name != "sqlite":
            return exact
        millionths = int(exact.scaleb(SCALE))
        if Decimal(millionths) != exact.scaleb(SCALE):
            raise InvalidAmountError(f"sum: at most {SCALE} decimal places are stored, got {value}")
        return millionths if abs(millionths) <= SQLITE_INTEGER_MAX else float(millionths)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name != "sqlite":
            return Decimal(value).quantize(_QUANTUM, context=_WIDE)
        if isinstance(value, float):
            raise InexactSumError("a rollup sum went past SQLite's 64-bit integers")
        return Decimal(int(value)).scaleb(-SCALE)


class ExactDecimal(TypeDecorator[Decimal]):
    """Any finite decimal, stored exactly: NUMERIC on PostgreSQL, text on SQLite."""

    impl = Numeric(asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(80))
        return dialect.type_descriptor(Numeric(asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        exact = to_decimal(value)
        return format_decimal(exact) if dialect.name == "sqlite" else exact

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every dialect; naive datetimes are refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given where UTC is required")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
