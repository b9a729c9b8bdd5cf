"""Loads the data of LargeForge's shipped tasks for lm-evaluation-harness (``custom_dataset: !function loader.load``).

lm-eval imports this file by path from the task YAML's folder and calls ``load`` with the
task's ``dataset_kwargs`` (and its ``metadata``): the JSONL file named there, next to this
module, becomes the ``test`` split. Nothing is downloaded, so these tasks run offline.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def load(file: str, **_: Any) -> dict[str, Any]:
    """``{"test": Dataset}`` from the JSONL ``file`` beside this module."""
    import datasets

    path = Path(__file__).parent / file
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {"test": datasets.Dataset.from_list(rows)}
