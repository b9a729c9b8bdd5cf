"""Litestar guards of every ``lf`` service: API keys, the admin role, rate limits.

Two roles: users (API keys) call the API; admins (admin keys) change what is served
(models, adapters, experts). A user key is not an admin key unless the operator opts in
(``user_keys_are_admin``). Failed authentication and refused admin calls are logged on
``lf.security`` with the path and the client address, never with a key.

Guards are async on purpose: Litestar runs a synchronous guard in a worker thread, a
thread hop on every request.
"""

from __future__ import annotations

from typing import Any, TypeVar, overload

from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from lf.errors import AuthenticationError, ForbiddenError, RateLimitedError
from lf.logs import get_logger
from lf.serve.limits import with_retry_after

security_log = get_logger("lf.security")
Connection = ASGIConnection[Any, Any, Any, Any]
S = TypeVar("S")


@overload
def service_of(connection: Connection) -> Any: ...


@overload
def service_of(connection: Connection, kind: type[S]) -> S: ...


def service_of(connection: Connection, kind: type[Any] | None = None) -> Any:
    """The :class:`lf.serve.service.Service` the app serves (``kind``: its class, for type checkers)."""
    return connection.app.state["lf_service"]


def _client(connection: Connection) -> str:
    return connection.client.host if connection.client else "unknown"


def _caller(connection: Connection) -> str | None:
    """The label of the request's key (``key-0``, ``admin-1``), None without keys; 401 for a bad key."""
    keys = service_of(connection).keys
    if not keys.enabled:
        return None
    caller = keys.identify(keys.presented(connection.headers))
    if caller is None:
        security_log.warning(
            "authentication failed",
            extra={"context": {"path": connection.url.path, "client": _client(connection)}},
        )
        raise AuthenticationError(
            "Missing or invalid API key.", hint="Send it as 'Authorization: Bearer KEY' or 'X-API-Key: KEY'."
        )
    return caller


async def authenticate(connection: Connection, _: BaseRouteHandler) -> None:
    """Guard: a valid key when keys are configured; then the caller's rate limit."""
    caller = _caller(connection)
    connection.scope["state"]["lf_caller"] = caller
    service = service_of(connection)
    if service.rate is not None:
        wait = await service.rate.take(service.keys.bucket(caller) if caller else _client(connection))
        if wait is not None:
            raise with_retry_after(RateLimitedError("Rate limit exceeded for this API key."), wait)


async def authenticate_admin(connection: Connection, handler: BaseRouteHandler) -> None:
    """Guard: like :func:`authenticate`, and the key must hold the admin role."""
    await authenticate(connection, handler)
    caller = connection.scope["state"].get("lf_caller")
    if not service_of(connection).keys.is_admin(caller):
        security_log.warning(
            "admin call refused",
            extra={"context": {"path": connection.url.path, "caller": caller, "client": _client(connection)}},
        )
        raise ForbiddenError(
            "This API key may not call the admin endpoints.",
            hint="Use a key listed in admin_keys (or set user_keys_are_admin=true to let every key).",
        )


async def authenticate_metrics(connection: Connection, _: BaseRouteHandler) -> None:
    """Guard of ``/metrics``: open, unless ``metrics_need_key`` is set and keys are configured."""
    if service_of(connection).options.metrics_need_key:
        _caller(connection)


def log_admin_action(connection: Connection, action: str, **context: Any) -> None:
    """Record an admin action (who, what) on ``lf.security``; never a key or a prompt."""
    caller = connection.scope.get("state", {}).get("lf_caller")
    security_log.info("admin action", extra={"context": {"action": action, "caller": caller, **context}})
