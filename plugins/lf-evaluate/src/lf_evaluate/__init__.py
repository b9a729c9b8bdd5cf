"""LargeForge ``lf evaluate``: perplexity on held-out text, as a command and a Python API.

Registration only: ``lf`` imports this module on every call, so it imports nothing heavy.
The Python API is imported on first use::

    from lf_evaluate import perplexity, load_texts
    result = perplexity("out/model", load_texts("heldout.jsonl"))
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lf.hookspecs import hookimpl
from lf_evaluate.config import PerplexityConfig, PerplexityResult

if TYPE_CHECKING:
    import typer

_LAZY = {
    "perplexity": "lf_evaluate.perplexity",
    "perplexity_of": "lf_evaluate.perplexity",
    "load_model": "lf_evaluate.perplexity",
    "load_texts": "lf_evaluate.texts",
    "bundled_texts": "lf_evaluate.texts",
}

__all__ = ["PerplexityConfig", "PerplexityResult", "register_commands", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lf_evaluate' has no attribute {name!r}")


@hookimpl
def register_commands(app: typer.Typer) -> None:
    """Add the ``lf evaluate`` group (``perplexity``)."""
    from lf_evaluate.cli import add_commands

    add_commands(app)
