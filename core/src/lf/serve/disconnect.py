"""Stop working for a client that went away: the one way every ``lf`` service notices a disconnect."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
from litestar import Request

from lf.serve.error_handlers import ClientGoneError

T = TypeVar("T")


async def unless_client_leaves(request: Request[Any, Any, Any], work: Callable[[], Awaitable[T]]) -> T:
    """``await work()``, cancelled at once if the client disconnects first (then :class:`ClientGoneError`).

    The work's own exceptions come out unchanged (never wrapped in an exception group). A
    cancelled upstream call frees what it held: a backend's engine row, a router's connection.
    """
    outcome: list[Any] = []
    failure: list[BaseException] = []
    gone = False

    async def watch(cancel: anyio.CancelScope) -> None:
        nonlocal gone
        while (await request.receive())["type"] != "http.disconnect":
            pass
        gone = True
        cancel.cancel()

    async with anyio.create_task_group() as group:
        group.start_soon(watch, group.cancel_scope)
        try:
            outcome.append(await work())
        except Exception as exc:
            failure.append(exc)
        group.cancel_scope.cancel()
    if gone:
        raise ClientGoneError()
    if failure:
        raise failure[0]
    return outcome[0]
