"""Operations declared once, run by either transport.

A resource class lists its routes as descriptors (`create = Op("POST", "/meters", MeterOut)`);
reading one from a resource bound to the sync transport gives a function returning the model, from
one bound to the async transport a coroutine function. So `Billing` and `AsyncBilling` share one
resource tree, and mypy knows which of the two a call returns.

Keyword arguments are the JSON body (POST, PUT, PATCH) or the query (GET); positional ones fill
the path's `{}` in order; `idempotency_key=` overrides the automatic key of a POST.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator, Sequence
from typing import Any, Generic, TypeVar, overload
from urllib.parse import quote

from pydantic import TypeAdapter

from billing_client._http import AsyncTransport, Call, SyncTransport
from billing_service.api.models import Page, UsageOut

T = TypeVar("T")
Transport = TypeVar("Transport", bound=SyncTransport | AsyncTransport)


class Resource(Generic[Transport]):
    def __init__(self, transport: Transport) -> None:
        self._transport: Transport = transport


def _last_id(item: Any) -> str:
    """`starting_after` for the next page: the last object's `id`."""
    return str(item.id)


def _call(method: str, path: str, ids: Sequence[object], params: dict[str, Any]) -> Call:
    key = params.pop("idempotency_key", None)
    filled = path.format(*(quote(str(value), safe="") for value in ids))
    if method in ("GET", "DELETE"):
        return Call(method, filled, query=params)
    return Call(method, filled, body=params, idempotency_key=key)


class Op(Generic[T]):
    """One route answering one object (`model`, or None for 204)."""

    def __init__(self, method: str, path: str, model: type[T]) -> None:
        self.method, self.path, self.adapter = method, path, TypeAdapter(model)

    @overload
    def __get__(self, obj: Resource[SyncTransport], owner: object) -> Callable[..., T]: ...
    @overload
    def __get__(
        self, obj: Resource[AsyncTransport], owner: object
    ) -> Callable[..., Awaitable[T]]: ...
    def __get__(self, obj: Resource[Any], owner: object) -> Callable[..., Any]:
        transport = obj._transport

        def sync(*ids: object, **params: Any) -> T:
            return self.adapter.validate_python(
                transport.send(_call(self.method, self.path, ids, params))
            )

        async def run(*ids: object, **params: Any) -> T:
            answer = await transport.send(_call(self.method, self.path, ids, params))
            return self.adapter.validate_python(answer)

        return sync if isinstance(transport, SyncTransport) else run


class Pages(Generic[T]):
    """A list as sync pages: `.first()` is one page; iterating walks every page."""

    def __init__(
        self,
        transport: SyncTransport,
        path: str,
        adapter: TypeAdapter[Page[T]],
        query: dict[str, Any],
    ) -> None:
        self._transport, self._path, self._adapter, self._query = transport, path, adapter, query

    def first(self) -> Page[T]:
        return self._adapter.validate_python(
            self._transport.send(Call("GET", self._path, query=self._query))
        )

    def __iter__(self) -> Iterator[T]:
        page = self.first()
        while True:
            yield from page.data
            if not page.has_more or not page.data:
                return
            query = {**self._query, "starting_after": _last_id(page.data[-1])}
            page = self._adapter.validate_python(
                self._transport.send(Call("GET", self._path, query=query))
            )


class AsyncPages(Generic[T]):
    """A list as async pages: `await` it for one page; `async for` walks every page."""

    def __init__(
        self,
        transport: AsyncTransport,
        path: str,
        adapter: TypeAdapter[Page[T]],
        query: dict[str, Any],
    ) -> None:
        self._transport, self._path, self._adapter, self._query = transport, path, adapter, query

    async def first(self) -> Page[T]:
        return self._adapter.validate_python(
            await self._transport.send(Call("GET", self._path, query=self._query))
        )

    def __await__(self) -> Generator[Any, None, Page[T]]:
        return self.first().__await__()

    async def __aiter__(self) -> AsyncIterator[T]:
        page = await self.first()
        while True:
            for item in page.data:
                yield item
            if not page.has_more or not page.data:
                return
            query = {**self._query, "starting_after": _last_id(page.data[-1])}
            page = self._adapter.validate_python(
                await self._transport.send(Call("GET", self._path, query=query))
            )


class ListOp(Generic[T]):
    """A paginated list of `model` objects."""

    def __init__(self, path: str, model: type[T]) -> None:
        self.path = path
        self.adapter: TypeAdapter[Page[T]] = TypeAdapter(Page[model])  # type: ignore[valid-type]

    @overload
    def __get__(self, obj: Resource[SyncTransport], owner: object) -> Callable[..., Pages[T]]: ...
    @overload
    def __get__(
        self, obj: Resource[AsyncTransport], owner: object
    ) -> Callable[..., AsyncPages[T]]: ...
    def __get__(self, obj: Resource[Any], owner: object) -> Callable[..., Any]:
        transport = obj._transport

        def pages(**query: Any) -> Pages[T] | AsyncPages[T]:
            if isinstance(transport, SyncTransport):
                return Pages(transport, self.path, self.adapter, query)
            return AsyncPages(transport, self.path, self.adapter, query)

        return pages


def batches(events: Sequence[Any], size: int) -> list[Sequence[Any]]:
    """At least one batch (an empty one is the API's to refuse), none over `size`."""
    return [events[start : start + size] for start in range(0, max(len(events), 1), size)]


def _total(answers: Sequence[UsageOut]) -> UsageOut:
    totals: dict[str, int | None] = {"events": sum(answer.events for answer in answers)}
    for name in ("new", "duplicates"):
        counts = [getattr(answer, name) for answer in answers]
        totals[name] = None if None in counts else sum(counts)
    return answers[-1].model_copy(update=totals)


class RecordUsageOp:
    """`usage.record(subscription_id=..., events=[...])`: any number of events, sent in batches of
    at most 1,000 (each its own request and key, so a retried batch counts once);
    `acknowledged=True` waits for the workflow and totals its `new` and `duplicates`."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.adapter = TypeAdapter(UsageOut)

    @overload
    def __get__(self, obj: Resource[SyncTransport], owner: object) -> Callable[..., UsageOut]: ...
    @overload
    def __get__(
        self, obj: Resource[AsyncTransport], owner: object
    ) -> Callable[..., Awaitable[UsageOut]]: ...
    def __get__(self, obj: Resource[Any], owner: object) -> Callable[..., Any]:
        transport = obj._transport

        def calls(subscription_id: str, events: Sequence[Any], acknowledged: bool) -> list[Call]:
            flag = {"acknowledged": True} if acknowledged else {}
            body = [
                {"subscription_id": subscription_id, "events": list(batch), **flag}
                for batch in batches(events, self.size)
            ]
            return [Call("POST", "/usage/events", body=b) for b in body]

        def sync(
            *, subscription_id: str, events: Sequence[Any], acknowledged: bool = False
        ) -> UsageOut:
            return _total(
                [
                    self.adapter.validate_python(transport.send(c))
                    for c in calls(subscription_id, events, acknowledged)
                ]
            )

        async def run(
            *, subscription_id: str, events: Sequence[Any], acknowledged: bool = False
        ) -> UsageOut:
            answers = [
                self.adapter.validate_python(await transport.send(c))
                for c in calls(subscription_id, events, acknowledged)
            ]
            return _total(answers)

        return sync if isinstance(transport, SyncTransport) else run
