"""Reference documentation generated from the code (so it can never drift).

``python -m lf.docs hooks > docs/hooks.md`` writes the hook reference from the hookspecs'
signatures and docstrings; a test fails when the committed file is out of date.
"""

from __future__ import annotations

import inspect
import sys

from lf import hookspecs


def hook_names() -> list[str]:
    """Every hook, in the order hookspecs.py defines them."""
    source = inspect.getsource(hookspecs)
    names = [n for n in dir(hookspecs) if hasattr(getattr(hookspecs, n), "lf_spec")]
    return sorted(names, key=lambda n: source.index(f"def {n}("))


def hook_reference() -> str:
    """Markdown: one section per hook with its signature and docstring."""
    lines = [
        "# Hook reference",
        "",
        "Generated from `core/src/lf/hookspecs.py` by `python -m lf.docs hooks`; do not edit by hand.",
        "Implement a hook by defining a function of the same name decorated with `lf.hookspecs.hookimpl`",
        "in a module listed under the `lf` entry-point group.",
        "",
    ]
    intro = inspect.getdoc(hookspecs) or ""
    lines += [intro, ""]
    for name in hook_names():
        fn = getattr(hookspecs, name)
        signature = str(inspect.signature(fn)).replace("'", "")
        lines += [f"### `{name}`", "", "```python", f"{name}{signature}", "```", "", inspect.getdoc(fn) or "", ""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str]) -> int:
    """``python -m lf.docs hooks``."""
    if argv[:1] == ["hooks"]:
        sys.stdout.write(hook_reference())
        return 0
    sys.stderr.write("usage: python -m lf.docs hooks\n")
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
