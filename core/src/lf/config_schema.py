"""Describing a config Struct: its fields, types, defaults, limits and descriptions.

:func:`describe_fields` feeds ``lf config show`` (:func:`config_template`), the friendly
commands' ``--option`` flags and the generated reference in ``docs/config.md``.
"""

from __future__ import annotations

from typing import Any

import msgspec


def field_names(struct_type: type[msgspec.Struct], dotted: str = "") -> list[str]:
    """Field names of the (nested) Struct at ``dotted``."""
    info: Any = _struct_info(struct_type)
    for part in [p for p in dotted.split(".") if p]:
        nested = next((f for f in info.fields if f.encode_name == part), None)
        sub = _unwrap_struct(nested.type) if nested else None
        if sub is None:
            return []
        info = sub
    return [f.encode_name for f in info.fields]


def _struct_info(struct_type: type[msgspec.Struct]) -> Any:
    import msgspec.inspect as mi

    return mi.type_info(struct_type)


def _unwrap_struct(t: Any) -> Any:
    import msgspec.inspect as mi

    if isinstance(t, mi.Metadata):
        t = t.type
    if isinstance(t, mi.StructType):
        return t
    if isinstance(t, mi.UnionType):
        for sub in t.types:
            if isinstance(sub, mi.StructType):
                return sub
    return None


def describe_fields(struct_type: type[msgspec.Struct]) -> list[FieldDoc]:
    """Every field (nested ones as ``a.b``) with type, default, required flag and description."""
    return _describe(_struct_info(struct_type), "")


class FieldDoc(msgspec.Struct, frozen=True):
    """One documented config field."""

    path: str
    type: str
    required: bool
    default: Any
    description: str
    choices: tuple[Any, ...] = ()
    is_section: bool = False
    #: the allowed range, e.g. ``">= 1"`` or ``">= 0 and < 1"`` (empty when unlimited)
    limits: str = ""


def _describe(info: Any, prefix: str) -> list[FieldDoc]:
    import msgspec.inspect as mi

    docs: list[FieldDoc] = []
    for f in info.fields:
        t = f.type
        description = ""
        if isinstance(t, mi.Metadata):
            description = (t.extra_json_schema or {}).get("description", "")
            t = t.type
        path = f"{prefix}{f.encode_name}"
        default: Any = None
        if f.default is not msgspec.NODEFAULT:
            default = f.default
        elif f.default_factory is not msgspec.NODEFAULT:
            default = f.default_factory()
        sub = _unwrap_struct(t)
        if sub is not None and not isinstance(t, mi.UnionType):
            docs.append(FieldDoc(path, sub.cls.__name__, f.required, None, description, is_section=True))
            docs.extend(_describe(sub, path + "."))
            continue
        choices = tuple(t.values) if isinstance(t, mi.LiteralType) else ()
        docs.append(FieldDoc(path, _type_name(t), f.required, _plain(default), description, choices, limits=limits(t)))
    return docs


_BOUNDS = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))


def limits(t: Any) -> str:
    """The numeric limits (``msgspec.Meta(ge=..., lt=...)``) of a type as text: ``">= 0 and < 1"``."""
    import msgspec.inspect as mi

    if isinstance(t, mi.Metadata):
        t = t.type
    if isinstance(t, mi.UnionType):
        return next((found for found in map(limits, t.types) if found), "")
    if not isinstance(t, (mi.IntType, mi.FloatType)):
        return ""
    return " and ".join(f"{sign} {getattr(t, name):g}" for name, sign in _BOUNDS if getattr(t, name) is not None)


def _plain(value: Any) -> Any:
    return msgspec.to_builtins(value) if value is not None else None


def _type_name(t: Any) -> str:
    import msgspec.inspect as mi

    simple = {
        mi.StrType: "str",
        mi.IntType: "int",
        mi.FloatType: "float",
        mi.BoolType: "bool",
        mi.NoneType: "null",
        mi.AnyType: "any",
    }
    for cls, name in simple.items():
        if isinstance(t, cls):
            return name
    if isinstance(t, mi.Metadata):
        return _type_name(t.type)
    if isinstance(t, mi.LiteralType):
        return " | ".join(repr(v) for v in t.values)
    if isinstance(t, mi.UnionType):
        return " | ".join(_type_name(s) for s in t.types)
    if isinstance(t, (mi.ListType, mi.TupleType, mi.VarTupleType, mi.SetType)):
        item = getattr(t, "item_type", None)
        return f"list[{_type_name(item)}]" if item is not None else "list"
    if isinstance(t, mi.DictType):
        return f"dict[{_type_name(t.key_type)}, {_type_name(t.value_type)}]"
    if isinstance(t, mi.StructType):
        return t.cls.__name__
    return type(t).__name__.replace("Type", "").lower()


def config_template(struct_type: type[msgspec.Struct], title: str = "") -> str:
    """The defaults as commented YAML - a config file to start from."""
    import yaml

    lines = [f"# {title}" if title else "", "# Every option with its default. Required options are marked."]
    lines = [line for line in lines if line]
    for doc in describe_fields(struct_type):
        depth = doc.path.count(".")
        indent = "  " * depth
        key = doc.path.rsplit(".", 1)[-1]
        comment = doc.description
        if doc.limits:
            comment += (" " if comment else "") + f"({doc.limits})"
        if doc.choices:
            comment += (" " if comment else "") + f"(one of: {', '.join(map(str, doc.choices))})"
        if doc.is_section:
            if comment:
                lines.append(f"{indent}# {comment}")
            lines.append(f"{indent}{key}:")
            continue
        if comment:
            lines.append(f"{indent}# {comment}")
        if doc.required:
            lines.append(f"{indent}{key}:  # REQUIRED ({doc.type})")
            continue
        dumped = yaml.safe_dump({key: doc.default}, default_flow_style=True, width=10_000).strip()
        dumped = dumped[1:-1] if dumped.startswith("{") else dumped
        lines.append(f"{indent}{dumped}")
    return "\n".join(lines) + "\n"
