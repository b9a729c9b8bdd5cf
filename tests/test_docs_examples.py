"""Every example in docs/plugins.md runs as written (each in a fresh interpreter)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
EXAMPLES = re.findall(r"```python\n# example: ([^\n]+)\n(.*?)```", GUIDE.read_text(), flags=re.S)


def test_the_guide_has_an_example_for_every_kind_users_write():
    names = {name for name, _ in EXAMPLES}
    assert {"data format", "trainer", "quantizer", "backend", "classifier"} <= names


@pytest.mark.parametrize(("name", "code"), EXAMPLES, ids=[name for name, _ in EXAMPLES])
def test_example_runs_as_written(name, code, tmp_path):
    script = tmp_path / "example.py"
    script.write_text(code)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, f"example '{name}' failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
