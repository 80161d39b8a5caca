"""Render a notification email (subject, text, HTML, invoice attachment) from Jinja2 templates.

Templates live in ``templates/``: ``<event>.subject.j2``, ``<event>.txt.j2`` and ``<event>.html.j2``
per event, with the invoice partials shared. HTML templates are autoescaped; undefined variables are
errors, so a template cannot silently print nothing where an amount belongs. Amounts are formatted
from Decimal without rounding: the core has rounded them already.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path

import jinja2

from activities.notifications.view import EmailContext, TierRow
from billing.money import minor_units

TEMPLATES_DIR = Path(__file__).parent / "templates"
ATTACH_INVOICE_EVENTS = frozenset({"invoice_generated", "payment_reminder", "payment_overdue"})
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    maintype: str
    subtype: str


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str
    attachments: tuple[Attachment, ...] = ()


class TemplateDataError(ValueError):
    """A value handed to a template is not what it needs (e.g. an amount that is no number)."""


def _decimal(value: object) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool) or value is None:
        raise TemplateDataError(f"not an amount: {value!r}")
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise TemplateDataError(f"not an amount: {value!r}") from exc


def format_quantity(value: object) -> str:
    """``350`` not ``3.5E+2``; thousands separated; no trailing zeros."""
    number = _decimal(value).normalize()
    return f"{number:,f}"


def plain_amount(value: object, currency: str, *, grouping: str = "") -> str:
    """``74.99`` from ``74.990000``: the currency's minor digits, more only where the value has
    them (a unit price of 0.0125), so nothing is ever rounded away."""
    number = _decimal(value)
    exponent = number.normalize().as_tuple().exponent
    digits = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    places = max(minor_units(currency), digits)
    return f"{number:{grouping}.{places}f}"


def format_money(value: object, currency: str) -> str:
    """``EUR 1,234.50``: the currency and the amount, thousands grouped."""
    return f"{currency} {plain_amount(value, currency, grouping=',')}"


def format_percent(rate: object) -> str:
    """A rate such as ``0.20`` as ``20%``."""
    return f"{(_decimal(rate) * 100).normalize():f}%"


def format_day(value: date) -> str:
    return f"{value.day} {_MONTHS[value.month - 1]} {value.year}"


def tier_label(tier: TierRow, unit: str | None = None) -> str:
    suffix = f" {unit}" if unit else ""
    if tier.upper is None:
        return f"above {format_quantity(tier.lower)}{suffix}"
    return f"{format_quantity(tier.lower)}–{format_quantity(tier.upper)}{suffix}"


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        money=format_money,
        qty=format_quantity,
        percent=format_percent,
        day=format_day,
        tier_label=tier_label,
    )
    return env


def _render(name: str, context: EmailContext) -> str:
    return (
        environment()
        .get_template(name)
        .render(ctx=context, invoice=context.invoice, data=context.data)
    )


def render_email(context: EmailContext, *, attach_invoice: bool = True) -> RenderedEmail:
    """Subject, text and HTML for ``context.event``; an HTML invoice attached where it helps."""
    subject = " ".join(_render(f"{context.event}.subject.j2", context).split())
    if not context.livemode:
        subject = f"[TEST] {subject}"
    attachments: tuple[Attachment, ...] = ()
    if attach_invoice and context.invoice is not None and context.event in ATTACH_INVOICE_EVENTS:
        document = _render("invoice_document.html.j2", context)
        attachments = (
            Attachment(
                filename=f"{context.invoice.number}.html",
                content=document.encode("utf-8"),
                maintype="text",
                subtype="html",
            ),
        )
    return RenderedEmail(
        subject=subject,
        text=_render(f"{context.event}.txt.j2", context),
        html=_render(f"{context.event}.html.j2", context),
        attachments=attachments,
    )
