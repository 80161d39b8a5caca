"""`billing usage import FILE`: a file of usage events (JSON Lines or CSV) into the usage ledger,
through the same service as `POST /v1/billing/usage/events`.

Streamed: the file is read a batch (at most 1,000 events) at a time, each batch committed before
the next is read. Resumable: the ledger ignores an event id it already holds for the
subscription, so re-running a file (after a crash, or twice) records nothing twice; the second
run reports those events as duplicates. Rejections carry the file's line number as `index`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import click
from rich.console import Console
from rich.progress import MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from billing.contracts.subscription import MAX_EVENTS_PER_BATCH, UsageIntakeResult, UsageRejection
from billing_service.cli.common import CommandEnv, CommandFailed, run_async, table, with_env
from billing_service.services import usage as intake
from billing_service.services.usage_nudges import UsageNudges

#: Rejections printed in the human summary (--json lists them all).
SHOWN = 10

#: A line of the file: its number, and its event or why it is not one.
Line = tuple[int, dict[str, Any] | UsageRejection]


def _not_an_event(number: int, reason: str) -> Line:
    return number, UsageRejection(index=number, event_id=None, code="invalid_line", reason=reason)


def _jsonl(handle: TextIO) -> Iterator[Line]:
    for number, text in enumerate(handle, start=1):
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            yield _not_an_event(number, f"not JSON: {error}")
            continue
        if not isinstance(value, dict):
            yield _not_an_event(number, "not a JSON object")
            continue
        yield number, value


def _csv(handle: TextIO) -> Iterator[Line]:
    """Columns event_id, meter_id, quantity and optionally subscription_id, timestamp and
    properties (a JSON object); an empty cell is an absent field."""
    reader = csv.DictReader(handle)
    for row in reader:
        event: dict[str, Any] = {key: value for key, value in row.items() if key and value}
        if "properties" in event:
            try:
                event["properties"] = json.loads(event["properties"])
            except json.JSONDecodeError as error:
                yield _not_an_event(reader.line_num, f"properties: not JSON: {error}")
                continue
        yield reader.line_num, event


def _batches(lines: Iterator[Line], size: int) -> Iterator[list[Line]]:
    batch: list[Line] = []
    for line in lines:
        batch.append(line)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def import_file(
    env: CommandEnv,
    path: Path,
    *,
    subscription_id: str | None,
    batch_size: int,
    progress: Progress,
    nudges: UsageNudges,
) -> UsageIntakeResult:
    """Stream the file into the ledger a batch at a time; the totals."""
    total = UsageIntakeResult()
    task = progress.add_task("usage", total=None)
    with env.engine() as engine, path.open(encoding="utf-8", newline="") as handle:
        lines = _csv(handle) if path.suffix.lower() == ".csv" else _jsonl(handle)
        for batch in _batches(lines, batch_size):
            numbers = [number for number, item in batch if isinstance(item, dict)]
            events = [item for _number, item in batch if isinstance(item, dict)]
            unreadable = [item for _n, item in batch if isinstance(item, UsageRejection)]
            total = total.plus(UsageIntakeResult(rejected=unreadable))
            if events:
                result, new = intake.ingest(
                    engine,
                    events,
                    account_id=env.account_id,
                    now=datetime.now(UTC),
                    subscription_id=subscription_id,
                )
                nudges.note(new)
                at_lines = [
                    rejection.model_copy(update={"index": numbers[rejection.index]})
                    for rejection in result.rejected
                ]
                total = total.plus(result.model_copy(update={"rejected": at_lines}))
            progress.advance(task, len(batch))
    ordered = sorted(total.rejected, key=lambda rejection: rejection.index)
    return total.model_copy(update={"rejected": ordered})


@click.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--subscription", "subscription_id", help="For events that name none.")
@click.option(
    "--batch-size",
    type=click.IntRange(1, MAX_EVENTS_PER_BATCH),
    default=MAX_EVENTS_PER_BATCH,
    show_default=True,
)
@with_env
def import_usage(env: CommandEnv, path: Path, subscription_id: str | None, batch_size: int) -> None:
    """Import usage events from a .jsonl or .csv file into the ledger; re-running it records
    nothing twice."""
    progress = Progress(
        TextColumn("importing usage"),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=env.as_json,
    )
    nudges = UsageNudges(env.client)
    with progress:
        result = import_file(
            env,
            path,
            subscription_id=subscription_id,
            batch_size=batch_size,
            progress=progress,
            nudges=nudges,
        )
    try:
        run_async(nudges.flush())  # the workflows count the new rows into their live view
    except CommandFailed as failure:
        click.echo(f"warning: subscriptions not told of the new usage: {failure}", err=True)
    rows = [[str(r.index), r.event_id or "", r.code, r.reason] for r in result.rejected[:SHOWN]]
    summary = (
        f"Imported {path.name}: {result.accepted} new, {result.duplicates} already recorded, "
        f"{len(result.rejected)} rejected.\n"
    )
    human = summary if not rows else table(summary, ["line", "event_id", "code", "reason"], rows)
    env.emit({"file": str(path), **result.model_dump()}, human)
