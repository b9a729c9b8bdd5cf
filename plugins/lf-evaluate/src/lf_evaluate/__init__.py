"""LargeForge ``lf evaluate``: perplexity on held-out text, as a command and a Python API.

Registration only: ``lf`` imports this module on every call, so it imports nothing heavy.
The Python API is imported on first use::

    from lf_evaluate import perplexity, load_texts
    result = perplexity("out/model", load_texts("heldout.jsonl"))

Other plugins (lf-generate, lf-quantize) use this API only - texts (``load_texts``,
``bundled_texts``, ``split_plain_text``, ``DATA_SUFFIXES``), perplexity (``perplexity``,
``perplexity_of``, ``load_model``, ``check_model_dir``, ``resolve_device``) and task scores
(``run_tasks`` with a ``TasksConfig``) - never its modules (a ruff rule keeps it so).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lf.hookspecs import hookimpl
from lf_evaluate.config import PerplexityConfig, PerplexityResult, TasksConfig

if TYPE_CHECKING:
    import typer

    from lf_evaluate.harness import run_tasks
    from lf_evaluate.scoring import check_model_dir, load_model, perplexity, perplexity_of, resolve_device
    from lf_evaluate.texts import DATA_SUFFIXES, bundled_texts, load_texts, split_plain_text

_LAZY = {
    "perplexity": "lf_evaluate.scoring",
    "perplexity_of": "lf_evaluate.scoring",
    "load_model": "lf_evaluate.scoring",
    "check_model_dir": "lf_evaluate.scoring",
    "resolve_device": "lf_evaluate.scoring",
    "load_texts": "lf_evaluate.texts",
    "bundled_texts": "lf_evaluate.texts",
    "split_plain_text": "lf_evaluate.texts",
    "DATA_SUFFIXES": "lf_evaluate.texts",
    "run_tasks": "lf_evaluate.harness",
}

__all__ = [  # noqa: RUF022 - the eager names, then the lazy ones in _LAZY's order
    "PerplexityConfig",
    "PerplexityResult",
    "TasksConfig",
    "register_commands",
    "perplexity",
    "perplexity_of",
    "load_model",
    "check_model_dir",
    "resolve_device",
    "load_texts",
    "bundled_texts",
    "split_plain_text",
    "DATA_SUFFIXES",
    "run_tasks",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lf_evaluate' has no attribute {name!r}")


@hookimpl
def register_commands(app: typer.Typer) -> None:
    """Add the ``lf evaluate`` group (``perplexity``)."""
    from lf_evaluate.cli import add_commands

    add_commands(app)
