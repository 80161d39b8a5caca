"""Typed search attributes: what a person filters on in the Web UI and `temporal workflow list`.

The dev server in tests and the demo registers exactly `ALL`; docker-compose registers the same
names. `BillingAmountDue` is a Float because Temporal has no decimal type: it is an index for
searching and sorting only; the authoritative amount is the Decimal in the database and in the
`invoice` query.
"""

from __future__ import annotations

from typing import Any

from temporalio.common import SearchAttributeKey

CUSTOMER_ID = SearchAttributeKey.for_keyword("BillingCustomerId")
SUBSCRIPTION_ID = SearchAttributeKey.for_keyword("BillingSubscriptionId")
PLAN = SearchAttributeKey.for_keyword("BillingPlan")
STATUS = SearchAttributeKey.for_keyword("BillingStatus")
NEXT_INVOICE_AT = SearchAttributeKey.for_datetime("BillingNextInvoiceAt")
INVOICE_STATUS = SearchAttributeKey.for_keyword("BillingInvoiceStatus")
AMOUNT_DUE = SearchAttributeKey.for_float("BillingAmountDue")
DUE_AT = SearchAttributeKey.for_datetime("BillingDueAt")

ALL: tuple[SearchAttributeKey[Any], ...] = (
    CUSTOMER_ID,
    SUBSCRIPTION_ID,
    PLAN,
    STATUS,
    NEXT_INVOICE_AT,
    INVOICE_STATUS,
    AMOUNT_DUE,
    DUE_AT,
)


def dev_server_flags() -> list[str]:
    """`--search-attribute Name=Type` flags for `temporal server start-dev`."""
    kinds = {
        "KEYWORD": "Keyword",
        "DATETIME": "Datetime",
        "DOUBLE": "Double",
        "INT": "Int",
        "BOOL": "Bool",
        "TEXT": "Text",
        "KEYWORD_LIST": "KeywordList",
    }
    flags: list[str] = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}={kinds[key.indexed_value_type.name]}"]
    return flags
