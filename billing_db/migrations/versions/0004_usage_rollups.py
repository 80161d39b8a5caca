"""hourly usage rollups

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 20:10:00.000000

`usage_rollups` sums the usage ledger per (subscription, meter, UTC hour), so that a month's
sum, count, max or latest reads ~744 rows instead of every event (`billing_db.repo_usage_rollups`).
The rollups of the rows already stored are built here by the code that keeps them afterwards
(`add_rows` over every row, then `refresh_unbilled` for each subscription with billed rows), so
an upgraded database holds exactly what the running code would have written. If the table's
shape changes in a later revision, this one must take a frozen copy of those two functions.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billing_db.types
from billing_db.repo_usage_rollups import HOUR, add_rows, refresh_unbilled

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Ledger rows read per step of the backfill.
BACKFILL_CHUNK = 20_000

_row_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _part(prefix: str, *, nullable: bool) -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column(f"{prefix}_count", sa.BigInteger(), nullable=False),
        sa.Column(f"{prefix}_sum", billing_db.types.Decimal6Sum(), nullable=False),
        sa.Column(
            f"{prefix}_max", billing_db.types.Decimal6(precision=18, scale=6), nullable=nullable
        ),
        sa.Column(f"{prefix}_last_row_id", _row_id, nullable=nullable),
        sa.Column(
            f"{prefix}_latest_timestamp",
            billing_db.types.UTCDateTime(timezone=True),
            nullable=nullable,
        ),
        sa.Column(f"{prefix}_latest_event_id", sa.String(length=255), nullable=nullable),
        sa.Column(
            f"{prefix}_latest_quantity",
            billing_db.types.Decimal6(precision=18, scale=6),
            nullable=nullable,
        ),
    ]


def _backfill() -> None:
    connection = op.get_bind()
    ledger = sa.table(
        "usage_events",
        sa.column("id", _row_id),
        sa.column("subscription_id", sa.String()),
        sa.column("meter_id", sa.String()),
        sa.column("event_id", sa.String()),
        sa.column("quantity", billing_db.types.Decimal6(precision=18, scale=6)),
        sa.column("timestamp", billing_db.types.UTCDateTime(timezone=True)),
        sa.column("invoice_id", sa.Integer()),
    )
    columns = ledger.c
    after = 0
    while True:  # in id order, a chunk per statement (keyset), every row as new and unbilled
        chunk = connection.execute(
            sa.select(
                columns.id,
                columns.subscription_id,
                columns.meter_id,
                columns.event_id,
                columns.quantity,
                columns.timestamp,
            )
            .where(columns.id > after)
            .order_by(columns.id)
            .limit(BACKFILL_CHUNK)
        ).all()
        if not chunk:
            break
        add_rows(connection, chunk)
        after = chunk[-1].id
    billed = connection.execute(
        sa.select(columns.subscription_id, sa.func.max(columns.timestamp))
        .where(columns.invoice_id.is_not(None))
        .group_by(columns.subscription_id)
        .order_by(columns.subscription_id)
    ).all()
    for subscription_id, latest_billed in billed:  # then the unbilled part from the rows
        refresh_unbilled(connection, subscription_id=subscription_id, before=latest_billed + HOUR)


def upgrade() -> None:
    op.create_table(
        "usage_rollups",
        sa.Column("subscription_id", sa.String(length=64), nullable=False),
        sa.Column("meter_id", sa.String(length=200), nullable=False),
        sa.Column("hour", billing_db.types.UTCDateTime(timezone=True), nullable=False),
        *_part("all", nullable=False),
        *_part("unbilled", nullable=True),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_usage_rollups_subscription_id_subscriptions"),
        ),
        sa.PrimaryKeyConstraint(
            "subscription_id", "meter_id", "hour", name=op.f("pk_usage_rollups")
        ),
    )
    _backfill()


def downgrade() -> None:
    op.drop_table("usage_rollups")
