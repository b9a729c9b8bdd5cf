"""lf-router-hybrid: query classifiers that pick the expert model for each query.

Three classifiers, registered under the ``route`` kind:

* ``keyword`` - words, phrases, weights and regular expressions; microseconds per query.
* ``neural`` - all-MiniLM-L6-v2 sentence embeddings and k-nearest exemplars (offline),
  trainable (``train``), with per-expert abstain thresholds (``fit_thresholds``).
* ``hybrid`` - keywords as the fast path, otherwise a weighted combination with neural.

and the router service, registered as the runner of the ``route`` kind: ``lf run route
--plugin NAME`` / ``lf serve router --classifier NAME`` serve any registered classifier,
these three or a third-party one, as an OpenAI-compatible proxy in front of the experts.
The classifier contract itself (``BaseClassifier``, ``ClassificationResult``,
``ExpertInfo``) lives in the core: :mod:`lf.kinds`.

Python API (imported lazily, so importing this package stays cheap)::

    from lf_router_hybrid import HybridClassifier, KeywordClassifier, NeuralClassifier
    from lf.experts import ExpertManager

    router = HybridClassifier.from_config(None, ExpertManager("experts.yaml"))
    router.classify("Why does my Python script raise KeyError?").expert   # 'code'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lf.components import ComponentSpec, KindRunner
from lf.hookspecs import Register, RegisterRunner, hookimpl
from lf_router_hybrid.config import HybridConfig, KeywordConfig, NeuralConfig

if TYPE_CHECKING:
    import typer

    from lf.kinds import BaseClassifier, ClassificationResult, ExpertInfo
    from lf_router_hybrid.defaults import default_experts
    from lf_router_hybrid.hybrid import HybridClassifier
    from lf_router_hybrid.keyword import KeywordClassifier, mine_keywords
    from lf_router_hybrid.neural import NeuralClassifier
    from lf_router_hybrid.service.app import create_router_app
    from lf_router_hybrid.service.options import RouterOptions

_LAZY = {
    "BaseClassifier": "lf.kinds",
    "ClassificationResult": "lf.kinds",
    "ExpertInfo": "lf.kinds",
    "HybridClassifier": "lf_router_hybrid.hybrid",
    "KeywordClassifier": "lf_router_hybrid.keyword",
    "NeuralClassifier": "lf_router_hybrid.neural",
    "RouterOptions": "lf_router_hybrid.service.options",
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
    "RouterOptions",
    "create_router_app",
    "default_experts",
    "mine_keywords",
    "register_classifiers",
    "register_commands",
    "register_kind_runners",
]


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
    """The ``keyword``, ``neural`` and ``hybrid`` classifiers (served by the router like any other)."""
    register(
        ComponentSpec(
            kind="route",
            name="keyword",
            summary="Keyword, phrase and regex matching with weights (microseconds per query)",
            config=KeywordConfig,
            impl="lf_router_hybrid.keyword:KeywordClassifier",
        )
    )
    register(
        ComponentSpec(
            kind="route",
            name="neural",
            summary="MiniLM sentence embeddings, k-nearest exemplars, trainable thresholds",
            config=NeuralConfig,
            impl="lf_router_hybrid.neural:NeuralClassifier",
        )
    )
    register(
        ComponentSpec(
            kind="route",
            name="hybrid",
            summary="Keyword fast path, else keyword and neural scores combined",
            config=HybridConfig,
            impl="lf_router_hybrid.hybrid:HybridClassifier",
        )
    )


@hookimpl
def register_kind_runners(register: RegisterRunner) -> None:
    """The router service runs every ``route`` component: ``lf run route --plugin NAME``."""
    register(
        KindRunner(
            kind="route",
            runner="lf_router_hybrid.service.runner:run_router",
            summary="The expert router: an OpenAI-compatible proxy in front of the experts",
            options="lf_router_hybrid.service.options:RouterOptions",  # imported when a command needs it
        )
    )


@hookimpl
def register_commands(app: typer.Typer) -> None:
    """``lf serve router``: the requirements' command for the router service."""
    from lf.plugin_api import command_group
    from lf_router_hybrid.cli import router

    command_group(app, "serve").command("router")(router)
