"""The seed's set-up steps: `billing meters create`, `pricing create`, `config update`,
`notifications configure` and `customers create`.

Locally, catalog objects are written straight to the mode's billing database through the shared
services, into the command's account (created on first use in the command's mode); with
BILLING_API_URL they go to that API, into the key's account (`cli/backend.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from billing.catalog import NOTIFICATION_EVENTS
from billing_service.cli.backend import ConfigView
from billing_service.cli.common import (
    CommandEnv,
    Group,
    InputError,
    key_values,
    read_json_file,
    with_env,
)

FILE = click.Path(dir_okay=False, path_type=Path)


def _document(path: Path | None, flags: dict[str, Any], what: str) -> dict[str, Any]:
    """A JSON object from --file with the flags given on top."""
    data: Any = read_json_file(path, "--file") if path else {}
    if not isinstance(data, dict):
        raise InputError(f"--file: the {what} must be a JSON object")
    return {**data, **{key: value for key, value in flags.items() if value is not None}}


# --- meters ----------------------------------------------------------------------------------


@click.group("meters", cls=Group)
def meters() -> None:
    """Meters: what usage is measured and how a period's events are aggregated."""


@meters.command("create")
@click.option("--name", help="e.g. bandwidth_egress")
@click.option("--unit", help="e.g. GB")
@click.option("--aggregation", type=click.Choice(["sum", "count", "max", "unique_count", "latest"]))
@click.option(
    "--reset-cycle", type=click.Choice(["monthly", "weekly", "quarterly", "yearly", "never"])
)
@click.option("--id", "meter_id", help="Stable id (defaults to the name).")
@click.option("--field-name", help="The event property counted by unique_count.")
@click.option("--file", "path", type=FILE, help="The meter as JSON (flags override it).")
@with_env
def create_meter(
    env: CommandEnv,
    name: str | None,
    unit: str | None,
    aggregation: str | None,
    reset_cycle: str | None,
    meter_id: str | None,
    field_name: str | None,
    path: Path | None,
) -> None:
    """Define a meter (immutable once created; the same definition again is a no-op)."""
    flags = {
        "name": name,
        "unit": unit,
        "aggregation": aggregation,
        "reset_cycle": reset_cycle,
        "id": meter_id,
        "field_name": field_name,
    }
    with env.backend() as backend:
        view = backend.create_meter(_document(path, flags, "meter"))
    env.emit(
        {"account_id": view.account_id, "livemode": env.livemode, **view.meter.model_dump()},
        key_values(f"Meter {view.meter.id} ({env.mode} mode)", view.meter.model_dump()),
    )


# --- pricing ---------------------------------------------------------------------------------


@click.group("pricing", cls=Group)
def pricing() -> None:
    """Pricings: a product's recurring fees and usage charges, stored as immutable versions."""


@pricing.command("create")
@click.option("--file", "path", type=FILE, required=True, help="{product_id, currency, components}")
@with_env
def create_pricing(env: CommandEnv, path: Path) -> None:
    """Store a pricing: the same content again returns the existing version."""
    document = read_json_file(path, "--file")
    with env.backend() as backend:
        view = backend.create_pricing(document)
    summary = {
        "pricing_version_id": view.id,
        "product_id": view.product_id,
        "version": view.version,
        "currency": view.pricing.currency,
        "components": len(view.pricing.components),
    }
    env.emit(
        {**summary, "livemode": env.livemode, "pricing": view.pricing},
        key_values(f"Pricing {view.product_id} v{view.version} ({env.mode} mode)", summary),
    )


# --- billing config --------------------------------------------------------------------------


@click.group("config", cls=Group)
def config() -> None:
    """The account's billing configuration: invoice day, terms, tax, currency, time zone."""


def _show_config(env: CommandEnv, view: ConfigView) -> None:
    values = view.billing.model_dump(mode="json")
    values["dunning"] = ", ".join(
        f"+{step['after_days']}d {step['action']}" for step in values["dunning"]["steps"]
    )
    env.emit(
        {"account_id": view.account_id, "livemode": env.livemode, "billing": view.billing},
        key_values(f"Billing config of {view.account_id} ({env.mode} mode)", values),
    )


@config.command("update")
@click.option("--invoice-day", type=int, help="Day of the month invoices are issued (1-31).")
@click.option("--payment-terms-days", type=int, help="Days until an invoice is due.")
@click.option("--tax-rate", help="A fraction: 0.20 is 20 %.")
@click.option("--currency", help="ISO 4217 code, e.g. EUR.")
@click.option("--timezone", help="IANA time zone of the invoice calendar, e.g. Europe/Berlin.")
@click.option("--auto-generate-invoices/--no-auto-generate-invoices", default=None)
@click.option("--file", "path", type=FILE, help="A billing config as JSON (flags override it).")
@with_env
def update_config(
    env: CommandEnv,
    invoice_day: int | None,
    payment_terms_days: int | None,
    tax_rate: str | None,
    currency: str | None,
    timezone: str | None,
    auto_generate_invoices: bool | None,
    path: Path | None,
) -> None:
    """Change the billing config; what is not given keeps its current value."""
    flags = {
        "invoice_day": invoice_day,
        "payment_terms_days": payment_terms_days,
        "tax_rate": tax_rate,
        "currency": currency,
        "timezone": timezone,
        "auto_generate_invoices": auto_generate_invoices,
    }
    changes = _document(path, flags, "billing config")
    with env.backend() as backend:
        view = backend.update_config(changes)
    _show_config(env, view)


@config.command("show")
@with_env
def show_config(env: CommandEnv) -> None:
    """Print the billing config."""
    with env.backend() as backend:
        view = backend.config()
    _show_config(env, view)


# --- notifications ---------------------------------------------------------------------------


def _channels(text: str, option: str) -> dict[str, bool]:
    names = {part.strip() for part in text.split(",") if part.strip()}
    if names == {"none"}:
        return {"email": False, "webhook": False}
    unknown = names - {"email", "webhook"}
    if unknown or not names:
        raise InputError(f"{option}: give email, webhook, email,webhook or none; got {text!r}")
    return {"email": "email" in names, "webhook": "webhook" in names}


def _thresholds(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise InputError(f"--thresholds: comma-separated percentages, got {text!r}") from None


def _event_options(function: Any) -> Any:
    for event in reversed(NOTIFICATION_EVENTS):
        option = "--" + event.replace("_", "-")
        function = click.option(
            option, event, metavar="CHANNELS", help="email, webhook, email,webhook or none."
        )(function)
    return function


@click.group("notifications", cls=Group)
def notifications() -> None:
    """Which channels carry each billing event, and where webhooks go."""


@notifications.command("configure")
@_event_options
@click.option("--thresholds", help="usage_threshold percentages, e.g. 80,90,100.")
@click.option("--webhook-url", help="Register this endpoint for the account's webhooks.")
@click.option("--webhook-secret", help="Its whsec_ signing secret (generated when omitted).")
@click.option("--file", "path", type=FILE, help="A notification config as JSON.")
@with_env
def configure_notifications(
    env: CommandEnv,
    thresholds: str | None,
    webhook_url: str | None,
    webhook_secret: str | None,
    path: Path | None,
    **events: str | None,
) -> None:
    """Change channels per event; events not named keep their current channels."""
    changes = _document(path, {}, "notification config")
    for event, text in events.items():
        if text is not None:
            option = "--" + event.replace("_", "-")
            changes[event] = {**changes.get(event, {}), **_channels(text, option)}
    if thresholds is not None:
        changes["usage_threshold"] = {
            **changes.get("usage_threshold", {}),
            "thresholds": _thresholds(thresholds),
        }
    with env.backend() as backend:
        view = backend.configure_notifications(
            changes, webhook_url=webhook_url, webhook_secret=webhook_secret
        )
    rows = {
        event: ", ".join(channel for channel in ("email", "webhook") if getattr(channels, channel))
        or "none"
        for event, channels in view.notifications
    }
    rows["usage_threshold"] += f" at {view.notifications.usage_threshold.thresholds} %"
    rows["webhook endpoints"] = ", ".join(view.webhook_endpoints) or "none"
    data: dict[str, Any] = {
        "account_id": view.account_id,
        "livemode": env.livemode,
        "notifications": view.notifications,
        "webhook_endpoints": view.webhook_endpoints,
    }
    if view.new_secret is not None:
        data["webhook_secret"] = view.new_secret
        rows["new endpoint secret"] = view.new_secret
    env.emit(data, key_values(f"Notifications of {view.account_id} ({env.mode} mode)", rows))


# --- customers -------------------------------------------------------------------------------


@click.group("customers", cls=Group)
def customers() -> None:
    """Customers of the account."""


@customers.command("create")
@click.option("--id", "customer_id", required=True, help="e.g. cus_acme")
@click.option("--name", required=True)
@click.option("--email", required=True, help="Where invoices are sent.")
@click.option("--timezone", help="IANA time zone (default: the billing config's).")
@click.option("--external-id", help="The id in the platform's own records.")
@with_env
def create_customer(
    env: CommandEnv,
    customer_id: str,
    name: str,
    email: str,
    timezone: str | None,
    external_id: str | None,
) -> None:
    """Create a customer (the same details again are a no-op)."""
    with env.backend() as backend:
        record = backend.create_customer(
            customer_id=customer_id,
            name=name,
            email=email,
            timezone=timezone,
            external_id=external_id,
        )
    fields = record.model_dump(mode="json", exclude={"created_at"})
    env.emit(
        {**fields, "livemode": env.livemode},
        key_values(f"Customer {record.id} ({env.mode} mode)", fields),
    )
