from __future__ import annotations

from pathlib import Path

from lf.testing import run_cli

DATA = Path(__file__).resolve().parents[3] / "examples" / "data" / "chat.jsonl"


def test_preview_marks_assistant_replies_with_their_end_of_turn(tiny_dir: Path) -> None:
    result = run_cli("data", "preview", str(DATA), "--tokenizer", str(tiny_dir), "-n", "2")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "«The capital of France is Paris.<|im_end|>»" in out
    assert "record 2:" in out and "trained" in out
    assert "«<|im_start|>" not in out  # headers and user turns are not trained


def test_preview_rejects_bad_data(tmp_path: Path, tiny_dir: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": []}\n')
    result = run_cli("data", "preview", str(bad), "--tokenizer", str(tiny_dir))
    assert result.returncode == 4 and "none of the 1 records is valid" in result.stderr
