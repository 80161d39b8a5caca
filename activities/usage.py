"""Activities that store usage and aggregate a period of it, in the database."""

from __future__ import annotations

from sqlalchemy import Engine
from temporalio import activity

from activities.database import call_repository
from billing.contracts.activities import (
    AGGREGATE_PERIOD_USAGE,
    COUNT_RECORDED_USAGE,
    STORE_USAGE,
    LedgerCountInput,
    LedgerUsage,
    PeriodUsageInput,
    PeriodUsageResult,
    RecordUsageInput,
    RecordUsageResult,
)
from billing.contracts.subscription_state import PeriodUsage
from billing.running import by_period
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
        counted = None if batch.count is None else self._count(batch.count)
        return RecordUsageResult(
            new=len(events) - len(duplicates), duplicate_ids=duplicates, counted=counted
        )

    @activity.defn(name=COUNT_RECORDED_USAGE)
    async def count_recorded_usage(self, request: LedgerCountInput) -> LedgerUsage:
        """The running usage of the ledger's rows new to the workflow, by period."""
        return await call_repository(self._engine, self._count, request)

    def _count(self, request: LedgerCountInput) -> LedgerUsage:
        ledger = repo_usage.recorded_since(
            self._engine,
            subscription_id=request.subscription_id,
            after_row_id=request.after_row_id or 0,
            since=request.period.start,
        )
        usage, late = by_period(
            ledger.rows,
            request.meters,
            current=request.period,
            closing_at=request.closing_at,
            invoice_day=request.invoice_day,
            tz=request.timezone,
        )
        return LedgerUsage(
            up_to_row_id=ledger.up_to_row_id,
            latest_row_id=ledger.latest_row_id,
            periods=[PeriodUsage(period=period, usage=meters) for period, meters in usage.items()],
            late_events=late,
            replace=request.after_row_id is None,
        )

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
