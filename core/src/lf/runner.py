"""The one generic runner behind ``lf run KIND --plugin NAME`` and the friendly commands.

It looks the component up, builds its config (file, environment, ``--set``), validates
it, and runs it with progress rendered by rich and every event forwarded to the
``lf_event`` observer hook.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from lf.components import KINDS, ComponentSpec, Events, import_object
from lf.config import build_config
from lf.errors import ConfigError, PluginError
from lf.plugins import Registry, get_registry


def resolve(
    kind: str,
    name: str,
    *,
    config_file: str | None = None,
    overrides: Iterable[str] = (),
    data: Mapping[str, Any] | None = None,
    flags: Mapping[str, Any] | None = None,
    registry: Registry | None = None,
) -> tuple[ComponentSpec, msgspec.Struct | None]:
    """The component and its config, decoded and checked (limits and ``validate()``), without running anything.

    This is all ``--dry-run`` and ``lf config check`` do, so they refuse what the run would.
    """
    reg = registry or get_registry()
    spec = reg.get(kind, name)
    overrides = list(overrides)
    config_type = reg.config_type(spec)
    if config_type is None:
        if config_file or overrides or data or flags:
            raise ConfigError(f"The {kind} component '{name}' takes no options.")
        return spec, None
    config = build_config(
        config_type,
        file=config_file,
        data=data,
        overrides=overrides,
        env_component=spec.name,
        flags=flags,
        positionals=spec.positionals,
    )
    return spec, config


def run_component(
    kind: str,
    name: str,
    *,
    config_file: str | None = None,
    overrides: Iterable[str] = (),
    data: Mapping[str, Any] | None = None,
    flags: Mapping[str, Any] | None = None,
    events: Events | None = None,
    registry: Registry | None = None,
) -> Any:
    """Resolve and run a component; returns what its runner returns (usually a RunResult)."""
    reg = registry or get_registry()
    spec, config = resolve(
        kind, name, config_file=config_file, overrides=overrides, data=data, flags=flags, registry=reg
    )
    runner_path = reg.runner_of(spec)
    if runner_path is None:
        hint = (
            "Serving a classifier needs the router service: pip install lf-router-hybrid."
            if kind == "route"
            else f"It is used from Python or by another command; see `lf {KINDS[kind].verb} --help`."
        )
        raise PluginError(f"Nothing installed runs {kind} components such as '{name}'.", hint=hint)
    runner = import_object(runner_path, f"the runner of {kind} components")
    sink = ObservedEvents(spec, reg, events)
    sink.emit("start", {"kind": kind, "name": name})
    started = time.perf_counter()
    try:
        result = runner(spec, config, sink)
    finally:
        sink.emit("end", {"seconds": round(time.perf_counter() - started, 3)})
    return result


def run_job(spec: ComponentSpec, config: Any, events: Events) -> Any:
    """The default runner of jobs (train, quantize, generate): ``impl().run(config, events)``."""
    impl = spec.load()
    job = impl() if isinstance(impl, type) else impl
    return job.run(config, events)


class ObservedEvents:
    """Forwards every event to an inner sink (progress bars) and to ``lf_event`` observers."""

    def __init__(self, spec: ComponentSpec, registry: Registry, inner: Events | None) -> None:
        self.spec = spec
        self.registry = registry
        self.inner = inner
        self._observed = bool(registry.pm.hook.lf_event.get_hookimpls())

    def emit(self, event: str, data: dict[str, Any]) -> None:
        """Send one event to the observers (their exceptions are recorded, never raised)."""
        if self._observed:
            self.registry.call_safely("lf_event", component=self.spec, event=event, data=data)

    def progress(self, description: str, completed: float, total: float | None = None, **fields: Any) -> None:
        """See :meth:`lf.components.Events.progress`."""
        if self.inner:
            self.inner.progress(description, completed, total, **fields)
        self.emit("progress", {"description": description, "completed": completed, "total": total, **fields})

    def metrics(self, values: Mapping[str, float], step: int | None = None) -> None:
        """See :meth:`lf.components.Events.metrics`."""
        if self.inner:
            self.inner.metrics(values, step)
        self.emit("metrics", {"step": step, **values})

    def message(self, text: str, level: str = "info") -> None:
        """See :meth:`lf.components.Events.message`."""
        if self.inner:
            self.inner.message(text, level)
        self.emit("message", {"text": text, "level": level})

    def artifact(self, name: str, path: str) -> None:
        """See :meth:`lf.components.Events.artifact`."""
        if self.inner:
            self.inner.artifact(name, path)
        self.emit("artifact", {"name": name, "path": path})
