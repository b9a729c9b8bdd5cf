"""Regular-expression routing: registration and options only (imports nothing heavy)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from lf.components import ComponentSpec
from lf.hookspecs import Register, hookimpl


class RegexOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Options of the regex classifier; the router sets them beside its own (--set min_matches=2)."""

    min_matches: Annotated[
        int, msgspec.Meta(ge=1, description="Patterns a query must match to go to an expert (else the fallback)")
    ] = 1
    case_sensitive: Annotated[bool, msgspec.Meta(description="Match letter case exactly")] = False


@hookimpl
def register_classifiers(register: Register) -> None:
    """The `regex` classifier."""
    register(
        ComponentSpec(
            kind="route",
            name="regex",
            summary="Regular expressions per expert; the most matches win",
            config=RegexOptions,
            impl="lf_classifier_regex.classifier:RegexClassifier",
        )
    )
