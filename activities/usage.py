"""Activities that store usage and aggregate a period of it, in the database."""

from __future__ import annotations

from sqlalchemy import Engine
from temporalio import activity

from activities.database import call_repository
from billing.contracts.activities import (
    AGGREGATE_PERIOD_USAGE,
    STORE_USAGE,
    PeriodUsageInput,
    PeriodUsageResult,
    RecordUsageInput,
    RecordUsageResult,
)
from billing_db import repo_usage
from billing_db.records import UsageEventInput
from billing_db.repo_usage_receipts import received_earlier


class UsageActivities:
    def __init__(self, *, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name=STORE_USAGE)
    async def record_usage(self, batch: RecordUsageInput) -> RecordUsageResult:
        """Store a batch once per event id; say which ids the database already had."""
        return await call_repository(self._engine, self._record, batch)

    def _record(self, batch: RecordUsageInput) -> RecordUsageResult:
        events = [
            UsageEventInput(
                event_id=event.event_id,
                meter_id=event.meter_id,
                quantity=event.quantity,
                timestamp=event.timestamp or batch.received_at,
                properties=event.properties or None,
            )
            for event in batch.events
        ]
        repo_usage.record_usage(
            self._engine,
            subscription_id=batch.subscription_id,
            events=events,
            received_at=batch.received_at,
        )
        duplicates = received_earlier(
            self._engine,
            subscription_id=batch.subscription_id,
            event_ids=[event.event_id for event in batch.events],
            received_at=batch.received_at,
        )
        return RecordUsageResult(new=len(events) - len(duplicates), duplicate_ids=duplicates)

    @activity.defn(name=AGGREGATE_PERIOD_USAGE)
    async def aggregate_period_usage(self, request: PeriodUsageInput) -> PeriodUsageResult:
        """The period's unbilled usage per meter (in SQL), late usage of earlier invoiced
        periods, and the watermark the invoice will bill up to."""
        usage = await call_repository(
            self._engine,
            repo_usage.period_usage,
            self._engine,
            subscription_id=request.subscription_id,
            period=request.period,
            meters=request.meters,
        )
        return PeriodUsageResult(
            quantities=usage.quantities, late=usage.late, watermark=usage.watermark
        )
