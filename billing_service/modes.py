"""Test mode and live mode: the seed's `pk_test_` promise that test mode never touches live data.

A mode is chosen per command (`--test`/`--live`) or by the `pk_test_`/`pk_live_` key in
BILLING_API_KEY (which `Settings` already turns into `billing_mode`); without either it is test.
Each mode has its own Temporal namespace and its own billing database, so a test-mode process
cannot even address a live workflow or row:

- live: TEMPORAL_NAMESPACE and DATABASE_URL as configured;
- test: TEMPORAL_TEST_NAMESPACE (default `<TEMPORAL_NAMESPACE>-test`) and TEST_DATABASE_URL
  (default: DATABASE_URL with `-test` added to the SQLite file name, or `_test` to the
  PostgreSQL database name: `.data/billing.db` -> `.data/billing-test.db`).

`settings_for_mode` returns a copy of `Settings` with those values, so the worker, the CLI and
the client helpers need not know about modes at all.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from billing_service.settings import Mode, Settings

MODES: tuple[Mode, ...] = ("test", "live")


class ModeConflictError(ValueError):
    """The mode asked for contradicts the API key's mode."""


class TestModeSettings(BaseSettings):
    """Optional explicit places for test-mode data (derived from the live ones otherwise)."""

    __test__ = False  # not a pytest test class, despite the name
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    namespace: str | None = Field(default=None, alias="TEMPORAL_TEST_NAMESPACE")
    database_url: str | None = Field(default=None, alias="TEST_DATABASE_URL")


def choose_mode(settings: Settings, requested: Mode | None) -> Mode:
    """The command's mode: `requested` (a --test/--live flag) unless a pk_ key says otherwise."""
    if requested is None:
        return settings.billing_mode
    if settings.billing_api_key is not None and requested != settings.billing_mode:
        raise ModeConflictError(
            f"--{requested} contradicts BILLING_API_KEY, a pk_{settings.billing_mode}_ key: "
            f"unset the key or use --{settings.billing_mode}"
        )
    return requested


def database_url_for_test_mode(url: str) -> str:
    """The test-mode twin of a database URL (see the module docstring)."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() == "sqlite":
        if not database or database == ":memory:" or database.startswith("file:"):
            return url
        path = PurePosixPath(database)
        twin = path.with_name(f"{path.stem}-test{path.suffix}")
        return parsed.set(database=str(twin)).render_as_string(hide_password=False)
    if not database:
        raise ValueError(f"DATABASE_URL {parsed!r} names no database to derive a test one from")
    return parsed.set(database=f"{database}_test").render_as_string(hide_password=False)


def settings_for_mode(settings: Settings, mode: Mode) -> Settings:
    """`settings` pointed at `mode`'s namespace and database."""
    if mode == "live":
        return settings.model_copy(update={"billing_mode": "live"})
    overrides = TestModeSettings()
    namespace = overrides.namespace or f"{settings.temporal_namespace}-test"
    database_url = overrides.database_url or database_url_for_test_mode(settings.database_url)
    return settings.model_copy(
        update={
            "billing_mode": "test",
            "temporal_namespace": namespace,
            "database_url": database_url,
        }
    )
