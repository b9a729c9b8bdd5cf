"""Forwarding one request to an expert's replicas: one pooled httpx client, retries, breakers.

:meth:`Forwarder.send` tries the replicas of one expert until one answers:

* a transport failure - connection refused or reset, the connection lost before a
  response, a connect/read/write timeout - is retried on another replica (or the same
  one) after an exponential, jittered backoff, up to ``retries.attempts`` tries and within
  the request's deadline. This happens only before the client received a byte: for a
  stream, the first chunk is read from the replica before the router answers, so a replica
  that dies before its first token is retried too; after that, a broken stream ends with an
  error event.
* an attempt still waiting for its answer when the replica fails a health check (it
  hung: its breaker opened on failed health checks and it answers nothing), or past
  ``upstream.first_byte_timeout_s``, is abandoned and retried the same way;
* an HTTP answer - 200, 400, 500 - is never retried: it goes back to the client as it came.
  500/502/504 count as failures of the replica's circuit breaker.

Every attempt updates the replica's breaker, requests in flight and latency, and the
router's metrics. When every try failed, :class:`ExhaustedError` says why; the router then
asks the fallback expert.
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import httpx
import msgspec

from lf.errors import RequestTimeoutError
from lf.logs import get_logger
from lf_router_hybrid.service.transport import PooledHTTP1Transport, pooled_client

if TYPE_CHECKING:
    from lf.experts import ExpertManager
    from lf_router_hybrid.service.egress import EndpointPolicy
    from lf_router_hybrid.service.metrics import RouterMetrics
    from lf_router_hybrid.service.options import RouterOptions
    from lf_router_hybrid.service.pool import Replica, ReplicaPool

log = get_logger("lf.router")

#: Upstream statuses that count as a failure of the replica (not of the request).
FAILURE_STATUSES = frozenset({500, 502, 504})


class ReplicaDownError(httpx.TransportError):
    """The attempt was abandoned: the replica hung while the answer was awaited."""


class ExhaustedError(Exception):
    """No replica of the expert answered (every try failed, or none was available)."""

    def __init__(self, expert: str, reason: str, attempts: int) -> None:
        super().__init__(f"expert '{expert}': {reason}")
        self.expert = expert
        self.reason = reason
        self.attempts = attempts


@dataclass
class Answer:
    """What a replica answered: a whole body, or an open stream with its first chunk."""

    status: int
    content_type: str
    replica: Replica
    expert: str
    upstream_s: float
    body: bytes = b""
    response: httpx.Response | None = None
    first: bytes = b""
    chunks: AsyncIterator[bytes] | None = None
    retry_after: str | None = None


def failure_type(exc: BaseException) -> str:
    """``connect``, ``timeout``, ``down`` (abandoned: the replica hung) or ``disconnect``."""
    if isinstance(exc, ReplicaDownError):
        return "down"
    if isinstance(exc, httpx.ConnectError):
        return "connect"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    return "disconnect"


class Forwarder:
    """Sends requests to replicas through one pooled :class:`httpx.AsyncClient`."""

    def __init__(
        self,
        options: RouterOptions,
        pool: ReplicaPool,
        metrics: RouterMetrics,
        manager: ExpertManager,
        endpoints: EndpointPolicy,
    ) -> None:
        self.options = options
        self.pool = pool
        self.metrics = metrics
        self.manager = manager
        self.endpoints = endpoints
        up = options.upstream
        limits = httpx.Limits(
            max_connections=up.max_connections,
            max_keepalive_connections=up.max_keepalive_connections,
            keepalive_expiry=up.keepalive_expiry_s,
        )
        self.transport = PooledHTTP1Transport(limits)
        timeout = httpx.Timeout(up.connect_timeout_s, read=None, write=None, pool=None)
        self.client = pooled_client(limits, timeout, self.transport)
        # identity: streamed bodies are relayed byte for byte, so they must not come compressed
        self.headers = {"content-type": "application/json", "accept-encoding": "identity"}
        self._keyed = {**self.headers, "authorization": f"Bearer {up.api_key}"} if up.api_key else self.headers
        self._encode = msgspec.json.Encoder().encode
        self._rng = random.Random()

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.client.aclose()

    def headers_for(self, url: str) -> dict[str, str]:
        """The upstream headers for ``url``: with the router's key only where it may be sent."""
        return self._keyed if self._keyed is not self.headers and self.endpoints.sends_key(url) else self.headers

    def _timeout(self, deadline: float) -> httpx.Timeout:
        left = deadline - time.perf_counter()
        if left <= 0:
            raise RequestTimeoutError(f"The request did not finish within {self.options.limits.request_timeout_s:g}s.")
        up = self.options.upstream
        read = min(left, up.first_byte_timeout_s) if up.first_byte_timeout_s else left
        return httpx.Timeout(min(up.connect_timeout_s, left), read=read, write=left, pool=left)

    async def models_of(self, replica: Replica, deadline: float | None = None) -> list[str]:
        """Ask a replica which models it serves (``GET /v1/models``); remembered on the replica.

        Transport errors propagate; a replica that does not list its models gets ``[]``
        (requests then carry the expert's name as ``model``).
        """
        timeout = self._timeout(deadline) if deadline else httpx.Timeout(self.options.health_checks.timeout_s)
        response = await self.client.get(
            f"{replica.url}/v1/models", headers=self.headers_for(replica.url), timeout=timeout
        )
        try:
            response.raise_for_status()
            data = response.json().get("data", [])
            replica.models = [str(m["id"]) for m in data if isinstance(m, dict) and "id" in m]
        except (httpx.HTTPStatusError, ValueError, AttributeError):
            replica.models = []
        return replica.models

    async def send(
        self,
        expert: str,
        path: str,
        payload: dict[str, Any],
        *,
        stream: bool,
        deadline: float,
        request_id: str,
    ) -> Answer:
        """Forward ``payload`` to a replica of ``expert``; raises :class:`ExhaustedError` when none answered."""
        retries = self.options.retries
        tried: list[Replica] = []
        reason = "it has no available replica"
        for attempt in range(retries.attempts):
            replica = self.pool.choose(expert, tried)
            if replica is None:
                break
            if attempt:
                self.metrics.retries.labels(expert).inc()
                await self._backoff(attempt, deadline)
            tried.append(replica)
            try:
                return await self._attempt(replica, expert, path, payload, stream, deadline, request_id)
            except httpx.TransportError as exc:
                if isinstance(exc, httpx.PoolTimeout):  # the router's own pool was full until the deadline
                    raise RequestTimeoutError("No upstream connection became free before the deadline.") from None
                if isinstance(exc, httpx.TimeoutException) and time.perf_counter() >= deadline:
                    raise RequestTimeoutError(
                        f"The request did not finish within {self.options.limits.request_timeout_s:g}s."
                    ) from None
                kind = failure_type(exc)
                reason = f"{replica.url} failed ({kind}: {type(exc).__name__})"
                log.warning(
                    "upstream attempt failed",
                    extra={
                        "context": {"request_id": request_id, "expert": expert, "replica": replica.url, "error": kind}
                    },
                )
        raise ExhaustedError(expert, reason, len(tried))

    async def _backoff(self, attempt: int, deadline: float) -> None:
        retries = self.options.retries
        delay = min(retries.max_backoff_s, retries.backoff_s * 2 ** (attempt - 1)) * self._rng.uniform(0.5, 1.0)
        delay = min(delay, max(0.0, deadline - time.perf_counter()))
        if delay > 0:
            await anyio.sleep(delay)

    async def _attempt(
        self,
        replica: Replica,
        expert: str,
        path: str,
        payload: dict[str, Any],
        stream: bool,
        deadline: float,
        request_id: str,
    ) -> Answer:
        """One try on one replica; transport errors propagate after the bookkeeping."""
        replica.in_flight += 1
        replica.requests += 1
        started = time.perf_counter()
        exchange: _Exchange | None = None
        handed_over = False
        try:
            if replica.models is None:
                await self.models_of(replica, deadline)
            model = replica.model_for(expert) or expert
            request = self.client.build_request(
                "POST",
                replica.endpoint(path),
                content=self._encode({**payload, "model": model}),
                headers={**self.headers_for(replica.url), "x-request-id": request_id},
                timeout=self._timeout(deadline),
            )
            exchange = await self._exchange(replica, request, stream)
            answer = exchange.answer(replica, expert, time.perf_counter() - started)
            self._succeeded(replica, expert, answer.upstream_s, answer.status)
            handed_over = answer.chunks is not None  # the relay owns the response and the in-flight count now
            return answer
        except httpx.TransportError as exc:
            self._failed(replica, expert, time.perf_counter() - started, failure_type(exc))
            raise
        except BaseException:
            replica.breaker.release()
            raise
        finally:
            if not handed_over:
                replica.in_flight -= 1
                if exchange is not None and exchange.response is not None:
                    await exchange.response.aclose()

    async def _exchange(self, replica: Replica, request: httpx.Request, stream: bool) -> _Exchange:
        """Send and read up to what the client needs first; abandoned if the replica hangs meanwhile."""
        exchange = _Exchange(stream=stream)
        try:
            with anyio.CancelScope() as waiting:
                replica.waiting.add(waiting)
                try:
                    await exchange.receive(self.client, request)
                finally:
                    replica.waiting.discard(waiting)
            if waiting.cancelled_caught:
                raise ReplicaDownError(f"{replica.url} hung while the answer was awaited")
        except BaseException:
            if exchange.response is not None:
                await exchange.response.aclose()
            raise
        return exchange

    def _succeeded(self, replica: Replica, expert: str, elapsed: float, status: int) -> None:
        replica.answered_at = time.monotonic()
        self.metrics.upstream_of(expert).observe(elapsed)
        replica.observe_latency(elapsed)
        if status in FAILURE_STATUSES:
            replica.failures += 1
            replica.breaker.failure()
            self.metrics.failures.labels(expert, replica.url, f"status_{status}").inc()
            self.manager.record_request(expert, elapsed, ok=False, error=f"HTTP {status} from {replica.url}")
        else:
            replica.breaker.success()
            self.manager.record_request(expert, elapsed, ok=status < 500)

    def _failed(self, replica: Replica, expert: str, elapsed: float, kind: str) -> None:
        replica.failures += 1
        replica.last_error = kind
        replica.breaker.failure()
        self.metrics.failures.labels(expert, replica.url, kind).inc()
        self.manager.record_request(expert, elapsed, ok=False, error=f"{kind} error from {replica.url}")

    def stream_failed(self, answer: Answer, exc: BaseException) -> None:
        """A stream broke after its first chunk reached the client (no retry possible)."""
        answer.replica.failures += 1
        answer.replica.last_error = "stream"
        answer.replica.breaker.failure()
        self.metrics.failures.labels(answer.expert, answer.replica.url, "stream").inc()
        log.warning(
            "upstream stream broke",
            extra={"context": {"expert": answer.expert, "replica": answer.replica.url, "error": type(exc).__name__}},
        )


async def _first_chunk(chunks: AsyncIterator[bytes]) -> bytes:
    """The first non-empty chunk of a streamed answer (b"" if it ends at once)."""
    async for chunk in chunks:
        if chunk:
            return chunk
    return b""


@dataclass
class _Exchange:
    """One request's response as far as it has been read: headers, then the first chunk or the whole body."""

    stream: bool
    response: httpx.Response | None = None
    chunks: AsyncIterator[bytes] | None = None
    first: bytes = b""
    body: bytes = b""

    async def receive(self, client: httpx.AsyncClient, request: httpx.Request) -> None:
        """Send ``request``; read the first chunk of a streamed 200, else the whole body."""
        self.response = await client.send(request, stream=True)
        if self.stream and self.response.status_code == 200:
            self.chunks = self.response.aiter_raw()
            self.first = await _first_chunk(self.chunks)
        else:
            self.body = await self.response.aread()

    def answer(self, replica: Replica, expert: str, elapsed: float) -> Answer:
        """The :class:`Answer` for the router: an open stream, or a whole body."""
        response = self.response
        assert response is not None
        content_type = response.headers.get("content-type", "application/json")
        if self.chunks is not None:
            return Answer(
                response.status_code,
                content_type,
                replica,
                expert,
                elapsed,
                response=response,
                first=self.first,
                chunks=self.chunks,
            )
        return Answer(
            response.status_code,
            content_type,
            replica,
            expert,
            elapsed,
            body=self.body,
            retry_after=response.headers.get("retry-after"),
        )
