from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "examples"
CHAT_DATA = EXAMPLES / "data" / "chat.jsonl"


class RecordingEvents:
    """An Events sink that keeps everything (to assert on what a run reported)."""

    def __init__(self) -> None:
        self.progress_calls: list[tuple[str, float, float | None, dict[str, Any]]] = []
        self.metric_calls: list[tuple[dict[str, float], int | None]] = []
        self.messages: list[tuple[str, str]] = []
        self.artifacts: dict[str, str] = {}

    def progress(self, description: str, completed: float, total: float | None = None, **fields: Any) -> None:
        self.progress_calls.append((description, completed, total, fields))

    def metrics(self, values: Mapping[str, float], step: int | None = None) -> None:
        self.metric_calls.append((dict(values), step))

    def message(self, text: str, level: str = "info") -> None:
        self.messages.append((level, text))

    def artifact(self, name: str, path: str) -> None:
        self.artifacts[name] = path


@pytest.fixture
def events() -> RecordingEvents:
    return RecordingEvents()


@pytest.fixture(scope="session")
def tiny_dir() -> Path:
    """The `tiny` shorthand model (built once under the lf cache)."""
    from lf.models import resolve_model

    return Path(resolve_model("tiny"))


@pytest.fixture
def sft_registry() -> Iterator[Any]:
    """The process-wide registry holding the built-ins and lf-trainer-sft (so hooks can be added)."""
    import lf_trainer_sft
    from lf.testing import isolated_registry

    with isolated_registry() as registry:
        registry.add_plugin(lf_trainer_sft, name="trainer-sft", package="lf-trainer-sft")
        yield registry


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def quick_sft() -> Any:
    """Builds SFTConfigs for a few fast steps on the tiny model."""
    return _quick_sft


def _quick_sft(output_dir: Path, **overrides: Any) -> Any:
    """An SFTConfig for a few fast steps on the tiny model."""
    from lf_trainer_sft.config import SFTConfig

    values: dict[str, Any] = {
        "model": "tiny",
        "data": str(CHAT_DATA),
        "output_dir": str(output_dir),
        "method": "full",
        "learning_rate": 3e-3,
        "lr_scheduler_type": "constant",
        "warmup_ratio": 0.0,
        "max_steps": 4,
        "per_device_train_batch_size": 8,
        "max_length": 128,
        "logging_steps": 1,
        "save_steps": 2,
        "plot": False,
    }
    values.update(overrides)
    return SFTConfig(**values)
