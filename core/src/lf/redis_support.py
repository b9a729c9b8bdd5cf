"""Redis connections for the expert registry and the rate limits: URL checks, short timeouts, clear errors.

Used by :mod:`lf.experts.redis_store` and :mod:`lf.serve.redis_limits`; a URL's password
is never shown (:func:`redact`).

URLs are redis-py's: ``redis://[[user]:password@]host[:port][/db]``, ``rediss://`` (TLS) and
``unix:///path/redis.sock?db=0``. lf adds one query parameter of its own, ``prefix``: the
start of every key lf writes (``redis://host:6379/0?prefix=team-a`` keeps two registries
apart in one database). The ``redis`` package is imported only when a Redis URL is used.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from lf.errors import ConfigError, DependencyMissingError, RunError

SCHEMES = ("redis://", "rediss://", "unix://")
#: Seconds to open a connection, and to wait for one answer: a Redis that went away must not stall a request.
CONNECT_TIMEOUT_S = 2.0
COMMAND_TIMEOUT_S = 5.0
_PREFIX_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")


def is_redis_url(value: str | None) -> bool:
    """Whether ``value`` names a Redis server (``redis://``, ``rediss://``, ``unix://``)."""
    return bool(value) and str(value).lower().startswith(SCHEMES)


def redact(url: str) -> str:
    """``url`` with its password replaced by ``***`` (what logs, errors and ``/health`` show)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def split_prefix(url: str, default: str) -> tuple[str, str]:
    """``(url without lf's ?prefix=, the key prefix)``; a malformed prefix is a :class:`ConfigError`."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = default
    kept = []
    for key, value in query:
        if key == "prefix":
            prefix = value
        else:
            kept.append((key, value))
    if not _PREFIX_RE.match(prefix):
        raise ConfigError(
            f"{redact(url)}: prefix must be 1-100 letters, digits or . _ : -, found {prefix!r}.",
            hint="e.g. redis://host:6379/0?prefix=team-a",
        )
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(kept), parts.fragment)), prefix


def _import_redis() -> Any:
    try:
        import redis
    except ImportError:
        raise DependencyMissingError.for_package(
            "redis", "A Redis registry or rate-limit store", "'lf-core[redis]'"
        ) from None
    return redis


def client_options(*, asyncio: bool = False) -> dict[str, Any]:
    """Timeouts and one quick retry (a pooled connection that died with a restarted Redis), no backoff."""
    redis = _import_redis()
    from redis.backoff import NoBackoff

    if asyncio:
        from redis.asyncio.retry import Retry
    else:
        from redis.retry import Retry  # type: ignore[assignment]

    return {
        "socket_connect_timeout": CONNECT_TIMEOUT_S,
        "socket_timeout": COMMAND_TIMEOUT_S,
        "retry": Retry(NoBackoff(), 1),
        "retry_on_error": [redis.ConnectionError],
        "health_check_interval": 30,
    }


def connect(url: str, *, asyncio: bool = False) -> Any:
    """A redis-py client (``redis.asyncio`` with ``asyncio``) for ``url``; a bad URL is a :class:`ConfigError`.

    Nothing is sent yet: an unreachable server shows at the first command (:func:`unreachable`).
    """
    redis = _import_redis()
    module = redis.asyncio if asyncio else redis
    try:
        return module.Redis.from_url(url, **client_options(asyncio=asyncio))
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"Not a usable Redis URL: {redact(url)} ({exc}).",
            hint="Use redis://HOST:PORT/DB, rediss://... for TLS, or unix:///PATH?db=0.",
        ) from None


def is_redis_error(exc: BaseException) -> bool:
    """Whether ``exc`` comes from redis-py (connection refused, timeout, a server error...)."""
    try:
        import redis
    except ImportError:  # pragma: no cover - no client, no such error
        return False
    return isinstance(exc, (redis.RedisError, OSError))


def unreachable(location: str, exc: BaseException, what: str) -> RunError:
    """The error for a Redis that cannot be used right now."""
    detail = str(exc).strip() or type(exc).__name__
    return RunError(
        f"Redis at {location} cannot be used for {what}: {detail}",
        hint="Check that Redis runs and that this machine reaches it (redis-cli -u URL ping).",
        details={"error": f"{type(exc).__name__}: {detail}"},
    )
