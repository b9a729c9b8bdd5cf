"""Regular-expression routing: registration only (imports nothing heavy)."""

from __future__ import annotations

from lf.components import ComponentSpec
from lf.hookspecs import Register, hookimpl


@hookimpl
def register_classifiers(register: Register) -> None:
    """The `regex` classifier."""
    register(
        ComponentSpec(
            kind="route",
            name="regex",
            summary="Regular expressions per expert; the most matches win",
            impl="lf_classifier_regex.classifier:RegexClassifier",
        )
    )
