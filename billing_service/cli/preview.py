"""`billing preview`: rate one period of a pricing offline and print the invoice.

    billing preview --pricing PRICING.json --usage USAGE.json [--tax-rate 0.20]
        [--format json|table]

PRICING.json is a pricing body (the seed's step 2); USAGE.json maps meter ids to the period's
aggregated quantity, as numbers or strings (`{"bandwidth_egress": "350"}`). JSON numbers are
read as Decimal, never as float. Bad input prints one line on stderr and exits with code 2.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import click
from rich import box
from rich.console import Console
from rich.table import Table

from billing.catalog import Pricing, check_tax_rate
from billing.charge_models import TierCharge
from billing.errors import BillingError
from billing.invoice import InvoiceLine, RatedInvoice, check_quantities, rate_invoice
from billing.money import format_decimal, to_decimal
from billing.validation import parse


class InputError(click.ClickException):
    """Bad input: `Error: <one line>` on stderr, exit code 2 (as click's usage errors)."""

    exit_code = 2


class OneLineErrorCommand(click.Command):
    """A command whose usage errors (missing option, bad choice) are one line, not a usage page."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            raise InputError(exc.format_message()) from None


def _read_json(path: Path, option: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{option}: cannot read {str(path)!r}: {exc.strerror or exc}") from None
    try:
        return json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{option}: {str(path)!r} is not valid JSON: {exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}"
        ) from None


def _usage(data: Any, pricing: Pricing) -> dict[str, Decimal]:
    if not isinstance(data, dict):
        raise InputError("usage: must be a JSON object mapping meter ids to quantities")
    try:
        return check_quantities(pricing, data)
    except BillingError as exc:
        raise InputError(str(exc)) from None


def _tax_rate(text: str) -> Decimal:
    try:
        return check_tax_rate(to_decimal(text))
    except BillingError as exc:
        raise InputError(f"--tax-rate: {exc}") from None


def _line_json(line: InvoiceLine) -> dict[str, Any]:
    data: dict[str, Any] = {
        "description": line.description,
        "quantity": format_decimal(line.quantity),
        "amount": format_decimal(line.amount),
    }
    if line.tiers:
        data["tiers"] = [tier.model_dump(mode="json") for tier in line.tiers]
    return data


def invoice_json(invoice: RatedInvoice) -> dict[str, Any]:
    """The preview's JSON shape: every amount a decimal string."""
    return {
        "currency": invoice.currency,
        "lines": [_line_json(line) for line in invoice.lines],
        "subtotal": format_decimal(invoice.subtotal),
        "tax": format_decimal(invoice.tax),
        "total": format_decimal(invoice.total),
    }


def _percent(rate: Decimal) -> str:
    return format_decimal((rate * 100).normalize())


def _tier_label(tier: TierCharge) -> str:
    lower = format_decimal(tier.from_units)
    if tier.up_to is None:
        return f"  tier {tier.tier}: q > {lower}"
    if tier.tier == 1:
        return f"  tier 1: q <= {format_decimal(tier.up_to)}"
    return f"  tier {tier.tier}: {lower} < q <= {format_decimal(tier.up_to)}"


def _tier_price(tier: TierCharge) -> str:
    price = format_decimal(tier.unit_price)
    return f"{price} + {format_decimal(tier.flat_price)} flat" if tier.flat_price else price


def invoice_table(invoice: RatedInvoice, title: str) -> str:
    """A readable invoice with the tier breakdown of every tiered line."""
    table = Table(title=title, box=box.SIMPLE_HEAD, show_footer=False)
    table.add_column("Description")
    table.add_column("Quantity", justify="right")
    table.add_column("Unit price", justify="right")
    table.add_column(f"Amount ({invoice.currency})", justify="right")
    for line in invoice.lines:
        quantity = format_decimal(line.quantity)
        if line.unit:
            quantity += f" {line.unit}"
        table.add_row(line.description, quantity, "", format_decimal(line.amount))
        for tier in line.tiers:
            table.add_row(
                _tier_label(tier),
                format_decimal(tier.quantity),
                _tier_price(tier),
                format_decimal(tier.amount),
                style="dim",
            )
    table.add_section()
    table.add_row("Subtotal", "", "", format_decimal(invoice.subtotal))
    table.add_row(f"Tax ({_percent(invoice.tax_rate)}%)", "", "", format_decimal(invoice.tax))
    table.add_row("Total", "", "", format_decimal(invoice.total), style="bold")
    buffer = io.StringIO()
    Console(file=buffer, width=100, color_system=None, force_terminal=False).print(table)
    return buffer.getvalue()


def build_preview(
    pricing_data: Any, usage_data: Any, tax_rate: Decimal
) -> tuple[Pricing, RatedInvoice]:
    """Validate both documents and rate them; `InputError` names the first problem."""
    try:
        pricing = parse(Pricing, pricing_data, what="pricing")
    except BillingError as exc:
        raise InputError(str(exc)) from None
    quantities: Mapping[str, Decimal] = _usage(usage_data, pricing)
    try:
        return pricing, rate_invoice(pricing=pricing, quantities=quantities, tax_rate=tax_rate)
    except BillingError as exc:
        raise InputError(str(exc)) from None


@click.command("preview", cls=OneLineErrorCommand)
@click.option(
    "--pricing",
    "pricing_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Pricing body as JSON: {product_id, currency, components}.",
)
@click.option(
    "--usage",
    "usage_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help='Meter id -> aggregated quantity as JSON, e.g. {"bandwidth_egress": "350"}.',
)
@click.option(
    "--tax-rate", default="0", show_default=True, help="Tax rate as a fraction (0.20 = 20%)."
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["json", "table"]),
    default="table",
    show_default=True,
)
def preview(
    pricing_path: Path,
    usage_path: Path,
    tax_rate: str,
    output_format: Literal["json", "table"],
) -> None:
    """Preview the invoice a pricing produces for one period's usage."""
    rate = _tax_rate(tax_rate)
    pricing_data = _read_json(pricing_path, "--pricing")
    usage_data = _read_json(usage_path, "--usage")
    pricing, invoice = build_preview(pricing_data, usage_data, rate)
    if output_format == "json":
        click.echo(json.dumps(invoice_json(invoice), indent=2))
    else:
        click.echo(invoice_table(invoice, f"Invoice preview: {pricing.product_id}"), nl=False)
