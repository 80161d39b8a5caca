"""`billing subscriptions start | list | status | change-plan | cancel` and `billing usage record`.

Everything goes through the workflows (billing_service.client); the database is only read to
check stored ids before anything starts, so that a typo is refused at the edge. With
BILLING_API_URL the same requests go to that API, which does the same (`cli/backend.py`).
"""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from billing.contracts.subscription import (
    MAX_EVENTS_PER_BATCH,
    CancelRequest,
    PlanChange,
    SubscriptionInput,
    UsageBatch,
    UsageEvent,
)
from billing.money import format_decimal
from billing.validation import describe_validation_error
from billing_service import client as billing
from billing_service.cli.common import (
    CommandEnv,
    Group,
    InputError,
    key_values,
    parse_json_text,
    read_json_file,
    table,
    with_env,
)
from billing_service.cli.usage_import import import_usage
from billing_service.services import subscriptions as services

FILE = click.Path(dir_okay=False, path_type=Path)
_BACKDATE = re.compile(r"(\d{1,4})([dwm])")


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time `months` calendar months earlier (the day clamped to month end)."""
    years, month_index = divmod(moment.month - 1 - months, 12)
    year, month = moment.year + years, month_index + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def backdated(text: str, now: datetime) -> datetime:
    """`now` minus `14d`, `2w` or `1m` (calendar months, the day clamped to the month's end)."""
    match = _BACKDATE.fullmatch(text.strip())
    if match is None:
        raise InputError(f"--backdate: give a number and d, w or m (e.g. 1m, 14d), got {text!r}")
    count, unit = int(match.group(1)), match.group(2)
    if unit == "m":
        return months_before(now, count)
    return now - timedelta(days=count * (7 if unit == "w" else 1))


def _start_at(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"--start-at: not an ISO 8601 date-time: {text!r}") from None
    if moment.tzinfo is None:
        raise InputError(f"--start-at: give a time zone (e.g. {text}Z or {text}+01:00)")
    return moment.astimezone(UTC)


def subscription_input(
    env: CommandEnv,
    document: dict[str, Any],
    *,
    backdate: str | None,
    start_at: str | None,
) -> SubscriptionInput:
    """The start payload: the JSON given, the flags on top, the command's mode enforced."""
    if backdate is not None and start_at is not None:
        raise InputError("give --backdate or --start-at, not both")
    data = dict(document)
    if backdate is not None:
        data["start_at"] = backdated(backdate, datetime.now(UTC))
    elif start_at is not None:
        data["start_at"] = _start_at(start_at)
    return services.subscription_input(data, account_id=env.account_id, mode=env.mode)


@click.group("subscriptions", cls=Group)
def subscriptions() -> None:
    """Subscriptions: one long-running workflow each."""


@subscriptions.command("start")
@click.option("--id", "subscription_id", help="The subscription id, e.g. sub_acme_web.")
@click.option("--customer", "customer_id", help="A stored customer id.")
@click.option("--pricing-version", "pricing_version_id", type=int, help="A stored pricing.")
@click.option("--pricing-file", type=FILE, help="An inline pricing as JSON.")
@click.option("--file", "path", type=FILE, help="A whole SubscriptionInput as JSON.")
@click.option("--input", "input_text", help="A whole SubscriptionInput as JSON text.")
@click.option("--backdate", help="Start this long ago (1m, 14d, 2w): the first invoice is due.")
@click.option("--start-at", help="Start at this ISO 8601 date-time (with a time zone).")
@with_env
def start(
    env: CommandEnv,
    subscription_id: str | None,
    customer_id: str | None,
    pricing_version_id: int | None,
    pricing_file: Path | None,
    path: Path | None,
    input_text: str | None,
    backdate: str | None,
    start_at: str | None,
) -> None:
    """Start a subscription from stored ids (--customer, --pricing-version) or inline JSON."""
    if path is not None and input_text is not None:
        raise InputError("give --file or --input, not both")
    document: Any = {}
    if path is not None:
        document = read_json_file(path, "--file")
    elif input_text is not None:
        document = parse_json_text(input_text, "--input")
    if not isinstance(document, dict):
        raise InputError("the subscription input must be a JSON object")
    flags: dict[str, Any] = {
        "subscription_id": subscription_id,
        "customer_id": customer_id,
        "pricing_version_id": pricing_version_id,
    }
    if pricing_file is not None:
        flags["pricing"] = read_json_file(pricing_file, "--pricing-file")
    document.update({key: value for key, value in flags.items() if value is not None})
    subscription = subscription_input(env, document, backdate=backdate, start_at=start_at)
    with env.backend() as backend:
        view = backend.start(subscription)
    started = {
        "subscription_id": view.subscription_id,
        "workflow_id": view.workflow_id,
        "run_id": view.run_id,
        "namespace": view.namespace,
        "livemode": env.livemode,
        "start_at": view.start_at.isoformat() if view.start_at else "now",
    }
    env.emit(started, key_values(f"Subscription started ({env.mode} mode)", started))


def _usage_rows(usage: dict[str, Any]) -> str:
    return ", ".join(
        f"{meter} {format_decimal(value.quantity)} ({value.events} events)"
        for meter, value in usage.items()
    )


@subscriptions.command("status")
@click.argument("subscription_id")
@with_env
def status(env: CommandEnv, subscription_id: str) -> None:
    """Ask the subscription's workflow where it stands."""
    with env.backend() as backend:
        view = backend.status(subscription_id)
    rows = {
        "status": view.status,
        "customer": view.customer_id,
        "product": view.product_id,
        "period": f"{view.period.start:%Y-%m-%d %H:%M} .. {view.period.end:%Y-%m-%d %H:%M} UTC",
        "next invoice": f"{view.next_invoice_at:%Y-%m-%d %H:%M} UTC"
        if view.next_invoice_at
        else "none",
        "usage": _usage_rows(view.usage) or "none",
        "open invoices": ", ".join(view.open_invoices) or "none",
        "overdue invoices": ", ".join(view.overdue_invoices) or "none",
        "cancel at period end": view.cancel_at_period_end,
        "waiting for": view.waiting_for,
    }
    env.emit(view, key_values(f"Subscription {subscription_id} ({env.mode} mode)", rows))


@subscriptions.command("list")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@with_env
def list_subscriptions(env: CommandEnv, limit: int) -> None:
    """The account's subscriptions once their workflow has stored them, by id."""
    with env.backend() as backend:
        found = backend.list_subscriptions(limit)
        account_id = backend.account_id
    rows = [
        [
            s.id,
            s.customer_id,
            str(s.pricing_id),
            s.status,
            f"{s.started_at:%Y-%m-%d %H:%M}",
            f"{s.current_period.start:%Y-%m-%d} .. {s.current_period.end:%Y-%m-%d}",
            f"{s.canceled_at:%Y-%m-%d %H:%M}" if s.canceled_at else "",
        ]
        for s in found
    ]
    env.emit(
        found,
        table(
            f"Subscriptions of {account_id} ({env.mode} mode)",
            ["Id", "Customer", "Pricing (r)", "Status", "Started", "Period", "Canceled"],
            rows,
        ),
    )


@subscriptions.command("change-plan")
@click.argument("subscription_id")
@click.option("--pricing-version", "pricing_version_id", type=int, required=True)
@click.option("--now", "prorate_now", is_flag=True, help="Switch now, both parts prorated.")
@with_env
def change_plan(
    env: CommandEnv, subscription_id: str, pricing_version_id: int, prorate_now: bool
) -> None:
    """Move to another stored pricing from the next period (or --now)."""
    change = PlanChange(pricing_version_id=pricing_version_id, prorate_now=prorate_now)
    with env.backend() as backend:
        backend.change_plan(subscription_id, change)
    when = "now (both parts prorated)" if prorate_now else "from the next period"
    data = {
        "subscription_id": subscription_id,
        "pricing_version_id": pricing_version_id,
        "prorate_now": prorate_now,
        "livemode": env.livemode,
    }
    env.emit(
        data,
        f"Subscription {subscription_id} moves to pricing {pricing_version_id} {when} "
        f"({env.mode} mode).",
    )


@subscriptions.command("cancel")
@click.argument("subscription_id")
@click.option("--now", "immediately", is_flag=True, help="End now with a prorated final invoice.")
@click.option("--reason")
@with_env
def cancel(env: CommandEnv, subscription_id: str, immediately: bool, reason: str | None) -> None:
    """Cancel at the end of the current period (or --now)."""
    request = CancelRequest(at_period_end=not immediately, reason=reason)
    with env.backend() as backend:
        backend.cancel(subscription_id, request)
    when = "now" if immediately else "at the end of the current period"
    data = {"subscription_id": subscription_id, "cancel": when, "livemode": env.livemode}
    env.emit(data, f"Subscription {subscription_id} will be canceled {when} ({env.mode} mode).")


# --- usage -----------------------------------------------------------------------------------


def _event(data: Any, where: str) -> UsageEvent:
    if not isinstance(data, dict):
        raise InputError(f"{where}: an event must be a JSON object")
    try:
        return UsageEvent.model_validate(data)
    except ValidationError as exc:
        raise InputError(f"{where}: {describe_validation_error(exc)}") from None


def read_events(path: Path) -> list[UsageEvent]:
    """Events from `.jsonl` (one object per line) or `.json` (a list, or {"events": [...]}).
    Every event is checked before any is sent: one bad event refuses the file."""
    if path.suffix == ".jsonl":
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise InputError(f"--file: cannot read {str(path)!r}: {exc.strerror or exc}") from None
        events = []
        for number, line in enumerate(lines, start=1):
            if line.strip():
                events.append(_event(parse_json_text(line, f"line {number}"), f"line {number}"))
    else:
        document = read_json_file(path, "--file")
        if isinstance(document, dict) and "events" in document:
            document = document["events"]
        if not isinstance(document, list):
            raise InputError('--file: give a list of events or {"events": [...]}')
        events = [_event(item, f"events[{index}]") for index, item in enumerate(document)]
    if not events:
        raise InputError(f"--file: {str(path)!r} holds no events")
    return events


def _one_event(
    meter: str | None, quantity: str | None, event_id: str | None, timestamp: str | None
) -> UsageEvent:
    if meter is None or quantity is None:
        raise InputError("give --meter and --quantity (or --file with many events)")
    data: dict[str, Any] = {
        "event_id": event_id or f"evt_{datetime.now(UTC):%Y%m%dT%H%M%S%f}",
        "meter_id": meter,
        "quantity": quantity,
    }
    if timestamp is not None:
        data["timestamp"] = _start_at(timestamp).isoformat()
    return _event(data, "event")


def _advance(progress: Progress, batches: Sequence[UsageBatch]) -> Callable[[int], None]:
    task = progress.add_task("usage", total=sum(len(batch.events) for batch in batches))
    return lambda events: progress.advance(task, events)


@click.group("usage", cls=Group)
def usage() -> None:
    """Usage events: recorded through the subscription's workflow, or imported into the ledger."""


usage.add_command(import_usage)


@usage.command("record")
@click.option("--subscription", "subscription_id", required=True)
@click.option("--meter", help="The meter id of one event.")
@click.option("--quantity", help="Its quantity (a decimal number).")
@click.option("--event-id", help="Its idempotency key (generated when omitted).")
@click.option("--timestamp", help="When it happened, ISO 8601 with a time zone (default: now).")
@click.option("--file", "path", type=FILE, help="Many events: .jsonl or .json.")
@click.option(
    "--batch-size",
    type=click.IntRange(1, MAX_EVENTS_PER_BATCH),
    default=MAX_EVENTS_PER_BATCH,
    show_default=True,
)
@click.option(
    "--no-wait",
    is_flag=True,
    help="Send signals (fire-and-forget) instead of acknowledged updates.",
)
@with_env
def record(
    env: CommandEnv,
    subscription_id: str,
    meter: str | None,
    quantity: str | None,
    event_id: str | None,
    timestamp: str | None,
    path: Path | None,
    batch_size: int,
    no_wait: bool,
) -> None:
    """Record one event (--meter, --quantity) or a file of many; re-sent events count once."""
    if path is not None and (meter or quantity or event_id or timestamp):
        raise InputError("give either --file or one event's --meter/--quantity, not both")
    events = (
        read_events(path)
        if path is not None
        else [_one_event(meter, quantity, event_id, timestamp)]
    )
    batches = list(billing.usage_batches(events, size=batch_size))
    progress = Progress(
        TextColumn("sending usage"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=len(batches) < 2,
    )

    with env.backend() as backend, progress:
        counts = backend.record_usage(
            subscription_id,
            batches,
            acknowledged=not no_wait,
            advance=_advance(progress, batches),
        )
    data: dict[str, Any] = {
        "subscription_id": subscription_id,
        "events": len(events),
        "batches": len(batches),
        "livemode": env.livemode,
    }
    if counts is None:
        text = f"Sent {len(events)} events in {len(batches)} signals (not acknowledged)."
    else:
        data |= {"new": counts.new, "duplicates": counts.duplicates}
        text = f"Recorded {len(events)} events in {len(batches)} batches: {counts.new} new, "
        text += f"{counts.duplicates} duplicates."
    if len(events) == 1:
        data["event_id"] = events[0].event_id
    env.emit(data, text + f" ({env.mode} mode)")


def events_jsonl(events: Sequence[dict[str, Any]]) -> str:
    """The .jsonl text of events (for tests and scripts)."""
    return "".join(json.dumps(event) + "\n" for event in events)
