"""One interface per kind of component: what a plugin must implement, and what it gets back.

========== =========================== =============================================
kind       interface                   module
========== =========================== =============================================
train      :class:`Job`                :mod:`lf.kinds.job` (also quantize, generate)
serve      :class:`Backend`            :mod:`lf.kinds.backend`
route      :class:`Classifier`         :mod:`lf.kinds.route` (:class:`BaseClassifier`)
format     :class:`DataFormat`         :mod:`lf.kinds.data_format`
========== =========================== =============================================

The callers - the runner, the server, the router, ``lf data`` - use exactly these
definitions, and :func:`lf.testing.check_plugin` checks a plugin against them
(:func:`required_members`), so a component that passes the kit runs.
"""

from __future__ import annotations

from typing import Any

from lf.kinds.backend import OPTIONAL_BACKEND_METHODS, Backend
from lf.kinds.data_format import CONVERTERS, DataFormat
from lf.kinds.job import Job
from lf.kinds.route import (
    GENERAL,
    BaseClassifier,
    ClassificationResult,
    Classifier,
    ExpertInfo,
    ExpertSource,
    apply_exclusions,
)

__all__ = [
    "CONVERTERS",
    "GENERAL",
    "INTERFACES",
    "OPTIONAL_BACKEND_METHODS",
    "Backend",
    "BaseClassifier",
    "ClassificationResult",
    "Classifier",
    "DataFormat",
    "ExpertInfo",
    "ExpertSource",
    "Job",
    "apply_exclusions",
    "required_members",
]

#: The interface of each kind of component.
INTERFACES: dict[str, type[Any]] = {
    "format": DataFormat,
    "train": Job,
    "serve": Backend,
    "quantize": Job,
    "route": Classifier,
    "generate": Job,
}


def required_members(interface: type[Any]) -> tuple[str, ...]:
    """The public methods and attributes an implementation of ``interface`` must have, in order."""
    names: dict[str, None] = {}
    for klass in reversed(interface.__mro__):
        if klass is object or klass.__name__ in ("Protocol", "Generic"):
            continue
        for name in (*getattr(klass, "__annotations__", {}), *vars(klass)):
            if not name.startswith("_"):
                names[name] = None
    return tuple(names)
