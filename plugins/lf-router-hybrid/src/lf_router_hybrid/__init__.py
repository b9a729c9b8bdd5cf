"""lf-router-hybrid: query classifiers that pick the expert model for each query.

Three classifiers, registered under the ``route`` kind:

* ``keyword`` - words, phrases, weights and regular expressions; microseconds per query.
* ``neural`` - all-MiniLM-L6-v2 sentence embeddings and k-nearest exemplars (offline),
  trainable (``train``), with per-expert abstain thresholds (``fit_thresholds``).
* ``hybrid`` - keywords as the fast path, otherwise a weighted combination with neural.

and the router service that uses them (``lf run route --plugin hybrid``, ``lf serve router``):
an OpenAI-compatible proxy in front of the experts' servers.

Python API (imported lazily, so importing this package stays cheap)::

    from lf_router_hybrid import HybridClassifier, KeywordClassifier, NeuralClassifier
    from lf.experts import ExpertManager

    router = HybridClassifier.from_experts(ExpertManager("experts.yaml"))
    router.classify("Why does my Python script raise KeyError?").expert   # 'code'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lf.components import ComponentSpec
from lf.hookspecs import Register, hookimpl
from lf_router_hybrid.config import (
    HybridConfig,
    HybridRouterConfig,
    KeywordConfig,
    KeywordRouterConfig,
    NeuralConfig,
    NeuralRouterConfig,
    ServiceOptions,
)

if TYPE_CHECKING:
    import typer

    from lf_router_hybrid.base import BaseClassifier
    from lf_router_hybrid.defaults import default_experts
    from lf_router_hybrid.hybrid import HybridClassifier
    from lf_router_hybrid.keyword import KeywordClassifier, mine_keywords
    from lf_router_hybrid.neural import NeuralClassifier
    from lf_router_hybrid.service.app import create_router_app
    from lf_router_hybrid.types import ClassificationResult, ExpertInfo

_LAZY = {
    "BaseClassifier": "lf_router_hybrid.base",
    "ClassificationResult": "lf_router_hybrid.types",
    "ExpertInfo": "lf_router_hybrid.types",
    "HybridClassifier": "lf_router_hybrid.hybrid",
    "KeywordClassifier": "lf_router_hybrid.keyword",
    "NeuralClassifier": "lf_router_hybrid.neural",
    "create_router_app": "lf_router_hybrid.service.app",
    "default_experts": "lf_router_hybrid.defaults",
    "mine_keywords": "lf_router_hybrid.keyword",
}

__all__ = [
    "BaseClassifier",
    "ClassificationResult",
    "ExpertInfo",
    "HybridClassifier",
    "HybridConfig",
    "KeywordClassifier",
    "KeywordConfig",
    "NeuralClassifier",
    "NeuralConfig",
    "ServiceOptions",
    "create_router_app",
    "default_experts",
    "mine_keywords",
    "register_classifiers",
    "register_commands",
]

_RUNNER = "lf_router_hybrid.service.runner:run_router"


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lf_router_hybrid' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


@hookimpl
def register_classifiers(register: Register) -> None:
    """The ``keyword``, ``neural`` and ``hybrid`` classifiers; running one starts the router service."""
    register(
        ComponentSpec(
            kind="route",
            name="keyword",
            summary="Keyword, phrase and regex matching with weights (microseconds per query)",
            config=KeywordRouterConfig,
            runner=_RUNNER,
            impl="lf_router_hybrid.keyword:KeywordClassifier",
        )
    )
    register(
        ComponentSpec(
            kind="route",
            name="neural",
            summary="MiniLM sentence embeddings, k-nearest exemplars, trainable thresholds",
            config=NeuralRouterConfig,
            runner=_RUNNER,
            impl="lf_router_hybrid.neural:NeuralClassifier",
        )
    )
    register(
        ComponentSpec(
            kind="route",
            name="hybrid",
            summary="Keyword fast path, else keyword and neural scores combined",
            config=HybridRouterConfig,
            runner=_RUNNER,
            impl="lf_router_hybrid.hybrid:HybridClassifier",
        )
    )


@hookimpl
def register_commands(app: typer.Typer) -> None:
    """``lf serve router``: the requirements' command for the router service."""
    from lf.cli.friendly import group
    from lf_router_hybrid.cli import router

    group(app, "serve").command("router")(router)
