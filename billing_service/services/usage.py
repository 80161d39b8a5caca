"""Batch usage intake: check each event by the core's rules, commit the valid ones to the usage
ledger in one statement, say what was accepted, repeated and rejected.

The one service behind `POST /v1/billing/usage/events` and `billing usage import`. Accepted
means committed: the ledger (one row per subscription and event id) is what invoices aggregate,
so an event sent again, by this path or by the workflow's `record_usage` signal or
`submit_usage` update, counts once. One bad event is rejected with its code and reason; the
rest of its batch still counts.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from billing.catalog import Meter
from billing.contracts.subscription import UsageEvent, UsageIntakeResult, UsageRejection
from billing.errors import (
    BillingError,
    MissingSubscriptionError,
    SubscriptionEndedError,
    error_code,
)
from billing.usage_intake import IntakeEvent, event_time, parse_intake_batch, parse_raw_event
from billing_db import repo_catalog as catalog
from billing_db import repo_usage
from billing_db.errors import UnknownSubscriptionError
from billing_db.records import NewUsageRow

#: The key of an event's subscription, when the event names its own.
SUBSCRIPTION_KEY = "subscription_id"


@dataclass(frozen=True)
class Target:
    """What a subscription's events are checked against."""

    subscription_id: str
    meters: Mapping[str, Meter]
    """The meters its plan prices."""
    started_at: datetime
    ended: bool = False
    stored: bool = True
    """False for a subscription started moments ago that its workflow has not stored yet."""


Resolver = Callable[[Sequence[str]], dict[str, Target]]
"""The targets of the named subscriptions (an unknown one is left out)."""


@dataclass
class CheckedBatch:
    """A batch after the checks: valid events by target, in batch order, and the rejected."""

    valid: list[tuple[Target, UsageEvent]] = field(default_factory=list)
    rejected: list[UsageRejection] = field(default_factory=list)


def _rejection(index: int, raw: Mapping[str, Any], error: BillingError) -> UsageRejection:
    event_id = raw.get("event_id")
    return UsageRejection(
        index=index,
        event_id=event_id if isinstance(event_id, str) else None,
        code=error_code(error),
        reason=str(error),
    )


def _named(given: Any, subscription_id: str | None) -> str | None:
    named = given or subscription_id
    return named if isinstance(named, str) else None


def check_events(
    events: Sequence[Mapping[str, Any]],
    *,
    resolve: Resolver,
    now: datetime,
    subscription_id: str | None = None,
) -> CheckedBatch:
    """Each event checked alone: its subscription (of those `resolve` finds), then
    `billing.usage_intake.event_time` and what the ledger can store. `subscription_id` is the
    batch's, for events that name none. The batch is parsed in one pass; an event that does not
    parse is rejected by `parse_raw_event`'s reason, after the checks of its subscription.
    Valid events keep their timestamp as sent: none means `now` (`commit` stores it so)."""
    batch = CheckedBatch()
    parsed = parse_intake_batch(events)
    names = [
        _named(
            event.subscription_id if isinstance(event, IntakeEvent) else raw.get(SUBSCRIPTION_KEY),
            subscription_id,
        )
        for raw, event in zip(events, parsed, strict=True)
    ]
    targets = resolve(sorted({name for name in names if name}))
    for index, (raw, event, named) in enumerate(zip(events, parsed, names, strict=True)):
        try:
            if named is None:
                raise MissingSubscriptionError(
                    "subscription_id: give it per event or once for the batch"
                )
            target = targets.get(named)
            if target is None:
                raise UnknownSubscriptionError(f"subscription_id: no subscription {named!r}")
            if target.ended:
                raise SubscriptionEndedError(f"subscription {named!r} has ended")
            if not isinstance(event, UsageEvent):  # raises why it does not parse
                event = parse_raw_event(
                    {key: value for key, value in raw.items() if key != SUBSCRIPTION_KEY}
                )
            at = event_time(event, meters=target.meters, started_at=target.started_at, now=now)
            repo_usage.check_storable(event, index=index)
        except BillingError as error:
            batch.rejected.append(_rejection(index, raw, error))
            continue
        if not target.stored and event.timestamp is None:  # signalled onwards as checked
            event = event.model_copy(update={"timestamp": at})
        batch.valid.append((target, event))
    return batch


def _ledger_row(subscription_id: str, event: UsageEvent, now: datetime) -> repo_usage.LedgerRow:
    return (
        subscription_id,
        event.event_id,
        event.meter_id,
        event.quantity,
        event.timestamp or now,
        event.properties or None,
    )


def stored_resolver(engine: Engine, *, account_id: str) -> Resolver:
    """Subscriptions of `account_id` from the database (another account's is unknown): their
    rows read for every batch (status and plan change), the meters of their pricing versions
    from a cache (versions and meters are never changed once stored)."""

    def resolve(subscription_ids: Sequence[str]) -> dict[str, Target]:
        found = catalog.intake_subscriptions(
            engine, account_id=account_id, subscription_ids=subscription_ids
        )
        targets: dict[str, Target] = {}
        for record in found.values():
            targets[record.id] = Target(
                subscription_id=record.id,
                meters=_priced_meters(engine, account_id, record.pricing_version_id),
                started_at=record.started_at,
                ended=record.status == "canceled",
            )
        return targets

    return resolve


_PRICED: weakref.WeakKeyDictionary[Engine, dict[tuple[str, int], Mapping[str, Meter]]] = (
    weakref.WeakKeyDictionary()
)


def _priced_meters(engine: Engine, account_id: str, pricing_version_id: int) -> Mapping[str, Meter]:
    """The account's meters that the pricing version charges, cached per engine once every one
    of them is stored (a version may name a meter created after it)."""
    cache = _PRICED.setdefault(engine, {})
    key = (account_id, pricing_version_id)
    found = cache.get(key)
    if found is None:
        priced = catalog.get_pricing_version(
            engine, pricing_version_id=pricing_version_id
        ).pricing.meter_ids()
        meters = catalog.list_meters(engine, account_id=account_id)
        found = {meter_id: meter for meter_id, meter in meters.items() if meter_id in priced}
        if len(found) == len(priced):
            cache[key] = found
    return found


def commit(
    engine: Engine, batch: CheckedBatch, *, received_at: datetime
) -> tuple[UsageIntakeResult, list[NewUsageRow]]:
    """Commit the valid events of stored subscriptions (one transaction, one statement per
    1,000 rows); the answer and the rows that were new."""
    events = [
        _ledger_row(target.subscription_id, event, received_at)
        for target, event in batch.valid
        if target.stored
    ]
    new = repo_usage.ingest_rows(engine, events, received_at=received_at)
    result = UsageIntakeResult(
        accepted=len(new), duplicates=len(events) - len(new), rejected=batch.rejected
    )
    return result, new


def check_and_commit(
    engine: Engine,
    events: Sequence[Mapping[str, Any]],
    *,
    resolve: Resolver,
    now: datetime,
    subscription_id: str | None = None,
) -> tuple[CheckedBatch, UsageIntakeResult, list[NewUsageRow]]:
    """`check_events` then `commit`, in one call (one trip to a worker thread for the API)."""
    batch = check_events(events, resolve=resolve, now=now, subscription_id=subscription_id)
    result, new = commit(engine, batch, received_at=now)
    return batch, result, new


def ingest(
    engine: Engine,
    events: Sequence[Mapping[str, Any]],
    *,
    account_id: str,
    now: datetime,
    subscription_id: str | None = None,
) -> tuple[UsageIntakeResult, list[NewUsageRow]]:
    """Check and commit one batch of stored subscriptions' events."""
    _, result, new = check_and_commit(
        engine,
        events,
        resolve=stored_resolver(engine, account_id=account_id),
        now=now,
        subscription_id=subscription_id,
    )
    return result, new
