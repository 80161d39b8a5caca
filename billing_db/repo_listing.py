"""One account's objects a page at a time, for the API's lists: ordered by a unique key,
`starting_after` the key of the last object seen, `has_more` when another page follows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Column, Connection, Engine, Select, Table, select
from sqlalchemy.engine import RowMapping

from billing_db import repo_catalog, repo_invoices
from billing_db.engine import transaction
from billing_db.errors import UnknownInvoiceError
from billing_db.records import (
    CustomerRecord,
    InvoiceRecord,
    InvoiceStatus,
    MeterRecord,
    PricingVersionRecord,
    SubscriptionRecord,
)
from billing_db.tables import customers, invoices, meters, pricing_versions, subscriptions

T = TypeVar("T")
MAX_LIMIT = 100


def _page(
    connection: Connection,
    query: Select[Any],
    key: Column[Any],
    *,
    starting_after: Any | None,
    limit: int,
) -> tuple[list[RowMapping], bool]:
    if starting_after is not None:
        query = query.where(key > starting_after)
    rows = list(connection.execute(query.order_by(key).limit(limit + 1)).mappings())
    return rows[:limit], len(rows) > limit


def _account_page(
    engine: Engine,
    table: Table,
    key: Column[Any],
    convert: Callable[[RowMapping], T],
    *,
    account_id: str,
    starting_after: Any | None,
    limit: int,
) -> tuple[list[T], bool]:
    query = select(table).where(table.c.account_id == account_id)
    with transaction(engine, write=False) as connection:
        rows, more = _page(connection, query, key, starting_after=starting_after, limit=limit)
        return [convert(row) for row in rows], more


def meters_page(
    engine: Engine, *, account_id: str, starting_after: str | None = None, limit: int = 10
) -> tuple[list[MeterRecord], bool]:
    return _account_page(
        engine,
        meters,
        meters.c.meter_id,
        repo_catalog._meter,
        account_id=account_id,
        starting_after=starting_after,
        limit=limit,
    )


def get_meter(engine: Engine, *, account_id: str, meter_id: str) -> MeterRecord | None:
    query = select(meters).where(meters.c.account_id == account_id, meters.c.meter_id == meter_id)
    with transaction(engine, write=False) as connection:
        row = connection.execute(query).mappings().first()
        return None if row is None else repo_catalog._meter(row)


def pricing_page(
    engine: Engine, *, account_id: str, starting_after: int | None = None, limit: int = 10
) -> tuple[list[PricingVersionRecord], bool]:
    return _account_page(
        engine,
        pricing_versions,
        pricing_versions.c.id,
        repo_catalog._pricing_version,
        account_id=account_id,
        starting_after=starting_after,
        limit=limit,
    )


def customers_page(
    engine: Engine, *, account_id: str, starting_after: str | None = None, limit: int = 10
) -> tuple[list[CustomerRecord], bool]:
    return _account_page(
        engine,
        customers,
        customers.c.id,
        repo_catalog._customer,
        account_id=account_id,
        starting_after=starting_after,
        limit=limit,
    )


def subscriptions_page(
    engine: Engine, *, account_id: str, starting_after: str | None = None, limit: int = 10
) -> tuple[list[SubscriptionRecord], bool]:
    return _account_page(
        engine,
        subscriptions,
        subscriptions.c.id,
        repo_catalog._subscription,
        account_id=account_id,
        starting_after=starting_after,
        limit=limit,
    )


def invoices_page(
    engine: Engine,
    *,
    account_id: str,
    mode: str,
    subscription_id: str | None = None,
    statuses: list[InvoiceStatus] | None = None,
    starting_after: str | None = None,
    limit: int = 10,
) -> tuple[list[InvoiceRecord], bool]:
    """Invoices in issue order (row id); `starting_after` is an invoice number of the account."""
    query = select(invoices).where(invoices.c.account_id == account_id, invoices.c.mode == mode)
    if subscription_id is not None:
        query = query.where(invoices.c.subscription_id == subscription_id)
    if statuses:
        query = query.where(invoices.c.status.in_(statuses))
    with transaction(engine, write=False) as connection:
        after: int | None = None
        if starting_after is not None:
            after = connection.execute(
                select(invoices.c.id).where(
                    invoices.c.number == starting_after,
                    invoices.c.account_id == account_id,
                    invoices.c.mode == mode,
                )
            ).scalar()
            if after is None:
                raise UnknownInvoiceError(f"starting_after: no invoice {starting_after!r}")
        rows, more = _page(connection, query, invoices.c.id, starting_after=after, limit=limit)
        return repo_invoices._records(connection, rows), more
