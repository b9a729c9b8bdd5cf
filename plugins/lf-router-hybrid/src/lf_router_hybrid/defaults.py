"""The built-in experts (general, code, math, writing) and where a classifier finds its registry."""

from __future__ import annotations

import os
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lf.experts import ExpertConfig, ExpertManager

BUILTIN = "builtin"


def default_experts() -> list[ExpertConfig]:
    """The shipped experts: description, domains, keywords and 20 example queries each."""
    from lf.experts import parse_registry

    text = resources.files("lf_router_hybrid").joinpath("default_experts.yaml").read_text(encoding="utf-8")
    return parse_registry(text, "lf_router_hybrid/default_experts.yaml")


def load_registry_source(registry: str | None) -> ExpertManager | list[ExpertConfig]:
    """The experts a classifier starts from.

    ``registry`` names a YAML file; ``"builtin"`` means the shipped experts; ``None`` means
    ``$LF_EXPERTS_FILE``, else the default registry file if it exists, else the shipped experts.
    """
    from pathlib import Path

    from lf.errors import ConfigError
    from lf.experts import ENV_VAR, ExpertManager, default_registry_path

    if registry == BUILTIN:
        return default_experts()
    if registry:
        path = Path(registry).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"Expert registry {path} does not exist.",
                hint="Create it with `lf expert add NAME ...`, or leave registry empty for the built-in experts.",
            )
        return ExpertManager(path)
    if os.environ.get(ENV_VAR) or default_registry_path().is_file():
        return ExpertManager(default_registry_path())
    return default_experts()
