"""Plugin discovery and the component registry.

Built-in plugins (``lf.default_plugins.*``) load first, then every module of the ``lf``
entry-point group, each in its own ``try``: a plugin that fails to import is recorded
and reported by ``lf plugins`` / ``lf doctor``, never fatal.

Environment:

* ``LF_PLUGINS=a,b`` loads only the named entry points (built-ins always load);
  ``LF_PLUGINS=`` (set but empty) loads none - the way out of a broken install.
* ``LF_TRACE_PLUGINS=1`` prints every hook call and its result to stderr.
"""

from __future__ import annotations

import difflib
import os
import sys
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pluggy

from lf import hookspecs
from lf.components import KINDS, ComponentSpec, KindRunner
from lf.entry_points import EntryPoint, find_entry_points
from lf.errors import PluginConflictError, PluginNotFoundError

ENTRY_POINT_GROUP = "lf"
__all__ = ["DEFAULT_PLUGINS", "ENTRY_POINT_GROUP", "EntryPoint", "PluginInfo", "Registry", "find_entry_points"]

#: Modules registered like any third-party plugin (datasette's DEFAULT_PLUGINS habit).
DEFAULT_PLUGINS: tuple[str, ...] = ("lf.default_plugins.data_formats",)


@dataclass
class PluginInfo:
    """One loaded (or failed) plugin, as ``lf plugins`` shows it."""

    name: str
    package: str
    version: str
    module: str
    hooks: list[str] = field(default_factory=list)
    error: str | None = None
    builtin: bool = False

    @property
    def ok(self) -> bool:
        """True when the plugin loaded and registered without error."""
        return self.error is None


class Registry:
    """The plugin manager plus every registered component, looked up by kind and name."""

    def __init__(self, *, load_entry_points: bool = True, plugins_env: str | None = None) -> None:
        self.pm = pluggy.PluginManager("lf")
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self._load_problems: list[str] = []
        self._run_problems: list[str] = []
        self.conflicts: dict[tuple[str, str], str] = {}
        self._components: dict[str, dict[str, ComponentSpec]] | None = None
        self._runners: dict[str, KindRunner] = {}
        if os.environ.get("LF_TRACE_PLUGINS"):
            self._enable_tracing()
        for module_name in DEFAULT_PLUGINS:
            self._load_module(module_name, module_name, "lf-core", _core_version(), builtin=True)
        if load_entry_points:
            self._load_entry_points(os.environ.get("LF_PLUGINS") if plugins_env is None else plugins_env)

    # -- loading ------------------------------------------------------------------------------

    def _enable_tracing(self) -> None:
        def before(hook_name: str, impls: Any, kwargs: Mapping[str, Any]) -> None:
            who = ", ".join(i.plugin_name for i in impls)
            print(f"[lf trace] call {hook_name}({', '.join(kwargs)}) -> {who}", file=sys.stderr)

        def after(outcome: Any, hook_name: str, impls: Any, kwargs: Mapping[str, Any]) -> None:
            exc = outcome.exception
            status = f"raised {exc!r}" if exc else f"returned {outcome.get_result()!r}"
            print(f"[lf trace] done {hook_name}: {status}", file=sys.stderr)

        self.pm.add_hookcall_monitoring(before, after)

    def _load_entry_points(self, only: str | None) -> None:
        wanted = None if only is None else {n.strip() for n in only.split(",") if n.strip()}
        for ep in find_entry_points(ENTRY_POINT_GROUP):
            if wanted is not None and ep.name not in wanted:
                continue
            if ep.name in self.plugins:
                self._load_problems.append(
                    f"Two packages declare the entry point '{ep.name}': "
                    f"{self.plugins[ep.name].package} and {ep.package}; the second was ignored."
                )
                continue
            self._load_module(ep.module, ep.name, ep.package, ep.version)

    def _load_module(
        self,
        module_name: str,
        plugin_name: str,
        package: str,
        version: str,
        *,
        builtin: bool = False,
    ) -> None:
        info = PluginInfo(plugin_name, package, version, module_name, builtin=builtin)
        self.plugins[plugin_name] = info
        try:
            import importlib

            module = importlib.import_module(module_name)
            self.pm.register(module, name=plugin_name)
        except Exception as exc:  # a broken plugin must never break `lf`
            info.error = f"{type(exc).__name__}: {exc}"
            return
        info.hooks = sorted(
            impl_name
            for impl_name in dir(module)
            if impl_name in _hook_names() and callable(getattr(module, impl_name))
        )

    def add_plugin(self, plugin: object, name: str, package: str = "(in-process)", version: str = "-") -> None:
        """Register an in-process plugin object (tests, notebooks); components reload."""
        self.pm.register(plugin, name=name)
        hooks = sorted(h for h in _hook_names() if callable(getattr(plugin, h, None)))
        self.plugins[name] = PluginInfo(name, package, version, getattr(plugin, "__name__", name), hooks=hooks)
        self._components = None

    def remove_plugin(self, name: str) -> None:
        """Unregister a plugin added with :meth:`add_plugin`."""
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin)
        self.plugins.pop(name, None)
        self._components = None

    # -- components ---------------------------------------------------------------------------

    def _collect(self) -> dict[str, dict[str, ComponentSpec]]:
        self.conflicts.clear()
        table: dict[str, dict[str, ComponentSpec]] = {k: {} for k in KINDS}
        for kind in KINDS.values():
            hook = getattr(self.pm.hook, kind.hook)
            for impl in reversed(hook.get_hookimpls()):  # pluggy order: tryfirst impls first
                self._call_register(impl, kind.name, table)
        self._runners = {}
        for impl in reversed(self.pm.hook.register_kind_runners.get_hookimpls()):
            self._call_register_runner(impl)
        return table

    def _call_register_runner(self, impl: Any) -> None:
        info = self.plugins.get(impl.plugin_name) or PluginInfo(impl.plugin_name, "?", "?", "?")

        def register(runner: KindRunner) -> None:
            if not isinstance(runner, KindRunner):
                raise TypeError(f"register() expects a KindRunner, got {type(runner).__name__}")
            runner.package, runner.plugin = info.package, info.name
            other = self._runners.get(runner.kind)
            if other is not None and other is not runner:
                self.conflicts[("runner", runner.kind)] = (
                    f"Two packages register the runner of {runner.kind} components: "
                    f"{other.package} (plugin {other.plugin}) and {runner.package} (plugin {runner.plugin})."
                )
                return
            self._runners[runner.kind] = runner

        try:
            impl.function(register=register)
        except Exception as exc:
            info.error = f"register_kind_runners raised {type(exc).__name__}: {exc}"

    def _call_register(self, impl: Any, kind: str, table: dict[str, dict[str, ComponentSpec]]) -> None:
        info = self.plugins.get(impl.plugin_name) or PluginInfo(impl.plugin_name, "?", "?", "?")

        def register(spec: ComponentSpec) -> None:
            if not isinstance(spec, ComponentSpec):
                raise TypeError(f"register() expects a ComponentSpec, got {type(spec).__name__}")
            if spec.kind != kind:
                raise ValueError(f"{spec.name!r} is a {spec.kind!r} component but was registered as {kind!r}")
            spec.package, spec.version, spec.plugin = info.package, info.version, info.name
            for name in (spec.name, *spec.aliases):
                other = table[kind].get(name)
                if other is not None and other is not spec:
                    message = (
                        f"Two packages register the {kind} component '{name}': "
                        f"{other.package} (plugin {other.plugin}) and {spec.package} (plugin {spec.plugin})."
                    )
                    self.conflicts[(kind, name)] = message
                    continue
                table[kind][name] = spec

        try:
            if os.environ.get("LF_TRACE_PLUGINS"):
                print(f"[lf trace] {impl.plugin_name}.{_hook_for_kind(kind)}(register)", file=sys.stderr)
            impl.function(register=register)
        except Exception as exc:  # a plugin whose hook raises is reported, the rest still works
            info.error = f"{_hook_for_kind(kind)} raised {type(exc).__name__}: {exc}"

    @property
    def problems(self) -> list[str]:
        """Everything wrong with the installed plugins: failures, conflicts, raising hooks."""
        _ = self.components
        failed = [f"Plugin {p.name} ({p.package}): {p.error}" for p in self.iter_plugins() if p.error]
        return [*self._load_problems, *failed, *self.conflicts.values(), *self._run_problems]

    @property
    def components(self) -> dict[str, dict[str, ComponentSpec]]:
        """``{kind: {name: spec}}`` for every registered component (aliases included)."""
        if self._components is None:
            self._components = self._collect()
        return self._components

    def specs(self, kind: str) -> list[ComponentSpec]:
        """The components of one kind, without alias duplicates, sorted by name."""
        self._check_kind(kind)
        unique = {id(s): s for s in self.components[kind].values()}
        return sorted(unique.values(), key=lambda s: s.name)

    def get(self, kind: str, name: str) -> ComponentSpec:
        """Look a component up; an unknown name answers with what is installed."""
        self._check_kind(kind)
        found = self.components[kind].get(name)
        if (kind, name) in self.conflicts:
            raise PluginConflictError(
                self.conflicts[(kind, name)],
                hint="Uninstall one of them, or choose what loads with LF_PLUGINS=entry-point,entry-point.",
            )
        if found is not None:
            return found
        names = sorted(self.components[kind])
        close = difflib.get_close_matches(name, names, n=1)
        known = ", ".join(names) if names else "none"
        hint = f"Did you mean '{close[0]}'? " if close else ""
        broken = [p for p in self.plugins.values() if p.error]
        if broken:
            hint += "Some plugins failed to load: run `lf plugins` to see why. "
        hint += "Install a plugin that provides it (e.g. pip install lf-trainer-sft), then check `lf plugins`."
        raise PluginNotFoundError(
            f"No {kind} component named '{name}'. Installed {kind} components: {known}.", hint=hint
        )

    def kind_runner(self, kind: str) -> KindRunner | None:
        """The runner a plugin registered for ``kind`` (e.g. the router service for ``route``), or None."""
        _ = self.components
        if ("runner", kind) in self.conflicts:
            raise PluginConflictError(self.conflicts[("runner", kind)], hint="Uninstall one of them.")
        return self._runners.get(kind)

    def runner_of(self, spec: ComponentSpec) -> str | None:
        """``"module:function"`` that runs ``spec``: its own, its kind's in the core, or a plugin's kind runner."""
        if spec.runner or KINDS[spec.kind].runner:
            return spec.runner or KINDS[spec.kind].runner
        runner = self.kind_runner(spec.kind)
        return runner.runner if runner else None

    def config_type(self, spec: ComponentSpec) -> type[Any] | None:
        """The Struct ``lf run`` decodes for ``spec``: its config, merged with its kind runner's options."""
        runner = None if spec.runner or KINDS[spec.kind].runner else self.kind_runner(spec.kind)
        options = None if runner is None else runner.options_type()
        if options is None:
            return spec.config
        from lf.composite import composite_config

        return composite_config(options, spec.config, spec.name)

    def _check_kind(self, kind: str) -> None:
        if kind not in KINDS:
            close = difflib.get_close_matches(kind, list(KINDS), n=1)
            hint = f"Did you mean '{close[0]}'?" if close else None
            raise PluginNotFoundError(f"Unknown component kind '{kind}'. Kinds: {', '.join(KINDS)}.", hint=hint)

    # -- other hooks ----------------------------------------------------------------------------

    @property
    def hook(self) -> Any:
        """The pluggy hook relay (``registry.hook.lf_event(...)``)."""
        return self.pm.hook

    def call_safely(self, hook_name: str, **kwargs: Any) -> list[Any]:
        """Call a hook, turning an exception in any implementation into a reported problem."""
        results: list[Any] = []
        for impl in reversed(getattr(self.pm.hook, hook_name).get_hookimpls()):
            try:
                args = {k: v for k, v in kwargs.items() if k in impl.argnames}
                result = impl.function(**args)
            except Exception as exc:
                self._run_problems.append(f"{impl.plugin_name}.{hook_name} raised {type(exc).__name__}: {exc}")
                continue
            if result is not None:
                results.append(result)
        return results

    def report_problem(self, message: str) -> None:
        """Record a problem found while using a plugin (shown by `lf plugins` and `lf doctor`)."""
        self._run_problems.append(message)

    def iter_plugins(self) -> Iterable[PluginInfo]:
        """Loaded and failed plugins, built-ins first."""
        return sorted(self.plugins.values(), key=lambda p: (not p.builtin, p.name))


def _hook_names() -> set[str]:
    return {n for n in dir(hookspecs) if hasattr(getattr(hookspecs, n), "lf_spec")}


def _hook_for_kind(kind: str) -> str:
    return KINDS[kind].hook


def _core_version() -> str:
    from lf import __version__

    return __version__


_registry: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry, built on first use."""
    global _registry
    if _registry is None:
        _registry = Registry()
    return _registry


def reset_registry(registry: Registry | None = None) -> None:
    """Replace (or drop) the process-wide registry; for tests."""
    global _registry
    _registry = registry


def plugin_module(name: str, **hooks: Callable[..., Any]) -> types.ModuleType:
    """Build an in-memory plugin module from hook functions (handy in tests and notebooks).

    Example::

        reg.add_plugin(plugin_module("toy", register_trainers=my_register), name="toy")
    """
    module = types.ModuleType(name)
    for hook_name, function in hooks.items():
        setattr(module, hook_name, hookspecs.hookimpl(function))
    return module
