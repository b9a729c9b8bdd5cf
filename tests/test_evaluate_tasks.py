"""`lf evaluate tasks` on the same tiny model in this process and behind `lf serve hf` through its URL.

The generative tasks ask the same prompts greedily both ways, so every item's raw answer,
and so every score, must be equal. The multiple-choice task needs prompt log-probabilities,
which `lf serve` does not return: through the URL it is refused by name before anything runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from lf.errors import ConfigError
from lf.serve.app import create_app
from lf.testing import run_cli, running_server, wait_ready

pytest.importorskip("lm_eval")

GENERATIVE = ["lf_short_qa", "lf_facts_letter"]


@pytest.fixture(scope="module")
def served_tiny(tiny_model_dir: Path) -> Iterator[str]:
    from lf_backend_hf.backend import HFBackend
    from lf_backend_hf.config import HFConfig

    config = HFConfig(model=str(tiny_model_dir), served_model_name="tiny", batch_wait_ms=2)
    with running_server(create_app(HFBackend(), config, backend_name="hf")) as url:
        wait_ready(url)
        yield url


def test_local_and_url_give_the_same_answers_and_scores(tiny_model_dir, served_tiny, tmp_path):
    from lf_evaluate.config import TasksConfig
    from lf_evaluate.harness import run_tasks

    local = run_tasks(TasksConfig(model=str(tiny_model_dir), tasks=GENERATIVE, samples=True))
    remote = run_tasks(TasksConfig(model=served_tiny, tasks=GENERATIVE, samples=True))
    assert local.source == "local" and remote.source == "endpoint" and remote.model.startswith("tiny @ ")
    for result in (local, remote):
        assert {(s.task, s.metric, s.items) for s in result.scores} == {
            ("lf_short_qa", "exact_match", 40),
            ("lf_facts_letter", "exact_match", 40),
        }
        assert all(0.0 <= s.value <= 1.0 and s.stderr is not None for s in result.scores)
    assert local.primary() == remote.primary()
    for task in GENERATIVE:
        pairs = list(zip(local.samples[task], remote.samples[task], strict=True))
        assert len(pairs) == 40 and all(a.doc_id == b.doc_id for a, b in pairs)
        assert [a.raw for a, _ in pairs] == [b.raw for _, b in pairs]  # greedy text, token for token
        assert any(a.raw for a, _ in pairs)
        assert [a.response for a, _ in pairs] == [b.response for _, b in pairs]

    with pytest.raises(ConfigError, match="lf_facts_mc score answers by log-likelihood") as err:
        run_tasks(TasksConfig(model=served_tiny, tasks=["lf_facts_mc", "lf_short_qa"]))
    assert "lf_facts_letter" in (err.value.hint or "")


def test_the_command_prints_accuracy_per_task_and_writes_json(served_tiny, tmp_path):
    out = tmp_path / "scores.json"
    result = run_cli(
        "evaluate", "tasks", served_tiny, "--tasks", "lf_short_qa,lf_facts_letter", "--limit", "5", "-o", str(out)
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "lf_short_qa" in result.stdout and "exact_match" in result.stdout and "Traceback" not in result.stderr
    body = json.loads(out.read_text())
    assert {(s["task"], s["items"]) for s in body["scores"]} == {("lf_short_qa", 5), ("lf_facts_letter", 5)}
    refused = run_cli("evaluate", "tasks", served_tiny, "--tasks", "lf_facts_mc")
    assert refused.returncode == 3 and "lf_facts_mc" in refused.stderr and "Traceback" not in refused.stderr


def test_compare_includes_task_scores_and_the_html_report_shows_them(tiny_model_dir, served_tiny, tmp_path):
    from lf_generate.evaluate.compare import compare_models, model_ref
    from lf_generate.evaluate.report import write_report

    report = compare_models(
        model_ref(str(tiny_model_dir)),
        model_ref(served_tiny),
        ["Say hello.", "Name a color."],
        max_tokens=4,
        tasks=["lf_short_qa", "lf_facts_letter"],
        task_limit=6,
    )
    assert set(report.a.task_scores) == {"lf_short_qa exact_match", "lf_facts_letter exact_match"}
    assert report.a.task_scores == report.b.task_scores  # the same model, in process and served
    assert report.settings["tasks"] == ["lf_short_qa", "lf_facts_letter"]
    html = write_report(report, tmp_path / "report")["html"].read_text()
    assert "task lf_short_qa exact_match (higher is better)" in html
    assert "task lf_facts_letter exact_match" in html
