"""Load shedding (a bounded queue in front of the work) and per-key rate limits (in memory or in Redis).

:class:`Admission` is the one admission API of every ``lf`` service: ``await
admission.acquire(deadline)`` before the work, ``admission.release()`` after it (in a
``finally``). Nobody touches its counters from outside.
"""

from __future__ import annotations

import abc
import asyncio
import collections
import math
import time

from lf.errors import ModelOverloadedError, RequestTimeoutError
from lf.serve.options import ServiceLimits


def wake_oldest(waiters: collections.deque[asyncio.Future[None]]) -> bool:
    """Hand something free to the oldest waiter still waiting; False when nobody waits."""
    while waiters:
        waiter = waiters.popleft()
        if not waiter.done():
            waiter.set_result(None)
            return True
    return False


def with_retry_after(exc: Exception, seconds: float) -> Exception:
    """Attach a Retry-After (seconds) that the error response will carry."""
    exc.retry_after = seconds  # type: ignore[attr-defined]
    return exc


class Admission:
    """At most ``max_active`` requests at work and ``max_queued`` waiting for a slot, first come first served.

    Past both, :meth:`acquire` refuses at once with 503 MODEL_OVERLOADED and a Retry-After
    instead of letting a queue grow without bound; a request that waits past its deadline
    gets 504 TIMEOUT. A freed slot goes straight to the oldest waiter.
    """

    def __init__(self, max_active: int, max_queued: int, *, retry_after_s: float = 1.0, what: str = "server") -> None:
        self.max_active = max_active
        self.max_queued = max_queued
        self.retry_after_s = retry_after_s
        self.what = what
        self._active = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self.shed_at: float | None = None

    @property
    def active(self) -> int:
        """Requests holding a slot."""
        return self._active

    @property
    def queued(self) -> int:
        """Requests waiting for a slot."""
        return len(self._waiters)

    async def acquire(self, deadline: float) -> None:
        """Take a slot, waiting in line until ``deadline`` (a ``time.perf_counter()`` value)."""
        if not self._waiters and self._active < self.max_active:
            self._active += 1
            return
        if self._active + len(self._waiters) >= self.max_active + self.max_queued:
            self.shed_at = time.monotonic()
            raise with_retry_after(
                ModelOverloadedError(
                    f"The {self.what} is at capacity; retry shortly.",
                    hint="Retry after the Retry-After delay, or raise limits.max_queued_requests.",
                ),
                self.retry_after_s,
            )
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout=max(0.0, deadline - time.perf_counter()))
        except (asyncio.TimeoutError, asyncio.CancelledError) as exc:
            self._give_up(waiter)
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise RequestTimeoutError("The request waited too long for a free slot.") from None

    def _give_up(self, waiter: asyncio.Future[None]) -> None:
        """A waiter leaves the line; a slot handed to it meanwhile is passed on."""
        if waiter.done() and not waiter.cancelled():
            self.release()
            return
        waiter.cancel()
        try:
            self._waiters.remove(waiter)
        except ValueError:
            pass

    def release(self) -> None:
        """Free a slot: the oldest waiter takes it over, or it becomes free."""
        if not wake_oldest(self._waiters):
            self._active -= 1

    def recently_shed(self, window_s: float = 60.0) -> bool:
        """Whether a request was refused for capacity in the last ``window_s`` seconds."""
        return self.shed_at is not None and time.monotonic() - self.shed_at < window_s


class RateLimiter(abc.ABC):
    """Per-caller request budgets: ``per_minute`` with bursts of ``burst`` (a token bucket per caller).

    :meth:`take` is what a request calls; :class:`MemoryRateLimiter` keeps the buckets in
    this process, :class:`lf.serve.redis_limits.RedisRateLimiter` in Redis, so that N replicas
    together allow N/min and not N times that. :func:`rate_limiter` builds the one the
    options ask for.
    """

    #: Why the limits do not hold as configured right now (e.g. Redis unreachable); None when they do.
    problem: str | None = None

    @abc.abstractmethod
    async def take(self, who: str) -> float | None:
        """Take one request from ``who``'s budget: None when allowed, else the seconds to wait."""

    async def close(self) -> None:  # noqa: B027 - optional
        """Release connections (the service's shutdown calls it)."""


class MemoryRateLimiter(RateLimiter):
    """Token buckets keyed by caller, in this process (``per_minute`` with a ``burst``)."""

    MAX_BUCKETS = 10_000

    def __init__(self, per_minute: int, burst: int | None = None) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(burst or per_minute)
        self._buckets: dict[str, tuple[float, float]] = {}

    async def take(self, who: str) -> float | None:
        """See :meth:`check`."""
        return self.check(who)

    def check(self, who: str) -> float | None:
        """Take one token for ``who``; returns None when allowed, else seconds to wait."""
        now = time.monotonic()
        tokens, stamp = self._buckets.get(who, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - stamp) * self.rate)
        if tokens >= 1.0:
            self._remember(who, (tokens - 1.0, now))
            return None
        self._remember(who, (tokens, now))
        return (1.0 - tokens) / self.rate if self.rate > 0 else 60.0

    def _remember(self, who: str, state: tuple[float, float]) -> None:
        if who not in self._buckets and len(self._buckets) >= self.MAX_BUCKETS:
            self._buckets.pop(next(iter(self._buckets)))
        self._buckets[who] = state


def rate_limiter(limits: ServiceLimits, scope: str) -> RateLimiter | None:
    """The limiter ``limits`` ask for (None without ``rate_limit_per_minute``); ``scope`` keeps services apart."""
    if not limits.rate_limit_per_minute:
        return None
    if limits.rate_limit_store == "memory":
        return MemoryRateLimiter(limits.rate_limit_per_minute, limits.rate_limit_burst)
    from lf.serve.redis_limits import RedisRateLimiter

    return RedisRateLimiter(limits.rate_limit_store, limits.rate_limit_per_minute, limits.rate_limit_burst, scope=scope)


def retry_after_header(seconds: float) -> str:
    """A Retry-After value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
