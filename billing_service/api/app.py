"""The FastAPI application: routes, the guard in front of them, problem+json errors, and one
database engine and Temporal client per mode (`ApiState`), opened lazily and closed at exit."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute

from billing_service.api import problems
from billing_service.api.context import ApiState
from billing_service.api.guard import Guard
from billing_service.api.routes import catalog, invoices, subscriptions
from billing_service.settings import Settings

TITLE = "Billing API"
VERSION = "1"
DESCRIPTION = """The billing service's HTTP API: the guide's `client.billing.*` calls.

Authenticate with `Authorization: Bearer pk_test_...` (test mode) or `pk_live_...` (live mode):
the key alone decides the account and the mode; another account's or mode's object answers 404.
Amounts and quantities are decimal strings (numbers are accepted on input). Errors are RFC 9457
`application/problem+json` with a stable `code`. Every POST takes an `Idempotency-Key`.
"""


def operation_id(route: APIRoute) -> str:
    """Operation ids are the route functions' names (`create_meter`), stable for clients."""
    return route.name


def create_app(settings: Settings | None = None, *, state: ApiState | None = None) -> FastAPI:
    """The app for `settings` (default: the environment's, read when it starts serving);
    `state` gives it ready resources instead."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if getattr(app.state, "api", None) is None:
            app.state.api = ApiState.from_settings(settings or Settings())
        resources = list(app.state.api.modes.values())
        nudging = [asyncio.create_task(mode.nudges.run()) for mode in resources]
        try:
            yield
        finally:
            for task in nudging:
                task.cancel()
            await asyncio.gather(*nudging, return_exceptions=True)
            for mode in resources:  # what the last interval held back
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(mode.nudges.flush(), timeout=5)
            app.state.api.dispose()

    app = FastAPI(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    app.state.api = state
    for module in (catalog, subscriptions, invoices):
        app.include_router(module.router)
    problems.install(app)
    app.add_middleware(Guard)
    return app
