"""Held-out text from every data format or plain text, and the real `lf evaluate perplexity` command."""

from __future__ import annotations

import json

import pytest

from lf.errors import DataError
from lf.testing import SAMPLES, run_cli, write_samples
from lf_evaluate.texts import bundled_texts, load_texts, split_plain_text


@pytest.mark.parametrize("fmt", sorted(SAMPLES))
def test_every_format_gives_one_text_per_record(fmt, tmp_path):
    path = write_samples(tmp_path / f"{fmt}.jsonl", fmt)
    texts = load_texts(path)
    assert len(texts) == len(SAMPLES[fmt])
    assert "Paris" in texts[0]
    if fmt == "dpo":  # the prompt and the chosen answer, never the rejected one
        assert all("I don't know" not in t for t in texts)


def test_parquet_and_json_arrays_work_too(tmp_path):
    pytest.importorskip("pyarrow")
    for name in ("data.parquet", "data.json"):
        assert len(load_texts(write_samples(tmp_path / name, "alpaca"))) == len(SAMPLES["alpaca"])


def test_plain_text_splits_on_paragraphs_else_lines(tmp_path):
    assert split_plain_text("one\ntwo\n\nthree") == ["one\ntwo", "three"]
    assert split_plain_text("one\ntwo\r\nthree\n") == ["one", "two", "three"]
    notes = tmp_path / "notes.txt"
    notes.write_text("First paragraph.\nStill first.\n\n\nSecond one.\n")
    assert load_texts(notes) == ["First paragraph.\nStill first.", "Second one."]
    assert load_texts(notes, max_samples=1) == ["First paragraph.\nStill first."]


def test_bundled_held_out_set_is_varied_and_default():
    texts = bundled_texts()
    assert len(texts) >= 20
    assert any("def " in t for t in texts) and any(t.startswith("User:") for t in texts)
    assert load_texts(None) == texts


def test_unusable_sources_are_refused(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_texts(tmp_path / "missing.txt")
    with pytest.raises(DataError, match="directory"):
        load_texts(tmp_path)
    (tmp_path / "blank.txt").write_text("\n\n  \n")
    with pytest.raises(DataError, match="no usable text"):
        load_texts(tmp_path / "blank.txt")
    (tmp_path / "bad.jsonl").write_text('{"unknown": 1}\n')
    with pytest.raises(DataError):
        load_texts(tmp_path / "bad.jsonl")


@pytest.mark.slow
def test_cli_prints_json_and_writes_the_result(tiny_model_dir, tmp_path):
    data = write_samples(tmp_path / "heldout.jsonl", "messages", 40)
    out = tmp_path / "ppl.json"
    proc = run_cli(
        "evaluate",
        "perplexity",
        str(tiny_model_dir),
        "--data",
        str(data),
        "--max-length",
        "64",
        "--stride",
        "32",
        "--max-samples",
        "20",
        "--json",
        "--output",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert json.loads(out.read_text()) == result
    assert result["texts"] == 20 and result["max_length"] == 64 and result["stride"] == 32
    assert result["perplexity"] > 1 and result["tokens"] > 100
    assert result["data"] == str(data)


@pytest.mark.slow
def test_cli_human_output_and_clear_errors(tiny_model_dir, tmp_path):
    proc = run_cli("evaluate", "perplexity", str(tiny_model_dir), "--max-length", "128", "--max-samples", "4")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("perplexity ") and "4 texts" in proc.stdout
    missing = run_cli("evaluate", "perplexity", str(tmp_path / "nope"))
    assert missing.returncode == 4
    assert "Model directory not found" in missing.stderr and "Traceback" not in missing.stderr
    bad = run_cli("evaluate", "perplexity", str(tiny_model_dir), "--max-length", "2")
    assert bad.returncode == 3 and "max_length" in bad.stderr
    helped = run_cli("evaluate", "--help")
    assert "perplexity" in helped.stdout
