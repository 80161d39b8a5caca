"""The billing database's tables (sqlmodel).

Money and quantities are `Decimal6` (exact; never float), timestamps `UTCDateTime` (aware UTC).
Configuration documents (billing, notification, meter, pricing) are JSON validated by the pure
core's pydantic models at the repository edge. Test mode: every row that matters carries its
account (directly, or through its subscription or invoice) and the account carries the mode,
so `livemode` is always derivable; invoices copy the mode, which also keys their numbering.

Enumerations are plain strings guarded by CHECK constraints, so that adding a value is a small
migration on both dialects.
"""

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from billing_db.types import Decimal6, Decimal6Sum, ExactDecimal, UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata: MetaData = SQLModel.metadata

#: JSON documents: JSONB on PostgreSQL (comparable, indexable), JSON text on SQLite.
JSONDocument = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
#: Row ids that grow past 2**31 (usage events): BIGINT, but INTEGER (the rowid) on SQLite.
RowId = BigInteger().with_variant(Integer(), "sqlite")

MODES = ("test", "live")
SUBSCRIPTION_STATUSES = ("active", "past_due", "suspended", "canceled")
INVOICE_STATUSES = ("draft", "open", "paid", "overdue", "void", "uncollectible")
NOTIFICATION_CHANNELS = ("email", "webhook")
NOTIFICATION_STATUSES = ("pending", "delivered", "failed", "disabled")
CREDIT_SOURCES = ("overpayment", "invoice", "adjustment")


def _one_of(column: str, values: tuple[str, ...]) -> CheckConstraint:
    allowed = ", ".join(f"'{value}'" for value in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=f"{column}_allowed")


def _money(*, nullable: bool = False) -> Any:
    return Field(sa_column=Column(Decimal6(), nullable=nullable))


def _exact(*, nullable: bool = False) -> Any:
    return Field(sa_column=Column(ExactDecimal(), nullable=nullable))


def _utc(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


def _json(*, nullable: bool = False) -> Any:
    return Field(sa_column=Column(JSONDocument, nullable=nullable))


def _fk(target: str, *, nullable: bool = False, index: bool = True, length: int = 64) -> Any:
    """A string foreign key (the ids of accounts, customers and subscriptions are strings)."""
    return Field(
        sa_column=Column(
            String(length),
            ForeignKey(target),
            nullable=nullable,
            index=index,
        )
    )


class Account(SQLModel, table=True):
    __tablename__ = "accounts"
    __table_args__ = (_one_of("mode", MODES),)

    id: str = Field(sa_column=Column(String(64), primary_key=True))
    name: str = Field(max_length=200)
    mode: str = Field(max_length=8)
    invoice_prefix: str = Field(max_length=16, unique=True)
    billing_config: dict[str, Any] = _json()
    notification_config: dict[str, Any] = _json()
    created_at: datetime = _utc()


class WebhookEndpoint(SQLModel, table=True):
    __tablename__ = "webhook_endpoints"
    __table_args__ = (UniqueConstraint("account_id", "url"),)

    id: str = Field(sa_column=Column(String(64), primary_key=True))
    account_id: str = _fk("accounts.id")
    url: str = Field(max_length=2000)
    secret: str = Field(max_length=200)
    enabled: bool = True
    disabled_reason: str | None = Field(default=None, max_length=500)
    created_at: datetime = _utc()


class Customer(SQLModel, table=True):
    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("account_id", "external_id"),)

    id: str = Field(sa_column=Column(String(64), primary_key=True))
    account_id: str = _fk("accounts.id")
    external_id: str = Field(max_length=200)
    name: str = Field(max_length=200)
    billing_email: str = Field(max_length=320)
    time_zone: str = Field(max_length=64)
    created_at: datetime = _utc()


class MeterRow(SQLModel, table=True):
    __tablename__ = "meters"
    __table_args__ = (UniqueConstraint("account_id", "meter_id"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: str = _fk("accounts.id", index=False)
    meter_id: str = Field(max_length=200)
    definition: dict[str, Any] = _json()
    created_at: datetime = _utc()


class PricingVersion(SQLModel, table=True):
    """Immutable once created: a change of content is a new version of the same product."""

    __tablename__ = "pricing_versions"
    __table_args__ = (
        UniqueConstraint("account_id", "product_id", "version"),
        UniqueConstraint("account_id", "product_id", "content_hash"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: str = _fk("accounts.id", index=False)
    product_id: str = Field(max_length=200)
    version: int
    content_hash: str = Field(max_length=64)
    pricing: dict[str, Any] = _json()
    created_at: datetime = _utc()


class Subscription(SQLModel, table=True):
    __tablename__ = "subscriptions"
    __table_args__ = (_one_of("status", SUBSCRIPTION_STATUSES),)

    id: str = Field(sa_column=Column(String(64), primary_key=True))
    account_id: str = _fk("accounts.id")
    customer_id: str = _fk("customers.id")
    pricing_version_id: int = Field(foreign_key="pricing_versions.id")
    status: str = Field(max_length=16)
    started_at: datetime = _utc()
    canceled_at: datetime | None = _utc(nullable=True)
    current_period_start: datetime = _utc()
    current_period_end: datetime = _utc()
    created_at: datetime = _utc()


class UsageEvent(SQLModel, table=True):
    """One usage event; `id` grows with every insert and serves as the billing watermark."""

    __tablename__ = "usage_events"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id"),
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
        Index(
            "ix_usage_events_subscription_meter_time", "subscription_id", "meter_id", "timestamp"
        ),
        # The unbilled rows only: period usage, late usage and the billing UPDATE read these.
        Index(
            "ix_usage_events_unbilled",
            "subscription_id",
            "meter_id",
            "timestamp",
            postgresql_where=text("invoice_id IS NULL"),
            sqlite_where=text("invoice_id IS NULL"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(RowId, primary_key=True))
    subscription_id: str = _fk("subscriptions.id", index=False)
    event_id: str = Field(max_length=255)
    meter_id: str = Field(max_length=200)
    quantity: Decimal = _money()
    timestamp: datetime = _utc()
    received_at: datetime = _utc()
    properties: dict[str, Any] | None = _json(nullable=True)
    invoice_id: int | None = Field(default=None, foreign_key="invoices.id")


def _column(column_type: Any, *, nullable: bool = False, primary_key: bool = False) -> Any:
    return Field(sa_column=Column(column_type, nullable=nullable, primary_key=primary_key))


class UsageRollup(SQLModel, table=True):
    """The usage ledger summed per (subscription, meter, UTC hour), written in the transaction
    that changes the ledger (`billing_db.repo_usage_rollups`): a month's sum, count, max or
    latest reads ~744 of these instead of every event.

    Two parts: all the hour's rows (`all_*`), and its unbilled rows (`unbilled_*`, NULL or 0
    when there are none), recomputed from the ledger when an invoice bills rows. `*_last_row_id`
    is the highest usage row id a part counts: a watermark below it cannot be answered from the
    rollup. `*_latest_*` is the row with the greatest (timestamp, event_id), as
    `billing.aggregation` orders them.
    """

    __tablename__ = "usage_rollups"

    subscription_id: str = Field(
        sa_column=Column(String(64), ForeignKey("subscriptions.id"), primary_key=True)
    )
    meter_id: str = Field(sa_column=Column(String(200), primary_key=True))
    hour: datetime = _column(UTCDateTime(), primary_key=True)
    all_count: int = _column(BigInteger())
    all_sum: Decimal = _column(Decimal6Sum())
    all_max: Decimal = _money()
    all_last_row_id: int = _column(RowId)
    all_latest_timestamp: datetime = _utc()
    all_latest_event_id: str = Field(max_length=255)
    all_latest_quantity: Decimal = _money()
    unbilled_count: int = _column(BigInteger())
    unbilled_sum: Decimal = _column(Decimal6Sum())
    unbilled_max: Decimal | None = _money(nullable=True)
    unbilled_last_row_id: int | None = _column(RowId, nullable=True)
    unbilled_latest_timestamp: datetime | None = _utc(nullable=True)
    unbilled_latest_event_id: str | None = Field(default=None, max_length=255)
    unbilled_latest_quantity: Decimal | None = _money(nullable=True)


class InvoiceSequence(SQLModel, table=True):
    """The last invoice number used per account and mode (the gap-free counter)."""

    __tablename__ = "invoice_sequences"
    __table_args__ = (_one_of("mode", MODES),)

    account_id: str = Field(
        sa_column=Column(String(64), ForeignKey("accounts.id"), primary_key=True)
    )
    mode: str = Field(sa_column=Column(String(8), primary_key=True))
    last_value: int


class Invoice(SQLModel, table=True):
    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("account_id", "mode", "sequence"),
        UniqueConstraint("subscription_id", "period_start"),
        _one_of("status", INVOICE_STATUSES),
        _one_of("mode", MODES),
        CheckConstraint("period_end > period_start", name="period_not_empty"),
        CheckConstraint("amount_paid >= 0", name="amount_paid_not_negative"),
        CheckConstraint("credit_applied >= 0", name="credit_applied_not_negative"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: str = _fk("accounts.id", index=False)
    mode: str = Field(max_length=8)
    sequence: int
    number: str = Field(max_length=64, unique=True)
    subscription_id: str = _fk("subscriptions.id", index=False)
    customer_id: str = _fk("customers.id")
    period_start: datetime = _utc()
    period_end: datetime = _utc()
    status: str = Field(max_length=16)
    created_at: datetime = _utc()
    issued_at: datetime | None = _utc(nullable=True)
    due_at: datetime | None = _utc(nullable=True)
    payment_terms_days: int
    paid_at: datetime | None = _utc(nullable=True)
    currency: str = Field(max_length=3)
    subtotal: Decimal = _money()
    tax_rate: Decimal = _exact()
    tax: Decimal = _money()
    total: Decimal = _money()
    credit_applied: Decimal = _money()
    amount_paid: Decimal = _money()
    usage_watermark: int = Field(sa_column=Column(RowId, nullable=False))


class InvoiceLineRow(SQLModel, table=True):
    __tablename__ = "invoice_lines"
    __table_args__ = (UniqueConstraint("invoice_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    invoice_id: int = Field(foreign_key="invoices.id")
    position: int
    kind: str = Field(max_length=32)
    description: str = Field(max_length=1000)
    meter_id: str | None = Field(default=None, max_length=200)
    quantity: Decimal = _exact()
    unit: str | None = Field(default=None, max_length=64)
    amount: Decimal = _money()
    tiers: list[dict[str, Any]] = _json()
    period_start: datetime | None = _utc(nullable=True)
    period_end: datetime | None = _utc(nullable=True)


class Payment(SQLModel, table=True):
    """A payment as received; `applied` went to the invoice, `credited` to the customer."""

    __tablename__ = "payments"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: int | None = Field(default=None, primary_key=True)
    payment_id: str = Field(max_length=255, unique=True)
    invoice_id: int = Field(foreign_key="invoices.id", index=True)
    amount: Decimal = _money()
    currency: str = Field(max_length=3)
    applied: Decimal = _money()
    credited: Decimal = _money()
    received_at: datetime = _utc()
    recorded_at: datetime = _utc()


class CustomerCredit(SQLModel, table=True):
    """The customer's credit ledger: overpayments add, invoices consume; balance = SUM(amount)."""

    __tablename__ = "customer_credits"
    __table_args__ = (
        _one_of("source", CREDIT_SOURCES),
        Index("ix_customer_credits_customer_currency", "customer_id", "currency"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: str = _fk("accounts.id", index=False)
    customer_id: str = _fk("customers.id", index=False)
    currency: str = Field(max_length=3)
    amount: Decimal = _money()
    source: str = Field(max_length=16)
    payment_id: int | None = Field(default=None, foreign_key="payments.id")
    invoice_id: int | None = Field(default=None, foreign_key="invoices.id")
    created_at: datetime = _utc()


class InvoiceStatusChange(SQLModel, table=True):
    """Every status an invoice entered, with why and when (the dunning history).

    A dunning step that keeps the status (a reminder, a suspension) names itself in
    `dunning_step`; the unique (invoice_id, dunning_step) makes a retried step a no-op. NULL
    for every other change (NULLs never collide in a unique constraint).
    """

    __tablename__ = "invoice_status_changes"
    __table_args__ = (UniqueConstraint("invoice_id", "dunning_step"),)

    id: int | None = Field(default=None, primary_key=True)
    invoice_id: int = Field(foreign_key="invoices.id", index=True)
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str = Field(max_length=16)
    reason: str | None = Field(default=None, max_length=500)
    at: datetime = _utc()
    dunning_step: str | None = Field(default=None, max_length=64)


class Notification(SQLModel, table=True):
    """One notification per dedupe key, whatever the number of delivery attempts."""

    __tablename__ = "notifications"
    __table_args__ = (
        _one_of("channel", NOTIFICATION_CHANNELS),
        _one_of("status", NOTIFICATION_STATUSES),
    )

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=255, unique=True)
    channel: str = Field(max_length=16)
    event: str = Field(max_length=64)
    target: str = Field(max_length=2000)
    status: str = Field(max_length=16)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=2000)
    created_at: datetime = _utc()
    delivered_at: datetime | None = _utc(nullable=True)
    message_id: str | None = Field(default=None, max_length=500)


class ApiKey(SQLModel, table=True):
    """An API key of the HTTP API: only its SHA-256 is kept; `prefix` names it in lists."""

    __tablename__ = "api_keys"
    __table_args__ = (_one_of("mode", MODES),)

    prefix: str = Field(sa_column=Column(String(32), primary_key=True))
    account_id: str = _fk("accounts.id")
    mode: str = Field(max_length=8)
    key_hash: str = Field(max_length=64)
    created_at: datetime = _utc()
    last_used_at: datetime | None = _utc(nullable=True)
    revoked_at: datetime | None = _utc(nullable=True)


class IdempotentRequest(SQLModel, table=True):
    """The first response to a POST with an Idempotency-Key, replayed for the same key and body."""

    __tablename__ = "idempotent_requests"
    __table_args__ = (UniqueConstraint("account_id", "idempotency_key"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: str = _fk("accounts.id", index=False)
    idempotency_key: str = Field(max_length=255)
    request_hash: str = Field(max_length=64)
    status_code: int
    response_body: str = Field(sa_column=Column(Text(), nullable=False))
    created_at: datetime = _utc(index=True)


def table(model: type[SQLModel]) -> Table:
    """The Core table of a model, typed, for SQL expressions."""
    result = model.__table__  # type: ignore[attr-defined]
    assert isinstance(result, Table)
    return result


accounts = table(Account)
webhook_endpoints = table(WebhookEndpoint)
customers = table(Customer)
meters = table(MeterRow)
pricing_versions = table(PricingVersion)
subscriptions = table(Subscription)
usage_events = table(UsageEvent)
usage_rollups = table(UsageRollup)
invoice_sequences = table(InvoiceSequence)
invoices = table(Invoice)
invoice_lines = table(InvoiceLineRow)
payments = table(Payment)
customer_credits = table(CustomerCredit)
invoice_status_changes = table(InvoiceStatusChange)
notifications = table(Notification)
api_keys = table(ApiKey)
idempotent_requests = table(IdempotentRequest)
