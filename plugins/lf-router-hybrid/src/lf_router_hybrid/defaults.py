"""The built-in experts (general, code, math, writing): ``registry: builtin``."""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lf.experts import ExpertConfig

BUILTIN = "builtin"


def default_experts() -> list[ExpertConfig]:
    """The shipped experts: description, domains, keywords and 20 example queries each."""
    from lf.experts import parse_registry

    text = resources.files("lf_router_hybrid").joinpath("default_experts.yaml").read_text(encoding="utf-8")
    return parse_registry(text, "lf_router_hybrid/default_experts.yaml")
