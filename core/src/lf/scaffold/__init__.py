"""``lf plugin new KIND NAME``: write a working plugin package to start from.

The package has a pyproject with the ``lf`` entry point, a registration module, a config
Struct, a minimal but real implementation, a README and tests (the contract check and a
real run) that pass as generated once it is installed: ``pip install -e DIR && pytest DIR``.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from lf.errors import ConfigError

_ML_DEPS = ', "torch>=2.4", "transformers>=4.50"'


@dataclass(frozen=True)
class KindTemplate:
    """How a kind's package is named and laid out."""

    prefix: str
    hook: str
    impl_module: str
    impl_suffix: str
    extra_deps: str
    positionals: tuple[str, ...]
    usage: str
    has_config: bool = True


TEMPLATES: dict[str, KindTemplate] = {
    "train": KindTemplate(
        "trainer",
        "register_trainers",
        "trainer",
        "Trainer",
        _ML_DEPS + ', "datasets>=3"',
        ("model", "data"),
        "lf train ${name} MODEL_DIR DATA.jsonl --output-dir out",
    ),
    "quantize": KindTemplate(
        "quantizer",
        "register_quantizers",
        "quantizer",
        "Quantizer",
        _ML_DEPS,
        ("model", "output_dir"),
        "lf quantize ${name} MODEL_DIR OUT_DIR",
    ),
    "generate": KindTemplate(
        "generator",
        "register_generators",
        "generator",
        "Generator",
        "",
        ("output",),
        "lf generate ${name} data.jsonl --config templates.yaml",
    ),
    "format": KindTemplate(
        "format",
        "register_data_formats",
        "format",
        "Format",
        "",
        (),
        "lf data validate qa.jsonl   # detected as ${name}",
        has_config=False,
    ),
    "route": KindTemplate(
        "classifier",
        "register_classifiers",
        "classifier",
        "Classifier",
        "",
        (),
        "lf serve router --classifier ${name} --set min_shared_words=2   # needs lf-router-hybrid",
    ),
}

_NAME = re.compile(r"^[a-z][a-z0-9-]*$")


def new_plugin(kind: str, name: str, parent: str | Path = ".", *, summary: str | None = None) -> Path:
    """Write the package ``lf-<prefix>-<name>`` under ``parent``; returns its directory."""
    if kind not in TEMPLATES:
        raise ConfigError(f"No plugin template for kind '{kind}'. Templates: {', '.join(TEMPLATES)}.")
    if not _NAME.match(name):
        raise ConfigError(f"Plugin name {name!r}: use lower case letters, digits and '-', starting with a letter.")
    t = TEMPLATES[kind]
    dist = f"lf-{t.prefix}-{name}"
    pkg = dist.replace("-", "_")
    target = Path(parent) / dist
    if target.exists() and any(target.iterdir()):
        raise ConfigError(f"{target} already exists and is not empty.", hint="Choose another name or --dir.")
    cls = "".join(part.capitalize() for part in name.split("-"))
    values = {
        "name": name,
        "kind": kind,
        "dist": dist,
        "pkg": pkg,
        "Class": cls,
        "hook": t.hook,
        "entry_point": f"{t.prefix}-{name}",
        "impl_module": t.impl_module,
        "impl_class": f"{cls}{t.impl_suffix}",
        "summary": summary or f"The {name} {t.prefix}",
        "extra_deps": t.extra_deps,
        "config_ref": f"{cls}Config" if t.has_config else "None",
        "positionals": f"\n            positionals={_tuple_literal(t.positionals)}," if t.positionals else "",
        "config_line": (
            f"`src/{pkg}/config.py` holds its options (a msgspec Struct: `lf config show {kind} {name}`),\n"
            if t.has_config
            else ""
        ),
    }
    values["usage"] = string.Template(t.usage).substitute(values)
    files = {
        "pyproject.toml": "common/pyproject.toml.tmpl",
        "README.md": "common/README.md.tmpl",
        f"src/{pkg}/__init__.py": _pick(kind, "__init__.py.tmpl"),
        f"src/{pkg}/{t.impl_module}.py": f"{kind}/{t.impl_module}.py.tmpl",
        f"tests/test_{pkg}.py": f"{kind}/test_plugin.py.tmpl",
    }
    if t.has_config:
        files[f"src/{pkg}/config.py"] = f"{kind}/config.py.tmpl"
    for relative, template in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(string.Template(_read(template)).substitute(values), encoding="utf-8")
    return target


def _tuple_literal(items: tuple[str, ...]) -> str:
    """``("a", "b")`` / ``("a",)`` with double quotes, as ruff format writes them."""
    inner = ", ".join(f'"{item}"' for item in items)
    return f"({inner},)" if len(items) == 1 else f"({inner})"


def _read(template: str) -> str:
    return resources.files("lf.scaffold").joinpath("templates", template).read_text(encoding="utf-8")


def _pick(kind: str, filename: str) -> str:
    own = resources.files("lf.scaffold").joinpath("templates", kind, filename)
    return f"{kind}/{filename}" if own.is_file() else f"common/{filename}"
