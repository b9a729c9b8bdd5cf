"""Sample records for every built-in data format, and writers for test files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lf.data.io import write_records

_QA = [
    ("What is the capital of France?", "The capital of France is Paris."),
    ("Write a Python function that adds two numbers.", "def add(a, b):\n    return a + b"),
    ("What is 12 times 12?", "12 times 12 is 144."),
    ("Give me a synonym for happy.", "Joyful."),
    ("Translate 'good morning' into Spanish.", "Buenos dias."),
    ("Name a primary colour.", "Red is a primary colour."),
    ("How many legs does a spider have?", "A spider has eight legs."),
    ("Summarize: the cat sat on the mat all day.", "A cat spent the day on a mat."),
]

SAMPLES: dict[str, list[dict[str, Any]]] = {
    "alpaca": [{"instruction": q, "input": "", "output": a} for q, a in _QA],
    "sharegpt": [{"conversations": [{"from": "human", "value": q}, {"from": "gpt", "value": a}]} for q, a in _QA],
    "messages": [
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": q},
                {"role": "assistant", "content": a},
            ]
        }
        for q, a in _QA
    ],
    "prompt-response": [{"prompt": q, "response": a, "system": "Be brief."} for q, a in _QA],
    "dpo": [{"prompt": q, "chosen": a, "rejected": "I don't know."} for q, a in _QA],
    "text": [{"text": f"{q} {a}"} for q, a in _QA],
}


def sample_records(format: str, n: int | None = None) -> list[dict[str, Any]]:
    """``n`` records of ``format`` (cycled from the built-in samples)."""
    base = SAMPLES[format]
    count = len(base) if n is None else n
    return [dict(base[i % len(base)]) for i in range(count)]


def write_samples(path: str | os.PathLike[str], format: str, n: int | None = None) -> Path:
    """Write ``n`` sample records of ``format`` to ``path`` (.jsonl, .json or .parquet)."""
    write_records(path, sample_records(format, n))
    return Path(path)
