"""What one API process holds per mode (settings, a database engine, a lazily connected Temporal
client) and what each request gets from its key: the account and that mode's resources.

The process serves both modes; the key alone decides which one a request reaches.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from temporalio.client import Client

from billing_db import repo_api_keys
from billing_db.engine import make_engine
from billing_db.records import Mode
from billing_service.modes import MODES, settings_for_mode
from billing_service.services.usage_nudges import UsageNudges
from billing_service.settings import Settings
from billing_service.temporal_client import connect

#: Usage batches checked and committed at once per mode. Two: one is checked while the other
#: commits (SQLite writes one at a time, and the checks hold the interpreter); more only stretch
#: every batch, the writer's included, as threads share one interpreter (measured: 16 at once
#: answered later and fewer events per second).
INTAKE_BATCHES = 2


class UnauthenticatedError(Exception):
    """No key, an unknown one or a revoked one: 401, whatever the reason (never which)."""


@dataclass
class ModeResources:
    """One mode's namespace and database."""

    settings: Settings
    engine: Engine
    _client: Client | None = field(default=None, init=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)
    intake: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(INTAKE_BATCHES))
    """Usage batches being checked and committed (the rest wait on the event loop)."""
    nudges: UsageNudges = field(init=False)
    """`usage_recorded` signals after usage batches commit (sent by the app's lifespan task)."""

    def __post_init__(self) -> None:
        self.nudges = UsageNudges(self.client, interval=self.settings.usage_nudge_interval_seconds)

    async def client(self) -> Client:
        async with self._lock:
            if self._client is None:
                self._client = await connect(self.settings)
            return self._client

    @property
    def task_queue(self) -> str:
        return self.settings.temporal_task_queue


@dataclass
class ApiState:
    modes: dict[Mode, ModeResources]

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiState:
        resources = {}
        for mode in MODES:
            mode_settings = settings_for_mode(settings, mode)
            resources[mode] = ModeResources(
                settings=mode_settings, engine=make_engine(mode_settings.database_url)
            )
        return cls(modes=resources)

    def dispose(self) -> None:
        for resources in self.modes.values():
            resources.engine.dispose()


@dataclass(frozen=True)
class Caller:
    """The account and mode a request's key stands for, with that mode's resources."""

    account_id: str
    mode: Mode
    key_prefix: str
    resources: ModeResources

    @property
    def engine(self) -> Engine:
        return self.resources.engine

    @property
    def livemode(self) -> bool:
        return self.mode == "live"

    async def client(self) -> Client:
        return await self.resources.client()


bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="`Authorization: Bearer pk_test_...` (test mode) or `pk_live_...` (live mode).",
)


def state_of(request: Request) -> ApiState:
    state: ApiState = request.app.state.api
    return state


def identify(state: ApiState, secret: str) -> Caller | None:
    """The caller a key stands for, looked up in its own mode's database; None if invalid."""
    mode = repo_api_keys.key_mode(secret)
    if mode is None:
        return None
    resources = state.modes[mode]
    record = repo_api_keys.authenticate(resources.engine, secret)
    if record is None or record.mode != mode:
        return None
    return Caller(
        account_id=record.account_id, mode=mode, key_prefix=record.prefix, resources=resources
    )


def caller(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),  # noqa: B008
) -> Caller:
    """The request's caller, or 401."""
    known: Caller | None = getattr(request.state, "caller", None)
    if known is not None:
        return known
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise UnauthenticatedError("give an API key: Authorization: Bearer pk_test_...")
    found = identify(state_of(request), credentials.credentials)
    if found is None:
        raise UnauthenticatedError("the API key is not valid (unknown or revoked)")
    return found
