"""LargeForge ``lf export``: models in the formats other runtimes load (``lf export gguf`` for llama.cpp / Ollama).

Registration only: ``lf`` imports this module on every call, so it imports nothing heavy
(no torch, no gguf). The Python API is imported on first use::

    from lf_export import export_gguf
    result = export_gguf("runs/merged", "model.q8_0.gguf", type="q8_0")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lf.hookspecs import hookimpl

if TYPE_CHECKING:
    import typer

__all__ = ["export_gguf", "register_commands"]


def __getattr__(name: str) -> Any:
    if name == "export_gguf":
        return importlib.import_module("lf_export.gguf_export").export_gguf
    raise AttributeError(f"module 'lf_export' has no attribute {name!r}")


@hookimpl
def register_commands(app: typer.Typer) -> None:
    """Add the ``lf export`` group (``gguf``)."""
    from lf_export.cli import add_commands

    add_commands(app)
