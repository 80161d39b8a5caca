"""dunning steps keyed by a column

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 17:05:00.000000

A dunning step (reminder, suspension) used to be recognised by its reason text
(`"<step>: <note>"`); it now names itself in `invoice_status_changes.dunning_step`, unique per
invoice. The rows older code wrote get their step back from the reason, so an upgraded
database never sends a step twice.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The rule `record_dunning_step` has always applied to a step's name.
MAX_STEP = 64

changes = sa.table(
    "invoice_status_changes",
    sa.column("id", sa.Integer()),
    sa.column("invoice_id", sa.Integer()),
    sa.column("from_status", sa.String()),
    sa.column("to_status", sa.String()),
    sa.column("reason", sa.String()),
    sa.column("dunning_step", sa.String()),
)


def step_of(reason: str) -> str | None:
    """The step an older dunning row's reason names (`"remind-1: ..."` -> `remind-1`)."""
    step, colon, rest = reason.partition(":")
    step = step.strip()
    if not colon or not rest.startswith(" ") or not step or len(step) > MAX_STEP:
        return None
    return step


def _backfill() -> None:
    """Only rows that kept the status are dunning steps (every other change moves it); the
    first row of a step per invoice gets the name, so the unique constraint can hold."""
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(changes.c.id, changes.c.invoice_id, changes.c.reason)
        .where(changes.c.from_status == changes.c.to_status, changes.c.reason.is_not(None))
        .order_by(changes.c.id)
    ).all()
    seen: set[tuple[int, str]] = set()
    named = []
    for row_id, invoice_id, reason in rows:
        step = step_of(reason)
        if step is not None and (invoice_id, step) not in seen:
            seen.add((invoice_id, step))
            named.append({"row_id": row_id, "step": step})
    if named:  # one executemany, not a round trip per row
        connection.execute(
            sa.update(changes)
            .where(changes.c.id == sa.bindparam("row_id"))
            .values(dunning_step=sa.bindparam("step")),
            named,
        )


def upgrade() -> None:
    with op.batch_alter_table("invoice_status_changes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dunning_step", sa.String(length=MAX_STEP), nullable=True))
    _backfill()
    with op.batch_alter_table("invoice_status_changes", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            batch_op.f("uq_invoice_status_changes_invoice_id_dunning_step"),
            ["invoice_id", "dunning_step"],
        )


def downgrade() -> None:
    with op.batch_alter_table("invoice_status_changes", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("uq_invoice_status_changes_invoice_id_dunning_step"), type_="unique"
        )
        batch_op.drop_column("dunning_step")
