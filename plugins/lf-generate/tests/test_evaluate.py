"""`lf evaluate benchmark` and `lf evaluate compare`, for real: servers on 127.0.0.1, models in-process, the CLI."""

from __future__ import annotations

import json
import math
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar

import pytest

from lf.testing import run_cli
from lf_generate.evaluate.benchmark import percentile, summarize
from lf_generate.evaluate.report import find_browser

REPO = Path(__file__).resolve().parents[3]
CHAT = REPO / "examples" / "data" / "chat.jsonl"


class PageText(HTMLParser):
    """Collects the visible text and the tags of a page; fails on unbalanced markup."""

    VOID: ClassVar[set[str]] = {"meta", "br", "img", "hr", "link", "input"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.tags: list[str] = []
        self.stack: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.tags.append(tag)
        if tag not in self.VOID:
            self.stack.append(tag)
        if tag in ("style", "title"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"unbalanced </{tag}> after {self.stack[-3:]}"
        self.stack.pop()
        if tag in ("style", "title"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.text.append(data)


def parse_page(html: str) -> PageText:
    page = PageText()
    page.feed(html)
    page.close()
    assert page.stack == [], f"unclosed tags: {page.stack}"
    return page


def test_percentiles_interpolate_like_numpy() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([10.0], 99) == 10.0
    assert math.isnan(percentile([], 50))
    s = summarize([0.001, 0.002, 0.003])
    assert (s.p50, s.max, s.count) == (2.0, 3.0, 3)


def test_benchmark_an_endpoint_under_concurrency(slow_echo_url: str, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = run_cli(
        "evaluate", "benchmark", "--url", slow_echo_url, "--concurrency", "1,4", "--requests", "8",
        "--max-tokens", "6", "--json", "--output", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data == json.loads(out.read_text())
    assert data["model"] == "echo" and [lvl["concurrency"] for lvl in data["latency"]] == [1, 4]
    for level in data["latency"]:
        assert (level["completed"], level["failed"]) == (8, 0)
        assert level["output_tokens"] == 8 * 6  # the default prompts are longer than 6 words
        assert level["output_tokens_per_s"] > 0 and level["requests_per_s"] > 0
        for key in ("ttft_ms", "itl_ms", "tpot_ms", "e2e_ms"):
            p = level[key]
            assert 0 < p["p50"] <= p["p90"] <= p["p95"] <= p["p99"] <= p["max"], (key, p)
        # echo waits 10 ms before each token: gaps between tokens cannot be shorter
        assert level["itl_ms"]["p50"] >= 9 and level["ttft_ms"]["p50"] >= 9
        assert level["itl_ms"]["count"] == 8 * 5
    table = run_cli("evaluate", "benchmark", "--url", slow_echo_url, "--requests", "2", "--max-tokens", "4")
    assert table.returncode == 0 and "TTFT p50/p99 ms" in table.stdout


def test_benchmark_perplexity_of_a_model(tiny_model_dir: Path) -> None:
    result = run_cli("evaluate", "benchmark", "--model", str(tiny_model_dir), "--data", str(CHAT), "--json")
    assert result.returncode == 0, result.stderr
    ppl = json.loads(result.stdout)["perplexity"]
    assert ppl["texts"] > 0 and ppl["tokens"] > 100 and math.isfinite(ppl["perplexity"]) and ppl["perplexity"] > 1


def test_benchmark_says_what_is_missing() -> None:
    result = run_cli("evaluate", "benchmark")
    assert result.returncode == 3 and "Nothing to benchmark" in result.stderr
    down = run_cli("evaluate", "benchmark", "--url", "http://127.0.0.1:9", "--requests", "1")
    assert down.returncode == 7 and "Cannot reach" in down.stderr and "Traceback" not in down.stderr


@pytest.fixture(scope="module")
def other_tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second tiny model, with other random weights."""
    from lf.testing import tiny_model

    return Path(tiny_model(tmp_path_factory.mktemp("tiny-b"), seed=7))


def test_compare_two_models_with_perplexity_judge_and_reports(
    tiny_model_dir: Path, other_tiny: Path, echo_url: str, judge_url: str, tmp_path: Path
) -> None:
    prompts = tmp_path / "prompts.txt"
    nasty = "Is <script>alert('x')</script> & <b>bold</b> safe in HTML?"
    prompts.write_text(f"Name three colours of the sea.\n{nasty}\nWrite one sentence about owls.\n")
    out = tmp_path / "report"
    result = run_cli(
        "evaluate", "compare", str(tiny_model_dir), str(other_tiny), "--prompts", str(prompts),
        "--reference", str(CHAT), "--judge", judge_url, "--max-tokens", "12", "--temperature", "0.8",
        "--a-name", "tiny <A>", "--output", str(out), "--no-png",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "compare.json").read_text())
    assert [r["prompt"] for r in report["rows"]] == prompts.read_text().splitlines()
    for side in ("a", "b"):
        assert report[side]["answered"] == 3 and report[side]["perplexity"] > 1
    assert report["a"]["label"] == "tiny <A>" and report["b"]["label"] == other_tiny.name
    judge = report["judge"]
    assert judge["judged"] == 3 and judge["wins_a"] + judge["wins_b"] + judge["ties"] == 3
    for row in report["rows"]:  # the rule judge prefers the answer with more words, in either order
        la, lb = len(row["answer_a"].split()), len(row["answer_b"].split())
        expected = "tie" if la == lb else ("A" if la > lb else "B")
        assert row["verdict_a_first"] == row["verdict_b_first"] == row["verdict"] == expected
    assert judge["position_consistency"] == 1.0
    assert judge["win_rate_a"] == pytest.approx((judge["wins_a"] + judge["ties"] / 2) / 3)
    html = (out / "compare.html").read_text()
    page = parse_page(html)
    text = " ".join(" ".join(page.text).split())
    assert "script" not in page.tags and "b" not in page.tags  # model and prompt text never becomes markup
    assert " ".join(nasty.split()) in text and "tiny <A>" in text
    for row in report["rows"]:
        for answer in (row["answer_a"], row["answer_b"]):
            assert " ".join(answer.split()) in text
    assert "http" not in html.split("<body>")[0].replace('lang="en"', "")  # nothing loaded from elsewhere


def test_compare_an_endpoint_with_an_in_process_model(tiny_model_dir: Path, echo_url: str, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        "".join(json.dumps({"prompt": p, "response": "x"}) + "\n" for p in ("What is a tide?", "Why is ice slippery?"))
    )
    out = tmp_path / "r"
    result = run_cli(
        "evaluate", "compare", echo_url, str(tiny_model_dir), "--prompts", str(prompts), "--reference", str(CHAT),
        "--max-tokens", "8", "--output", str(out), "--json", "--no-png",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["a"]["kind"] == "endpoint" and report["a"]["model"] == "echo"
    assert report["a"]["perplexity"] is None and "endpoint" in report["a"]["perplexity_note"]
    assert report["b"]["perplexity"] > 1 and report["judge"] is None
    assert [r["answer_a"] for r in report["rows"]] == ["What is a tide?", "Why is ice slippery?"]
    parse_page((out / "compare.html").read_text())


def test_compare_reports_failed_answers_instead_of_stopping(echo_url: str, tmp_path: Path) -> None:
    prompts = tmp_path / "p.txt"
    prompts.write_text("A fine prompt here.\nThis one will OVERLOAD the engine.\n")
    out = tmp_path / "r"
    result = run_cli(
        "evaluate", "compare", echo_url, echo_url, "--prompts", str(prompts), "--output", str(out), "--no-png"
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "compare.json").read_text())
    assert report["a"]["answered"] == 1 and report["a"]["failed"] == 1
    assert "503" in report["rows"][1]["error_a"]
    assert "failed:" in " ".join(parse_page((out / "compare.html").read_text()).text)


@pytest.mark.slow
def test_compare_smollm2_with_its_fine_tune_in_a_browser_readable_report(
    smollm2_dir: Path, judge_url: str, tmp_path: Path
) -> None:
    """The issue's check: SmolLM2 base against a short LoRA fine-tune of it (merged), with a judge.

    The judge is the rule judge on 127.0.0.1 (a 135M model cannot judge: it answers without
    a verdict, which the report then shows as unscored; that path is covered above).
    """
    from lf.components import NullEvents
    from lf_trainer_sft.config import SFTConfig
    from lf_trainer_sft.sft import SFTTrainer

    tuned = tmp_path / "sft"
    SFTTrainer().run(
        SFTConfig(model=str(smollm2_dir), data=str(CHAT), output_dir=str(tuned), method="lora", learning_rate=2e-4,
                  max_steps=1, per_device_train_batch_size=4, max_length=128, save_steps=0, plot=False, merge=True,
                  merge_dtype="float32"),
        NullEvents(),
    )  # fmt: skip
    merged = tuned / "merged"
    assert (merged / "config.json").is_file()
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("What is the capital of France?\nGive one tip for sleeping well.\n")
    reference = tmp_path / "reference.jsonl"
    reference.write_text("".join(CHAT.read_text().splitlines(keepends=True)[:12]))
    out = tmp_path / "report"
    result = run_cli(
        "evaluate", "compare", str(smollm2_dir), str(merged), "--prompts", str(prompts),
        "--reference", str(reference), "--judge", judge_url, "--max-tokens", "24",
        "--a-name", "SmolLM2-135M-Instruct", "--b-name", "SmolLM2 + LoRA (merged)", "--output", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "compare.json").read_text())
    assert report["a"]["answered"] == report["b"]["answered"] == 2
    assert "paris" in report["rows"][0]["answer_a"].lower()  # the real model answers
    assert 1 < report["a"]["perplexity"] < 100 and 1 < report["b"]["perplexity"] < 100
    assert report["judge"]["judged"] == 2 and report["judge"]["unscored"] == 0
    html = (out / "compare.html").read_text()
    text = " ".join(" ".join(parse_page(html).text).split())
    for row in report["rows"]:
        assert " ".join(row["answer_a"].split()) in text and " ".join(row["answer_b"].split()) in text
    if find_browser():  # rendered the way a person sees it
        png = out / "compare.png"
        assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
