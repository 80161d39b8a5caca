"""Checks that decide whether a usage event can ever count, before anything is recorded.

The same rules serve the `submit_usage` update validator (a bad batch is refused whole, with the
reason) and the `record_usage` signal (a bad event is set aside with the reason, the rest count).
Pure and deterministic: the caller passes `now` (in a workflow, `workflow.now()`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import Field, TypeAdapter

from billing.catalog import Meter
from billing.contracts.subscription import MAX_EVENTS_PER_BATCH, UsageEvent
from billing.errors import (
    ExpiredTimestampError,
    FutureTimestampError,
    InvalidUsageError,
    NegativeQuantityError,
    TimestampBeforeStartError,
    UnpricedUsageMeterError,
)
from billing.money import format_decimal
from billing.validation import describe_validation_error

#: Events may arrive late (billed on the next invoice as late usage), but not older than this.
MAX_EVENT_AGE = timedelta(days=90)
#: Clock skew tolerated for timestamps a little in the future.
MAX_CLOCK_SKEW = timedelta(minutes=5)


def check_event(
    event: UsageEvent,
    *,
    meters: Mapping[str, Meter],
    started_at: datetime,
    now: datetime,
) -> UsageEvent:
    """Return the event with its timestamp resolved, or raise an `InvalidUsageError` subclass
    saying why (its class is the reason's stable code)."""
    timestamp = event_time(event, meters=meters, started_at=started_at, now=now)
    return event if event.timestamp else event.model_copy(update={"timestamp": timestamp})


def event_time(
    event: UsageEvent,
    *,
    meters: Mapping[str, Meter],
    started_at: datetime,
    now: datetime,
) -> datetime:
    """`check_event`'s rules without the copy: the event's timestamp (`now` when it has none),
    or raise why it can never count. The batch intake's hot path, where copying a model per
    event cost as much as validating it."""
    if event.meter_id not in meters:
        known = ", ".join(sorted(meters)) or "none"
        raise UnpricedUsageMeterError(
            f"unknown meter {event.meter_id!r} for this subscription (known: {known})"
        )
    if event.quantity < 0:
        raise NegativeQuantityError(
            f"quantity must not be negative (got {format_decimal(event.quantity)})"
        )
    timestamp = event.timestamp or now
    if timestamp > now + MAX_CLOCK_SKEW:
        raise FutureTimestampError(
            f"timestamp {timestamp.isoformat()} is in the future (more than "
            f"{int(MAX_CLOCK_SKEW.total_seconds() // 60)} minutes ahead of {now.isoformat()})"
        )
    if timestamp < started_at:
        raise TimestampBeforeStartError(
            f"timestamp {timestamp.isoformat()} is before the subscription started "
            f"({started_at.isoformat()})"
        )
    if timestamp < now - MAX_EVENT_AGE:
        raise ExpiredTimestampError(
            f"timestamp {timestamp.isoformat()} is older than the accepted window of "
            f"{MAX_EVENT_AGE.days} days"
        )
    return timestamp


def parse_raw_event(raw: Mapping[str, Any]) -> UsageEvent:
    """Validate one raw signal event; a malformed one raises `InvalidUsageError`."""
    from pydantic import ValidationError

    try:
        return UsageEvent.model_validate(raw)
    except ValidationError as error:
        raise InvalidUsageError(describe_validation_error(error)) from None


class IntakeEvent(UsageEvent):
    """An event of a batch intake (`POST /usage/events`, `billing usage import`): a
    `UsageEvent` that may name its subscription. The name is taken as given (the intake
    resolves it) and never serialised onwards: the event is a `UsageEvent` to every reader."""

    subscription_id: Any = Field(default=None, exclude=True)


_INTAKE_BATCH: TypeAdapter[list[IntakeEvent | Any]] = TypeAdapter(
    list[Annotated[IntakeEvent | Any, Field(union_mode="left_to_right")]]
)


def parse_intake_batch(events: Sequence[Any]) -> list[IntakeEvent | Any]:
    """Every event of an intake batch parsed in one validator call (a call per event cost
    twice as much); one that does not parse is returned as given, for `parse_raw_event` to say
    why, alone, so that one bad event never sinks its batch."""
    return _INTAKE_BATCH.validate_python(events)


def parse_raw_batch(events: Sequence[Mapping[str, Any]]) -> list[UsageEvent]:
    """The events of a raw `submit_usage` batch, parsed; the first malformed one refuses the
    batch with its index, so a client sees "events[3].quantity: ..." rather than a decoding error.
    """
    if not 1 <= len(events) <= MAX_EVENTS_PER_BATCH:
        raise InvalidUsageError(
            f"events: a batch holds 1 to {MAX_EVENTS_PER_BATCH} events, got {len(events)}"
        )
    parsed: list[UsageEvent] = []
    for index, raw in enumerate(events):
        try:
            parsed.append(parse_raw_event(raw))
        except InvalidUsageError as error:
            raise InvalidUsageError(f"events[{index}]: {error}") from None
    return parsed


def check_batch(
    events: Sequence[UsageEvent],
    *,
    meters: Mapping[str, Meter],
    started_at: datetime,
    now: datetime,
) -> list[UsageEvent]:
    """All events of an update batch, checked; the first problem refuses the whole batch."""
    seen: set[str] = set()
    checked: list[UsageEvent] = []
    for index, event in enumerate(events):
        if event.event_id in seen:
            raise InvalidUsageError(
                f"events[{index}].event_id: {event.event_id!r} appears twice in this batch"
            )
        seen.add(event.event_id)
        try:
            checked.append(check_event(event, meters=meters, started_at=started_at, now=now))
        except InvalidUsageError as error:
            raise InvalidUsageError(f"events[{index}] ({event.event_id}): {error}") from None
    return checked
