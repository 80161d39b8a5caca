"""Which events of a recorded batch were already there before it (true duplicates)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Engine, select

from billing_db.engine import transaction
from billing_db.repo_common import check_aware
from billing_db.tables import usage_events

_CHUNK = 500


def received_earlier(
    engine: Engine, *, subscription_id: str, event_ids: Sequence[str], received_at: datetime
) -> list[str]:
    """The ids among `event_ids` whose stored row was received other than at `received_at`.

    `record_usage` stamps every row it writes with the batch's `received_at`; a caller that
    gives each batch its own `received_at` and passes it again when retrying learns exactly
    which events were duplicates of earlier batches, even when an earlier attempt of the same
    batch committed before failing.
    """
    received = check_aware(received_at, field="received_at")
    found: list[str] = []
    with transaction(engine, write=False) as connection:
        for start in range(0, len(event_ids), _CHUNK):
            chunk = list(event_ids[start : start + _CHUNK])
            query = select(usage_events.c.event_id).where(
                usage_events.c.subscription_id == subscription_id,
                usage_events.c.event_id.in_(chunk),
                usage_events.c.received_at != received,
            )
            found.extend(row[0] for row in connection.execute(query))
    return sorted(found)
