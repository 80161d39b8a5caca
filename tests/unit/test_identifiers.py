"""One identifier rule at the edge, in the catalog and in the repositories: an id one layer
accepts, every layer accepts (a 100-character id used to pass the edge and fail the database)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from billing.catalog import Identifier
from billing.contracts.subscription import Id
from billing.errors import BillingError
from billing.identifiers import MAX_ID_LENGTH
from billing_db.repo_common import check_identifier


class _Edge(BaseModel):
    id: Id


class _Catalog(BaseModel):
    id: Identifier


def _accepted(value: str) -> tuple[bool, bool, bool]:
    verdicts = []
    for model in (_Edge, _Catalog):
        try:
            model(id=value)
            verdicts.append(True)
        except (ValidationError, BillingError):
            verdicts.append(False)
    try:
        check_identifier(value, field="id")
        verdicts.append(True)
    except BillingError:
        verdicts.append(False)
    return verdicts[0], verdicts[1], verdicts[2]


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("sub_123", True),
        ("a" * MAX_ID_LENGTH, True),
        ("a" * (MAX_ID_LENGTH + 1), False),
        ("a" * 100, False),
        ("-leading-dash", False),
        ("has space", False),
        ("acct:eu.1", True),
    ],
)
def test_every_layer_gives_the_same_verdict(value: str, valid: bool) -> None:
    assert _accepted(value) == (valid, valid, valid)
