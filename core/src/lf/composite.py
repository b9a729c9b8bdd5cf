"""Two option Structs as one flat config: a kind runner's options beside a component's own.

``lf serve router --classifier regex --set port=9000 --set min_hits=2`` decodes one
Struct that holds the router's fields (``port``) and the classifier's (``min_hits``);
the runner takes it apart again with :func:`split_config`. A name both Structs define is
a :class:`lf.errors.PluginError` naming the field and both Structs.
"""

from __future__ import annotations

import functools
import typing
from typing import Any

import msgspec

from lf.errors import PluginError

_PARTS = "__lf_parts__"


def _fields(struct: type[msgspec.Struct]) -> list[tuple[str, Any, Any]]:
    """The fields of ``struct`` as ``msgspec.defstruct`` takes them (types with their Annotated metadata)."""
    hints = typing.get_type_hints(struct, include_extras=True)
    out: list[tuple[str, Any, Any]] = []
    for info in msgspec.structs.fields(struct):
        if info.default_factory is not msgspec.NODEFAULT:
            out.append((info.name, hints[info.name], msgspec.field(default_factory=info.default_factory)))
        elif info.default is not msgspec.NODEFAULT:
            out.append((info.name, hints[info.name], info.default))
        else:
            out.append((info.name, hints[info.name]))  # type: ignore[arg-type]
    return out


@functools.cache
def composite_config(
    options: type[msgspec.Struct], component: type[msgspec.Struct] | None, name: str
) -> type[msgspec.Struct]:
    """One Struct with every field of ``options`` and of ``component`` (built once per pair)."""
    fields = _fields(options)
    if component is not None:
        mine = {f[0] for f in fields}
        for field in _fields(component):
            if field[0] in mine:
                raise PluginError(
                    f"The option '{field[0]}' of {component.__name__} ({name}) is also an option of "
                    f"{options.__name__}: one name cannot mean two things.",
                    hint=f"Rename the option in {component.__module__}.",
                )
            fields.append(field)
    struct_name = "".join(part.capitalize() for part in name.replace("-", "_").split("_")) + options.__name__
    cls = msgspec.defstruct(struct_name, fields, kw_only=True, forbid_unknown_fields=True, module=__name__)
    cls.__doc__ = (options.__doc__ or "").strip().splitlines()[0] if options.__doc__ else None
    if component is not None and component.__doc__:
        cls.__doc__ = f"{cls.__doc__ or ''} With the options of {name}: {component.__doc__.strip().splitlines()[0]}"
    setattr(cls, _PARTS, (options, component))
    return cls


def split_config(config: Any, options: type[msgspec.Struct]) -> tuple[Any, Any]:
    """``(options, component config or None)`` from a :func:`composite_config` instance.

    A plain ``options`` instance (not composite) comes back as ``(config, None)``. The
    component's part is rebuilt through its constructor, so its ``__post_init__`` checks run.
    """
    parts = getattr(type(config), _PARTS, None)
    if parts is None:
        if isinstance(config, options):
            return config, None
        raise TypeError(f"{type(config).__name__} is neither {options.__name__} nor a composite of it")
    options_type, component = parts
    values = {name: getattr(config, name) for name in config.__struct_fields__}
    mine = options_type(**{k: values[k] for k in options_type.__struct_fields__})
    if component is None:
        return mine, None
    return mine, component(**{k: values[k] for k in component.__struct_fields__})
