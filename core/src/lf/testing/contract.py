"""``check_plugin``: does a plugin honour the hook contract?

Use it in a plugin's own test suite::

    import lf_trainer_kto
    from lf.testing import check_plugin

    def test_contract():
        specs = check_plugin(lf_trainer_kto)
        assert [s.name for s in specs] == ["kto"]
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

import msgspec
import pluggy

from lf import hookspecs
from lf.components import KINDS, ComponentSpec, import_object
from lf.testing.exercise import EXERCISES


class ContractError(AssertionError):
    """A plugin breaks the contract; the message lists every problem found."""


def check_plugin(
    plugin: ModuleType | object, *, import_impls: bool = True, name: str | None = None
) -> list[ComponentSpec]:
    """Check ``plugin`` and return the components it registers; raise :class:`ContractError` listing problems.

    Checks: every hook implementation names a real hook (no typos, ``check_pending``);
    registration imports no torch; each spec is well formed (kind matches the hook, a
    one-line summary, a msgspec config Struct whose fields all have defaults or are
    required, positionals that are real fields); and with ``import_impls`` each
    implementation imports, has every member of its kind's interface in :mod:`lf.kinds`
    (the members its callers use), and is exercised where that needs no model: a
    classifier is built the way the router builds it from two experts and classifies
    queries; a data format detects and validates a record; backends and jobs are
    constructed as their runners construct them.
    """
    problems: list[str] = []
    pm = pluggy.PluginManager("lf")
    pm.add_hookspecs(hookspecs)
    plugin_name = name or getattr(plugin, "__name__", "plugin-under-test")
    pm.register(plugin, name=plugin_name)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        problems.append(f"misspelt or unknown hook: {exc}")

    torch_before = "torch" in sys.modules
    collected: list[tuple[ComponentSpec, str]] = []
    for kind in KINDS.values():
        for impl in getattr(pm.hook, kind.hook).get_hookimpls():
            registered: list[ComponentSpec] = []
            try:
                impl.function(register=registered.append)
            except Exception as exc:
                problems.append(f"{kind.hook} raised {type(exc).__name__}: {exc}")
                continue
            collected += [(spec, kind.name) for spec in registered]
    if not torch_before and "torch" in sys.modules:
        problems.append("registering imported torch: import it inside the implementation, not at module level")
    specs: list[ComponentSpec] = []
    for spec, kind_name in collected:
        problems += _check_spec(spec, kind_name, import_impls)
        specs.append(spec)
    names = [(s.kind, n) for s in specs for n in (s.name, *s.aliases)]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        problems.append(f"names registered twice: {sorted(dupes)}")
    if problems:
        raise ContractError(f"plugin {plugin_name} breaks the lf contract:\n  - " + "\n  - ".join(problems))
    return specs


def _check_spec(spec: Any, kind: str, import_impls: bool) -> list[str]:
    if not isinstance(spec, ComponentSpec):
        return [f"register() was given {type(spec).__name__}, not a ComponentSpec"]
    where = f"{spec.kind} '{spec.name}'"
    problems = []
    if spec.kind != kind:
        problems.append(f"{where} was registered through the hook of kind '{kind}'")
    if not spec.summary.strip() or "\n" in spec.summary:
        problems.append(f"{where}: summary must be one non-empty line")
    if spec.config is not None:
        problems += _check_config(where, spec.config, spec.positionals)
    elif spec.positionals:
        problems.append(f"{where}: positionals given but there is no config")
    if import_impls:
        try:
            impl = spec.load()
        except Exception as exc:
            return [*problems, f"{where}: {exc}"]
        missing = [m for m in KINDS[spec.kind].required if not hasattr(impl, m)]
        if missing:
            interface = KINDS[spec.kind].interface.rpartition(":")[2]
            problems.append(
                f"{where}: implementation {spec.impl} lacks {', '.join(missing)} (see lf.kinds.{interface})"
            )
        elif spec.kind in EXERCISES:
            problems += [f"{where}: {p}" for p in EXERCISES[spec.kind](spec, impl)]
        if spec.runner:
            try:
                import_object(spec.runner, f"the runner of {where}")
            except Exception as exc:
                problems.append(f"{where}: {exc}")
    return problems


def _check_config(where: str, config: type[msgspec.Struct], positionals: tuple[str, ...]) -> list[str]:
    from lf.config import describe_fields

    problems = []
    try:
        docs = describe_fields(config)
    except Exception as exc:
        return [f"{where}: config {config.__name__} cannot be described: {exc}"]
    fields = {d.path for d in docs}
    for p in positionals:
        if p not in fields:
            problems.append(f"{where}: positional '{p}' is not a config field")
    if not getattr(config, "__struct_config__", None) or not config.__struct_config__.forbid_unknown_fields:
        problems.append(f"{where}: declare {config.__name__} with forbid_unknown_fields=True so typos are caught")
    return problems
