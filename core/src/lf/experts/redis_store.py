"""The expert registry in Redis (``registry: redis://host:6379/0``): shared by routers on many machines.

Keys (``PREFIX`` is ``lf:experts``, or the URL's ``?prefix=``):

* ``PREFIX:registry`` - the registry document, the very YAML text a registry file holds
  (integrity line first: a value cut short or garbled by another client is refused, and
  the routers keep their last good registry, as with a file);
* ``PREFIX:version`` - a counter raised by one at every change (what routers poll: one GET);
* ``PREFIX:history`` - a list of replaced and removed definitions (JSON, oldest first);
* channel ``PREFIX:changes`` - a message after every change (pub/sub), so every router
  reloads within milliseconds instead of at its next poll.

A change is optimistic and atomic: WATCH the version and the document, read, apply, then
MULTI: SET the document, INCR the version, RPUSH the history, PUBLISH - EXEC. Another
writer in between makes EXEC fail and the change is applied again on the new registry, so
concurrent changes are serialized and none is lost. Persistence is Redis's own (run it with
``appendonly yes``); a registry that vanished (Redis restarted without its data) is an
error for a process that holds one, which keeps its registry, as with a deleted file.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import msgspec

from lf.errors import ConfigError, LFError, RunError
from lf.experts.config import ExpertConfig
from lf.experts.store import ExpertVersion, Transaction, parse_registry, render_registry
from lf.experts.stores import RegistryStore
from lf.redis_support import connect, is_redis_error, redact, split_prefix, unreachable

T = TypeVar("T")
DEFAULT_PREFIX = "lf:experts"
_history_decoder = msgspec.json.Decoder(ExpertVersion)
_history_encoder = msgspec.json.Encoder()


class RedisStore(RegistryStore):
    """A registry in one Redis database (see the module docstring for the keys)."""

    def __init__(self, url: str) -> None:
        url, prefix = split_prefix(url, DEFAULT_PREFIX)
        self.location = redact(url) + (f" (keys {prefix}:*)" if prefix != DEFAULT_PREFIX else "")
        self.client = connect(url)
        self.doc_key, self.version_key = f"{prefix}:registry", f"{prefix}:version"
        self.history_key, self.channel = f"{prefix}:history", f"{prefix}:changes"
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run a Redis command; a connection problem becomes a :class:`RunError` naming the server."""
        try:
            return fn()
        except LFError:
            raise
        except Exception as exc:
            if is_redis_error(exc):
                raise unreachable(self.location, exc, what) from None
            raise

    # --- reading ------------------------------------------------------------------------------------

    def version(self) -> Hashable:
        """The change counter (None: no registry in this database yet)."""
        raw = self._call("the expert registry", lambda: self.client.get(self.version_key))
        return None if raw is None else int(raw)

    def read(self, *, require_content: bool = False) -> tuple[list[ExpertConfig], Hashable]:
        """The document and its version, read together (MGET is atomic)."""
        version, doc = self._call("the expert registry", lambda: self.client.mget(self.version_key, self.doc_key))
        return self._parse(doc, require_content), (None if version is None else int(version))

    def _parse(self, doc: bytes | None, require_content: bool) -> list[ExpertConfig]:
        if doc is None:
            if require_content:
                raise ConfigError(
                    f"The expert registry at {self.location} is missing (Redis restarted without its data, or the "
                    "key was deleted); the registry in use is kept.",
                    hint="Run Redis with appendonly yes; re-create the registry with `lf expert import FILE`.",
                )
            return []
        try:
            text = doc.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{self.location}: the registry is not UTF-8 text ({exc}).") from None
        return parse_registry(text, self.location, allow_empty=not require_content)

    def history(self, name: str | None = None) -> list[ExpertVersion]:
        """The history list, oldest first."""
        raw = self._call("the expert registry", lambda: self.client.lrange(self.history_key, 0, -1))
        return _decode_history(raw, name, self.location)

    # --- changing -----------------------------------------------------------------------------------

    def change(
        self, fn: Callable[[Transaction], T], *, timeout: float, require_content: bool = False
    ) -> tuple[T, Transaction]:
        """WATCH, read, ``fn``, MULTI/EXEC; ``fn`` runs again when another writer came in between."""
        import redis

        deadline = time.monotonic() + timeout
        while True:
            try:
                return self._attempt(fn, require_content)
            except redis.WatchError:
                if time.monotonic() > deadline:
                    raise RunError(
                        f"The expert registry at {self.location} kept changing for {timeout:.0f} s; nothing was "
                        "written.",
                        hint="Another process changes it in a loop; retry when it stops.",
                    ) from None
            except LFError:
                raise
            except Exception as exc:
                if is_redis_error(exc):
                    raise unreachable(self.location, exc, "a registry change") from None
                raise

    def _attempt(self, fn: Callable[[Transaction], T], require_content: bool) -> tuple[T, Transaction]:
        with self.client.pipeline() as pipe:
            pipe.watch(self.version_key, self.doc_key)
            version, doc = pipe.mget(self.version_key, self.doc_key)
            experts = self._parse(doc, require_content)
            old = _decode_history(pipe.lrange(self.history_key, 0, -1), None, self.location)
            txn = Transaction({e.name: e for e in experts}, old, key=None if version is None else int(version))
            result = fn(txn)
            if not txn.changed:
                pipe.unwatch()
                return result, txn
            text = render_registry(list(txn.experts.values()), self.location)  # checked by reading it back
            pipe.multi()
            pipe.set(self.doc_key, text.encode("utf-8"))
            pipe.incr(self.version_key)
            if txn.history:
                pipe.rpush(self.history_key, *(_history_encoder.encode(h) for h in txn.history))
            pipe.publish(self.channel, b"changed")
            answers = pipe.execute()
            txn.key = int(answers[1])
            return result, txn

    def replace_all(self, experts: list[ExpertConfig], *, timeout: float) -> Hashable:
        """Store exactly ``experts``, atomically (a new version, no history entries)."""

        def replace(txn: Transaction) -> None:
            txn.experts = {e.name: e for e in experts}
            txn.changed = True

        return self.change(replace, timeout=timeout)[1].key

    # --- change notification ------------------------------------------------------------------------

    def watch(self, on_change: Callable[[], object]) -> None:
        """Subscribe to the change channel in a daemon thread; ``on_change()`` runs after each message.

        It also runs after every (re)connection - messages sent while disconnected are lost,
        so the registry is checked then - and when the connection is lost (the caller notices
        that Redis went away). Reconnection backs off from 0.1 to 2 seconds.
        """
        if self._watcher is not None:
            return
        self._watcher = threading.Thread(target=self._listen, args=(on_change,), name="lf-registry-watch", daemon=True)
        self._watcher.start()

    def _listen(self, on_change: Callable[[], object]) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            pubsub: Any = None
            try:
                pubsub = self.client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.channel)
                on_change()
                backoff = 0.1
                while not self._stop.is_set():
                    if pubsub.get_message(timeout=0.5) is not None:
                        on_change()
            except Exception as exc:
                if not is_redis_error(exc):
                    raise
                on_change()  # the registry's owner tries to read, fails, and reports it
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 2.0)
            finally:
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except Exception:  # a connection that is gone already
                        pass

    def close(self) -> None:
        """Stop the watcher and close the connections."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        try:
            self.client.close()
        except Exception:  # closing a client whose server is gone
            pass


def _decode_history(raw: list[bytes], name: str | None, location: str) -> list[ExpertVersion]:
    out = []
    for number, item in enumerate(raw, 1):
        try:
            entry = _history_decoder.decode(item)
        except msgspec.DecodeError as exc:
            raise ConfigError(f"{location}: history entry {number} is invalid: {exc}") from None
        if name is None or entry.name == name:
            out.append(entry)
    return out
