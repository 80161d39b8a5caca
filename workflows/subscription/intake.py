"""Usage intake of a SubscriptionWorkflow: accept events, buffer them until the main loop stores
them, and count the new ones in the period of their timestamp. No I/O here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from billing.aggregation import UsageRecord
    from billing.contracts.activities import LedgerCountInput, LedgerUsage
    from billing.contracts.subscription import RawUsageBatch, RejectedEvent, UsageEvent
    from billing.contracts.subscription_state import PeriodUsage, SubscriptionState
    from billing.errors import BillingError
    from billing.periods import Period
    from billing.running import MeterUsage, by_period, merge
    from billing.usage_intake import check_event, parse_raw_event

#: Events persisted per `record_usage` activity: large enough to keep history small under load.
FLUSH_BATCH = 5000
#: Set-aside events kept for the `status` query (the worker log has them all).
REJECTED_KEPT = 50


@dataclass
class Ticket:
    """One `submit_usage` update waiting for its events to be durably recorded."""

    pending: set[str]
    new: int = 0
    duplicates: int = 0

    @property
    def done(self) -> bool:
        return not self.pending


@dataclass
class Intake:
    """Accepted events not yet persisted, and the updates waiting for them. Empty whenever a
    run ends (the main loop drains it first), so it is never carried."""

    buffer: dict[str, UsageEvent] = field(default_factory=dict)
    in_flight: set[str] = field(default_factory=set)
    tickets: list[Ticket] = field(default_factory=list)

    def enqueue(self, event: UsageEvent) -> bool:
        """Buffer an accepted event; False when the same id is already waiting or in flight."""
        if event.event_id in self.buffer or event.event_id in self.in_flight:
            return False
        self.buffer[event.event_id] = event
        return True

    def take(self) -> list[UsageEvent]:
        """The next batch to store, moved from the buffer to in flight."""
        events = list(self.buffer.values())[:FLUSH_BATCH]
        for event in events:
            del self.buffer[event.event_id]
            self.in_flight.add(event.event_id)
        return events

    def stored(self, events: list[UsageEvent], duplicate_ids: list[str]) -> list[UsageEvent]:
        """Settle a stored batch with the updates waiting for it; the events that were new."""
        duplicates = set(duplicate_ids)
        new: list[UsageEvent] = []
        for event in events:
            self.in_flight.discard(event.event_id)
            is_new = event.event_id not in duplicates
            self._settle(event.event_id, is_new)
            if is_new:
                new.append(event)
        self.tickets = [ticket for ticket in self.tickets if not ticket.done]
        return new

    def _settle(self, event_id: str, is_new: bool) -> None:
        for ticket in self.tickets:
            if event_id in ticket.pending:
                ticket.pending.discard(event_id)
                if is_new:
                    ticket.new += 1
                else:
                    ticket.duplicates += 1
                return


def accept_raw(state: SubscriptionState, intake: Intake, batch: RawUsageBatch) -> None:
    """Accept a signal's events; one that can never count is set aside with its reason."""
    now = workflow.now()
    for raw in batch.events:
        try:
            event = check_event(
                parse_raw_event(raw),
                meters=state.plan.meters,
                started_at=state.plan.started_at,
                now=now,
            )
        except BillingError as error:
            event_id = raw.get("event_id")
            workflow.logger.warning("usage event %s set aside: %s", event_id, error)
            rejected = RejectedEvent(
                event_id=event_id if isinstance(event_id, str) else None,
                reason=str(error),
                received_at=now,
            )
            state.rejected = [*state.rejected, rejected][-REJECTED_KEPT:]
            continue
        intake.enqueue(event)


def ledger_count(state: SubscriptionState) -> LedgerCountInput:
    """What counting the ledger's new rows needs: the periods as this run sees them."""
    plan = state.plan
    return LedgerCountInput(
        subscription_id=plan.subscription_id,
        after_row_id=state.ledger_row_id,
        meters=plan.meters,
        period=state.period,
        closing_at=state.closing_at,
        invoice_day=plan.billing.invoice_day,
        timezone=plan.timezone,
    )


def count_ledger(state: SubscriptionState, counted: LedgerUsage) -> None:
    """Add the ledger's rows new to this run to its running usage (or, for a run of older code
    that counted only its own events, replace it)."""
    if counted.replace:
        state.usage, state.ahead, state.late_events = {}, [], 0
    _add(state, {later.period: later.usage for later in counted.periods}, counted.late_events)
    state.ledger_row_id = counted.up_to_row_id
    state.ledger_nudged_row_id = max(state.ledger_nudged_row_id, counted.latest_row_id)


def count_new(state: SubscriptionState, events: list[UsageEvent]) -> None:
    """Older runs' way: count the events this run stored itself, in the period of their
    timestamp (runs that count the ledger use `count_ledger`)."""
    records = []
    for event in events:
        assert event.timestamp is not None, "the workflow resolves timestamps"
        records.append(
            UsageRecord(
                event_id=event.event_id,
                meter_id=event.meter_id,
                quantity=event.quantity,
                timestamp=event.timestamp,
                properties=event.properties,
            )
        )
    plan = state.plan
    usage, late = by_period(
        records,
        plan.meters,
        current=state.period,
        closing_at=state.closing_at,
        invoice_day=plan.billing.invoice_day,
        tz=plan.timezone,
    )
    _add(state, usage, late)


def _add(
    state: SubscriptionState, counted: Mapping[Period, dict[str, MeterUsage]], late: int
) -> None:
    state.late_events += late
    meters = state.plan.meters
    for period, by_meter in counted.items():
        usage = state.usage if period == state.period else _ahead(state, period)
        for meter_id, more in by_meter.items():
            usage[meter_id] = merge(usage.get(meter_id, MeterUsage()), more, meters[meter_id])


def _ahead(state: SubscriptionState, period: Period) -> dict[str, MeterUsage]:
    for later in state.ahead:
        if later.period == period:
            return later.usage
    later = PeriodUsage(period=period)
    state.ahead.append(later)
    return later.usage


def roll_over(state: SubscriptionState, upcoming: Period) -> None:
    """Start `upcoming` with the usage already counted for it, if any."""
    usage = next((later.usage for later in state.ahead if later.period == upcoming), {})
    state.ahead = [later for later in state.ahead if later.period.start > upcoming.start]
    state.period = upcoming
    state.closing_at = None
    state.usage = usage
    state.late_events = 0
    state.thresholds_notified = {}
