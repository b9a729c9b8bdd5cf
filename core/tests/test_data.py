"""Data formats, detection, validation (fast and slow paths), conversion, split, stats, loading."""

from __future__ import annotations

import json

import pytest

from lf.data import (
    convert_file,
    detect_file_format,
    get_format,
    iter_records,
    load_for_training,
    split_file,
    stats_file,
    validate_file,
    write_records,
)
from lf.data.formats import Preference
from lf.errors import DataError
from lf.testing import SAMPLES, sample_records, write_samples

FORMATS = list(SAMPLES)


@pytest.mark.parametrize("name", FORMATS)
def test_each_sample_file_is_detected_and_valid(tmp_path, name):
    path = write_samples(tmp_path / f"{name}.jsonl", name, 30)
    assert detect_file_format(path).name == name
    report = validate_file(path)
    assert (report.format, report.total, report.valid, report.invalid) == (name, 30, 30, 0)


@pytest.mark.parametrize("suffix", [".json", ".parquet"])
def test_json_array_and_parquet_files(tmp_path, suffix):
    path = write_samples(tmp_path / f"d{suffix}", "alpaca", 12)
    report = validate_file(path)
    assert report.valid == 12 and report.location == "record"
    assert list(iter_records(path)) == sample_records("alpaca", 12)


def test_bad_lines_are_located_and_good_ones_counted(tmp_path):
    good = json.dumps({"instruction": "a", "output": "b"})
    lines = [
        good,
        "",
        good,
        '{"instruction": 5, "output": "x"}',
        "not json",
        good,
        json.dumps({"instruction": " ", "output": "b"}),
        json.dumps({"instruction": "q", "output": ""}),
        '{"instruction": "half", "outp',
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines))
    report = validate_file(path)
    assert (report.total, report.valid, report.invalid, report.records_with_warnings) == (8, 4, 4, 1)
    by_line = {i.line: i.message for i in report.errors}
    assert set(by_line) == {4, 5, 7, 9}
    assert "instruction" in by_line[4] and "str" in by_line[4]
    assert "invalid JSON" in by_line[5]
    assert "empty" in by_line[7]
    assert "cut off" in by_line[9]
    assert report.warnings[0].line == 8


def test_fast_path_locates_semantic_problems_after_blank_lines(tmp_path):
    ok = json.dumps({"instruction": "a", "output": "b"})
    bad = json.dumps({"instruction": "", "output": "b"})
    path = tmp_path / "blank.jsonl"
    path.write_text(f"\n\n{ok}\n\n{bad}\n{ok}\n")
    report = validate_file(path)
    assert [i.line for i in report.errors] == [5] and report.valid == 2


def test_fast_and_generic_paths_agree(tmp_path):
    records = sample_records("messages", 20)
    records[3] = {"messages": [{"role": "user", "content": "hi"}]}  # no assistant reply
    records[7] = {"messages": [{"role": "wizard", "content": "x"}, {"role": "assistant", "content": "y"}]}
    jsonl = tmp_path / "m.jsonl"
    write_records(jsonl, records)
    parquet = tmp_path / "m.json"
    write_records(parquet, records)
    a, b = validate_file(jsonl), validate_file(parquet)
    assert (a.invalid, a.valid) == (b.invalid, b.valid) == (2, 18)
    assert [i.message for i in a.errors] == [i.message for i in b.errors]


def test_dpo_warnings_for_identical_and_empty_answers(tmp_path):
    path = tmp_path / "p.jsonl"
    write_records(
        path, [{"prompt": "q", "chosen": "same", "rejected": "same"}, {"prompt": "q", "chosen": "", "rejected": "r"}]
    )
    report = validate_file(path)
    assert report.valid == 2 and report.records_with_warnings == 2
    assert "identical" in report.warnings[0].message and "empty" in report.warnings[1].message


def test_empty_and_missing_and_undetectable_files(tmp_path):
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(DataError, match="empty"):
        validate_file(tmp_path / "empty.jsonl")
    with pytest.raises(DataError, match="not found"):
        validate_file(tmp_path / "missing.jsonl")
    (tmp_path / "odd.jsonl").write_text('{"foo": 1}\n')
    with pytest.raises(DataError, match="cannot tell the data format") as info:
        validate_file(tmp_path / "odd.jsonl")
    assert "alpaca" in (info.value.hint or "")
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(DataError, match="unsupported file type"):
        validate_file(tmp_path / "x.csv")


def test_forced_format_reports_shape_errors(tmp_path):
    path = write_samples(tmp_path / "a.jsonl", "alpaca", 3)
    report = validate_file(path, "dpo")
    assert report.invalid == 3 and "prompt" in report.errors[0].message


@pytest.mark.parametrize("target", ["sharegpt", "messages", "alpaca", "prompt-response"])
def test_chat_formats_round_trip_through_messages(tmp_path, target):
    src = write_samples(tmp_path / "src.jsonl", "prompt-response", 8)
    mid = tmp_path / f"mid-{target}.jsonl"
    back = tmp_path / "back.jsonl"
    assert convert_file(src, mid, target).written == 8
    assert validate_file(mid).format == target
    convert_file(mid, back, "prompt-response")
    assert list(iter_records(back)) == list(iter_records(src))


def test_multi_turn_to_alpaca_is_skipped_with_reason(tmp_path):
    src = tmp_path / "m.jsonl"
    turns = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}] * 2
    write_records(src, [{"messages": turns}, sample_records("messages", 1)[0]])
    report = convert_file(src, tmp_path / "a.jsonl", "alpaca")
    assert (report.written, report.skipped) == (1, 1) and "one user turn" in report.examples[0]


def test_preference_conversions(tmp_path):
    src = write_samples(tmp_path / "p.jsonl", "dpo", 4)
    convert_file(src, tmp_path / "chat.jsonl", "messages")  # prompt + chosen
    first = next(iter_records(tmp_path / "chat.jsonl"))["messages"]
    assert first[-1] == {"role": "assistant", "content": SAMPLES["dpo"][0]["chosen"]}
    with pytest.raises(DataError, match="no rejected answer"):
        convert_file(tmp_path / "chat.jsonl", tmp_path / "x.jsonl", "dpo")
    assert not (tmp_path / "x.jsonl").exists()
    pref = get_format("dpo").to_preference({"prompt": "q", "chosen": "a", "rejected": "b", "system": "s"})
    assert pref == Preference(
        prompt=[{"role": "system", "content": "s"}, {"role": "user", "content": "q"}],
        chosen=[{"role": "assistant", "content": "a"}],
        rejected=[{"role": "assistant", "content": "b"}],
    )


def test_split_is_reproducible_disjoint_and_complete(tmp_path):
    records = [{"text": f"record {i}"} for i in range(1000)]
    src = tmp_path / "t.jsonl"
    write_records(src, records)
    a = split_file(src, tmp_path / "a", (0.8, 0.1, 0.1), seed=7)
    b = split_file(src, tmp_path / "b", (0.8, 0.1, 0.1), seed=7)
    assert a.counts == b.counts == {"train": 800, "val": 100, "test": 100}
    parts = {name: [r["text"] for r in iter_records(path)] for name, path in a.files.items()}
    assert parts == {name: [r["text"] for r in iter_records(path)] for name, path in b.files.items()}
    union = sorted(t for p in parts.values() for t in p)
    assert union == sorted(r["text"] for r in records)
    c = split_file(src, tmp_path / "c", (0.8, 0.1, 0.1), seed=8)
    assert [r["text"] for r in iter_records(c.files["val"])] != parts["val"]


def test_split_rejects_bad_ratios(tmp_path):
    src = write_samples(tmp_path / "t.jsonl", "text", 4)
    with pytest.raises(DataError, match="2 or 3"):
        split_file(src, tmp_path / "o", (1.0,))


def test_stats_percentiles_in_characters(tmp_path):
    src = tmp_path / "t.jsonl"
    write_records(src, [{"text": "x" * n} for n in range(1, 101)])
    stats = stats_file(src)
    text = stats.lengths["text"]
    assert (stats.records, stats.unit, text.min, text.max, text.percentiles["p50"], text.percentiles["p90"]) == (
        100,
        "characters",
        1,
        100,
        50,
        90,
    )


def test_stats_with_a_real_tokenizer(tmp_path):
    pytest.importorskip("transformers")
    from lf.testing import build_tokenizer

    tok_dir = tmp_path / "tok"
    build_tokenizer().save_pretrained(tok_dir)
    src = write_samples(tmp_path / "m.jsonl", "messages", 8)
    stats = stats_file(src, tokenizer=str(tok_dir))
    assert stats.unit == "tokens" and stats.lengths["response"].max > 0
    assert stats.lengths["response"].max < max(len(r["messages"][-1]["content"]) for r in SAMPLES["messages"]) + 1


def test_load_for_training_shapes(tmp_path):
    pytest.importorskip("datasets")
    chat = load_for_training(
        str(write_samples(tmp_path / "a.jsonl", "alpaca", 10)), "chat", cache_dir=str(tmp_path / "c")
    )
    assert chat.column_names == ["messages"] and len(chat) == 10
    assert chat[0]["messages"][-1]["role"] == "assistant"
    pref = load_for_training(
        str(write_samples(tmp_path / "p.jsonl", "dpo", 6)), "preference", cache_dir=str(tmp_path / "c")
    )
    assert set(pref.column_names) == {"prompt", "chosen", "rejected"}
    text = load_for_training(str(write_samples(tmp_path / "t.jsonl", "text", 5)), "text", cache_dir=str(tmp_path / "c"))
    assert text.column_names == ["text"]


def test_load_for_training_sees_edits_not_a_stale_cache(tmp_path):
    pytest.importorskip("datasets")
    path = write_samples(tmp_path / "t.jsonl", "text", 5)
    assert len(load_for_training(str(path), "text", cache_dir=str(tmp_path / "c"))) == 5
    write_samples(path, "text", 7)
    assert len(load_for_training(str(path), "text", cache_dir=str(tmp_path / "c"))) == 7


def test_unusable_data_stops_before_any_model_loads(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "", "output": "x"}\n' * 3)
    with pytest.raises(DataError, match="none of the 3 records"):
        load_for_training(str(bad), "chat")
    with pytest.raises(DataError, match="no rejected answer"):
        load_for_training(str(write_samples(tmp_path / "a.jsonl", "alpaca", 3)), "preference")


def test_unreachable_hub_fails_with_a_clear_message(monkeypatch):
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    with pytest.raises(DataError, match="Hugging Face Hub is unreachable") as info:
        load_for_training("someorg/some-dataset", "chat")
    assert "local" in (info.value.hint or "")
