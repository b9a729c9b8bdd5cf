"""Rate limits shared by every replica: token buckets in Redis (``limits.rate_limit_store: redis://...``).

One Lua script per request takes a token from the caller's bucket atomically, on the
server's clock (replicas' clocks never disagree about refills). A bucket is a hash
``PREFIX:SCOPE:CALLER`` (``PREFIX`` is ``lf:rate``, or the URL's ``?prefix=``; ``SCOPE`` the
service, router or server; ``CALLER`` a digest of the API key, or the client address)
that expires once it would be full again.

When Redis cannot be reached the service keeps answering: each replica falls back to its
own in-memory buckets (the limit holds per replica, as without Redis), says so in
:attr:`RedisRateLimiter.problem` (``/health`` reports it, degraded) and tries Redis again
after a second; the first request that gets through clears the problem.
"""

from __future__ import annotations

import time
from typing import Any

from lf.logs import get_logger
from lf.redis_support import connect, is_redis_error, redact, split_prefix
from lf.serve.limits import MemoryRateLimiter, RateLimiter

log = get_logger("lf.serve.limits")
DEFAULT_PREFIX = "lf:rate"
#: Seconds between two tries of a Redis that failed (the replica's own buckets answer meanwhile).
RETRY_S = 1.0

#: KEYS[1] the bucket; ARGV: tokens per second, capacity. Returns the seconds to wait ("0": allowed).
TAKE_TOKEN = """
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 1000)
return tostring(wait)
"""


class RedisRateLimiter(RateLimiter):
    """Token buckets in Redis (see the module docstring), with this process's buckets as the fallback."""

    def __init__(self, url: str, per_minute: int, burst: int | None = None, *, scope: str = "server") -> None:
        self.url, prefix = split_prefix(url, DEFAULT_PREFIX)
        self.location = redact(self.url)
        self.rate = per_minute / 60.0
        self.capacity = float(burst or per_minute)
        self.prefix = f"{prefix}:{scope}"
        self.local = MemoryRateLimiter(per_minute, burst)
        self.problem: str | None = None
        self._client: Any = connect(self.url, asyncio=True)  # a bad URL fails here, at start; nothing is sent yet
        self._script: Any = self._client.register_script(TAKE_TOKEN)
        self._retry_at = 0.0

    async def take(self, who: str) -> float | None:
        """One token from ``who``'s shared bucket (from the local one while Redis is away)."""
        if time.monotonic() < self._retry_at:
            return self.local.check(who)
        try:
            answer = await self._script(keys=[f"{self.prefix}:{who}"], args=[repr(self.rate), repr(self.capacity)])
        except Exception as exc:
            if not is_redis_error(exc):
                raise
            self._fail(exc)
            return self.local.check(who)
        if self.problem is not None:
            log.info("rate limits shared again", extra={"context": {"store": self.location}})
            self.problem = None
        wait = float(answer)
        return wait if wait > 0 else None

    def _fail(self, exc: BaseException) -> None:
        self._retry_at = time.monotonic() + RETRY_S
        problem = f"rate limits hold per replica only: Redis at {self.location} cannot be used ({exc})"
        if problem != self.problem:
            log.warning("rate-limit store unreachable", extra={"context": {"store": self.location, "error": str(exc)}})
        self.problem = problem

    async def close(self) -> None:
        """Close the connection pool."""
        try:
            await self._client.aclose()
        except Exception:  # the server may be gone already
            pass
