"""How fast does `lf` start? `lf --help` and `lf plugins` vs `python -c pass` (the anchor).

Goal: both under 0.2 s wall with every plugin of the repo installed (issue 2); `lf --help`
at most 0.15 s (issue 16).
For scale, measured here: `trl --help` 0.13 s, `vllm --help` 9 s.
Sources are byte-compiled first (`make install` does it too; pip does it for any
regular install), so the figures hold where PYTHONDONTWRITEBYTECODE is set.
Run: .venv/bin/python bench/cli_startup.py
"""

from __future__ import annotations

import os
import shutil
import sys

from _util import BIN, table, time_command

GOAL_S = 0.2
GOAL_HELP_S = 0.15


def main() -> int:
    import compileall
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for src in [root / "core" / "src", *sorted(root.glob("plugins/*/src"))]:
        compileall.compile_dir(src, quiet=1)
    lf = str(BIN / "lf")
    anchor = time_command([sys.executable, "-c", "pass"], runs=20)
    cases = {
        "python -c pass (anchor)": [sys.executable, "-c", "pass"],
        "lf --help": [lf, "--help"],
        "lf plugins": [lf, "plugins"],
        "lf train --help": [lf, "train", "--help"],
    }
    if shutil.which("trl", path=str(BIN)):
        cases["trl --help (peer)"] = [str(BIN / "trl"), "--help"]
    rows = []
    for name, argv in cases.items():
        seconds = anchor if argv == [sys.executable, "-c", "pass"] else time_command(argv, runs=20)
        goal = GOAL_HELP_S if name == "lf --help" else GOAL_S
        verdict = "" if not name.startswith("lf") else ("ok" if seconds <= goal else f"over {goal}s")
        rows.append((name, f"{seconds * 1000:.0f} ms", f"{seconds / anchor:.1f}x", verdict))
    print(table(rows, ("command", "median wall", "vs python -c pass", f"goal {GOAL_S}s (--help {GOAL_HELP_S}s)")))
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; medians of 20 runs after 2 warm-ups")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
