"""Line coverage per package from the data `make test` collected; exits 1 under the floor.

Run after ``pytest --cov`` (the Makefile's ``pytest`` target does): reads ``.coverage``
(configured in pyproject.toml: every import package, subprocesses included), sums the
statements per distribution - ``lf-core`` for ``core/src``, ``lf-NAME`` for each plugin -
and prints one row each plus the total. The floors are ``[tool.coverage.report] fail_under``
for the total (``pytest --cov`` checks it too) and ``[tool.lf.coverage_floors]`` per
package; under any of them the script fails.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def package_of(path: str) -> str:
    """The distribution a measured file belongs to (``lf-core``, ``lf-planner``...), from its path."""
    parts = Path(path).resolve().parts
    if "plugins" in parts:
        i = parts.index("plugins")
        if i + 1 < len(parts):
            return parts[i + 1]
    if "core" in parts:
        return "lf-core"
    return "other"


def per_package(files: dict[str, dict[str, int]]) -> dict[str, tuple[int, int]]:
    """``{package: (statements, covered)}`` from coverage's JSON ``files`` summaries."""
    sums: dict[str, tuple[int, int]] = {}
    for path, summary in files.items():
        statements, covered = sums.get(package_of(path), (0, 0))
        sums[package_of(path)] = (statements + summary["num_statements"], covered + summary["covered_lines"])
    return sums


def package_floors() -> dict[str, float]:
    """``[tool.lf.coverage_floors]`` of pyproject.toml: ``{package: percent}``."""
    try:
        import tomllib
    except ImportError:  # Python 3.10: pytest's own dependency
        import tomli as tomllib

    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]
    return {name: float(value) for name, value in tool.get("lf", {}).get("coverage_floors", {}).items()}


def main() -> int:
    """Print the table; 1 when a figure is under its floor, 2 when there is no data."""
    import json

    import coverage

    data_file = ROOT / ".coverage"
    if not data_file.exists():
        print(f"no coverage data at {data_file}: run `pytest --cov` first", file=sys.stderr)
        return 2
    cov = coverage.Coverage(data_file=str(data_file), config_file=str(ROOT / "pyproject.toml"))
    cov.load()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "coverage.json"
        cov.json_report(outfile=str(out), ignore_errors=True)
        files = {p: f["summary"] for p, f in json.loads(out.read_text())["files"].items()}
    sums = per_package(files)
    sums["total"] = (sum(s for s, _ in sums.values()), sum(c for _, c in sums.values()))
    floors = {**package_floors(), "total": float(cov.config.fail_under)}
    print(f"\n{'line coverage':<24} {'statements':>10} {'covered':>9} {'%':>6} {'floor':>6}")
    under = []
    for name in [*sorted(n for n in sums if n != "total"), "total"]:
        statements, covered = sums[name]
        percent = 100 * covered / max(statements, 1)
        floor = floors.get(name)
        print(f"{name:<24} {statements:>10} {covered:>9} {percent:>6.1f} {'' if floor is None else floor:>6}")
        if floor is not None and percent < floor:
            under.append(f"{name} {percent:.1f}% < {floor:.1f}%")
    under += [f"{name} not measured" for name in floors if name not in sums]
    if under:
        print(f"line coverage under its floor (pyproject.toml): {', '.join(under)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
