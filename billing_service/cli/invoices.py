"""`billing invoices list | show | approve | pay | void`.

Invoices are read from the mode's billing database (or the API of BILLING_API_URL); paying and
voiding go to the invoice's workflow. An invoice of the other mode is "not found", even where
both modes share a database.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import click
from rich.console import Group as Renderables
from rich.console import RenderableType

from billing.money import format_decimal, round_money, to_decimal
from billing_db.records import InvoiceRecord
from billing_service.cli.backend import InvoiceFilter
from billing_service.cli.common import CommandEnv, Group, key_values, table, with_env

STATUSES = ("draft", "open", "paid", "overdue", "void", "uncollectible")


def _money(value: Decimal, currency: str) -> str:
    """Stored amounts are already rounded; this drops the database's extra zeros (74.990000)."""
    return format_decimal(round_money(value, currency))


def _percent(rate: Decimal) -> str:
    return format_decimal((rate * 100).normalize())


def _minute(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M}"


def _day(value: Any) -> str:
    return "" if value is None else f"{value:%Y-%m-%d}"


def invoice_json(record: InvoiceRecord) -> dict[str, Any]:
    data: dict[str, Any] = record.model_dump(mode="json", exclude={"usage_watermark"})
    return data


def invoice_rows(records: list[InvoiceRecord]) -> list[list[str]]:
    return [
        [
            r.number,
            r.subscription_id,
            r.status,
            f"{_day(r.period.start)}..{_day(r.period.end)}",
            _day(r.due_at),
            f"{_money(r.total, r.currency)} {r.currency}",
            f"{_money(r.amount_due, r.currency)} {r.currency}",
        ]
        for r in records
    ]


def invoice_detail(record: InvoiceRecord) -> RenderableType:
    head = key_values(
        f"Invoice {record.number} ({'live' if record.livemode else 'test'} mode)",
        {
            "status": record.status,
            "subscription": record.subscription_id,
            "customer": record.customer_id,
            "period": f"{_day(record.period.start)} .. {_day(record.period.end)}",
            "issued": _day(record.issued_at),
            "due": _day(record.due_at),
            "livemode": record.livemode,
        },
    )
    lines = table(
        None,
        ["Description", "Quantity (r)", f"Amount {record.currency} (r)"],
        [
            [line.description, format_decimal(line.quantity), _money(line.amount, record.currency)]
            for line in record.lines
        ]
        + [
            ["Subtotal", "", _money(record.subtotal, record.currency)],
            [
                f"Tax ({format_decimal((record.tax_rate * 100).normalize())}%)",
                "",
                _money(record.tax, record.currency),
            ],
            ["Total", "", _money(record.total, record.currency)],
            ["Paid", "", _money(record.amount_paid, record.currency)],
            ["Amount due", "", _money(record.amount_due, record.currency)],
        ],
    )
    parts: list[RenderableType] = [head, lines]
    if record.payments:
        parts.append(
            table(
                "Payments",
                ["Payment", "Received", "Amount (r)"],
                [
                    [p.payment_id, _day(p.received_at), _money(p.amount, record.currency)]
                    for p in record.payments
                ],
            )
        )
    parts.append(
        table(
            "History",
            ["At", "Status", "Reason"],
            [
                [
                    f"{c.at:%Y-%m-%d %H:%M}",
                    f"{c.from_status or '-'} -> {c.to_status}",
                    c.reason or "",
                ]
                for c in record.history
            ],
        )
    )
    return Renderables(*parts)


@click.group("invoices", cls=Group)
def invoices() -> None:
    """Invoices: list and show them, approve, pay or void one."""


@invoices.command("list")
@click.option("--subscription", "subscription_id")
@click.option("--customer", "customer_id")
@click.option("--status", "statuses", multiple=True, type=click.Choice(STATUSES))
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@with_env
def list_invoices(
    env: CommandEnv,
    subscription_id: str | None,
    customer_id: str | None,
    statuses: tuple[Any, ...],
    limit: int,
) -> None:
    """The account's invoices in this mode, oldest period first."""
    selection = InvoiceFilter(
        subscription_id=subscription_id,
        customer_id=customer_id,
        statuses=list(statuses) or None,
        limit=limit,
    )
    with env.backend() as backend:
        records = backend.list_invoices(selection)
        account_id = backend.account_id
    env.emit(
        [invoice_json(record) for record in records],
        table(
            f"Invoices of {account_id} ({env.mode} mode)",
            ["Number", "Subscription", "Status", "Period", "Due", "Total (r)", "Due amount (r)"],
            invoice_rows(records),
        ),
    )


@invoices.command("show")
@click.argument("number")
@with_env
def show(env: CommandEnv, number: str) -> None:
    """One invoice with its lines, payments and status history."""
    with env.backend() as backend:
        record = backend.invoice(number)
    env.emit(invoice_json(record), invoice_detail(record))


@invoices.command("pay")
@click.argument("number")
@click.option("--amount", help="Default: the amount due.")
@click.option("--payment-id", help="Idempotency key: the same id again changes nothing.")
@click.option("--currency", help="Must be the invoice's currency when given.")
@with_env
def pay(
    env: CommandEnv, number: str, amount: str | None, payment_id: str | None, currency: str | None
) -> None:
    """Record a payment on the invoice's workflow (refused with the reason when it cannot)."""
    with env.backend() as backend:
        view = backend.pay(
            number,
            amount=to_decimal(amount) if amount is not None else None,
            payment_id=payment_id,
            currency=currency,
        )
    result, money = view.result, view.currency
    env.emit(
        {"invoice_number": number, "livemode": env.livemode, **result.model_dump(mode="json")},
        key_values(
            f"Payment {result.payment_id} on {number}",
            {
                "new": result.new,
                "status": result.status,
                "paid": _money(result.amount_paid, money),
                "due": _money(result.amount_due, money),
                "credit added": _money(result.credit_added, money),
            },
        ),
    )


@invoices.command("approve")
@click.argument("number")
@with_env
def approve(env: CommandEnv, number: str) -> None:
    """Issue a draft (billing config auto_generate_invoices false); returns once it is issued."""
    with env.backend() as backend:
        backend.approve(number)
    data = {"invoice_number": number, "approved": True, "livemode": env.livemode}
    env.emit(data, f"Invoice {number} approved and issued ({env.mode} mode).")


@invoices.command("void")
@click.argument("number")
@click.option("--reason", required=True)
@with_env
def void(env: CommandEnv, number: str, reason: str) -> None:
    """Void an unpaid invoice (its workflow records it and stops escalating)."""
    with env.backend() as backend:
        backend.void(number, reason)
    data = {"invoice_number": number, "void_requested": True, "livemode": env.livemode}
    env.emit(data, f"Void of {number} requested: {reason} ({env.mode} mode).")
