"""What the routes share: the caller dependency, list parameters and blocking calls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query
from starlette.concurrency import run_in_threadpool

from billing_db.repo_listing import MAX_LIMIT
from billing_service.api.context import Caller, caller
from billing_service.api.models import Page
from billing_service.api.problems import PROBLEM_RESPONSES

T = TypeVar("T")
R = TypeVar("R")

CallerDep = Annotated[Caller, Depends(caller)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="1-100 objects per page")]
StartingAfter = Annotated[
    str | None,
    Query(max_length=200, description="the `id` of the last object of the previous page"),
]
RESPONSES = PROBLEM_RESPONSES


async def blocking(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Database work off the event loop."""
    return await run_in_threadpool(function, *args, **kwargs)


async def page_of(
    lister: Callable[..., tuple[list[R], bool]],
    convert: Callable[[R, bool], T],
    caller: Caller,
    *,
    starting_after: Any | None,
    limit: int,
) -> Page[T]:
    """One page of the caller's objects from a `repo_listing` function, converted for output."""
    records, more = await blocking(
        lister,
        caller.engine,
        account_id=caller.account_id,
        starting_after=starting_after,
        limit=limit,
    )
    return Page(data=[convert(record, caller.livemode) for record in records], has_more=more)
