"""Accounts, customers, meters, pricing versions, subscriptions and webhook endpoints.

Every `create_*` is safe to retry: the same id with the same content returns the existing row,
the same id with other content raises a `ConflictError`. Configuration documents are validated
by the pure core's models before anything is written.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.engine import RowMapping

from billing.catalog import BillingConfig, Meter, NotificationConfig, Pricing
from billing.lifecycle import SUBSCRIPTION_TRANSITIONS
from billing.periods import Period, zone_info
from billing.webhook_signing import generate_secret
from billing_db.engine import transaction
from billing_db.errors import (
    AccountConflictError,
    AccountModeError,
    CustomerConflictError,
    IllegalStatusTransitionError,
    InvalidRecordError,
    MeterConflictError,
    SubscriptionConflictError,
    UnknownAccountError,
    UnknownCustomerError,
    UnknownPricingVersionError,
    UnknownSubscriptionError,
    UnknownWebhookEndpointError,
)
from billing_db.records import (
    AccountRecord,
    CustomerRecord,
    MeterRecord,
    Mode,
    PricingVersionRecord,
    SubscriptionRecord,
    SubscriptionStatus,
    WebhookEndpointRecord,
)
from billing_db.repo_common import (
    check_aware,
    check_identifier,
    check_text,
    create_once,
    new_id,
    utcnow,
)
from billing_db.tables import (
    MODES,
    accounts,
    customers,
    meters,
    pricing_versions,
    subscriptions,
    webhook_endpoints,
)

_PREFIX = re.compile(r"[A-Z0-9]{1,12}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _json(model: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = model.model_dump(mode="json")
    return dumped


# --- accounts --------------------------------------------------------------------------------


def default_invoice_prefix(account_id: str) -> str:
    """Invoice numbers' prefix derived from the account id: `acct_acme` -> `ACME`."""
    core = account_id.removeprefix("acct_").removeprefix("acct-")
    letters = re.sub(r"[^A-Z0-9]", "", core.upper())
    return (letters or "INV")[:12]


def _account(row: RowMapping) -> AccountRecord:
    return AccountRecord(
        id=row["id"],
        name=row["name"],
        mode=row["mode"],
        invoice_prefix=row["invoice_prefix"],
        billing=BillingConfig.model_validate(row["billing_config"]),
        notifications=NotificationConfig.model_validate(row["notification_config"]),
        created_at=row["created_at"],
    )


def read_account(connection: Connection, account_id: str) -> AccountRecord:
    row = connection.execute(select(accounts).where(accounts.c.id == account_id)).mappings().first()
    if row is None:
        raise UnknownAccountError(f"account_id: no account {account_id!r}")
    return _account(row)


def create_account(
    engine: Engine,
    *,
    account_id: str,
    name: str,
    mode: Mode,
    billing: BillingConfig,
    notifications: NotificationConfig,
    invoice_prefix: str | None = None,
) -> AccountRecord:
    """Create an account (test or live mode) with its billing and notification config."""
    check_identifier(account_id, field="account_id")
    check_text(name, field="name", max_length=200)
    if mode not in MODES:
        raise InvalidRecordError(f"mode: must be 'test' or 'live', got {mode!r}")
    prefix = (invoice_prefix or default_invoice_prefix(account_id)).upper()
    if not _PREFIX.fullmatch(prefix):
        raise InvalidRecordError(f"invoice_prefix: 1-12 letters or digits, got {invoice_prefix!r}")
    values = {
        "id": account_id,
        "name": name,
        "mode": mode,
        "invoice_prefix": prefix,
        "billing_config": _json(BillingConfig.model_validate(billing)),
        "notification_config": _json(NotificationConfig.model_validate(notifications)),
    }

    def read(connection: Connection) -> AccountRecord | None:
        try:
            return read_account(connection, account_id)
        except UnknownAccountError:
            taken = connection.execute(
                select(accounts.c.id).where(accounts.c.invoice_prefix == prefix)
            ).first()
            if taken is not None:
                raise AccountConflictError(
                    f"invoice_prefix: {prefix!r} is used by account {taken[0]!r}; "
                    "give this account another invoice_prefix"
                ) from None
            return None

    def write(connection: Connection) -> AccountRecord:
        connection.execute(insert(accounts).values(**values, created_at=utcnow()))
        return read_account(connection, account_id)

    record, created = create_once(engine, read=read, write=write)
    if not created:
        stored = (record.name, record.mode, _json(record.billing), _json(record.notifications))
        wanted = (name, mode, values["billing_config"], values["notification_config"])
        if stored != wanted or (invoice_prefix and record.invoice_prefix != prefix):
            raise AccountConflictError(
                f"account_id: {account_id!r} already exists with other settings "
                "(use update_account_config to change its configuration)"
            )
    return record


def get_account(engine: Engine, *, account_id: str) -> AccountRecord:
    with transaction(engine, write=False) as connection:
        return read_account(connection, account_id)


def ensure_account(
    engine: Engine,
    *,
    account_id: str,
    mode: Mode,
    billing: BillingConfig | None = None,
    notifications: NotificationConfig | None = None,
) -> AccountRecord:
    """The account, created in `mode` (with the given or default config) on first use.

    An existing account keeps its config; one of the other mode raises `AccountModeError`."""
    try:
        account = get_account(engine, account_id=account_id)
    except UnknownAccountError:
        account = create_account(
            engine,
            account_id=account_id,
            name=account_id,
            mode=mode,
            billing=billing or BillingConfig(),
            notifications=notifications or NotificationConfig(),
        )
    if account.mode != mode:
        raise AccountModeError(
            f"account {account.id!r} is a {account.mode}-mode account: a {mode}-mode request "
            "cannot use it (test mode never touches live data)"
        )
    return account


def update_account_config(
    engine: Engine,
    *,
    account_id: str,
    billing: BillingConfig | None = None,
    notifications: NotificationConfig | None = None,
) -> AccountRecord:
    """Replace the account's billing and/or notification config (validated first)."""
    values: dict[str, Any] = {}
    if billing is not None:
        values["billing_config"] = _json(BillingConfig.model_validate(billing))
    if notifications is not None:
        values["notification_config"] = _json(NotificationConfig.model_validate(notifications))
    with transaction(engine) as connection:
        read_account(connection, account_id)
        if values:
            connection.execute(update(accounts).where(accounts.c.id == account_id).values(values))
        return read_account(connection, account_id)


# --- webhook endpoints -----------------------------------------------------------------------


def _endpoint(row: RowMapping) -> WebhookEndpointRecord:
    return WebhookEndpointRecord.model_validate(dict(row))


def create_webhook_endpoint(
    engine: Engine, *, account_id: str, url: str, secret: str | None = None
) -> WebhookEndpointRecord:
    """Register `url` for the account's webhooks; the same url again returns the existing
    endpoint (and its secret). A `whsec_` secret is generated when none is given."""
    check_text(url, field="url", max_length=2000)
    if not url.startswith(("https://", "http://")):
        raise InvalidRecordError(f"url: must start with https:// or http://, got {url!r}")
    if secret is not None and not secret.startswith("whsec_"):
        raise InvalidRecordError("secret: a webhook signing secret starts with 'whsec_'")
    query = select(webhook_endpoints).where(
        webhook_endpoints.c.account_id == account_id, webhook_endpoints.c.url == url
    )

    def read(connection: Connection) -> WebhookEndpointRecord | None:
        read_account(connection, account_id)
        row = connection.execute(query).mappings().first()
        return None if row is None else _endpoint(row)

    def write(connection: Connection) -> WebhookEndpointRecord:
        connection.execute(
            insert(webhook_endpoints).values(
                id=new_id("we"),
                account_id=account_id,
                url=url,
                secret=secret or generate_secret(),
                enabled=True,
                created_at=utcnow(),
            )
        )
        return _endpoint(connection.execute(query).mappings().one())

    return create_once(engine, read=read, write=write)[0]


def list_webhook_endpoints(
    engine: Engine, *, account_id: str, enabled_only: bool = True
) -> list[WebhookEndpointRecord]:
    query = select(webhook_endpoints).where(webhook_endpoints.c.account_id == account_id)
    if enabled_only:
        query = query.where(webhook_endpoints.c.enabled.is_(True))
    with transaction(engine, write=False) as connection:
        rows = connection.execute(query.order_by(webhook_endpoints.c.created_at)).mappings()
        return [_endpoint(row) for row in rows]


def set_webhook_endpoint_enabled(
    engine: Engine, *, endpoint_id: str, enabled: bool, reason: str | None = None
) -> WebhookEndpointRecord:
    """Disable an endpoint (with the reason, e.g. the receiver answered 410 Gone) or enable it."""
    with transaction(engine) as connection:
        result = connection.execute(
            update(webhook_endpoints)
            .where(webhook_endpoints.c.id == endpoint_id)
            .values(enabled=enabled, disabled_reason=None if enabled else reason)
        )
        if result.rowcount == 0:
            raise UnknownWebhookEndpointError(f"endpoint_id: no webhook endpoint {endpoint_id!r}")
        row = connection.execute(
            select(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)
        ).mappings()
        return _endpoint(row.one())


# --- customers -------------------------------------------------------------------------------


def _customer(row: RowMapping) -> CustomerRecord:
    return CustomerRecord.model_validate(dict(row))


def read_customer(connection: Connection, customer_id: str) -> CustomerRecord:
    row = (
        connection.execute(select(customers).where(customers.c.id == customer_id))
        .mappings()
        .first()
    )
    if row is None:
        raise UnknownCustomerError(f"customer_id: no customer {customer_id!r}")
    return _customer(row)


def create_customer(
    engine: Engine,
    *,
    account_id: str,
    customer_id: str,
    name: str,
    billing_email: str,
    time_zone: str,
    external_id: str | None = None,
) -> CustomerRecord:
    """Create a customer; `external_id` (default: the customer id) is the id in the platform's
    own records, unique per account."""
    check_identifier(customer_id, field="customer_id")
    check_text(name, field="name", max_length=200)
    if not _EMAIL.fullmatch(billing_email or "") or len(billing_email) > 320:
        raise InvalidRecordError(f"billing_email: {billing_email!r} is not an email address")
    zone_info(time_zone)  # InvalidConfigurationError naming an unknown time zone
    external = check_text(external_id or customer_id, field="external_id", max_length=200)
    values = {
        "id": customer_id,
        "account_id": account_id,
        "external_id": external,
        "name": name,
        "billing_email": billing_email,
        "time_zone": time_zone,
    }

    def read(connection: Connection) -> CustomerRecord | None:
        read_account(connection, account_id)
        try:
            return read_customer(connection, customer_id)
        except UnknownCustomerError:
            return None

    def write(connection: Connection) -> CustomerRecord:
        connection.execute(insert(customers).values(**values, created_at=utcnow()))
        return read_customer(connection, customer_id)

    record, created = create_once(engine, read=read, write=write)
    if not created and record.model_dump(include=set(values)) != values:
        raise CustomerConflictError(
            f"customer_id: {customer_id!r} already exists with other details"
        )
    return record


def get_customer(engine: Engine, *, customer_id: str) -> CustomerRecord:
    with transaction(engine, write=False) as connection:
        return read_customer(connection, customer_id)


# --- meters ----------------------------------------------------------------------------------


def _meter(row: RowMapping) -> MeterRecord:
    return MeterRecord(
        account_id=row["account_id"],
        meter=Meter.model_validate(row["definition"]),
        created_at=row["created_at"],
    )


def create_meter(engine: Engine, *, account_id: str, meter: Meter) -> MeterRecord:
    """Define a meter. Its definition never changes afterwards: past usage was aggregated by it."""
    definition = _json(Meter.model_validate(meter))
    query = select(meters).where(meters.c.account_id == account_id, meters.c.meter_id == meter.id)

    def read(connection: Connection) -> MeterRecord | None:
        read_account(connection, account_id)
        row = connection.execute(query).mappings().first()
        return None if row is None else _meter(row)

    def write(connection: Connection) -> MeterRecord:
        connection.execute(
            insert(meters).values(
                account_id=account_id,
                meter_id=meter.id,
                definition=definition,
                created_at=utcnow(),
            )
        )
        return _meter(connection.execute(query).mappings().one())

    record, created = create_once(engine, read=read, write=write)
    if not created and _json(record.meter) != definition:
        raise MeterConflictError(
            f"meter {meter.id!r} already exists with another definition; meters are immutable "
            "(define a new meter id instead)"
        )
    return record


def read_meters(connection: Connection, account_id: str) -> dict[str, Meter]:
    rows = connection.execute(
        select(meters.c.definition).where(meters.c.account_id == account_id)
    ).scalars()
    found = (Meter.model_validate(definition) for definition in rows)
    return {meter.id: meter for meter in found}


def list_meters(engine: Engine, *, account_id: str) -> dict[str, Meter]:
    """The account's meters by id."""
    with transaction(engine, write=False) as connection:
        read_account(connection, account_id)
        return read_meters(connection, account_id)


# --- pricing versions ------------------------------------------------------------------------


def content_hash(document: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a document (sorted keys, no spaces)."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _pricing_version(row: RowMapping) -> PricingVersionRecord:
    return PricingVersionRecord(
        id=row["id"],
        account_id=row["account_id"],
        product_id=row["product_id"],
        version=row["version"],
        content_hash=row["content_hash"],
        pricing=Pricing.model_validate(row["pricing"]),
        created_at=row["created_at"],
    )


def read_pricing_version(connection: Connection, pricing_version_id: int) -> PricingVersionRecord:
    row = (
        connection.execute(
            select(pricing_versions).where(pricing_versions.c.id == pricing_version_id)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise UnknownPricingVersionError(
            f"pricing_version_id: no pricing version {pricing_version_id!r}"
        )
    return _pricing_version(row)


def create_pricing_version(
    engine: Engine, *, account_id: str, pricing: Pricing
) -> PricingVersionRecord:
    """Store a pricing as an immutable version of its product: identical content returns the
    existing version, other content becomes version n+1. Every priced meter must exist."""
    document = _json(Pricing.model_validate(pricing))
    digest = content_hash(document)
    product = pricing.product_id
    same_content = select(pricing_versions).where(
        pricing_versions.c.account_id == account_id,
        pricing_versions.c.product_id == product,
        pricing_versions.c.content_hash == digest,
    )

    def read(connection: Connection) -> PricingVersionRecord | None:
        read_account(connection, account_id)
        pricing.check_meters(read_meters(connection, account_id))
        row = connection.execute(same_content).mappings().first()
        return None if row is None else _pricing_version(row)

    def write(connection: Connection) -> PricingVersionRecord:
        latest = connection.execute(
            select(func.max(pricing_versions.c.version)).where(
                pricing_versions.c.account_id == account_id,
                pricing_versions.c.product_id == product,
            )
        ).scalar()
        connection.execute(
            insert(pricing_versions).values(
                account_id=account_id,
                product_id=product,
                version=(latest or 0) + 1,
                content_hash=digest,
                pricing=document,
                created_at=utcnow(),
            )
        )
        return _pricing_version(connection.execute(same_content).mappings().one())

    return create_once(engine, read=read, write=write)[0]


def get_pricing_version(engine: Engine, *, pricing_version_id: int) -> PricingVersionRecord:
    with transaction(engine, write=False) as connection:
        return read_pricing_version(connection, pricing_version_id)


# --- subscriptions ---------------------------------------------------------------------------


def _subscription(row: RowMapping) -> SubscriptionRecord:
    return SubscriptionRecord(
        id=row["id"],
        account_id=row["account_id"],
        customer_id=row["customer_id"],
        pricing_version_id=row["pricing_version_id"],
        status=row["status"],
        started_at=row["started_at"],
        canceled_at=row["canceled_at"],
        current_period=Period(start=row["current_period_start"], end=row["current_period_end"]),
        created_at=row["created_at"],
    )


def read_subscription(
    connection: Connection, subscription_id: str, *, lock: str | None = None
) -> SubscriptionRecord:
    """The subscription; `lock` ('share' or 'update') takes a row lock on PostgreSQL."""
    query = select(subscriptions).where(subscriptions.c.id == subscription_id)
    if lock == "share":
        query = query.with_for_update(read=True)
    elif lock == "update":
        query = query.with_for_update(key_share=True)
    row = connection.execute(query).mappings().first()
    if row is None:
        raise UnknownSubscriptionError(f"subscription_id: no subscription {subscription_id!r}")
    return _subscription(row)


def _check_owned(connection: Connection, *, account_id: str, pricing_version_id: int) -> None:
    version = read_pricing_version(connection, pricing_version_id)
    if version.account_id != account_id:
        raise UnknownPricingVersionError(
            f"pricing_version_id: {pricing_version_id} belongs to another account"
        )


def create_subscription(
    engine: Engine,
    *,
    subscription_id: str,
    account_id: str,
    customer_id: str,
    pricing_version_id: int,
    started_at: datetime,
    current_period: Period,
) -> SubscriptionRecord:
    """Create an active subscription. The same id again returns it (whatever happened to it
    since) when it belongs to the same account and customer."""
    check_identifier(subscription_id, field="subscription_id")
    started = check_aware(started_at, field="started_at")

    def read(connection: Connection) -> SubscriptionRecord | None:
        read_account(connection, account_id)
        customer = read_customer(connection, customer_id)
        if customer.account_id != account_id:
            raise UnknownCustomerError(f"customer_id: {customer_id!r} belongs to another account")
        _check_owned(connection, account_id=account_id, pricing_version_id=pricing_version_id)
        try:
            return read_subscription(connection, subscription_id)
        except UnknownSubscriptionError:
            return None

    def write(connection: Connection) -> SubscriptionRecord:
        connection.execute(
            insert(subscriptions).values(
                id=subscription_id,
                account_id=account_id,
                customer_id=customer_id,
                pricing_version_id=pricing_version_id,
                status="active",
                started_at=started,
                current_period_start=current_period.start,
                current_period_end=current_period.end,
                created_at=utcnow(),
            )
        )
        return read_subscription(connection, subscription_id)

    record, created = create_once(engine, read=read, write=write)
    if not created and (record.account_id, record.customer_id) != (account_id, customer_id):
        raise SubscriptionConflictError(
            f"subscription_id: {subscription_id!r} already exists for another customer"
        )
    return record


def get_subscription(engine: Engine, *, subscription_id: str) -> SubscriptionRecord:
    with transaction(engine, write=False) as connection:
        return read_subscription(connection, subscription_id)


def account_subscriptions(
    engine: Engine, *, account_id: str, subscription_ids: Iterable[str]
) -> tuple[dict[str, SubscriptionRecord], dict[int, PricingVersionRecord], dict[str, Meter]]:
    """The account's subscriptions among `subscription_ids` (another account's are left out),
    their pricing versions and the account's meters: what a usage batch is checked against,
    in three queries whatever the number of subscriptions."""
    wanted = sorted(set(subscription_ids))
    with transaction(engine, write=False) as connection:
        rows = connection.execute(
            select(subscriptions).where(
                subscriptions.c.id.in_(wanted), subscriptions.c.account_id == account_id
            )
        ).mappings()
        found = {record.id: record for record in map(_subscription, rows)}
        version_ids = sorted({record.pricing_version_id for record in found.values()})
        versions = connection.execute(
            select(pricing_versions).where(pricing_versions.c.id.in_(version_ids))
        ).mappings()
        meters = read_meters(connection, account_id) if found else {}
        return found, {row["id"]: _pricing_version(row) for row in versions}, meters


class IntakeSubscription(NamedTuple):
    """What the batch intake checks of a subscription (a tuple: read for every batch)."""

    id: str
    pricing_version_id: int
    started_at: datetime
    status: str


def intake_subscriptions(
    engine: Engine, *, account_id: str, subscription_ids: Iterable[str]
) -> dict[str, IntakeSubscription]:
    """The account's subscriptions among `subscription_ids` (another account's are left out),
    with only what a usage batch is checked against: one narrow query."""
    columns = subscriptions.c
    query = select(
        columns.id, columns.pricing_version_id, columns.started_at, columns.status
    ).where(columns.id.in_(sorted(set(subscription_ids))), columns.account_id == account_id)
    with transaction(engine, write=False) as connection:
        return {row[0]: IntakeSubscription._make(row) for row in connection.execute(query)}


def set_subscription_status(
    engine: Engine,
    *,
    subscription_id: str,
    status: SubscriptionStatus,
    at: datetime,
    period: Period | None = None,
) -> SubscriptionRecord:
    """Move the subscription to `status` (see SUBSCRIPTION_TRANSITIONS); the same status again
    changes nothing. Canceling records `at` as canceled_at. `period`, when given, is stored as
    the current period whatever the status does."""
    when = check_aware(at, field="at")
    if status not in SUBSCRIPTION_TRANSITIONS:
        raise InvalidRecordError(f"status: unknown subscription status {status!r}")
    with transaction(engine) as connection:
        current = read_subscription(connection, subscription_id, lock="update")
        if period is not None:
            write_subscription_period(connection, subscription_id, period)
        if current.status == status:
            return read_subscription(connection, subscription_id)
        if status not in SUBSCRIPTION_TRANSITIONS[current.status]:
            raise IllegalStatusTransitionError(
                f"subscription {subscription_id!r} cannot go from {current.status} to {status}",
                current=current.status,
                requested=status,
            )
        values: dict[str, Any] = {"status": status}
        if status == "canceled":
            values["canceled_at"] = when
        connection.execute(
            update(subscriptions).where(subscriptions.c.id == subscription_id).values(values)
        )
        return read_subscription(connection, subscription_id)


def write_subscription_period(connection: Connection, subscription_id: str, period: Period) -> None:
    """Store `period` as the subscription's current one, in the caller's transaction."""
    connection.execute(
        update(subscriptions)
        .where(subscriptions.c.id == subscription_id)
        .values(current_period_start=period.start, current_period_end=period.end)
    )


def set_subscription_period(
    engine: Engine, *, subscription_id: str, period: Period
) -> SubscriptionRecord:
    """Record the subscription's current billing period."""
    with transaction(engine) as connection:
        read_subscription(connection, subscription_id, lock="update")
        write_subscription_period(connection, subscription_id, period)
        return read_subscription(connection, subscription_id)


def set_subscription_pricing(
    engine: Engine, *, subscription_id: str, pricing_version_id: int
) -> SubscriptionRecord:
    """Switch the subscription to another pricing version of its account."""
    with transaction(engine) as connection:
        current = read_subscription(connection, subscription_id, lock="update")
        _check_owned(
            connection, account_id=current.account_id, pricing_version_id=pricing_version_id
        )
        connection.execute(
            update(subscriptions)
            .where(subscriptions.c.id == subscription_id)
            .values(pricing_version_id=pricing_version_id)
        )
        return read_subscription(connection, subscription_id)


__all__ = [
    "SUBSCRIPTION_TRANSITIONS",
    "IntakeSubscription",
    "content_hash",
    "create_account",
    "create_customer",
    "create_meter",
    "create_pricing_version",
    "create_subscription",
    "create_webhook_endpoint",
    "default_invoice_prefix",
    "get_account",
    "get_customer",
    "get_pricing_version",
    "get_subscription",
    "intake_subscriptions",
    "list_meters",
    "list_webhook_endpoints",
    "set_subscription_period",
    "set_subscription_pricing",
    "set_subscription_status",
    "set_webhook_endpoint_enabled",
    "update_account_config",
]
