"""A classifier written only against lf's public contract: no change to the core needed."""

from __future__ import annotations

import msgspec

from lf.components import ComponentSpec
from lf.hookspecs import Register, hookimpl


class ToyConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Expert name -> words that send a query there."""

    experts: dict[str, list[str]] = msgspec.field(
        default_factory=lambda: {"code": ["python", "bug"], "math": ["sum", "plus"]}
    )
    fallback: str = "general"


@hookimpl
def register_classifiers(register: Register) -> None:
    """One classifier, ``toy``."""
    register(
        ComponentSpec(
            kind="route",
            name="toy",
            summary="Counts keyword hits per expert",
            config=ToyConfig,
            impl="lf_toy_classifier.classifier:ToyClassifier",
        )
    )
