"""The code-shape rule: no source module over 400 lines, no function or method over 60 lines.

Source = ``core/src/**/*.py`` and ``plugins/*/src/**/*.py``. A module's size is its line count;
a function's runs from its ``def`` line to the last line of its body, docstring included
(decorators not counted). Functions are named by their qualified name (``Class.method``,
``outer.<locals>.inner``), as Python's ``__qualname__`` does.

Ruff's C901 and PLR0915 (``pyproject.toml``) flag the dense cases while editing; this test is the
exact check.

``ALLOWED_MODULES`` and ``ALLOWED_FUNCTIONS`` are a temporary allow-list: the offenders in code
that others are rewriting now, each with its size today. The list only shrinks: the test also
fails when a listed item no longer offends (remove it) or its size changed (grown: fix it;
shrunk but still over: write the new size), and the per-file ruff ignores of C901/PLR0915 may
only name files holding a listed function.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60

#: Modules over the limit, outside the code-shape work: path -> lines.
ALLOWED_MODULES: dict[str, int] = {}

#: Functions over the limit, outside the code-shape work: "path::qualified.name" -> lines.
ALLOWED_FUNCTIONS: dict[str, int] = {}

#: The ruff rules whose per-file ignores the allow-list governs.
SHAPE_RULES = {"C901", "PLR0915"}
#: Per-file-ignore patterns that exempt whole kinds of files (the rule covers source modules only).
EXEMPT_PATTERNS = {"**/tests/**", "tests/**"}


def source_files() -> list[Path]:
    """Every source module the rule covers, sorted."""
    return sorted([*ROOT.glob("core/src/**/*.py"), *ROOT.glob("plugins/*/src/**/*.py")])


def _functions(node: ast.AST, prefix: str = "") -> list[tuple[str, int]]:
    """``(qualified name, lines)`` of every function and method under ``node``, nested ones included."""
    found: list[tuple[str, int]] = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            name = prefix + child.name
            found.append((name, (child.end_lineno or child.lineno) - child.lineno + 1))
            found += _functions(child, name + ".<locals>.")
        elif isinstance(child, ast.ClassDef):
            found += _functions(child, prefix + child.name + ".")
        else:
            found += _functions(child, prefix)
    return found


def measure() -> tuple[dict[str, int], dict[str, int]]:
    """The modules over ``MAX_MODULE_LINES`` and the functions over ``MAX_FUNCTION_LINES``, with their sizes."""
    modules: dict[str, int] = {}
    functions: dict[str, int] = {}
    for path in source_files():
        rel = path.relative_to(ROOT).as_posix()
        text = path.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        if lines > MAX_MODULE_LINES:
            modules[rel] = lines
        for name, size in _functions(ast.parse(text, filename=rel)):
            if size > MAX_FUNCTION_LINES:
                functions[f"{rel}::{name}"] = size
    return modules, functions


@pytest.fixture(scope="module")
def offenders() -> tuple[dict[str, int], dict[str, int]]:
    return measure()


def _listing(items: dict[str, int]) -> str:
    return "\n".join(f"  {name}: {size} lines" for name, size in sorted(items.items()))


def test_no_module_over_400_lines(offenders: tuple[dict[str, int], dict[str, int]]) -> None:
    modules, _ = offenders
    new = {k: v for k, v in modules.items() if k not in ALLOWED_MODULES}
    assert not new, (
        f"Modules over {MAX_MODULE_LINES} lines; split each by job (keep public imports working "
        f"through the original module):\n{_listing(new)}"
    )


def test_no_function_over_60_lines(offenders: tuple[dict[str, int], dict[str, int]]) -> None:
    _, functions = offenders
    new = {k: v for k, v in functions.items() if k not in ALLOWED_FUNCTIONS}
    assert not new, (
        f"Functions over {MAX_FUNCTION_LINES} lines (def to the end of the body); split each into "
        f"well-named helpers:\n{_listing(new)}"
    )


@pytest.mark.parametrize(
    ("kind", "allowed", "limit"),
    [("module", ALLOWED_MODULES, MAX_MODULE_LINES), ("function", ALLOWED_FUNCTIONS, MAX_FUNCTION_LINES)],
)
def test_the_allow_list_is_exact_and_only_shrinks(
    offenders: tuple[dict[str, int], dict[str, int]], kind: str, allowed: dict[str, int], limit: int
) -> None:
    found = offenders[0] if kind == "module" else offenders[1]
    fixed = sorted(name for name in allowed if name not in found)
    changed = {name: (size, found[name]) for name, size in allowed.items() if name in found and found[name] != size}
    problems = [f"  {name}: no longer over {limit} lines - remove it from the allow-list" for name in fixed]
    problems += [
        f"  {name}: listed at {was} lines, now {now} - "
        + ("it grew: split it instead" if now > was else "write the new size")
        for name, (was, now) in sorted(changed.items())
    ]
    assert not problems, f"The {kind} allow-list of {Path(__file__).name} is out of date:\n" + "\n".join(problems)


def test_ruff_shape_ignores_name_only_allow_listed_files() -> None:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - the dev environment runs 3.11+
        tomllib = pytest.importorskip("tomli")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    ignores: dict[str, list[str]] = config["tool"]["ruff"]["lint"]["per-file-ignores"]
    holding = {name.split("::")[0] for name in ALLOWED_FUNCTIONS}
    stray = sorted(
        pattern
        for pattern, codes in ignores.items()
        if SHAPE_RULES & set(codes) and pattern not in EXEMPT_PATTERNS and pattern not in holding
    )
    assert not stray, (
        "pyproject.toml ignores C901/PLR0915 for files that hold no allow-listed function "
        f"(remove those ignores): {', '.join(stray)}"
    )
