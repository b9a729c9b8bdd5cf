"""The ``format`` kind: one record shape, recognised, checked and converted.

A data format has a ``name``, a ``shape`` - ``"chat"``, ``"preference"`` or ``"text"``
- and the methods of :class:`DataFormat`; its shape says which converter it must have
(:data:`CONVERTERS`): ``to_messages(record)`` for chat (a list of ``{"role", "content"}``),
``to_preference(record)`` for preference (``lf.data.formats.Preference``), ``to_text(record)``
for text. ``from_messages(messages)`` is optional: with it, ``lf data convert`` can write
the format. The built-in formats (``lf.data.formats``) subclass ``DataFormat`` there;
plugins may follow the shape without inheriting.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

#: The converter a format of each shape must have.
CONVERTERS = {"chat": "to_messages", "preference": "to_preference", "text": "to_text"}


@runtime_checkable
class DataFormat(Protocol):
    """What ``lf data`` and the trainers call on a data format."""

    name: str
    shape: str

    def detect(self, record: Mapping[str, Any]) -> bool:
        """Whether ``record`` looks like this format (cheap: keys only)."""
        ...

    def validate(self, record: Mapping[str, Any]) -> list[str]:
        """Problems that make ``record`` unusable (empty when it is fine)."""
        ...

    def warnings(self, record: Mapping[str, Any]) -> list[str]:
        """Suspicious but usable content (empty when none)."""
        ...
