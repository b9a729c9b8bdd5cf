"""`lf data validate` throughput on 1,000,000 alpaca records vs a plain `json.loads` loop (the anchor).

Goals (issue 2): at least 200,000 records/s on one core, and faster than the anchor.
The anchor only parses each line; lf also checks types, empty fields and warnings.
Run: .venv/bin/python bench/data_validate.py [--records N]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from _util import table, time_call

from lf.data.validate import validate_file

CACHE = Path(__file__).resolve().parent / "results"


def make_file(n: int) -> Path:
    path = CACHE / f"alpaca-{n}.jsonl"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    words = ["the", "model", "learns", "to", "follow", "instructions", "and", "answer"]
    words += ["questions", "about", "code", "math", "and", "writing"]
    with path.open("w") as handle:
        for i in range(n):
            instruction = " ".join(rng.choices(words, k=rng.randint(5, 20)))
            output = " ".join(rng.choices(words, k=rng.randint(10, 60)))
            record = {"instruction": f"{i}: {instruction}", "input": "" if i % 3 else "context", "output": output}
            handle.write(json.dumps(record) + "\n")
    return path


def json_loads_loop(path: Path) -> int:
    count = 0
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                json.loads(line)
                count += 1
    return count


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    n = parser.parse_args().records
    path = make_file(n)
    size_mb = path.stat().st_size / 2**20
    anchor = time_call(lambda: json_loads_loop(path))
    report = validate_file(path)
    assert report.valid == n, report
    ours = time_call(lambda: validate_file(path))
    rows = [
        ("json.loads loop (anchor)", f"{anchor:.2f} s", f"{n / anchor:,.0f}", "1.00x"),
        ("lf data validate", f"{ours:.2f} s", f"{n / ours:,.0f}", f"{anchor / ours:.2f}x"),
    ]
    print(f"{n:,} alpaca records, {size_mb:.0f} MiB, one process")
    print(table(rows, ("reader", "best of 3", "records/s", "speed vs anchor")))
    ok = n / ours >= 200_000 and ours < anchor
    print("goal (>= 200,000 records/s and faster than the anchor):", "met" if ok else "NOT met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
