"""The generators against real servers on 127.0.0.1, in-process backends, and the real `lf` command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

import lf_generate
from lf.errors import ConfigError, RunError
from lf.runner import run_component
from lf.testing import isolated_registry
from lf.testing.echo_backend import echo_plugin

from .conftest import judge_score

KEY = "generate-test-key-" + "k" * 32


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def generate(kind: str, **data: Any) -> Any:
    with isolated_registry(lf_generate, entry_points=False):
        return run_component("generate", kind, data=data)


def test_filters_failures_and_summary_against_an_endpoint(echo_url: str, tmp_path: Path) -> None:
    out = tmp_path / "data.jsonl"
    config = {
        "output": str(out),
        "teacher": {"base_url": f"{echo_url}/v1"},
        "system_prompt": "You are concise.",
        "templates": ["Tell me about {topic} for a {reader} in plain words"],
        "variables": {"topic": ["cats", "tides", "OVERLOAD"], "reader": ["child", "student"]},
        "prompts": [
            "I'm sorry, but I can't help with that request at all.",
            "Hi",
            "Bonjour, je voudrais savoir comment on fait une tarte aux pommes.",
            "Tell me about cats for a child in plain words",  # a repeat of a template prompt
        ],
        "language": "en",
        "max_retries": 1,
        "retry_backoff_s": 0.01,
    }
    result = generate("synthetic", **config)
    m = result.metrics
    assert m["prompts"] == 9 and m["prompt_repeats"] == 1
    assert m["records_written"] == 4 and m["records_total"] == 4
    assert (m["filtered_refusal"], m["filtered_min_length"], m["filtered_language"]) == (1, 1, 1)
    assert m["failed"] == 2 and m["retries"] == 2  # each OVERLOAD prompt: one retry, then recorded
    assert "4 records" in result.summary and "2 failed" in result.summary
    records = read_jsonl(out)
    assert {r["instruction"] for r in records} == {
        f"Tell me about {t} for a {r} in plain words" for t in ("cats", "tides") for r in ("child", "student")
    }
    assert all(r["output"].strip() == r["instruction"] and r["system"] == "You are concise." for r in records)
    failures = read_jsonl(Path(result.artifacts["failures"]))
    assert sorted(f["prompt"] for f in failures) == [
        "Tell me about OVERLOAD for a child in plain words",
        "Tell me about OVERLOAD for a student in plain words",
    ]
    assert all("503" in f["error"] and f["attempts"] == 2 for f in failures)
    # the re-run retries only the failures; nothing else is generated again
    again = generate("synthetic", **config)
    assert again.metrics["resumed"] == 7 and again.metrics["failed"] == 2 and again.metrics["records_written"] == 0
    assert len(read_jsonl(out)) == 4


def test_exact_and_near_duplicates_are_dropped_and_counted(echo_url: str, tmp_path: Path) -> None:
    base = "the tide rises twice a day because the moon pulls the oceans toward it as the earth turns"
    prompts = [
        base,
        base.upper() + "!",  # the same text once normalized
        base.replace(" as ", " while "),  # one word differs: Jaccard 13/19 of word 3-grams
        "bake the bread at two hundred degrees for forty minutes and let it cool before slicing",
    ]
    out = tmp_path / "d.jsonl"
    result = generate(
        "synthetic",
        output=str(out),
        teacher={"base_url": echo_url},
        prompts=prompts,
        near_duplicate_threshold=0.6,
    )
    assert result.metrics["duplicates_exact"] == 1 and result.metrics["duplicates_near"] == 1
    assert [r["instruction"] for r in read_jsonl(out)] == [prompts[0], prompts[3]]


@pytest.mark.parametrize(("suffix", "fmt"), [(".parquet", "sharegpt"), (".json", "messages")])
def test_json_and_parquet_outputs_in_other_formats(echo_url: str, tmp_path: Path, suffix: str, fmt: str) -> None:
    from lf.data import validate_file

    out = tmp_path / f"data{suffix}"
    prompts = [f"Question number {i} about the history of maps and sea charts" for i in range(6)]
    result = generate("synthetic", output=str(out), teacher={"base_url": echo_url}, prompts=prompts, format=fmt)
    assert result.metrics["records_written"] == 6
    report = validate_file(out)
    assert (report.format, report.valid, report.invalid) == (fmt, 6, 0)
    more = generate(
        "synthetic", output=str(out), teacher={"base_url": echo_url}, prompts=[*prompts, "One more prompt."], format=fmt
    )
    assert more.metrics["resumed"] == 6 and more.metrics["records_written"] == 1
    assert validate_file(out).valid == 7


def test_in_process_teacher_through_the_registry(tmp_path: Path) -> None:
    out = tmp_path / "d.jsonl"
    with isolated_registry(lf_generate, echo_plugin()):
        result = run_component(
            "generate",
            "data",  # the alias
            data={
                "output": str(out),
                "teacher": {"backend": "echo", "model": "echo-model", "backend_options": {"token_delay_s": 0.0}},
                "prompts": ["Explain how the tides follow the moon."],
                "samples_per_prompt": 2,
                "dedup": False,
                "near_duplicate_threshold": None,
            },
        )
    assert result.metrics["records_written"] == 2
    assert [r["output"].strip() for r in read_jsonl(out)] == ["Explain how the tides follow the moon."] * 2


def test_endpoint_key_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lf.serve.app import create_app
    from lf.testing import running_server, wait_ready
    from lf.testing.echo_backend import EchoBackend, EchoConfig

    app = create_app(EchoBackend(), EchoConfig(api_keys=[KEY]), backend_name="echo")
    with running_server(app) as url:
        wait_ready(url)
        config = {"output": str(tmp_path / "d.jsonl"), "prompts": ["A prompt that is long enough."]}
        teacher = {"base_url": url, "api_key_env": "LF_TEST_TEACHER_KEY"}
        monkeypatch.delenv("LF_TEST_TEACHER_KEY", raising=False)
        with pytest.raises(ConfigError, match="LF_TEST_TEACHER_KEY, which is not set"):
            generate("synthetic", **config, teacher=teacher)
        monkeypatch.setenv("LF_TEST_TEACHER_KEY", "wrong-" + "x" * 40)
        with pytest.raises(ConfigError, match="refused the API key"):
            generate("synthetic", **config, teacher=teacher)
        monkeypatch.setenv("LF_TEST_TEACHER_KEY", KEY)
        assert generate("synthetic", **config, teacher=teacher).metrics["records_written"] == 1
        with pytest.raises(ConfigError, match="give `base_url`"):
            generate("synthetic", **config, overwrite=True)


def test_a_dead_teacher_stops_the_run_resumably(echo_url: str, tmp_path: Path) -> None:
    out = tmp_path / "d.jsonl"
    prompts = [f"OVERLOAD number {i}" for i in range(10)]
    with pytest.raises(RunError, match="3 prompts failed in a row"):
        generate(
            "synthetic",
            output=str(out),
            teacher={"base_url": echo_url},
            prompts=prompts,
            max_retries=0,
            concurrency=1,
            max_consecutive_failures=3,
        )
    assert len(read_jsonl(Path(f"{out}.failures.jsonl"))) == 3


def test_preferences_without_a_judge(tiny_url: str, echo_url: str, tmp_path: Path) -> None:
    # echo answers the same at every temperature: every pair is dropped as identical
    same = generate(
        "preferences",
        output=str(tmp_path / "echo.jsonl"),
        teacher={"base_url": echo_url},
        prompts=["What makes the sky blue during the day?", "How do bees make honey for winter?"],
    )
    assert same.metrics["dropped_identical"] == 2 and same.metrics["records_written"] == 0
    # the tiny model samples differently: the lowest temperature's answer is chosen
    out = tmp_path / "p.jsonl"
    result = generate(
        "preferences",
        output=str(out),
        teacher={"base_url": tiny_url, "model": "tiny"},
        prompts=[f"Describe the colour number {i}." for i in range(6)],
        temperatures=[1.3, 0.3, 0.8],
        max_tokens=12,
        min_length=1,
    )
    assert result.metrics["records_written"] + result.metrics["dropped_identical"] == 6
    journal = [e for e in read_jsonl(Path(result.artifacts["journal"]))[1:] if e["status"] == "ok"]
    assert journal and all((e["chosen_temperature"], e["rejected_temperature"]) == (0.3, 1.3) for e in journal)
    records = read_jsonl(out)
    assert all(r["chosen"] != r["rejected"] and r["prompt"].startswith("Describe") for r in records)


def test_preferences_with_a_judge(tiny_url: str, judge_url: str, tmp_path: Path) -> None:
    out = tmp_path / "p.jsonl"
    result = generate(
        "preferences",
        output=str(out),
        teacher={"base_url": tiny_url, "model": "tiny"},
        judge={"base_url": judge_url},
        prompts=[f"Write a sentence about the number {i}." for i in range(12)],
        temperatures=[0.2, 0.9, 1.4],
        max_tokens=16,
        min_length=1,
    )
    m = result.metrics
    assert m["records_written"] + m["dropped_tie"] + m["dropped_identical"] + m["dropped_judge_unscored"] == 12
    assert m["records_written"] > 0 and m["judge_unparsed"] == 0  # every answer shape parsed
    for record in read_jsonl(out):  # the rule judge's verdict, recomputed: chosen really scored higher
        assert judge_score(record["chosen"]) > judge_score(record["rejected"])
    for entry in read_jsonl(Path(result.artifacts["journal"]))[1:]:
        scores = entry["scores"]
        if entry["status"] == "dropped" and entry["reason"] == "tie":
            assert max(scores) == min(scores)
        if entry["status"] == "ok":
            assert max(scores) > min(scores)


def test_unscorable_pairs_are_dropped_not_guessed(tiny_url: str, judge_url: str, tmp_path: Path) -> None:
    result = generate(
        "preferences",
        output=str(tmp_path / "p.jsonl"),
        teacher={"base_url": tiny_url},
        judge={"base_url": judge_url},
        prompts=["UNSCORABLE prompt one", "UNSCORABLE prompt two"],
        temperatures=[0.3, 1.5],
        max_tokens=12,
        min_length=1,
    )
    m = result.metrics
    assert m["dropped_judge_unscored"] == 2 and m["records_written"] == 0
    assert m["judge_unparsed"] == 4  # two answers per prompt, none with a score


def test_facade_api(tmp_path: Path, tiny_model_dir: Path, judge_url: str) -> None:
    from lf_generate import SyntheticDataGenerator

    seen: list[tuple[int, int]] = []
    with isolated_registry(lf_generate, echo_plugin()):
        with SyntheticDataGenerator("echo-model", backend="echo") as gen:
            data = gen.generate_instruction_data(
                ["Explain why the sea is salty.", "Explain how a compass works."],
                system_prompt="Be brief.",
                callback=lambda done, total: seen.append((done, total)),
            )
            assert [d["output"].strip() for d in data] == [d["instruction"] for d in data]
            assert {d["system"] for d in data} == {"Be brief."} and len(data) == 2
            assert seen[-1] == (2, 2)
            again = gen.generate_instruction_data(["Explain how a compass works."])  # same loaded teacher
            assert len(again) == 1 and gen.last_result is not None
            gen.save_dataset(data, str(tmp_path / "facade"), format="parquet")
            gen.save_dataset(data, str(tmp_path / "facade.jsonl"))
        with pytest.raises(ConfigError, match=r"does not end in \.json"):
            gen.save_dataset(data, str(tmp_path / "x.jsonl"), format="json")
    from lf.data import validate_file

    assert validate_file(tmp_path / "facade.parquet").valid == 2
    assert validate_file(tmp_path / "facade.jsonl").valid == 2
    with isolated_registry(entry_points=True):  # hf, from its entry point
        gen = SyntheticDataGenerator(str(tiny_model_dir), device="cpu", judge=judge_url, min_length=1, max_tokens=12)
        try:
            prefs = gen.generate_preference_data(
                ["Name a colour.", "Name a fruit."], num_responses=3, temperature_range=(0.3, 1.5)
            )
        finally:
            gen.close()
    assert gen.last_result is not None and gen.last_result.metrics["prompts"] == 2
    assert all(set(p) >= {"prompt", "chosen", "rejected"} for p in prefs)
    with pytest.raises(ConfigError, match="quantize"):
        SyntheticDataGenerator("x", quantization="4bit")
