"""Load shedding (a bounded queue in front of the backend) and per-key rate limits."""

from __future__ import annotations

import asyncio
import math
import time


class Admission:
    """At most ``max_active`` requests in the backend and ``max_queued`` waiting for a slot.

    Past both, :meth:`try_admit` refuses at once (the caller answers 503 with Retry-After)
    instead of letting a queue grow without bound.
    """

    def __init__(self, max_active: int, max_queued: int) -> None:
        self.max_active = max_active
        self.max_queued = max_queued
        self.active = 0
        self.queued = 0
        self._free: asyncio.Condition | None = None
        self.shed_at: float | None = None

    def _cond(self) -> asyncio.Condition:
        if self._free is None:
            self._free = asyncio.Condition()
        return self._free

    def try_admit(self) -> bool:
        """Take a place (active or queued), or False when full."""
        if self.active + self.queued >= self.max_active + self.max_queued:
            self.shed_at = time.monotonic()
            return False
        self.queued += 1
        return True

    async def wait_for_slot(self) -> None:
        """After :meth:`try_admit`: wait until the request may enter the backend."""
        cond = self._cond()
        try:
            async with cond:
                await cond.wait_for(lambda: self.active < self.max_active)
                self.active += 1
        finally:
            self.queued -= 1

    def leave_queue(self) -> None:
        """Undo :meth:`try_admit` for a request that never waited."""
        self.queued -= 1

    async def release(self) -> None:
        """Free an active slot."""
        self.active -= 1
        cond = self._cond()
        async with cond:
            cond.notify_all()

    def recently_shed(self, window_s: float = 60.0) -> bool:
        """Whether a request was refused for capacity in the last ``window_s`` seconds."""
        return self.shed_at is not None and time.monotonic() - self.shed_at < window_s


class RateLimiter:
    """Token buckets keyed by API key (or client address): ``per_minute`` with a ``burst``."""

    MAX_BUCKETS = 10_000

    def __init__(self, per_minute: int, burst: int | None = None) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(burst or per_minute)
        self._buckets: dict[str, tuple[float, float]] = {}

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


def retry_after_header(seconds: float) -> str:
    """A Retry-After value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
