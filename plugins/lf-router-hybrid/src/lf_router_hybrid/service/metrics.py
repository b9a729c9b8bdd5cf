"""The router's Prometheus metrics (one registry per app).

* ``router_requests_total{model,status}`` - requests by expert (or ``auto``) and HTTP status
* ``routing_decisions_total{expert,decision}`` - the requirements' metric: where requests
  went and why (``classified``, ``named``, ``fallback``)
* ``routing_model_selection_seconds`` - time to choose the expert (classification)
* ``router_proxy_overhead_seconds`` - time spent in the router, the upstream's time excluded
* ``router_upstream_latency_seconds{expert}`` - the replica's time to answer (whole body;
  response headers for streams)
* ``router_upstream_failures_total{expert,replica,type}`` - ``connect``, ``timeout``,
  ``disconnect`` (connection lost), ``status_5xx``, ``stream`` (broken mid-stream)
* ``router_retries_total{expert}``, ``router_fallbacks_total{from_expert,to_expert}``
* ``router_circuit_state{replica}`` (0 closed, 1 half-open, 2 open),
  ``router_replica_up{replica}`` (last health check), ``router_replica_in_flight{replica}``
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest

from lf_router_hybrid.service.breaker import STATE_VALUES

if TYPE_CHECKING:
    from lf_router_hybrid.service.pool import ReplicaPool

disable_created_metrics()

SELECTION_BUCKETS = (1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25)
OVERHEAD_BUCKETS = (5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1)
UPSTREAM_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320)


class RouterMetrics:
    """Counters, histograms and gauges of one router; ``render(pool)`` gives the exposition text."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        #: Named ``requests`` so the shared access log (lf.serve) counts refused requests here too.
        self.requests = Counter(
            "router_requests", "Requests by model asked for and HTTP status", ["model", "status"], registry=r
        )
        self.decisions = Counter("routing_decisions", "Routing decisions by expert", ["expert", "decision"], registry=r)
        self.selection = Histogram(
            "routing_model_selection_seconds",
            "Time to choose the expert (classification; ~0 when the model is named)",
            buckets=SELECTION_BUCKETS,
            registry=r,
        )
        self.overhead = Histogram(
            "router_proxy_overhead_seconds",
            "Time spent in the router for one request, the upstream's time excluded",
            buckets=OVERHEAD_BUCKETS,
            registry=r,
        )
        self.upstream = Histogram(
            "router_upstream_latency_seconds",
            "Time a replica took to answer (streams: to the response headers)",
            ["expert"],
            buckets=UPSTREAM_BUCKETS,
            registry=r,
        )
        self.failures = Counter(
            "router_upstream_failures", "Failed upstream attempts by type", ["expert", "replica", "type"], registry=r
        )
        self.retries = Counter("router_retries", "Attempts retried on a replica", ["expert"], registry=r)
        self.fallbacks = Counter(
            "router_fallbacks",
            "Requests answered by the fallback expert instead",
            ["from_expert", "to_expert"],
            registry=r,
        )
        self.circuit = Gauge(
            "router_circuit_state",
            "Circuit breaker per replica: 0 closed, 1 half-open, 2 open",
            ["replica"],
            registry=r,
        )
        self.up = Gauge(
            "router_replica_up", "1 when the last health check of the replica passed", ["replica"], registry=r
        )
        self.in_flight = Gauge("router_replica_in_flight", "Requests in flight per replica", ["replica"], registry=r)
        self.active = Gauge("router_active_requests", "Requests being forwarded now", registry=r)
        self.queued = Gauge("router_queued_requests", "Requests waiting for a slot", registry=r)
        self._upstream: dict[str, Any] = {}
        self._requests: dict[tuple[str, int], Any] = {}
        self._decisions: dict[tuple[str, str], Any] = {}

    def upstream_of(self, expert: str) -> Any:
        """The upstream-latency histogram of ``expert`` (children cached: ``labels()`` takes a lock)."""
        child = self._upstream.get(expert)
        if child is None:
            child = self._upstream[expert] = self.upstream.labels(expert)
        return child

    def request_of(self, model: str, status: int) -> Any:
        """The request counter of ``(model, status)``, cached."""
        key = (model, status)
        child = self._requests.get(key)
        if child is None:
            child = self._requests[key] = self.requests.labels(model, str(status))
        return child

    def decision_of(self, expert: str, kind: str) -> Any:
        """The routing-decision counter of ``(expert, kind)``, cached."""
        key = (expert, kind)
        child = self._decisions.get(key)
        if child is None:
            child = self._decisions[key] = self.decisions.labels(expert, kind)
        return child

    def render(self, pool: ReplicaPool, active: int, queued: int) -> bytes:
        """The exposition text, with the gauges read from the pool now."""
        self.active.set(active)
        self.queued.set(queued)
        for metric in (self.circuit, self.up, self.in_flight):
            metric.clear()
        for replica in pool.replicas():
            self.circuit.labels(replica.url).set(STATE_VALUES[replica.breaker.state])
            self.up.labels(replica.url).set(1.0 if replica.healthy is not False and replica.ready else 0.0)
            self.in_flight.labels(replica.url).set(replica.in_flight)
        return generate_latest(self.registry)
