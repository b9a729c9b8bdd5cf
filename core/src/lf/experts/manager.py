"""``ExpertManager``: the expert registry a router and the CLI share (SRS 3.5.1).

With a registry location - a YAML file path, or ``redis://host:6379/0`` (see
:mod:`lf.experts.stores`) - every change goes to the store at once (atomic, previous
definition kept in the history); without one the registry lives in memory until
:meth:`ExpertManager.save_config`. Several processes may share one registry: each calls
:meth:`ExpertManager.refresh_if_changed` (one ``stat`` or one GET) to pick up the others'
changes, and :meth:`ExpertManager.watch` has a Redis registry push them as they happen.

A broken registry never empties a running one: at start-up a missing or empty registry is
empty and a malformed or damaged one (cut short: :mod:`lf.experts.integrity`) a
:class:`lf.errors.ConfigError`; later, a refresh that finds it missing, empty, malformed,
damaged or unreachable (Redis down) keeps the registry in use and sets
:attr:`ExpertManager.last_error` (cleared by the next good read), and a write refuses to
replace a missing or empty registry while the manager holds experts.

Example::

    from lf.experts import ExpertConfig, ExpertManager, Replica

    manager = ExpertManager("experts.yaml")
    manager.register_expert(ExpertConfig(name="code", description="Programming help", domains=["programming"],
                                         keywords=["python", "bug"], endpoints=[Replica(url="http://127.0.0.1:8001")]))
    manager.list_experts(domain="programming")

    # in each router process, before routing (one stat when nothing changed):
    if manager.refresh_if_changed():
        classifier.sync_experts(manager)
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from lf.errors import ConfigError, LFError, ModelNotFoundError
from lf.experts.config import ExpertConfig, same_definition, validate_expert
from lf.experts.health import ExpertStatus, HealthState, HealthTracker
from lf.experts.store import ExpertVersion, Transaction, now_iso
from lf.experts.stores import ENV_VAR, FileStore, RegistryStore, default_registry, default_registry_path, open_store

log = logging.getLogger("lf.experts")
T = TypeVar("T")
__all__ = ["ENV_VAR", "ExpertManager", "default_registry", "default_registry_path"]


class ExpertManager:
    """Registers, lists and tracks experts; persists them to a store when given one.

    Thread-safe. Reads (``get_expert``, ``list_experts``) never touch the store; writes do
    (when persistent) atomically, so concurrent ``lf expert add`` and router processes never
    lose each other's changes.

    Args:
        config_path: where the registry lives: a YAML file (created on the first change), a
            ``redis://`` URL, an fsspec URL (read-only) or a :class:`RegistryStore`; None
            keeps it in memory.
        experts: experts to register at start (in memory, or added to the file).
        error_threshold: consecutive failed requests that mark an expert ``error``.
        lock_timeout: seconds to wait for another writer before giving up.
    """

    def __init__(
        self,
        config_path: str | os.PathLike[str] | RegistryStore | None = None,
        *,
        experts: Iterable[ExpertConfig] = (),
        error_threshold: int = 5,
        lock_timeout: float = 30.0,
    ) -> None:
        self.store: RegistryStore | None = open_store(config_path) if config_path is not None else None
        self.lock_timeout = lock_timeout
        self.health = HealthTracker(error_threshold=error_threshold)
        #: Raised by one at every change seen (own or another process's): cheap "did it change?".
        self.generation = 0
        #: The problem found by the last refresh, when the file on disk is malformed.
        self.last_error: LFError | None = None
        self._lock = threading.RLock()
        self._experts: dict[str, ExpertConfig] = {}
        self._memory_history: list[ExpertVersion] = []
        self._key: Hashable = None
        #: the version of the registry the last refresh refused (``_bad``: whether there is one)
        self._bad: bool = False
        self._bad_key: Hashable = None
        self._refreshing = threading.Lock()
        self._listeners: list[Callable[[ExpertManager], None]] = []
        if self.store is not None:
            self._load()
        for expert in experts:
            self.register_expert(expert, replace=True)

    # --- where it lives -------------------------------------------------------------------------

    @property
    def config_path(self) -> Path | None:
        """The registry file, for a file registry (None in memory, in Redis or at a URL)."""
        return self.store.path if self.store is not None else None

    @config_path.setter
    def config_path(self, path: str | os.PathLike[str] | None) -> None:
        """Write changes to the file ``path`` from now on, without reading it first (None: memory)."""
        self.store = FileStore(path) if path is not None else None

    @property
    def location(self) -> str:
        """Where the registry lives, as messages show it (a path, or a URL without its password)."""
        return self.store.location if self.store is not None else "memory"

    # --- reading ------------------------------------------------------------------------------

    def get_expert(self, name: str) -> ExpertConfig | None:
        """The expert called ``name``, or None."""
        return self._experts.get(name)

    def require(self, name: str) -> ExpertConfig:
        """The expert called ``name``; :class:`ModelNotFoundError` naming the known ones otherwise."""
        expert = self._experts.get(name)
        if expert is None:
            known = ", ".join(self._experts) or "none"
            raise ModelNotFoundError(
                f"No expert named '{name}'. Registered: {known}.", hint="List them with `lf expert list`."
            )
        return expert

    def list_experts(self, domain: str | None = None, *, enabled_only: bool = False) -> list[ExpertConfig]:
        """Experts by descending priority (then registration order), optionally of one ``domain``."""
        with self._lock:
            experts = list(self._experts.values())
        if domain is not None:
            wanted = domain.casefold()
            experts = [e for e in experts if wanted in (d.casefold() for d in e.domains)]
        if enabled_only:
            experts = [e for e in experts if e.enabled]
        return sorted(experts, key=lambda e: -e.priority)

    def names(self) -> list[str]:
        """Names of every registered expert, in registration order."""
        return list(self._experts)

    def __contains__(self, name: object) -> bool:
        return name in self._experts

    def __len__(self) -> int:
        return len(self._experts)

    def __iter__(self) -> Iterator[ExpertConfig]:
        return iter(self.list_experts())

    def history(self, name: str | None = None) -> list[ExpertVersion]:
        """Previous definitions (replaced or removed), oldest first."""
        if self.store is None:
            return [h for h in self._memory_history if name is None or h.name == name]
        return self.store.history(name)

    # --- changing -----------------------------------------------------------------------------

    def register_expert(self, config: ExpertConfig, *, replace: bool = False) -> ExpertConfig:
        """Add ``config`` (or, with ``replace``, update an expert of the same name).

        The stored copy gets the next ``version`` and ``updated_at``; a replaced definition
        is kept in the history. Registering an identical definition changes nothing.
        Returns the stored expert. ``config`` is checked first (:func:`validate_expert`): an
        invalid one raises :class:`ConfigError` and nothing is written.
        """
        config = validate_expert(config, source=f"expert '{config.name}'")

        def change(txn: Transaction) -> ExpertConfig:
            old = txn.experts.get(config.name)
            if old is not None and not replace:
                raise ConfigError(
                    f"An expert named '{config.name}' already exists (version {old.version}).",
                    hint="Use `lf expert add --replace` (or register_expert(..., replace=True)) to update it.",
                )
            if old is not None and same_definition(old, config):
                return old
            new = msgspec.structs.replace(config, version=txn.last_version(config.name) + 1, updated_at=now_iso())
            txn.put(new)
            return new

        return self._change(change)

    def unregister_expert(self, name: str) -> ExpertConfig:
        """Remove ``name`` (kept in the history); returns the removed definition."""

        def change(txn: Transaction) -> ExpertConfig:
            if name not in txn.experts:
                known = ", ".join(txn.experts) or "none"
                raise ModelNotFoundError(
                    f"No expert named '{name}'. Registered: {known}.", hint="List them with `lf expert list`."
                )
            return txn.remove(name)

        removed = self._change(change)
        self.health.forget(name)
        return removed

    def import_experts(
        self, experts: Iterable[ExpertConfig], *, replace: bool = False
    ) -> tuple[list[ExpertConfig], list[str]]:
        """Register several experts in one atomic change: ``(stored, names kept as they were)``.

        An expert already registered is kept unless ``replace`` (then it gets a new version).
        """
        checked = [validate_expert(e, source=f"expert '{e.name}'") for e in experts]

        def change(txn: Transaction) -> tuple[list[ExpertConfig], list[str]]:
            stored, kept = [], []
            for config in checked:
                old = txn.experts.get(config.name)
                if old is not None and (not replace or same_definition(old, config)):
                    kept.append(config.name)
                    continue
                new = msgspec.structs.replace(config, version=txn.last_version(config.name) + 1, updated_at=now_iso())
                txn.put(new)
                stored.append(new)
            return stored, kept

        return self._change(change)

    def update_expert(self, name: str, **changes: Any) -> ExpertConfig:
        """Change some fields of ``name`` (``enabled=False``, ``endpoints=[...]``...); a new version."""
        base = self.require(name).to_dict()
        if {"endpoint", "endpoints"} & changes.keys():
            base.pop("endpoint", None)
            base.pop("endpoints", None)
        updated = ExpertConfig.from_dict(
            {**base, **{k: msgspec.to_builtins(v) for k, v in changes.items()}, "name": name}, source=f"expert '{name}'"
        )
        return self.register_expert(updated, replace=True)

    def restore(self, name: str, version: int) -> ExpertConfig:
        """Make an earlier ``version`` of ``name`` current again (as a new version)."""
        for entry in reversed(self.history(name)):
            if entry.version == version:
                return self.register_expert(entry.expert, replace=True)
        versions = sorted({h.version for h in self.history(name)})
        raise ModelNotFoundError(
            f"Expert '{name}' has no stored version {version}.",
            hint=f"Stored versions: {', '.join(map(str, versions)) or 'none'}.",
        )

    def _change(self, fn: Callable[[Transaction], T]) -> T:
        with self._lock:
            if self.store is None:
                txn = Transaction(dict(self._experts), list(self._memory_history))
                result = fn(txn)
                if txn.changed:
                    self._memory_history.extend(txn.history)
                    self._install(txn.experts, None)
                return result
            # a registry this process loaded may not vanish under it: writing then would drop every expert
            held = self._key is not None
            result, ptxn = self.store.change(fn, timeout=self.lock_timeout, require_content=held)
            if ptxn.changed or ptxn.key != self._key:
                self._install(ptxn.experts, ptxn.key)
            return result

    # --- persistence --------------------------------------------------------------------------

    def save_config(self, path: str | os.PathLike[str] | None = None) -> Path | str:
        """Write every expert to ``path`` (a YAML file; default: this registry's store) atomically.

        Returns the file written, or the store's location.
        """
        with self._lock:
            experts = list(self._experts.values())
            if path is None:
                if self.store is None:
                    raise ConfigError("save_config() needs a path: this registry lives in memory.")
                self._key = self.store.replace_all(experts, timeout=self.lock_timeout)
                return self.store.path or self.store.location
            target = FileStore(path)
            key = target.replace_all(experts, timeout=self.lock_timeout)
            if self.config_path is not None and target.path == self.config_path:
                self._key = key
            return target.path or Path(path)

    def load_config(self, path: str | os.PathLike[str] | RegistryStore) -> None:
        """Read ``path`` (a file, a Redis or fsspec URL, a store) and use it from now on (changes go there)."""
        old, self.store = self.store, open_store(path)
        if old is not None and old is not self.store:
            old.close()
        self._load()

    def watch(self) -> None:
        """Have the store report changes as they happen (Redis pub/sub), not only at the next refresh.

        Each change runs :meth:`refresh_if_changed` in the store's thread, which calls the
        listeners (:meth:`subscribe`). A file registry has nothing to push: keep polling it.
        """
        if self.store is not None:
            self.store.watch(self.refresh_if_changed)

    def close(self) -> None:
        """Stop watching and release the store's connections."""
        if self.store is not None:
            self.store.close()

    def refresh_if_changed(self) -> bool:
        """Reload the registry if another process changed it; True when something was reloaded.

        Costs one ``stat`` (a file) or one GET (Redis) when nothing changed. A registry that
        is malformed, empty, missing, fails its integrity check (cut short:
        :mod:`lf.experts.integrity`) or cannot be reached (Redis down) keeps the last good
        registry in use, logs the problem once and sets :attr:`last_error` (a router reports
        it in ``/health``); the next good read clears it. Safe to call from several threads.
        """
        if self.store is None:
            return False
        with self._refreshing:
            try:
                key = self.store.version()
            except LFError as exc:  # unreachable: keep serving what we have
                self._report(exc)
                return False
            if key == self._key and not self._bad:
                self.last_error = None  # reachable again, nothing changed meanwhile
                return False
            if self._bad and key == self._bad_key:
                return False
            try:
                self._load(require_content=True)
            except LFError as exc:
                self._bad, self._bad_key = True, key
                self._report(exc)
                return False
            return True

    def _report(self, exc: LFError) -> None:
        if self.last_error is None or self.last_error.message != exc.message:
            log.warning("expert registry %s not reloaded: %s", self.location, exc.message)
        self.last_error = exc

    def _load(self, *, require_content: bool = False) -> None:
        assert self.store is not None
        experts, key = self.store.read(require_content=require_content)
        with self._lock:
            self._install({e.name: e for e in experts}, key)
            self.last_error = None
            self._bad, self._bad_key = False, None

    def _install(self, experts: dict[str, ExpertConfig], key: Hashable) -> None:
        with self._lock:
            changed = experts != self._experts
            self._experts = dict(experts)
            self._key = key
            if changed:
                self.generation += 1
                listeners = list(self._listeners)
            else:
                listeners = []
        for listener in listeners:
            try:
                listener(self)
            except Exception:  # a listener never breaks the registry
                log.exception("expert registry listener failed")

    def subscribe(self, listener: Callable[[ExpertManager], None]) -> Callable[[], None]:
        """Call ``listener(manager)`` after every change; returns a function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    # --- health and utilization ------------------------------------------------------------------

    def get_expert_status(self, name: str) -> ExpertStatus:
        """Health, latency, errors, success rate and utilization of ``name``."""
        expert = self.require(name)
        return self.health.status(name, version=expert.version, replicas=len(expert.endpoints), enabled=expert.enabled)

    def statuses(self) -> list[ExpertStatus]:
        """:meth:`get_expert_status` of every expert."""
        return [self.get_expert_status(e.name) for e in self.list_experts()]

    def record_request(self, name: str, latency_s: float, ok: bool = True, error: str | None = None) -> None:
        """Report one finished request to ``name`` (latency in seconds, failure reason)."""
        self.health.record_request(name, latency_s, ok, error)

    def track(self, name: str) -> AbstractContextManager[None]:
        """``with manager.track("code"): ...`` times a request and counts it in flight."""
        return self.health.track(name)

    def set_state(self, name: str, state: HealthState, error: str | None = None) -> None:
        """Record what a health check found: ``ready``, ``loading`` or ``error``."""
        self.require(name)
        self.health.set_state(name, state, error)
