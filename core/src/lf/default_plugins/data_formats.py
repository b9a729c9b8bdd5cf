"""Registers the six built-in data formats (``lf.data.formats``) like any plugin would."""

from __future__ import annotations

from lf.components import ComponentSpec
from lf.data.formats import BUILTIN_FORMATS
from lf.hookspecs import Register, hookimpl


@hookimpl(trylast=True)
def register_data_formats(register: Register) -> None:
    """The built-in formats, most specific first (detection tries them in this order)."""
    for cls in BUILTIN_FORMATS:
        register(
            ComponentSpec(kind="format", name=cls.name, summary=cls.summary, impl=f"lf.data.formats:{cls.__name__}")
        )
