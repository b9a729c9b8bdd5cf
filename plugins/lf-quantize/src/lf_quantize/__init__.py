"""LargeForge quantizers ``awq`` and ``gptq`` (llm-compressor), each ending with a quality report.

Registration only: ``lf`` imports this module on every call, so it imports nothing heavy.
The implementations (:mod:`lf_quantize.quantizer`) load when a quantizer runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lf.components import ComponentSpec
from lf.hookspecs import Register, hookimpl
from lf_quantize.config import AWQConfig, GPTQConfig, QuantizeConfig, QuantizeReport

if TYPE_CHECKING:
    import typer

__all__ = ["AWQConfig", "GPTQConfig", "QuantizeConfig", "QuantizeReport", "register_commands", "register_quantizers"]


@hookimpl
def register_quantizers(register: Register) -> None:
    """Register ``awq`` and ``gptq``: ``lf quantize awq MODEL OUT`` / ``lf run quantize --plugin gptq``."""
    register(
        ComponentSpec(
            kind="quantize",
            name="awq",
            summary="AWQ 4/8-bit weight quantization (llm-compressor; compressed-tensors output) + quality report",
            config=AWQConfig,
            impl="lf_quantize.quantizer:AWQQuantizer",
            positionals=("model", "output_dir"),
        )
    )
    register(
        ComponentSpec(
            kind="quantize",
            name="gptq",
            summary="GPTQ 4/8-bit weight quantization (llm-compressor; compressed-tensors output) + quality report",
            config=GPTQConfig,
            impl="lf_quantize.quantizer:GPTQQuantizer",
            positionals=("model", "output_dir"),
        )
    )


@hookimpl
def register_commands(app: typer.Typer) -> None:
    """Add ``lf quantize setup`` (creates the engine environment)."""
    from lf_quantize.cli import add_commands

    add_commands(app)
