"""The same billing scenario with "today" placed on every awkward day of the calendar.

For each anchor the time-skipping server first skips to 09:00 (customer's local time) on that day;
then a subscription backdated to ten days before the last invoice day catches up on the closed
partial period (prorated by local days), its invoice takes the payment terms, usage lands in the
open period, and the next invoice day, the due date and the first dunning step all come as the
calendar says.
The expectations are computed here from local dates (the invoice day clamped to short months, the
boundary at local midnight), independently of `billing.periods`.
"""

from __future__ import annotations

import calendar
import functools
import itertools
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from billing.contracts.common import invoice_workflow_id
from billing.periods import zone_info
from billing_db.records import InvoiceRecord
from billing_db.repo_invoices import list_invoices
from billing_service.client import batch_of, send_usage, start_subscription

from invoice_runs.scenario import log_when
from workflow_runs.clock import at_next, skip_to
from workflow_runs.conftest import StartWorker
from workflow_runs.polling import eventually, status_when
from workflow_runs.scenario import SEED_BILLING, hybrid_subscription, usage

CENT = Decimal("0.01")
FLAT = Decimal("49.99")
TAX_RATE = Decimal("0.20")
TERMS_DAYS = 14
# Remind 3 days after the due date; the last step lies beyond the test so that no invoice
# workflow completes (that would stop time skipping for good: tests/conftest.py).
LADDER = {"steps": [{"after_days": 3, "action": "remind"}, {"after_days": 365, "action": "remind"}]}


def _day_of_month(day: int) -> Callable[[date], bool]:
    return lambda local: local.day == day


def _february(day: int, *, leap: bool) -> Callable[[date], bool]:
    def matches(local: date) -> bool:
        return (local.month, local.day) == (2, day) and calendar.isleap(local.year) == leap

    return matches


def _dst_change(tz: str, *, forward: bool) -> Callable[[date], bool]:
    """The local day on which `tz` moves its clocks forward (or back)."""
    zone = zone_info(tz)

    def offset(day: date) -> timedelta:
        moment = datetime(day.year, day.month, day.day, tzinfo=zone)
        return moment.utcoffset() or timedelta(0)

    def changes(day: date) -> bool:
        shift = offset(day + timedelta(days=1)) - offset(day)
        return shift > timedelta(0) if forward else shift < timedelta(0)

    return changes


@dataclass(frozen=True)
class Anchor:
    """Where "today" falls, and the subscription's invoice day and time zone for that day."""

    name: str
    today: Callable[[date], bool]
    invoice_day: int | None
    """None: the anchor's own day of the month."""
    tz: str = "UTC"


ANCHORS = [
    Anchor("1st, on the invoice day", _day_of_month(1), invoice_day=1),
    Anchor("2nd, a day after the invoice day", _day_of_month(2), invoice_day=1),
    Anchor("15th, mid-month invoice day", _day_of_month(15), invoice_day=15),
    Anchor("28th, invoice day 31", _day_of_month(28), invoice_day=31),
    Anchor("29th", _day_of_month(29), invoice_day=29),
    Anchor("30th", _day_of_month(30), invoice_day=30),
    Anchor("31st", _day_of_month(31), invoice_day=31),
    Anchor("28 Feb of a common year, invoice day 30", _february(28, leap=False), invoice_day=30),
    Anchor("29 Feb of a leap year, invoice day 31", _february(29, leap=True), invoice_day=31),
    Anchor(
        "clocks forward in Berlin, invoice day that day",
        _dst_change("Europe/Berlin", forward=True),
        invoice_day=None,
        tz="Europe/Berlin",
    ),
    Anchor(
        "clocks back in Berlin, invoice day 1",
        _dst_change("Europe/Berlin", forward=False),
        invoice_day=1,
        tz="Europe/Berlin",
    ),
]


@dataclass(frozen=True)
class Calendar:
    """Invoice-day boundaries at local midnight in a zone, the invoice day clamped to each month."""

    invoice_day: int
    tz: str

    def boundary(self, year: int, month: int) -> datetime:
        day = min(self.invoice_day, calendar.monthrange(year, month)[1])
        return datetime(year, month, day, tzinfo=zone_info(self.tz)).astimezone(UTC)

    def boundaries_around(self, moment: datetime, months: int) -> list[datetime]:
        """The boundaries from `months` months before `moment`'s month to as many after."""
        local = moment.astimezone(zone_info(self.tz))
        index = local.year * 12 + local.month - 1
        return [self.boundary(i // 12, i % 12 + 1) for i in range(index - months, index + months)]

    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(zone_info(self.tz)).date()


def _money(amount: Decimal) -> Decimal:
    return amount.quantize(CENT)


def _expected_periods(
    cal: Calendar, start: datetime, today: datetime
) -> list[tuple[datetime, datetime]]:
    """The periods closed by `today`: `[start, first boundary)`, then boundary to boundary."""
    edges = [start, *(b for b in cal.boundaries_around(start, 3) if start < b <= today)]
    return list(itertools.pairwise(edges))


def _invoices(engine: Engine, subscription_id: str) -> list[InvoiceRecord]:
    found = list_invoices(engine, subscription_id=subscription_id)
    return sorted(found, key=lambda invoice: invoice.period.start)


async def _issued(engine: Engine, subscription_id: str) -> list[InvoiceRecord]:
    return [i for i in _invoices(engine, subscription_id) if i.status != "draft"]


async def _watched(env: WorkflowEnvironment, number: str) -> bool:
    """Whether the invoice's payment watch (its InvoiceWorkflow) has started."""
    try:
        await env.client.get_workflow_handle(invoice_workflow_id(number)).describe()
    except RPCError:
        return False
    return True


@pytest.mark.parametrize("anchor", ANCHORS, ids=[anchor.name for anchor in ANCHORS])
async def test_a_backdated_subscription_bills_the_same_whatever_today_is(
    anchor: Anchor,
    own_time_skipping_env: WorkflowEnvironment,
    billing_worker: StartWorker,
    engine: Engine,
    task_queue: str,
) -> None:
    env = own_time_skipping_env
    today = await at_next(env, anchor.today, tz=anchor.tz)
    invoice_day = anchor.invoice_day or today.astimezone(zone_info(anchor.tz)).day
    cal = Calendar(invoice_day=invoice_day, tz=anchor.tz)
    # Backdated to 14:30 ten local days before the last invoice day: one partial period closed.
    last_boundary = max(b for b in cal.boundaries_around(today, 2) if b <= today)
    start = last_boundary - timedelta(days=9, hours=9, minutes=30)
    subscription = hybrid_subscription(
        start_at=start,
        customer={"id": f"cus_{uuid.uuid4().hex[:8]}", "name": "Acme", "email": "a@acme.test"}
        | {"timezone": anchor.tz},
        billing=SEED_BILLING | {"invoice_day": invoice_day, "dunning": LADDER},
    )
    sub_id = subscription.subscription_id
    closed = _expected_periods(cal, start, today)
    assert len(closed) == 1, f"{start} to {today} closes {closed}"

    async with billing_worker(env):
        await start_subscription(env.client, subscription, task_queue=task_queue)
        # Caught up, watched and asleep in the open period's run. Watch the database, not the
        # workflow, meanwhile: on the Java test server a query racing a continue-as-new stalls
        # the workflow for 30 s and leaks a time-skipping lock (see clock.skip_to).
        caught_up = await eventually(
            lambda: _issued(engine, sub_id), lambda found: len(found) == len(closed)
        )
        for invoice in caught_up:
            await eventually(functools.partial(_watched, env, invoice.number), bool)
        await status_when(
            env.client,
            sub_id,
            lambda s: (
                len(s.open_invoices) == len(closed)
                and s.period.start == closed[-1][1]
                and s.waiting_for.startswith("the end of")
            ),
        )

        # Usage today belongs to the open period, whose invoice comes on the next invoice day.
        await send_usage(env.client, sub_id, batch_of(usage(("today", 350))["events"]))
        await status_when(env.client, sub_id, lambda s: "bandwidth_egress" in s.usage)
        next_boundary = next(b for b in cal.boundaries_around(today, 2) if b > today)
        first_due = caught_up[0].due_at
        assert first_due is not None
        await skip_to(env, max(next_boundary, first_due + timedelta(days=3)) + timedelta(hours=1))
        final = await status_when(
            env.client,
            sub_id,
            lambda s: len(s.open_invoices) == len(closed) + 1 and s.status == "past_due",
        )
        reminded = {
            ("invoice_generated", "email"): 1,
            ("payment_overdue", "email"): 1,
            ("payment_reminder", "email"): 1,
        }
        log = await log_when(engine, caught_up[0].number, reminded)

    # Caught up: one invoice per closed period, the first prorated by local calendar days.
    assert [(i.period.start, i.period.end) for i in caught_up] == closed
    first_start, first_end = closed[0]
    first_days = (cal.local_date(first_end) - cal.local_date(first_start)).days
    month_before = next(b for b in reversed(cal.boundaries_around(start, 3)) if b <= start)
    full_days = (cal.local_date(first_end) - cal.local_date(month_before)).days
    prorated = _money(FLAT * first_days / full_days)
    expected_subtotals = [prorated] + [FLAT] * (len(closed) - 1)
    assert [i.subtotal for i in caught_up] == expected_subtotals
    assert [i.total for i in caught_up] == [s + _money(s * TAX_RATE) for s in expected_subtotals]

    # Payment terms: the end of the local day 14 days after the local issue date.
    for invoice in caught_up:
        assert invoice.issued_at is not None
        assert invoice.due_at is not None
        due_local = invoice.due_at.astimezone(zone_info(anchor.tz))
        assert due_local.date() == cal.local_date(invoice.issued_at) + timedelta(days=TERMS_DAYS)
        assert due_local.time() == time(23, 59, 59)
        assert cal.local_date(invoice.issued_at) == cal.local_date(today)

    # The next invoice day: the period that held today, with today's 350 GB (74.99 EUR).
    invoices = _invoices(engine, sub_id)
    assert len(invoices) == len(closed) + 1
    newest = invoices[-1]
    assert (newest.period.start, newest.period.end) == (closed[-1][1], next_boundary)
    assert (newest.subtotal, newest.total) == (Decimal("62.49"), Decimal("74.99"))

    # Unpaid past its terms: overdue, the subscription past due, reminded three days later.
    assert caught_up[0].number in final.overdue_invoices
    assert log == Counter(reminded)
