"""`streaming: true` trains on a generated ~300 MB chat file without loading it whole: peak RSS stays flat.

Two real `lf run train --plugin sft` runs, identical but for the data: a 1 MB file and a
~300 MB one (about 340,000 conversations). Each runs under a small wrapper that reports its
child's peak resident memory (``getrusage(RUSAGE_CHILDREN)``); the difference between the
two is printed and must stay far below the file's size.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lf.testing.cli import lf_executable

pytestmark = pytest.mark.slow

_PEAK = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:]).returncode\n"
    "print('PEAK_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, 'RC', code)\n"
)


def _write_chats(path: Path, megabytes: int) -> int:
    """Distinct short conversations until the file holds ``megabytes`` MiB; returns the count."""
    filler = "word " * 80
    count, size = 0, 0
    with path.open("wb") as handle:
        while size < megabytes << 20:
            record = {
                "messages": [
                    {"role": "user", "content": f"Question {count}: what comes next?"},
                    {"role": "assistant", "content": f"Answer {count}: {filler}{filler}"},
                ]
            }
            line = json.dumps(record).encode() + b"\n"
            handle.write(line)
            size += len(line)
            count += 1
    return count


def _peak_kb(data: Path, out: Path, home: Path) -> int:
    sets = [f"data={data}", f"output_dir={out}", "model=tiny", "streaming=true", "max_steps=3", "save_steps=0"]
    sets += ["per_device_train_batch_size=2", "max_length=256", "plot=false", "logging_steps=1"]
    cmd = [sys.executable, "-c", _PEAK, lf_executable(), "run", "train", "--plugin", "sft"]
    cmd += [x for s in sets for x in ("--set", s)]
    env = {**os.environ, "LARGEFORGE_HOME": str(home), "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0 and "RC 0" in done.stdout, done.stdout[-2000:] + done.stderr[-3000:]
    assert json.loads((out / "lf_output.json").read_text())["global_step"] == 3
    return int(done.stdout.split("PEAK_KB", 1)[1].split()[0])


def test_streaming_trains_on_a_large_file_with_flat_memory(tmp_path):
    small, large = tmp_path / "small.jsonl", tmp_path / "large.jsonl"
    _write_chats(small, 1)
    records = _write_chats(large, 300)
    size_mb = large.stat().st_size / (1 << 20)
    home = tmp_path / "home"
    small_kb = _peak_kb(small, tmp_path / "out-small", home)
    large_kb = _peak_kb(large, tmp_path / "out-large", home)
    grown_mb = (large_kb - small_kb) / 1024
    print(
        f"\npeak RSS: 1 MiB file {small_kb / 1024:.0f} MiB; {size_mb:.0f} MiB file ({records:,} conversations) "
        f"{large_kb / 1024:.0f} MiB; difference {grown_mb:+.0f} MiB"
    )
    assert grown_mb < size_mb / 3  # loading the file whole would add at least its size
