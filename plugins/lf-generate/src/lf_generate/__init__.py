"""LargeForge synthetic data and model evaluation.

Generators (``lf run generate --plugin NAME``, or ``lf generate NAME``):

* ``synthetic`` (alias ``data``) - instruction / response records from a teacher model;
* ``preferences`` - chosen / rejected pairs from answers at several temperatures, ranked
  by a judge model or by temperature.

Commands added to ``lf evaluate``: ``benchmark`` (perplexity of a model; latency and
throughput of an endpoint) and ``compare`` (two models side by side, with an HTML report).

Registration only: nothing heavy is imported here. The Python API of the requirements::

    from lf_generate import SyntheticDataGenerator
    gen = SyntheticDataGenerator("out/model")          # or base_url="http://127.0.0.1:8000/v1"
    data = gen.generate_instruction_data(["Explain tides."])
    gen.save_dataset(data, "tides.jsonl")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lf.components import ComponentSpec
from lf.hookspecs import Register, hookimpl
from lf_generate.config import JudgeConfig, ModelRef, PreferenceConfig, SyntheticConfig

if TYPE_CHECKING:
    import typer

_LAZY = {"SyntheticDataGenerator": "lf_generate.facade"}

__all__ = ["JudgeConfig", "ModelRef", "PreferenceConfig", "SyntheticConfig", "SyntheticDataGenerator"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lf_generate' has no attribute {name!r}")


@hookimpl
def register_generators(register: Register) -> None:
    """Register ``synthetic`` (alias ``data``) and ``preferences``."""
    register(
        ComponentSpec(
            kind="generate",
            name="synthetic",
            summary="Instruction data from a teacher model (any backend or OpenAI-compatible endpoint)",
            config=SyntheticConfig,
            impl="lf_generate.generators:SyntheticGenerator",
            aliases=("data",),
        )
    )
    register(
        ComponentSpec(
            kind="generate",
            name="preferences",
            summary="Preference pairs: answers at several temperatures, ranked by a judge or by temperature",
            config=PreferenceConfig,
            impl="lf_generate.generators:PreferenceGenerator",
        )
    )


@hookimpl
def register_commands(app: typer.Typer) -> None:
    """Add ``benchmark`` and ``compare`` to the ``lf evaluate`` group."""
    from lf_generate.evaluate.cli import add_commands

    add_commands(app)
