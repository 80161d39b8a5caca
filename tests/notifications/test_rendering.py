"""Email rendering from the Jinja2 templates, on the seed's hybrid example rated by the core."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import jinja2
import pytest
from pydantic import JsonValue

from activities.notifications.rendering import (
    TemplateDataError,
    format_money,
    format_quantity,
    render_email,
)
from billing.catalog import NOTIFICATION_EVENTS

from notifications.seed import hybrid_context

EVENT_DATA: dict[str, dict[str, JsonValue]] = {
    "usage_threshold": {
        "threshold": 80,
        "meter": "bandwidth_egress",
        "quantity": "80",
        "included": "100",
        "unit": "GB",
    },
    "payment_received": {"amount": "74.99"},
    "payment_overdue": {"days_overdue": 1},
    "payment_reminder": {"reminder": 2},
    "subscription_suspended": {"reason": "invoice unpaid 14 days after its due date"},
}


def test_hybrid_invoice_email_shows_subtotal_vat_and_total_in_both_parts() -> None:
    rendered = render_email(hybrid_context())
    for part in (rendered.text, rendered.html):
        assert "EUR 62.49" in part  # subtotal: 49.99 + 12.50
        assert "EUR 12.50" in part  # 250 GB at 0.05, and the VAT
        assert "EUR 74.99" in part  # total
        assert "INV-2026-000001" in part
        assert "15 Nov 2026" in part
        assert "VAT 20%" in part


def test_hybrid_invoice_email_shows_the_tier_breakdown_and_period() -> None:
    rendered = render_email(hybrid_context())
    for part in (rendered.text, rendered.html):
        assert "0–100 GB: 100 GB × EUR 0.00" in part
        assert "100–1,000 GB: 250 GB × EUR 0.05" in part
        assert "bandwidth_egress" in part
        assert "350 GB" in part
        assert "1-31 Oct 2026" in part
        assert "above 1,000 GB" not in part  # no usage reached the third tier


def test_invoice_subject_names_number_brand_amount_and_due_date() -> None:
    assert render_email(hybrid_context()).subject == (
        "Invoice INV-2026-000001 from PLATFORMA — EUR 74.99 due 15 Nov 2026"
    )


def test_test_mode_subject_and_body_say_test() -> None:
    rendered = render_email(hybrid_context(livemode=False))
    assert rendered.subject.startswith("[TEST] Invoice INV-2026-000001")
    assert "TEST" in rendered.text
    assert "TEST mode" in rendered.html


def test_invoice_email_carries_the_invoice_as_an_html_attachment() -> None:
    (attachment,) = render_email(hybrid_context()).attachments
    assert attachment.filename == "INV-2026-000001.html"
    assert (attachment.maintype, attachment.subtype) == ("text", "html")
    assert b"EUR 74.99" in attachment.content
    assert render_email(hybrid_context(), attach_invoice=False).attachments == ()


def test_html_part_escapes_what_the_text_part_shows_verbatim() -> None:
    context = dataclasses.replace(hybrid_context(), customer_name="<script>x</script> & Co")
    rendered = render_email(context)
    assert "&lt;script&gt;x&lt;/script&gt; &amp; Co" in rendered.html
    assert "<script>" not in rendered.html
    assert "<script>x</script> & Co" in rendered.text


@pytest.mark.parametrize("event", NOTIFICATION_EVENTS)
def test_every_event_has_a_subject_text_and_html_template(event: str) -> None:
    context = dataclasses.replace(hybrid_context(event), data=EVENT_DATA.get(event, {}))
    rendered = render_email(context)
    assert rendered.subject
    assert "Ada Lovelace" in rendered.text
    assert "Ada Lovelace" in rendered.html
    assert rendered.html.lstrip().startswith("<!DOCTYPE html>")


def test_usage_threshold_email_names_the_threshold_and_quantities() -> None:
    context = dataclasses.replace(
        hybrid_context("usage_threshold"), invoice=None, data=EVENT_DATA["usage_threshold"]
    )
    rendered = render_email(context)
    assert rendered.subject == "You have used 80% of your included bandwidth_egress"
    assert "80 GB used, 100 GB included" in rendered.text
    assert rendered.attachments == ()


def test_overdue_and_reminder_subjects_carry_amount_due() -> None:
    overdue = render_email(hybrid_context("payment_overdue"))
    reminder = dataclasses.replace(hybrid_context("payment_reminder"), data={"reminder": 2})
    assert overdue.subject == ("Invoice INV-2026-000001 is overdue — EUR 74.99 was due 15 Nov 2026")
    assert render_email(reminder).subject == (
        "Reminder 2: invoice INV-2026-000001 — EUR 74.99 due 15 Nov 2026"
    )


def test_an_invoice_event_without_an_invoice_fails_loudly() -> None:
    context = dataclasses.replace(hybrid_context(), invoice=None)
    with pytest.raises(jinja2.UndefinedError):
        render_email(context)


def test_money_keeps_minor_units_and_never_rounds() -> None:
    assert format_money(Decimal("0"), "EUR") == "EUR 0.00"
    assert format_money(Decimal("1234.5"), "EUR") == "EUR 1,234.50"
    assert format_money(Decimal("0.0125"), "EUR") == "EUR 0.0125"
    assert format_money(Decimal("1500"), "JPY") == "JPY 1,500"
    assert format_money("74.99", "EUR") == "EUR 74.99"


def test_quantities_print_without_exponent_or_trailing_zeros() -> None:
    assert format_quantity(Decimal("3.5E+2")) == "350"
    assert format_quantity(Decimal("12.500")) == "12.5"
    assert format_quantity(Decimal("1000000")) == "1,000,000"


@pytest.mark.parametrize("bad", [None, True, "twelve"])
def test_a_non_number_where_an_amount_belongs_is_refused(bad: object) -> None:
    with pytest.raises(TemplateDataError, match="not an amount"):
        format_money(bad, "EUR")
