"""usage indexes end with the quantity

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-03 17:30:00

A period's aggregation (sum, count, max over one subscription's meter and month) reads only
the index: the quantity is its last column, so no table row is fetched per event.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNBILLED = "invoice_id IS NULL"


def _create(*, covering: bool) -> None:
    columns = ["subscription_id", "meter_id", "timestamp", *(["quantity"] if covering else [])]
    op.create_index("ix_usage_events_subscription_meter_time", "usage_events", columns)
    op.create_index(
        "ix_usage_events_unbilled",
        "usage_events",
        columns,
        postgresql_where=sa.text(UNBILLED),
        sqlite_where=sa.text(UNBILLED),
    )


def _drop() -> None:
    op.drop_index("ix_usage_events_unbilled", table_name="usage_events")
    op.drop_index("ix_usage_events_subscription_meter_time", table_name="usage_events")


def upgrade() -> None:
    _drop()
    _create(covering=True)


def downgrade() -> None:
    _drop()
    _create(covering=False)
