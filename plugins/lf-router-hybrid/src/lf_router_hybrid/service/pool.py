"""The replicas of every expert, their health, and how one is chosen for a request.

A :class:`Replica` is one server URL (shared by the experts it serves, e.g. LoRA adapters
on one server): its circuit breaker, requests in flight, latency (EWMA), what the last
health check found and the model names it serves. :class:`ReplicaPool` keeps them in step
with the expert registry and picks one per request with the configured
:class:`Balancer`: ``round_robin``, ``least_connections``, ``latency`` (power of two
choices on latency x load) or ``weighted`` (smooth weighted round robin on the
registry's replica weights). Used from the router's event loop only.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from lf_router_hybrid.service.breaker import CircuitBreaker

if TYPE_CHECKING:
    from lf.experts import ExpertConfig
    from lf_router_hybrid.service.options import Balancing, BreakerOptions


def normalize_url(url: str) -> str:
    """A replica's base URL without a trailing slash or ``/v1`` (the router adds the paths)."""
    url = url.rstrip("/")
    return url[:-3] if url.endswith("/v1") else url


@dataclass(eq=False)
class Replica:
    """One server that answers for one or more experts."""

    url: str
    breaker: CircuitBreaker
    in_flight: int = 0
    #: Exponentially weighted upstream latency in seconds (None before the first answer).
    latency: float | None = None
    #: What the last health check found: None (not checked yet), True, or False.
    healthy: bool | None = None
    #: False while the replica says it is loading (its /ready answered 503).
    ready: bool = True
    #: "healthy" / "degraded" / "unhealthy" from its /health, when it says so.
    status: str | None = None
    #: Model ids from its /v1/models (None: not asked yet).
    models: list[str] | None = None
    last_error: str | None = None
    checked_at: float | None = None
    requests: int = 0
    failures: int = 0
    #: Cancel scopes of the attempts waiting for this replica's answer (see :meth:`abandon_attempts`).
    waiting: set[Any] = field(default_factory=set)
    #: ``time.monotonic()`` when an attempt last got its answer from this replica (None: never).
    answered_at: float | None = None
    _urls: dict[str, httpx.URL] = field(default_factory=dict)

    def hung(self, silence_s: float) -> bool:
        """Whether it looks hung: its breaker opened and it has answered nothing for ``silence_s``.

        A replica that is only slow under load keeps answering some requests; one that hung
        (a stopped process, a dead engine behind a live socket) answers none.
        """
        if self.breaker.state != "open" or not self.waiting:
            return False
        return self.answered_at is None or time.monotonic() - self.answered_at > silence_s

    def abandon_attempts(self) -> int:
        """Cancel every attempt still waiting for this replica's first byte (it hung).

        Each such attempt fails as a transport error and is retried on another replica, so
        requests sent to a replica that hung do not wait out their whole deadline.
        """
        for scope in list(self.waiting):
            scope.cancel()
        return len(self.waiting)

    def endpoint(self, path: str) -> httpx.URL:
        """``url + path``, parsed once."""
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = httpx.URL(self.url + path)
        return url

    def available(self) -> bool:
        """Whether requests may go here: breaker allows it and the last check did not fail."""
        return self.healthy is not False and self.ready and self.breaker.available()

    def state(self) -> str:
        """``up``, ``loading``, ``down`` (health check failed), ``open``/``half_open`` (breaker) or ``unknown``."""
        breaker = self.breaker.state
        if breaker != "closed":
            return breaker
        if self.healthy is False:
            return "down"
        if not self.ready:
            return "loading"
        return "unknown" if self.healthy is None else "up"

    def model_for(self, expert: str) -> str | None:
        """The model name to send: the expert's own name if served here, else the base model."""
        if not self.models:
            return None
        return expert if expert in self.models else self.models[0]

    def observe_latency(self, seconds: float, alpha: float = 0.3) -> None:
        """Fold one upstream latency into the EWMA."""
        self.latency = seconds if self.latency is None else (1 - alpha) * self.latency + alpha * seconds


@dataclass
class _Entry:
    """An expert's replicas with their weights, and its balancing state."""

    replicas: list[Replica]
    weights: dict[str, float]
    turn: int = 0
    current: dict[str, float] = field(default_factory=dict)


class Balancer:
    """Chooses one of an expert's available replicas."""

    def __init__(self, strategy: Balancing = "round_robin", rng: random.Random | None = None) -> None:
        self.strategy = strategy
        self.rng = rng or random.Random()

    def pick(self, entry: _Entry, candidates: list[Replica]) -> Replica:
        """One of ``candidates`` (non-empty, a subset of ``entry.replicas``)."""
        if len(candidates) == 1:
            entry.turn += 1
            return candidates[0]
        strategy = self.strategy
        if strategy == "least_connections":
            start = entry.turn % len(candidates)
            entry.turn += 1
            rotated = candidates[start:] + candidates[:start]
            return min(rotated, key=lambda r: r.in_flight)
        if strategy == "latency":
            a, b = self.rng.sample(candidates, 2)
            return a if _load_score(a) <= _load_score(b) else b
        if strategy == "weighted":
            return _smooth_weighted(entry, candidates)
        choice = candidates[entry.turn % len(candidates)]
        entry.turn += 1
        return choice


def _load_score(replica: Replica) -> float:
    """Expected wait: latency times (requests in flight + 1); unknown latency counts as 0 (try it)."""
    return (replica.latency or 0.0) * (replica.in_flight + 1)


def _smooth_weighted(entry: _Entry, candidates: list[Replica]) -> Replica:
    """Nginx's smooth weighted round robin: spreads a 3:1 split as a a b a, not a a a b."""
    total = 0.0
    best: Replica | None = None
    for replica in candidates:
        weight = entry.weights.get(replica.url, 1.0)
        total += weight
        entry.current[replica.url] = entry.current.get(replica.url, 0.0) + weight
        if best is None or entry.current[replica.url] > entry.current[best.url]:
            best = replica
    assert best is not None
    entry.current[best.url] -= total
    return best


class ReplicaPool:
    """Every expert's replicas, kept in step with the registry."""

    def __init__(self, breaker: BreakerOptions, balancing: Balancing = "round_robin") -> None:
        self.breaker_options = breaker
        self.balancer = Balancer(balancing)
        self._replicas: dict[str, Replica] = {}
        self._experts: dict[str, _Entry] = {}

    # --- keeping up with the registry -------------------------------------------------------

    def sync(self, experts: Iterable[ExpertConfig]) -> None:
        """Match the registry's experts and endpoints; replicas that stay keep their state."""
        entries: dict[str, _Entry] = {}
        used: dict[str, Replica] = {}
        for expert in experts:
            replicas = []
            weights = {}
            for endpoint in expert.endpoints:
                url = normalize_url(endpoint.url)
                replica = used.get(url) or self._replicas.get(url) or self._new(url)
                used[url] = replica
                replicas.append(replica)
                weights[url] = endpoint.weight
            old = self._experts.get(expert.name)
            entry = _Entry(replicas, weights)
            if old is not None:
                entry.turn, entry.current = old.turn, {u: c for u, c in old.current.items() if u in weights}
            entries[expert.name] = entry
        self._replicas = used
        self._experts = entries

    def _new(self, url: str) -> Replica:
        options = self.breaker_options
        return Replica(url=url, breaker=CircuitBreaker(options.failure_threshold, options.open_timeout_s))

    # --- reading -------------------------------------------------------------------------------

    def replicas(self, expert: str | None = None) -> list[Replica]:
        """The replicas of ``expert`` (every replica when None)."""
        if expert is None:
            return list(self._replicas.values())
        entry = self._experts.get(expert)
        return list(entry.replicas) if entry else []

    def experts_of(self, replica: Replica) -> list[str]:
        """The experts ``replica`` serves."""
        return [name for name, entry in self._experts.items() if replica in entry.replicas]

    def has_available(self, expert: str) -> bool:
        """Whether ``expert`` has a replica that may take a request now."""
        entry = self._experts.get(expert)
        return entry is not None and any(r.available() for r in entry.replicas)

    def unavailable(self) -> list[str]:
        """Experts without a replica that may take a request now (for ``classify(..., exclude)``)."""
        return [name for name, entry in self._experts.items() if not any(r.available() for r in entry.replicas)]

    # --- choosing ------------------------------------------------------------------------------

    def choose(self, expert: str, tried: Iterable[Replica] = ()) -> Replica | None:
        """A replica for one request (taking a half-open trial if needed), or None.

        Replicas already ``tried`` by this request are avoided while others are available.
        """
        entry = self._experts.get(expert)
        if entry is None:
            return None
        avoid = set(tried)
        candidates = [r for r in entry.replicas if r.available() and r not in avoid]
        if not candidates:
            candidates = [r for r in entry.replicas if r.available()]
        while candidates:
            replica = self.balancer.pick(entry, candidates)
            if replica.breaker.acquire():
                return replica
            candidates.remove(replica)
        return None

    def peek(self, expert: str) -> Replica | None:
        """The replica a request would likely go to, without changing any state (``/route``)."""
        entry = self._experts.get(expert)
        if entry is None:
            return None
        candidates = [r for r in entry.replicas if r.available()]
        if not candidates:
            return None
        return candidates[entry.turn % len(candidates)]
