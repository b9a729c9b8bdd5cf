"""How fast is the capacity planner? Plan compute time vs a trivial anchor, CLI start-up vs `python -c pass`.

Goals (issue 8): a plan computes in under 100 ms; `lf plan --help` starts in under 0.3 s; the
process stays under 50 MB. Run: .venv/bin/python bench/plan.py
"""

from __future__ import annotations

import subprocess
import sys
import time

from _util import BIN, table, time_call, time_command

PLAN_GOAL_S = 0.1
HELP_GOAL_S = 0.3
RSS_GOAL_MB = 50


#: Runs `lf ARGS` in a fresh interpreter and reports its own peak RSS (VmHWM) at exit. The child's
#: rusage would also count the memory of this (forking) process before exec.
_WRAP = (
    "import atexit, sys\n"
    "def report():\n"
    "    hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
    "    sys.__stderr__.write(f'VmHWM_KB={hwm}\\n')\n"
    "atexit.register(report)\n"
    "from lf.cli import main\n"
    "main(sys.argv[1:])\n"
)


def _peak_rss_mb(argv: list[str]) -> float:
    """Peak resident memory of one run of ``argv`` (``python -c pass`` or ``lf ...``), MB."""
    cmd = argv if argv[1:2] == ["-c"] else [sys.executable, "-c", _WRAP, *argv[1:]]
    if argv[1:2] == ["-c"]:
        cmd = [sys.executable, "-c", _WRAP.replace("from lf.cli import main\nmain(sys.argv[1:])\n", "")]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    kb = [line.split("=")[1] for line in out.stderr.splitlines() if line.startswith("VmHWM_KB=")]
    return int(kb[-1]) / 1024 if kb else float("nan")


def main() -> int:
    _print_plan_times()
    print()
    _print_cli_times()
    return 0


def _print_plan_times() -> None:
    """In-process plan compute time against decoding the config (the anchor)."""
    import msgspec

    from lf_planner.config import InferenceConfig, TrainingConfig
    from lf_planner.configfile import template
    from lf_planner.hardware import load_catalog
    from lf_planner.inference import generate_inference_plan
    from lf_planner.training import generate_training_plan

    catalog = load_catalog()
    inference = template("inference")
    training = template("training")
    recommend = {**inference, "gpu": {}}  # no GPU type: plan every GPU in the catalog and compare

    def anchor() -> object:  # decoding the same config: the cheapest thing a plan must do
        return msgspec.convert(inference, InferenceConfig)

    def serve(data: dict[str, object]) -> object:
        return generate_inference_plan(msgspec.convert(data, InferenceConfig), catalog)

    cases = {
        "decode config (anchor)": anchor,
        "inference plan, A100-80GB": lambda: serve(inference),
        "inference plan, recommend GPU": lambda: serve(recommend),
        "training plan, H100-80GB": lambda: generate_training_plan(msgspec.convert(training, TrainingConfig), catalog),
    }
    base = time_call(anchor, runs=50)
    rows = []
    for name, fn in cases.items():
        fn()  # warm caches (architecture, catalog)
        seconds = base if fn is anchor else time_call(fn, runs=10)
        verdict = "" if fn is anchor else ("ok" if seconds < PLAN_GOAL_S else f"over {PLAN_GOAL_S * 1000:.0f} ms")
        rows.append((name, f"{seconds * 1000:.3f} ms", f"{seconds / base:,.0f}x", verdict))
    print(table(rows, ("plan (in-process, best of 10)", "time", "vs anchor", f"goal < {PLAN_GOAL_S * 1000:.0f} ms")))


def _print_cli_times() -> None:
    """Start-up time and peak memory of `lf plan` commands against `python -c pass`."""
    lf = str(BIN / "lf")
    pass_s = time_command([sys.executable, "-c", "pass"])
    argv = [lf, "plan", "inference", "--rps", "10", "--input-tokens", "500", "--output-tokens", "200"]
    argv += ["--model-size", "70", "--precision", "FP16", "--cost", "--json"]
    commands = {
        "python -c pass (anchor)": ([sys.executable, "-c", "pass"], None),
        "lf --help (core, for scale)": ([lf, "--help"], None),
        "lf plan --help": ([lf, "plan", "--help"], HELP_GOAL_S),
        "lf plan inference ... --cost": (argv, None),
    }
    rows = []
    for name, (cmd, goal) in commands.items():
        seconds = pass_s if goal is None and name.startswith("python") else time_command(cmd, runs=9)
        rss = _peak_rss_mb(cmd)
        verdict = []
        if goal is not None:
            verdict.append("ok" if seconds < goal else f"over {goal}s")
        if not name.startswith("python"):
            verdict.append(f"RSS {'ok' if rss < RSS_GOAL_MB else 'over'}")
        rows.append((name, f"{seconds * 1000:.0f} ms", f"{seconds / pass_s:.1f}x", f"{rss:.1f} MB", ", ".join(verdict)))
    goals = f"goals: --help < {HELP_GOAL_S}s, < {RSS_GOAL_MB} MB"
    header = ("command", "median wall", "vs python -c pass", "peak RSS", goals)
    print(table(rows, header))
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
    print(f"\none full CLI plan (start-up + plan + JSON): {(time.perf_counter() - started) * 1000:.0f} ms")


if __name__ == "__main__":
    raise SystemExit(main())
