"""Turn pydantic validation errors into one line a person can act on.

`parse(Pricing, data, what="pricing")` either returns the model or raises
`InvalidConfigurationError("pricing.components[1].tiers[2].up_to: must be greater than ...")`.
Validators that check a list as a whole (tier bounds, thresholds) point at the exact item with
`field_error(("tiers", 2, "up_to"), "...")`, whose location is appended to pydantic's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from billing.errors import InvalidConfigurationError

M = TypeVar("M", bound=BaseModel)

_FIELD_ERROR = "billing_field"
#: Tags of the tagged unions in the catalog: pydantic puts them in locations, people do not.
UNION_TAGS = frozenset({"recurring", "usage", "tiered usage", "per-unit usage", "package usage"})

_FRIENDLY = {
    "missing": "is required",
    "extra_forbidden": "is not a known field (check the spelling)",
}


def field_error(location: Sequence[str | int], message: str) -> PydanticCustomError:
    """An error for a validator to raise that points below the field it validates."""
    return PydanticCustomError(
        _FIELD_ERROR, message.replace("{", "(").replace("}", ")"), {"sub_loc": tuple(location)}
    )


def format_location(location: Sequence[str | int], root: str | None = None) -> str:
    """`("components", 1, "tiers", 2, "up_to")` -> `components[1].tiers[2].up_to`."""
    text = root or ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in UNION_TAGS:
            continue
        else:
            text += f".{part}" if text else part
    return text


def _describe(error: ErrorDetails, root: str | None) -> str:
    location: tuple[Any, ...] = tuple(error["loc"])
    context = error.get("ctx") or {}
    if error["type"] == _FIELD_ERROR:
        location += tuple(context.get("sub_loc", ()))
    message = _FRIENDLY.get(error["type"], error["msg"])
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    where = format_location(location, root)
    return f"{where}: {message}" if where else message


def describe_errors(errors: Sequence[ErrorDetails], *, root: str | None = None) -> str:
    """One line naming every invalid field of pydantic's error list (see below)."""
    return "; ".join(_describe(error, root) for error in errors)


def describe_validation_error(exc: ValidationError, *, root: str | None = None) -> str:
    """One line naming every invalid field, e.g. `pricing.currency: unknown currency 'EURO'`."""
    return describe_errors(exc.errors(), root=root)


def parse(model: type[M], data: Any, *, what: str | None = None) -> M:
    """Validate `data` as `model`; on failure raise `InvalidConfigurationError` with one line."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidConfigurationError(describe_validation_error(exc, root=what)) from None
