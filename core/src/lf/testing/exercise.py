"""What ``check_plugin`` runs of a component beyond its shape: what passes the kit also runs.

Each exercise builds the component the way its caller does, without a model or data,
and returns the problems it found (empty when all is well).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lf.components import ComponentSpec

_QUERIES = ["How do I fix this python function?", "Write a short poem about the sea."]


def _construct(impl: Any) -> tuple[Any, list[str]]:
    """``impl()`` as the runners do (a class is instantiated without arguments)."""
    try:
        return (impl() if isinstance(impl, type) else impl), []
    except Exception as exc:
        return None, [f"cannot be constructed without arguments, as its runner does: {type(exc).__name__}: {exc}"]


def exercise_classifier(spec: ComponentSpec, impl: Any) -> list[str]:
    """Build it from two experts as the router does, classify, sync a third expert."""
    from lf.kinds import ClassificationResult, ExpertInfo

    experts = [
        ExpertInfo(name="general", description="Anything else"),
        ExpertInfo(name="code", description="Programming help", keywords=("python", "function", "bug")),
    ]
    try:
        config = spec.default_config()
    except Exception:
        return []  # options without defaults: the router needs the user's values to build it
    try:
        classifier = impl.from_config(config, experts, fallback_expert="general")
        results = [classifier.classify(q) for q in _QUERIES]
        batch = classifier.classify_batch(_QUERIES)
        classifier.sync_experts([*experts, ExpertInfo(name="math", description="Arithmetic", keywords=("sum",))])
        names = {e.name for e in classifier.list_experts()}
        fallback = classifier.fallback_expert
    except Exception as exc:
        return [f"failed when built and used as the router does: {type(exc).__name__}: {exc}"]
    problems = []
    for result in [*results, *batch]:
        if not isinstance(result, ClassificationResult):
            return [f"classify returned {type(result).__name__}, not lf.kinds.ClassificationResult"]
        if result.expert not in {"general", "code"}:
            problems.append(f"classify chose '{result.expert}', which is not one of its experts")
    if len(batch) != len(_QUERIES):
        problems.append(f"classify_batch returned {len(batch)} results for {len(_QUERIES)} queries")
    if names != {"general", "code", "math"}:
        problems.append(f"after sync_experts it lists {sorted(names)}, not general, code and math")
    if fallback != "general":
        problems.append(f"fallback_expert is {fallback!r}, not the 'general' it was given")
    return problems


def exercise_data_format(spec: ComponentSpec, impl: Any) -> list[str]:
    """Construct it; it has the converter its shape names; detect/validate answer on a record."""
    from lf.kinds import CONVERTERS

    fmt, problems = _construct(impl)
    if fmt is None:
        return problems
    converter = CONVERTERS.get(getattr(fmt, "shape", None) or "")
    if converter is None:
        return [f"shape is {getattr(fmt, 'shape', None)!r}; expected one of {', '.join(CONVERTERS)}"]
    if not callable(getattr(fmt, converter, None)):
        problems.append(f"a {fmt.shape} format needs {converter}(record)")
    try:
        detected, found = fmt.detect({}), fmt.validate({})
    except Exception as exc:
        return [*problems, f"detect/validate raised on an empty record: {type(exc).__name__}: {exc}"]
    if not isinstance(detected, bool) or not isinstance(found, list):
        problems.append("detect must return a bool and validate a list of problems")
    return problems


def exercise_construct(spec: ComponentSpec, impl: Any) -> list[str]:
    """Backends and jobs: constructed as their runners construct them."""
    return _construct(impl)[1]


#: The exercise of each kind.
EXERCISES: dict[str, Callable[[ComponentSpec, Any], list[str]]] = {
    "route": exercise_classifier,
    "format": exercise_data_format,
    "serve": exercise_construct,
    "train": exercise_construct,
    "quantize": exercise_construct,
    "generate": exercise_construct,
}
