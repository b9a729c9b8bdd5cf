"""The expert registry in a real Redis (started on a free port by the ``redis_server`` fixture), shared rate
limits, and registries read from fsspec URLs."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import pytest

from lf.errors import ConfigError, RunError
from lf.experts import ExpertConfig, ExpertManager, Replica
from lf.experts.redis_store import RedisStore
from lf.redis_support import redact
from lf.testing import run_cli


def expert(name: str, description: str = "x", **fields) -> ExpertConfig:
    return ExpertConfig(name=name, description=description, endpoints=[Replica(url="http://127.0.0.1:9")], **fields)


def wait_until(check, timeout: float = 30.0) -> float:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout, "timed out"
        time.sleep(0.01)
    return time.monotonic() - started


def test_lf_expert_commands_against_redis(redis_server):
    url = redis_server.url
    added = run_cli("expert", "add", "code", "--description", "Programming help", "--keywords", "python,bug",
                    "--endpoint", "http://127.0.0.1:8001", "--registry", url)  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert f"added expert code (version 1) in {url}" in " ".join(added.stderr.split())
    again = run_cli("expert", "add", "code", "--description", "Code", "--replace", "--registry", url)
    assert again.returncode == 0, again.stderr
    listed = run_cli("expert", "list", "--json", env={"LF_EXPERTS_FILE": url})  # the variable takes a URL too
    assert listed.returncode == 0, listed.stderr
    [code] = json.loads(listed.stdout)
    assert (code["name"], code["description"], code["version"]) == ("code", "Code", 2)
    history = ExpertManager(url).history("code")
    assert [(h.version, h.change, h.expert.description) for h in history] == [(1, "updated", "Programming help")]
    down = run_cli("expert", "list", "--registry", "redis://127.0.0.1:1/0")
    assert down.returncode == 7 and "cannot be used for the expert registry" in down.stderr
    assert "Traceback" not in down.stderr


def test_concurrent_writers_lose_nothing_and_watchers_are_told(redis_server):
    watcher = ExpertManager(redis_server.url)
    told = threading.Event()
    watcher.subscribe(lambda _: told.set())
    watcher.watch()
    try:
        writers = [ExpertManager(redis_server.url) for _ in range(3)]

        def write(manager: ExpertManager, index: int) -> None:
            for n in range(4):
                manager.register_expert(expert(f"w{index}-{n}"))

        threads = [threading.Thread(target=write, args=(m, i)) for i, m in enumerate(writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(ExpertManager(redis_server.url)) == 12  # WATCH/MULTI: every change applied, none lost
        assert RedisStore(redis_server.url).version() == 12
        wait_until(lambda: len(watcher) == 12)  # pushed: the watcher never polled
        assert told.is_set()
        told.clear()
        started = time.monotonic()
        writers[0].unregister_expert("w0-0")
        wait_until(told.is_set)
        print(f"change seen by the watcher after {1000 * (time.monotonic() - started):.1f} ms")
        assert "w0-0" not in watcher
    finally:
        watcher.close()


def test_a_garbled_lost_or_unreachable_registry_keeps_the_last_good_one(redis_server):
    import redis

    manager = ExpertManager(redis_server.url)
    manager.register_expert(expert("general"))
    raw = redis.Redis.from_url(redis_server.url)
    text = raw.get("lf:experts:registry")
    raw.set("lf:experts:registry", text[: len(text) // 2])  # another client wrote half of it
    raw.incr("lf:experts:version")
    assert manager.refresh_if_changed() is False
    assert manager.names() == ["general"] and "damaged" in manager.last_error.message
    with pytest.raises(ConfigError):
        manager.register_expert(expert("more"))  # never written over a registry it cannot read
    raw.set("lf:experts:registry", text)
    raw.incr("lf:experts:version")
    assert manager.refresh_if_changed() is True and manager.last_error is None

    redis_server.kill()
    assert manager.refresh_if_changed() is False
    assert manager.names() == ["general"] and "cannot be used for the expert registry" in manager.last_error.message
    with pytest.raises(RunError):
        manager.register_expert(expert("more"))
    redis_server.start()  # the same data, from its append-only file
    manager.refresh_if_changed()
    assert manager.last_error is None and manager.names() == ["general"]

    redis.Redis.from_url(redis_server.url).flushdb()  # Redis lost its data
    assert manager.refresh_if_changed() is False and "missing" in manager.last_error.message
    seed = Path(redis_server.folder) / "seed.yaml"
    ExpertManager(seed).register_expert(expert("general"))
    imported = run_cli("expert", "import", str(seed), "--registry", redis_server.url)
    assert imported.returncode == 0 and "imported 1 expert into" in imported.stderr, imported.stderr
    assert manager.refresh_if_changed() is True and manager.last_error is None


def test_a_rate_limit_holds_across_replicas_and_falls_back_while_redis_is_away(redis_server):
    from lf.serve.redis_limits import RedisRateLimiter

    async def scenario() -> None:
        replicas = [RedisRateLimiter(redis_server.url, per_minute=6, scope="test") for _ in range(2)]
        started = time.monotonic()
        allowed = [await replicas[i % 2].take("k-abc") is None for i in range(12)]
        refilled = int((time.monotonic() - started) / 10)  # 6/min: one token every 10 s
        assert 6 <= sum(allowed) <= 6 + refilled, allowed  # one budget for both, not 6 each
        assert await replicas[0].take("k-other") is None  # buckets are per caller
        redis_server.kill()
        assert await replicas[0].take("k-abc") is None  # the replica's own bucket answers meanwhile
        assert "per replica only" in replicas[0].problem
        redis_server.start()
        replicas[0]._retry_at = 0  # next request tries Redis again (after RETRY_S in production)
        assert await replicas[0].take("k-abc") is not None  # the shared bucket, still empty, is back
        assert replicas[0].problem is None
        for limiter in replicas:
            await limiter.close()

    asyncio.run(scenario())


def test_rate_limit_store_must_be_memory_or_redis():
    from lf.config import convert
    from lf.serve.options import ServerOptions

    with pytest.raises(ConfigError) as err:
        convert({"limits": {"rate_limit_store": "memcached://x"}}, ServerOptions)
    assert "limits.rate_limit_store" in err.value.message and "'memcached://x'" in err.value.message
    assert "'memory' (this process) or redis://" in (err.value.hint or "")


def test_passwords_never_show_and_a_registry_at_an_fsspec_url_is_read_only(tmp_path):
    assert redact("redis://:s3cret@10.0.0.5:6379/0") == "redis://:***@10.0.0.5:6379/0"
    assert "s3cret" not in RedisStore("redis://user:s3cret@10.0.0.5:6379/0?prefix=team-a").location
    with pytest.raises(ConfigError, match="prefix must be"):
        RedisStore("redis://h:6379/0?prefix=bad prefix")

    import fsspec

    fs = fsspec.filesystem("memory")
    source = tmp_path / "experts.yaml"
    ExpertManager(source).register_expert(expert("general"))
    fs.pipe_file("/lf-test/experts.yaml", source.read_bytes())
    try:
        manager = ExpertManager("memory://lf-test/experts.yaml")
        assert manager.names() == ["general"] and manager.config_path is None
        with pytest.raises(RunError, match="read-only"):
            manager.register_expert(expert("code"))
        ExpertManager(source).register_expert(expert("code"))
        fs.pipe_file("/lf-test/experts.yaml", source.read_bytes())  # published again
        assert manager.refresh_if_changed() is True and manager.names() == ["general", "code"]
        fs.pipe_file("/lf-test/experts.yaml", source.read_bytes()[:-20])  # cut short
        assert manager.refresh_if_changed() is False and "damaged" in manager.last_error.message
        file_url = ExpertManager(f"file://{source}")
        assert file_url.config_path == source  # file:// is the plain file store, writable
    finally:
        fs.rm("/lf-test", recursive=True)
