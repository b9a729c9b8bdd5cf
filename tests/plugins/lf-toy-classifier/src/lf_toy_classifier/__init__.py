"""A classifier written only against lf's public contract (lf-core, nothing else): no change to the core needed."""

from __future__ import annotations

from typing import Annotated

import msgspec

from lf.components import ComponentSpec
from lf.hookspecs import Register, hookimpl


class ToyConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The toy classifier's own option (set beside the router's: --set min_hits=2)."""

    min_hits: Annotated[int, msgspec.Meta(ge=1, description="Keyword hits a query needs to leave the fallback")] = 1


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
