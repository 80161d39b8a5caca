"""What every data command shares: the mode options, the database and Temporal connections,
output as a rich table or `--json`, and one-line errors.

Exit codes: 0 done, 1 the request was sound but could not be carried out (not found, conflict,
server unreachable), 2 bad input (nothing was changed).
"""

from __future__ import annotations

import asyncio
import functools
import io
import json
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import BaseModel, ValidationError
from rich import box
from rich.console import Console, RenderableType
from rich.table import Table
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import OperationalError
from temporalio.client import (
    Client,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from billing.errors import BillingError
from billing.validation import describe_validation_error
from billing_db.engine import make_engine
from billing_db.errors import ConflictError, NotFoundError
from billing_service.cli.backend import Backend
from billing_service.cli.preview import InputError as InputError
from billing_service.cli.preview import OneLineErrorCommand, _read_json
from billing_service.modes import ModeConflictError, choose_mode, settings_for_mode
from billing_service.settings import Mode, Settings
from billing_service.temporal_client import connect

T = TypeVar("T")

DEFAULT_ACCOUNT = "acct_default"


class CommandFailed(click.ClickException):
    """A sound request that could not be carried out: one line on stderr, exit code 1."""

    exit_code = 1


class Group(click.Group):
    """A group whose subcommands report usage errors in one line (exit 2)."""

    command_class = OneLineErrorCommand


NEEDS_DATABASE = (
    "`billing {name}` needs database access; unset BILLING_API_URL to run it against the "
    "local database"
)


@dataclass(frozen=True)
class RemoteApi:
    """A `billing api` the data commands talk to instead of the database (BILLING_API_URL)."""

    url: str
    key: str


def remote_api(settings: Settings) -> RemoteApi | None:
    """The API of BILLING_API_URL and BILLING_API_KEY; None without a URL (a key alone keeps
    its older meaning: it picks the local mode). A URL without a key is refused."""
    url = (settings.billing_api_url or "").strip()
    if not url:
        return None
    if settings.billing_api_key is None:
        raise InputError(
            "BILLING_API_URL is set but BILLING_API_KEY is not: set both to use the remote API "
            "(a pk_test_ or pk_live_ key), or unset BILLING_API_URL"
        )
    return RemoteApi(url=url, key=settings.billing_api_key.get_secret_value())


@dataclass(frozen=True)
class CommandEnv:
    """One command's world: settings of its mode, its account, and how to print."""

    settings: Settings
    account_id: str
    as_json: bool
    remote: RemoteApi | None = None
    account_given: bool = False
    """--account or BILLING_ACCOUNT was set (through the API it must match the key's account)."""

    @property
    def mode(self) -> Mode:
        return self.settings.billing_mode

    @property
    def livemode(self) -> bool:
        return self.settings.livemode

    def where(self) -> str:
        return f"{self.mode} mode (namespace {self.settings.temporal_namespace!r})"

    @contextmanager
    def engine(self) -> Iterator[Engine]:
        """The mode's billing database, which must have been migrated (`billing db upgrade`)."""
        engine = make_engine(self.settings.database_url)
        try:
            if not inspect(engine).has_table("alembic_version"):
                raise CommandFailed(
                    f"the {self.mode}-mode database {self.settings.database_url} is not set up: "
                    f"run `billing db upgrade --{self.mode}` first"
                )
            yield engine
        finally:
            engine.dispose()

    async def client(self) -> Client:
        try:
            return await connect(self.settings)
        except RuntimeError as exc:
            raise CommandFailed(
                f"cannot reach Temporal at {self.settings.temporal_address} "
                f"(namespace {self.settings.temporal_namespace!r}): {first_line(exc)}"
            ) from None

    @contextmanager
    def backend(self) -> Iterator[Backend]:
        """Where the data lives: the remote API when configured, else the database."""
        if self.remote is None:
            from billing_service.cli.local import LocalBackend

            yield LocalBackend(self)
            return
        from billing_service.cli.remote import RemoteBackend, api_errors

        with api_errors(self.remote):
            backend = RemoteBackend(self, self.remote)
            try:
                backend.check_account()
                yield backend
            finally:
                backend.close()

    def emit(self, data: Any, human: RenderableType | str) -> None:
        """Print `data` as JSON with --json, else the human rendering."""
        if self.as_json:
            click.echo(json.dumps(jsonable(data), indent=2))
        else:
            click.echo(render(human), nl=False)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def jsonable(data: Any) -> Any:
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    if isinstance(data, list):
        return [jsonable(item) for item in data]
    if isinstance(data, dict):
        return {key: jsonable(value) for key, value in data.items()}
    return data


def render(renderable: RenderableType | str) -> str:
    if isinstance(renderable, str):
        return renderable if renderable.endswith("\n") else renderable + "\n"
    buffer = io.StringIO()
    Console(file=buffer, width=120, color_system=None, force_terminal=False).print(renderable)
    return buffer.getvalue()


def table(title: str | None, columns: list[str], rows: list[list[str]]) -> Table:
    """A plain table; a column named "... (r)" is right-aligned (numbers), shown unmarked."""
    result = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
    for column in columns:
        if column.endswith(" (r)"):
            result.add_column(column.removesuffix(" (r)"), justify="right")
        else:
            result.add_column(column, justify="left")
    for row in rows:
        result.add_row(*row)
    return result


def key_values(title: str, values: dict[str, Any]) -> Table:
    result = Table(title=title, box=box.SIMPLE_HEAD, show_header=False, title_justify="left")
    result.add_column("field", style="bold")
    result.add_column("value")
    for key, value in values.items():
        result.add_row(key, "" if value is None else str(value))
    return result


def read_json_file(path: Path, option: str) -> Any:
    """A JSON document from a file, numbers as Decimal; one-line error naming the option."""
    return _read_json(path, option)


def parse_json_text(text: str, option: str) -> Any:
    try:
        return json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise InputError(f"{option}: not valid JSON: {exc.msg} at column {exc.colno}") from None


def _temporal_message(exc: BaseException) -> str:
    cause = exc.__cause__
    while cause is not None and cause.__cause__ is not None:
        cause = cause.__cause__
    return first_line(cause or exc)


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Turn the errors a command can meet into `Error: <one line>` and the right exit code."""
    try:
        yield
    except click.ClickException:
        raise
    except ValidationError as exc:
        raise InputError(describe_validation_error(exc)) from None
    except (NotFoundError, ConflictError) as exc:
        raise CommandFailed(str(exc)) from None
    except (BillingError, ModeConflictError) as exc:
        raise InputError(str(exc)) from None
    except WorkflowAlreadyStartedError as exc:
        raise CommandFailed(f"already started: workflow {exc.workflow_id!r} exists") from None
    except WorkflowUpdateFailedError as exc:
        raise InputError(f"refused: {_temporal_message(exc)}") from None
    except WorkflowQueryFailedError as exc:
        raise CommandFailed(f"query failed: {first_line(exc)}") from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise CommandFailed(f"not found: {exc.message}") from None
        raise CommandFailed(f"Temporal refused the call: {exc.message}") from None
    except OperationalError as exc:
        raise CommandFailed(f"database error: {first_line(exc.orig or exc)}") from None


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def base_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        raise InputError(describe_validation_error(exc)) from None


def command_env(
    mode: Mode | None, as_json: bool, account: str, *, account_given: bool = False
) -> CommandEnv:
    base = base_settings()
    remote = remote_api(base)
    with one_line_errors():
        chosen = choose_mode(base, mode)
    return CommandEnv(
        settings=settings_for_mode(base, chosen),
        account_id=account,
        as_json=as_json,
        remote=remote,
        account_given=account_given,
    )


def with_env(function: Callable[..., T]) -> Callable[..., T]:
    """Add --test/--live, --json and --account to a command and pass it a `CommandEnv` first."""

    @click.option(
        "--test", "mode", flag_value="test", default=None, help="Test mode (the default)."
    )
    @click.option("--live", "mode", flag_value="live", help="Live mode: real customers' data.")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
    @click.option(
        "--account",
        envvar="BILLING_ACCOUNT",
        default=DEFAULT_ACCOUNT,
        show_default=True,
        help="The billing account (env BILLING_ACCOUNT).",
    )
    @functools.wraps(function)
    def wrapper(mode: Mode | None, as_json: bool, account: str, **kwargs: Any) -> T:
        source = click.get_current_context().get_parameter_source("account")
        given = source not in (None, click.core.ParameterSource.DEFAULT)
        env = command_env(mode, as_json, account, account_given=given)
        with one_line_errors():
            return function(env, **kwargs)

    return wrapper
