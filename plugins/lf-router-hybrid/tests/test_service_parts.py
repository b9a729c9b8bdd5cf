"""The router service's parts on their own: breaker, balancing, replica pool, config, helpers."""

from __future__ import annotations

import collections
import random

import msgspec
import pytest

from lf.composite import composite_config, split_config
from lf.errors import ConfigError
from lf.experts import ExpertConfig, Replica
from lf.serve.auth import configured_keys
from lf_router_hybrid.config import HybridConfig, KeywordConfig
from lf_router_hybrid.service.breaker import CircuitBreaker
from lf_router_hybrid.service.options import BreakerOptions, RouterOptions
from lf_router_hybrid.service.pool import ReplicaPool, normalize_url


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_breaker_closed_open_half_open_closed():
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=3, open_timeout_s=5.0, clock=clock)
    assert breaker.state == "closed" and breaker.acquire()
    breaker.failure()
    breaker.failure()
    assert breaker.state == "closed"  # two of three
    breaker.success()  # a success resets the count
    for _ in range(3):
        breaker.failure()
    assert breaker.state == "open" and not breaker.available() and not breaker.acquire()
    assert breaker.opened == 1
    clock.now += 4.9
    assert breaker.state == "open"
    clock.now += 0.2
    assert breaker.state == "half_open" and breaker.available()
    assert breaker.acquire()  # the one trial
    assert not breaker.available() and not breaker.acquire()  # nobody else meanwhile
    breaker.failure()  # the trial failed: open again, for another timeout
    assert breaker.state == "open" and breaker.opened == 2
    clock.now += 5.1
    assert breaker.acquire()
    breaker.success()
    assert breaker.state == "closed" and breaker.failures == 0


def test_breaker_trial_released_without_verdict():
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, open_timeout_s=1.0, clock=clock)
    breaker.failure()
    clock.now += 1.5
    assert breaker.acquire()
    breaker.release()  # e.g. the client went away
    assert breaker.available() and breaker.state == "half_open"


def test_breaker_success_while_open_does_not_close_it():
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, open_timeout_s=10.0, clock=clock)
    breaker.failure()
    breaker.success()  # a late answer from before it opened, or a health check inside the timeout
    assert breaker.state == "open"


def _pool(strategy: str, weights: dict[str, float] | None = None) -> ReplicaPool:
    weights = weights or {}
    pool = ReplicaPool(BreakerOptions(failure_threshold=2, open_timeout_s=60), strategy)  # type: ignore[arg-type]
    urls = ["http://a:1", "http://b:1", "http://c:1"]
    pool.sync([ExpertConfig(name="x", endpoints=[Replica(url=u, weight=weights.get(u, 1.0)) for u in urls])])
    return pool


def _picks(pool: ReplicaPool, n: int) -> list[str]:
    out = []
    for _ in range(n):
        replica = pool.choose("x")
        assert replica is not None
        out.append(replica.url)
    return out


def test_round_robin_and_skipping_open_breakers():
    pool = _pool("round_robin")
    assert _picks(pool, 6) == ["http://a:1", "http://b:1", "http://c:1"] * 2
    b = pool.replicas("x")[1]
    b.breaker.failure()
    b.breaker.failure()
    assert set(_picks(pool, 6)) == {"http://a:1", "http://c:1"}
    assert pool.has_available("x") and pool.unavailable() == []
    for r in pool.replicas("x"):
        r.healthy = False  # every health check failed
    assert pool.choose("x") is None and pool.unavailable() == ["x"] and not pool.has_available("x")


def test_least_connections_prefers_the_idle_replica():
    pool = _pool("least_connections")
    a, b, c = pool.replicas("x")
    a.in_flight, b.in_flight, c.in_flight = 5, 0, 3
    assert {pool.choose("x").url for _ in range(5)} == {"http://b:1"}  # type: ignore[union-attr]
    b.in_flight = 9
    assert pool.choose("x").url == "http://c:1"  # type: ignore[union-attr]


def test_latency_aware_sends_most_traffic_to_the_fast_replica():
    pool = _pool("latency")
    pool.balancer.rng = random.Random(0)
    a, b, c = pool.replicas("x")
    a.latency, b.latency, c.latency = 0.010, 0.200, 0.050
    counts = collections.Counter(_picks(pool, 3000))
    assert counts["http://a:1"] > counts["http://c:1"] > counts["http://b:1"] == 0


def test_weighted_round_robin_follows_the_weights_smoothly():
    pool = _pool("weighted", {"http://a:1": 3.0, "http://b:1": 1.0, "http://c:1": 1.0})
    picks = _picks(pool, 50)
    counts = collections.Counter(picks)
    assert counts == {"http://a:1": 30, "http://b:1": 10, "http://c:1": 10}
    assert all(picks[i : i + 3] != ["http://a:1"] * 3 for i in range(len(picks) - 2))  # interleaved


def test_tried_replicas_are_avoided_while_others_remain():
    pool = _pool("round_robin")
    a, b, c = pool.replicas("x")
    assert pool.choose("x", tried=[a, b]) is c
    assert pool.choose("x", tried=[a, b, c]) is not None  # all tried: any available one


def test_pool_sync_keeps_replica_state_and_shares_urls_across_experts():
    pool = _pool("round_robin")
    a = pool.replicas("x")[0]
    a.failures = 7
    pool.sync(
        [
            ExpertConfig(name="x", endpoints=[Replica(url="http://a:1/"), Replica(url="http://d:1/v1")]),
            ExpertConfig(name="y", endpoints=[Replica(url="http://a:1")]),
        ]
    )
    assert pool.replicas("x")[0] is a and a.failures == 7
    assert pool.replicas("y")[0] is a and pool.experts_of(a) == ["x", "y"]
    assert [r.url for r in pool.replicas()] == ["http://a:1", "http://d:1"]
    assert normalize_url("http://h:8000/v1/") == "http://h:8000"


def test_model_name_sent_upstream():
    pool = _pool("round_robin")
    replica = pool.replicas("x")[0]
    assert replica.model_for("x") is None  # not asked yet
    replica.models = ["base-model", "x"]
    assert replica.model_for("x") == "x"  # an adapter named like the expert
    assert replica.model_for("other") == "base-model"


def test_router_config_has_classifier_and_service_options():
    keyword_router = composite_config(RouterOptions, KeywordConfig, "keyword")
    config = msgspec.convert(
        {
            "registry": "r.yaml",
            "port": 9000,
            "api_keys": "k" * 32 + "," + "q" * 32,
            "breaker": {"failure_threshold": 7},
            "plurals": False,
        },
        keyword_router,
    )
    options, classifier = split_config(config, RouterOptions)
    assert isinstance(options, RouterOptions) and isinstance(classifier, KeywordConfig)
    assert classifier.plurals is False and options.registry == "r.yaml"
    assert options.port == 9000 and options.breaker.failure_threshold == 7 and options.balancing == "round_robin"
    assert configured_keys(options.api_keys, environ={}) == ["k" * 32, "q" * 32]
    with pytest.raises(ConfigError, match="at least 32"):
        configured_keys(RouterOptions(api_keys=["short"]).api_keys, environ={})
    hybrid_router = composite_config(RouterOptions, HybridConfig, "hybrid")
    assert {"keyword_threshold", "health_checks", "egress"} <= set(hybrid_router.__struct_fields__)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"balancing": "random"}, hybrid_router)


def test_env_keys_reach_the_router_config(monkeypatch):
    from lf.runner import resolve

    key1, key2 = "a" * 40, "b" * 40
    monkeypatch.setenv("LF_HYBRID_API_KEYS", f"{key1},{key2}")
    monkeypatch.setenv("LF_HYBRID_PORT", "8099")
    _, config = resolve("route", "hybrid")
    options, _ = split_config(config, RouterOptions)
    assert options.port == 8099 and configured_keys(options.api_keys, environ={}) == [key1, key2]


def test_fallback_field_goes_into_the_first_event_only():
    from lf.serve.wire import first_event_with_field, with_field

    chunk = b'data: {"id":"1","choices":[]}\n\ndata: {"id":"2"}\n\n'
    out = first_event_with_field(chunk, "router", {"fallback": True})
    first, second = out.split(b"\n\n")[:2]
    assert msgspec.json.decode(first[6:])["router"] == {"fallback": True}
    assert second == b'data: {"id":"2"}'
    assert first_event_with_field(b": comment only", "router", {}) == b": comment only"
    assert with_field(b"not json", "router", {}) == b"not json"
    assert msgspec.json.decode(with_field(b'{"a":1}', "router", {"x": 1})) == {"a": 1, "router": {"x": 1}}
