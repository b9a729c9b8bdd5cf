"""lf.data's loading functions take a pathlib.Path wherever they take a file name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lf.data import check_for_training, iter_normalized, load_for_training
from lf.data.load import is_hub_id
from lf.errors import DataError

RECORDS = [{"instruction": f"Say {i}", "output": str(i)} for i in range(5)]


@pytest.fixture
def alpaca(tmp_path: Path) -> Path:
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    return path


def test_load_for_training_takes_a_path(alpaca: Path, tmp_path: Path) -> None:
    pytest.importorskip("datasets")
    ds = load_for_training(alpaca, "chat", cache_dir=tmp_path / "cache")
    assert len(ds) == 5 and ds[0]["messages"][-1] == {"role": "assistant", "content": "0"}
    assert ds[:] == load_for_training(str(alpaca), "chat", cache_dir=str(tmp_path / "cache"))[:]
    streamed = list(load_for_training(alpaca, "chat", streaming=True))
    assert len(streamed) == 5


def test_siblings_take_a_path(alpaca: Path) -> None:
    assert check_for_training(alpaca, "chat").valid == 5
    assert len(list(iter_normalized(alpaca, "chat", format="alpaca"))) == 5
    assert not is_hub_id(Path("org/name"))  # a Path is a file, never a hub id
    assert is_hub_id("org/name")


def test_a_missing_path_is_a_data_error(tmp_path: Path) -> None:
    pytest.importorskip("datasets")
    with pytest.raises(DataError):
        load_for_training(tmp_path / "org" / "missing.jsonl", "chat")
