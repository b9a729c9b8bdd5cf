"""What a plugin registers: component specs, the kinds, and the shapes components follow.

A *component* is one thing a user can pick by name: the ``sft`` trainer, the ``hf``
backend, the ``alpaca`` data format. A plugin describes each with a light
:class:`ComponentSpec` (name, one-line summary, config Struct, and a lazy ``"module:attr"``
reference to the implementation). Nothing heavy is imported until the component runs.

This module imports only the standard library and msgspec, so that registering a
component costs microseconds.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from lf.errors import PluginBrokenError


@dataclass(frozen=True)
class Kind:
    """A kind of component: which hook registers it and how the CLI presents it."""

    name: str
    hook: str
    verb: str
    description: str
    #: ``"module:function"`` that runs a component of this kind, or None when the core does not
    #: run it itself (a plugin may, through ``register_kind_runners``: the router runs ``route``).
    runner: str | None = None
    #: ``"lf.kinds:Name"``: the interface an implementation follows (see :mod:`lf.kinds`).
    interface: str = ""

    @property
    def required(self) -> tuple[str, ...]:
        """Methods and attributes an implementation must have (``check_plugin`` checks them)."""
        from lf.kinds import required_members

        return required_members(import_object(self.interface, f"the interface of the {self.name} kind"))


#: Every kind of component, keyed by the name users type in ``lf run KIND``.
KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "format",
            "register_data_formats",
            "data",
            "Data formats: detect, validate, convert records",
            interface="lf.kinds:DataFormat",
        ),
        Kind(
            "train",
            "register_trainers",
            "train",
            "Trainers: fine-tune or pretrain a model",
            runner="lf.runner:run_job",
            interface="lf.kinds:Job",
        ),
        Kind(
            "serve",
            "register_backends",
            "serve",
            "Inference backends for the OpenAI-compatible server",
            runner="lf.serve.runner:run_server",
            interface="lf.kinds:Backend",
        ),
        Kind(
            "quantize",
            "register_quantizers",
            "quantize",
            "Quantizers: compress a model's weights",
            runner="lf.runner:run_job",
            interface="lf.kinds:Job",
        ),
        Kind(
            "route",
            "register_classifiers",
            "route",
            "Query classifiers for the expert router",
            interface="lf.kinds:Classifier",
        ),
        Kind(
            "generate",
            "register_generators",
            "generate",
            "Data generators: synthetic SFT and preference data",
            runner="lf.runner:run_job",
            interface="lf.kinds:Job",
        ),
    )
}

_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]*$")


@dataclass
class ComponentSpec:
    """A component as a plugin registers it.

    Args:
        kind: one of :data:`KINDS` (``"train"``, ``"serve"``, ``"format"``, ...).
        name: what users type: ``lf run train --plugin NAME``. Lower case, digits, ``-``, ``_``.
        summary: one line shown by ``lf plugins`` and in ``--help``.
        config: a ``msgspec.Struct`` type holding every option, each with a default or
            required. Define it in a module that imports only msgspec, so that ``lf --help``
            stays fast. ``None`` for components without options (data formats).
        impl: ``"package.module:Attribute"`` - imported only when the component is used.
        runner: optional ``"module:function"`` overriding the kind's runner
            (``function(spec, config, events) -> RunResult``).
        positionals: config fields that the friendly command (``lf train sft ...``) takes
            as positional arguments, in order (e.g. ``("model", "output_dir")``).
        aliases: other names that resolve to this component.
    """

    kind: str
    name: str
    summary: str
    impl: str
    config: type[msgspec.Struct] | None = None
    runner: str | None = None
    positionals: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    # Filled in by the plugin manager:
    package: str = field(default="?", compare=False)
    version: str = field(default="?", compare=False)
    plugin: str = field(default="?", compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown component kind {self.kind!r}; expected one of {sorted(KINDS)}")
        for n in (self.name, *self.aliases):
            if not _NAME_RE.match(n):
                raise ValueError(f"component name {n!r} must start with a letter and use only a-z, 0-9, '-' and '_'")
        if ":" not in self.impl:
            raise ValueError(f"impl {self.impl!r} must look like 'package.module:Attribute'")
        if self.config is not None and not (isinstance(self.config, type) and issubclass(self.config, msgspec.Struct)):
            raise ValueError(f"config of {self.name!r} must be a msgspec.Struct subclass")

    def load(self) -> Any:
        """Import and return the implementation (class, factory or object)."""
        return import_object(self.impl, f"the {self.kind} component '{self.name}' ({self.package})")

    def default_config(self) -> msgspec.Struct | None:
        """The config with defaults only; fails if some field is required."""
        return None if self.config is None else msgspec.convert({}, self.config)


@dataclass
class KindRunner:
    """What runs every component of a kind that the core does not run itself.

    The router service (lf-router-hybrid) registers one for ``route``: ``lf run route
    --plugin NAME`` serves any registered classifier. ``options`` (a msgspec Struct) are the
    runner's own settings; a component's options are merged beside them (flat: ``--set
    port=8080 --set threshold=0.4``), and the runner gets them back apart with
    :func:`lf.composite.split_config`.

    Args:
        kind: the kind it runs (one of :data:`KINDS`).
        runner: ``"module:function"``; ``function(spec, config, events) -> RunResult``.
        summary: one line for ``lf plugins``.
        options: the runner's own config Struct, or ``"module:Struct"`` - imported only when a
            command needs the options (``lf run KIND``, ``lf config show``), not at start-up - or None.
    """

    kind: str
    runner: str
    summary: str
    options: type[msgspec.Struct] | str | None = None
    package: str = field(default="?", compare=False)
    plugin: str = field(default="?", compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown component kind {self.kind!r}; expected one of {sorted(KINDS)}")
        if ":" not in self.runner:
            raise ValueError(f"runner {self.runner!r} must look like 'package.module:function'")
        if isinstance(self.options, str) and ":" not in self.options:
            raise ValueError(f"options {self.options!r} must be a Struct or look like 'package.module:Struct'")

    def options_type(self) -> type[msgspec.Struct] | None:
        """The options Struct, imported on first use when it was given as ``"module:Struct"``."""
        if isinstance(self.options, str):
            self.options = import_object(self.options, f"the options of the {self.kind} runner")
        return None if isinstance(self.options, str) else self.options


def import_object(path: str, what: str) -> Any:
    """Import ``"module:attr.sub"``; a failure becomes a clear :class:`PluginBrokenError`."""
    module_name, _, attr = path.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except ImportError as exc:
        raise PluginBrokenError(
            f"Could not load {what}: {type(exc).__name__}: {exc}",
            hint="Install the plugin's dependencies (see `lf doctor`), or reinstall the plugin.",
        ) from exc
    except AttributeError as exc:
        raise PluginBrokenError(f"Could not load {what}: {path} does not exist ({exc}).") from exc
    return obj


# --- What running components report ----------------------------------------------------------


class RunResult(msgspec.Struct, kw_only=True):
    """What a job (training, quantization, generation) returns.

    ``metrics`` are final numbers (loss, perplexity, records written...), ``artifacts``
    names the files it wrote (``{"model": "out/", "log": "out/train_log.jsonl"}``).
    """

    output_dir: str | None = None
    metrics: dict[str, float] = {}
    artifacts: dict[str, str] = {}
    summary: str = ""


class TrainResult(RunResult, kw_only=True):
    """What a trainer returns."""

    global_step: int = 0
    resumed_from: str | None = None


class QuantizeResult(RunResult, kw_only=True):
    """What a quantizer returns; ``metrics`` holds sizes and perplexities."""

    verdict: str = "pass"


class Events(Protocol):
    """The sink a running component reports to; the core renders it (progress bars, logs).

    Components call these freely; they are cheap and never raise.
    """

    def progress(self, description: str, completed: float, total: float | None = None, **fields: Any) -> None:
        """Report progress of a task named ``description`` (a new name starts a new bar)."""

    def metrics(self, values: Mapping[str, float], step: int | None = None) -> None:
        """Report numbers (loss, lr, tokens/s ...) at a step."""

    def message(self, text: str, level: str = "info") -> None:
        """Tell the user something (``level``: debug, info, warning, error)."""

    def artifact(self, name: str, path: str) -> None:
        """Announce a file or directory the component wrote."""


class NullEvents:
    """An :class:`Events` sink that drops everything (Python API use, tests)."""

    def progress(self, description: str, completed: float, total: float | None = None, **fields: Any) -> None:
        """Drop progress."""

    def metrics(self, values: Mapping[str, float], step: int | None = None) -> None:
        """Drop metrics."""

    def message(self, text: str, level: str = "info") -> None:
        """Drop messages."""

    def artifact(self, name: str, path: str) -> None:
        """Drop artifacts."""
