"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-24 13:40:27.551782
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import billing_db.types

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("invoice_prefix", sa.String(length=16), nullable=False),
        sa.Column(
            "billing_config",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column(
            "notification_config",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column("created_at", billing_db.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("mode IN ('test', 'live')", name=op.f("ck_accounts_mode_allowed")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("invoice_prefix", name=op.f("uq_accounts_invoice_prefix")),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=255), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=2000), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=2000), nullable=True),
        sa.Column("created_at", billing_db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", billing_db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("message_id", sa.String(length=500), nullable=True),
        sa.CheckConstraint(
            "channel IN ('email', 'webhook')", name=op.f("ck_notifications_channel_allowed")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'failed', 'disabled')",
            name=op.f("ck_notifications_status_allowed"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_notifications_dedupe_key")),
    )
    op.create_table(
        "customers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("billing_email", sa.String(length=320), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("created_at", billing_db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_customers_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        sa.UniqueConstraint(
            "account_id", "external_id", name=op.f("uq_customers_account_id_external_id")
        ),
    )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_customers_account_id"), ["account_id"], unique=False)

    op.create_table(
        "invoice_sequences",
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("last_value", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "mode IN ('test', 'live')", name=op.f("ck_invoice_sequences_mode_allowed")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_invoice_sequences_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", "mode", name=op.f("pk_invoice_sequences")),
    )
    op.create_table(
        "meters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("meter_id", sa.String(length=200), nullable=False),
        sa.Column(
            "definition",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column("created_at", billing_db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_meters_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meters")),
        sa.UniqueConstraint("account_id", "meter_id", name=op.f("uq_meters_account_id_meter_id")),
    )
    op.create_table(
        "pricing_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("product_id", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "pricing",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column("created_at", billing_db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_pricing_versions_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pricing_versions")),
        sa.UniqueConstraint(
            "account_id",
            "product_id",
            "content_hash",
            name=op.f("uq_pricing_versions_account_id_product_id_content_hash"),
        ),
        sa.UniqueConstraint(
            "account_id",
            "product_id",
            "version",
            name=op.f("uq_pricing_versions_account_id_product_id_version"),
        ),
    )
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(length=500), nullable=True),
        sa.Column("created_at", billing_db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_webhook_endpoints_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
        sa.UniqueConstraint("account_id", "url", name=op.f("uq_webhook_endpoints_account_id_url")),
    )
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webhook_endpoints_account_id"), ["account_id"], unique=False
        )

    op.create_table(
        "subscriptions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("pricing_version_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", billing_db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("canceled_at", billing_db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "current_period_start", billing_db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "current_period_end", billing_db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("created_at", billing_db.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'past_due', 'suspended', 'canceled')",
            name=op.f("ck_subscriptions_status_allowed"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_subscriptions_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_subscriptions_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["pricing_version_id"],
            ["pricing_versions.id"],
            name=op.f("fk_subscriptions_pricing_version_id_pricing_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
    )
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_subscriptions_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_subscriptions_customer_id"), ["customer_id"], unique=False
        )

    op.create_table(
        "invoices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("subscription_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("period_start", billing_db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("period_end", billing_db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", billing_db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("issued_at", billing_db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("due_at", billing_db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("payment_terms_days", sa.Integer(), nullable=False),
        sa.Column("paid_at", billing_db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("subtotal", billing_db.types.Decimal6(precision=18, scale=6), nullable=False),
        sa.Column("tax_rate", billing_db.types.ExactDecimal(), nullable=False),
        sa.Column("tax", billing_db.types.Decimal6(precision=18, scale=6), nullable=False),
        sa.Column("total", billing_db.types.Decimal6(precision=18, scale=6), nullable=False),
        sa.Column(
            "credit_applied", billing_db.types.Decimal6(precision=18, scale=6), nullable=False
        ),
        sa.Column("amount_paid", billing_db.types.Decimal6(precision=18, scale=6), nullable=False),
        sa.Column(
            "usage_watermark", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.CheckConstraint("mode IN ('test', 'live')", name=op.f("ck_invoices_mode_allowed")),
        sa.CheckConstraint(
            "status IN ('draft', 'open', 'paid', 'overdue', 'void', 'uncollectible')",
            name=op.f("ck_invoices_status_allowed"),
        ),
        sa.CheckConstraint("amount_paid >= 0", name=op.f("ck_invoices_amount_paid_not_negative")),
        sa.CheckConstraint(
            "credit_applied >= 0", name=op.f("ck_invoices_credit_applied_not_negative")
        ),
        sa.CheckConstraint("period_end > period_start", name=op.f("ck_invoices_period_not_empty")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_invoices_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_invoices_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_invoices_subscription_id_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint(
            "account_id", "mode", "sequence", name=op.f("uq_invoices_account_id_mode_sequence")
        ),
        sa.UniqueConstraint("number", name=op.f("uq_invoices_number")),
        sa.UniqueConstraint(
            "subscription_id", "period_start", name=op.f("uq_invoices_subscription_id_period_start")
        ),
    )
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invoices_customer_id"), ["customer_id"], unique=False)

    op.create_table(
        "invoice_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("meter_id", sa.String(length=200), nullable=True),
        sa.Column("quantity", billing_db.types.ExactDecimal(), nullable=False),
        sa.Column("unit", sa.String(length=64), nullable=True),
        sa.Column("amount", billing_db.types.Decimal6(precision=18, scale=6), nullable=False),
        sa.Column(
            "tiers",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column("period_start", billing_db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("period_end", billing_db.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_invoice_lines_invoice_id_invoices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_lines")),
        sa.UniqueConstraint(
            "invoice_id", "position", name=op.f("uq_invoice_lines_invoice_id_position")
        ),
    )
    op.create_table(
        "invoice_status_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("at", billing_db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_invoice_status_changes_invoice_id_invoices"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_status_changes")),
    )
    with op.batch_alter_table("invoice_status_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_invoice_status_changes_invoice_id"), ["invoice_id"], unique=False
        )

    op.create_table(
        "payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payment_id", sa.String(length=255), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("amount", billing_db.types.Decimal6(precision=18, scale=6), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("applied", billing_db.types.Decimal6(precision=18, scale=6), nullable=False),
        sa.Column("credited", billing_db.types.Decimal6(precision=18, scale=6), nullable=False),
        sa.Column("received_at", billing_db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", billing_db.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payments_amount_positive")),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_payments_invoice_id_invoices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("payment_id", name=op.f("uq_payments_payment_id")),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payments_invoice_id"), ["invoice_id"], unique=False)

    op.create_table(
        "usage_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("subscription_id", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("meter_id", sa.String(length=200), nullable=False),
        sa.Column("quantity", billing_db.types.Decimal6(precision=18, scale=6), nullable=False),
        sa.Column("timestamp", billing_db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", billing_db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "properties",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=True,
        ),
        sa.Column("invoice_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("quantity >= 0", name=op.f("ck_usage_events_quantity_not_negative")),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_usage_events_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_usage_events_subscription_id_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_events")),
        sa.UniqueConstraint(
            "subscription_id", "event_id", name=op.f("uq_usage_events_subscription_id_event_id")
        ),
    )
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_usage_events_subscription_meter_time",
            ["subscription_id", "meter_id", "timestamp"],
            unique=False,
        )
        batch_op.create_index(
            "ix_usage_events_unbilled",
            ["subscription_id", "meter_id", "timestamp"],
            unique=False,
            postgresql_where=sa.text("invoice_id IS NULL"),
            sqlite_where=sa.text("invoice_id IS NULL"),
        )

    op.create_table(
        "customer_credits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", billing_db.types.Decimal6(precision=18, scale=6), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=True),
        sa.Column("invoice_id", sa.Integer(), nullable=True),
        sa.Column("created_at", billing_db.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "source IN ('overpayment', 'invoice', 'adjustment')",
            name=op.f("ck_customer_credits_source_allowed"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_customer_credits_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_credits_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_customer_credits_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_customer_credits_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_credits")),
    )
    with op.batch_alter_table("customer_credits", schema=None) as batch_op:
        batch_op.create_index(
            "ix_customer_credits_customer_currency", ["customer_id", "currency"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("customer_credits", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_credits_customer_currency")

    op.drop_table("customer_credits")
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_usage_events_unbilled",
            postgresql_where=sa.text("invoice_id IS NULL"),
            sqlite_where=sa.text("invoice_id IS NULL"),
        )
        batch_op.drop_index("ix_usage_events_subscription_meter_time")

    op.drop_table("usage_events")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payments_invoice_id"))

    op.drop_table("payments")
    with op.batch_alter_table("invoice_status_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invoice_status_changes_invoice_id"))

    op.drop_table("invoice_status_changes")
    op.drop_table("invoice_lines")
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invoices_customer_id"))

    op.drop_table("invoices")
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subscriptions_customer_id"))
        batch_op.drop_index(batch_op.f("ix_subscriptions_account_id"))

    op.drop_table("subscriptions")
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_endpoints_account_id"))

    op.drop_table("webhook_endpoints")
    op.drop_table("pricing_versions")
    op.drop_table("meters")
    op.drop_table("invoice_sequences")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customers_account_id"))

    op.drop_table("customers")
    op.drop_table("notifications")
    op.drop_table("accounts")
