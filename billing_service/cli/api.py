"""`billing api` (the HTTP API under uvicorn) and `billing api-keys create | list | revoke`.

A key is printed once, when created; only its SHA-256 is stored, in its mode's database."""

from __future__ import annotations

import click
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from billing_db import repo_api_keys
from billing_service.cli.common import CommandEnv, Group, command_env, one_line_errors, table
from billing_service.services import catalog as services
from billing_service.settings import Mode


class ApiSettings(BaseSettings):
    """Where the API listens (API_HOST, API_PORT)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    host: str = Field(default="127.0.0.1", alias="API_HOST")
    port: int = Field(default=8000, ge=0, le=65535, alias="API_PORT")


@click.command("api", cls=Group.command_class)
@click.option("--host", help="Interface to listen on (env API_HOST, default 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port (env API_PORT, default 8000).")
def api(host: str | None, port: int | None) -> None:
    """Serve the HTTP API (both modes: the key of each request decides)."""
    import uvicorn  # here, not at the top: every other command starts without the web stack

    from billing_service.api.app import create_app

    defaults = ApiSettings()
    uvicorn.run(
        create_app(),
        host=host or defaults.host,
        port=defaults.port if port is None else port,
        log_level="info",
        server_header=False,
    )


@click.group("api-keys", cls=Group)
def api_keys() -> None:
    """API keys: pk_test_ keys reach test mode only, pk_live_ keys live mode only."""


def _env(live: bool, as_json: bool, account: str = "") -> CommandEnv:
    mode: Mode = "live" if live else "test"
    return command_env(mode, as_json, account)


@api_keys.command("create")
@click.option("--account", required=True, help="The account the key acts for.")
@click.option("--live", is_flag=True, help="A pk_live_ key (default: pk_test_).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def create(account: str, live: bool, as_json: bool) -> None:
    """Create a key (and the account in that mode if it is new); the key is shown only now."""
    env = _env(live, as_json, account)
    with one_line_errors(), env.engine() as engine:
        owner = services.account(engine, account_id=account, mode=env.mode)
        new = repo_api_keys.create_api_key(engine, account_id=owner.id, mode=env.mode)
    data = {
        "key": new.secret,
        "prefix": new.record.prefix,
        "account_id": owner.id,
        "livemode": env.livemode,
    }
    env.emit(
        data,
        f"{new.secret}\n(account {owner.id}, {env.mode} mode; shown once: store it now)",
    )


@api_keys.command("list")
@click.option("--live", is_flag=True, help="Live mode's keys (default: test mode's).")
@click.option("--account", help="Only this account's keys.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def list_keys(live: bool, account: str | None, as_json: bool) -> None:
    """Keys by prefix, with their last use (never the keys themselves)."""
    env = _env(live, as_json)
    with one_line_errors(), env.engine() as engine:
        records = repo_api_keys.list_api_keys(engine, account_id=account)
    rows = [
        [
            r.prefix,
            r.account_id,
            f"{r.created_at:%Y-%m-%d %H:%M}",
            f"{r.last_used_at:%Y-%m-%d %H:%M}" if r.last_used_at else "never",
            f"{r.revoked_at:%Y-%m-%d %H:%M}" if r.revoked_at else "",
        ]
        for r in records
    ]
    env.emit(
        [r.model_dump(mode="json") for r in records],
        table(
            f"API keys ({env.mode} mode)",
            ["Prefix", "Account", "Created", "Last used", "Revoked"],
            rows,
        ),
    )


@api_keys.command("revoke")
@click.argument("prefix")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def revoke(prefix: str, as_json: bool) -> None:
    """Revoke the key with this prefix (pk_test_... or pk_live_...): it stops working at once."""
    mode = repo_api_keys.key_mode(prefix)
    env = _env(mode == "live", as_json)
    with one_line_errors(), env.engine() as engine:
        record = repo_api_keys.revoke_api_key(engine, prefix=prefix)
    env.emit(record.model_dump(mode="json"), f"Revoked {record.prefix} ({record.account_id}).")
