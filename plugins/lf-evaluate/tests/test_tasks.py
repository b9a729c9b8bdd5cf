"""`lf evaluate tasks`: the shipped task files, task names and YAML files, on a tiny model in this process."""

from __future__ import annotations

import json

import pytest

from lf.errors import ConfigError
from lf_evaluate.config import TasksConfig
from lf_evaluate.harness import TASK_DIR, check_known, resolve_task_specs, shipped_tasks, task_manager

pytest.importorskip("lm_eval")


def test_the_shipped_tasks_and_their_data_are_well_formed():
    assert set(shipped_tasks()) == {"lf_facts_mc", "lf_facts_letter", "lf_short_qa"}
    facts = [json.loads(line) for line in (TASK_DIR / "lf_facts.jsonl").read_text().splitlines()]
    answers = [json.loads(line) for line in (TASK_DIR / "lf_short_answers.jsonl").read_text().splitlines()]
    assert len(facts) == 40 and len(answers) == 40
    for item in facts:
        assert len(item["choices"]) == 4 and len(set(item["choices"])) == 4
        assert "ABCD"[item["answer"]] == item["letter"]
    assert sorted({item["answer"] for item in facts}) == [0, 1, 2, 3]  # the right answer is not always one letter
    assert all(item["answers"] and all(a.strip() for a in item["answers"]) for item in answers)
    assert len({item["question"] for item in facts}) == 40 and len({item["question"] for item in answers}) == 40


def test_task_specs_shipped_names_yaml_files_folders_and_catalogue_names(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "a.yaml").write_text("task: my_a\n")
    (mine / "b.yaml").write_text("task: my_b\n")
    names, folders, catalogue = resolve_task_specs(["lf_short_qa", str(mine / "a.yaml"), str(mine)])
    assert names == ["lf_short_qa", "my_a", "my_b"] and folders == [TASK_DIR, mine.resolve()] and not catalogue
    names, _, catalogue = resolve_task_specs(["lf_facts_mc", "mmlu"])
    assert names == ["lf_facts_mc", "mmlu"] and catalogue  # a name not found here goes to lm-eval's catalogue
    (tmp_path / "none.yaml").write_text("group: x\n")
    with pytest.raises(ConfigError, match="no 'task:' line"):
        resolve_task_specs([str(tmp_path / "none.yaml")])


def test_an_unknown_task_is_refused_with_the_closest_names():
    with pytest.raises(ConfigError, match="did you mean lf_facts_mc") as err:
        check_known(["lf_facts_mcq"], task_manager([TASK_DIR], False), False)
    assert "Shipped tasks: lf_facts_letter, lf_facts_mc, lf_short_qa" in (err.value.hint or "")


def test_a_user_task_yaml_with_local_data_runs_on_a_local_model(tiny_model_dir, tmp_path):
    from lf_evaluate.harness import run_tasks

    data = tmp_path / "colors.jsonl"
    rows = [{"q": f"Item {i}: is snow white?", "choices": ["yes", "no"], "gold": 0} for i in range(6)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = tmp_path / "colors.yaml"
    task.write_text(
        "task: my_colors\ndataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    test: {data}\n"
        "output_type: multiple_choice\ntest_split: test\ndoc_to_text: '{{q}}\\nAnswer:'\n"
        "doc_to_choice: choices\ndoc_to_target: gold\nmetric_list:\n  - metric: acc\n"
    )
    result = run_tasks(TasksConfig(model=str(tiny_model_dir), tasks=[str(task), "lf_facts_mc"], limit=8, samples=True))
    by_task = {(s.task, s.metric): s for s in result.scores}
    assert by_task[("my_colors", "acc")].items == 6 and by_task[("lf_facts_mc", "acc")].items == 8
    assert all(0.0 <= s.value <= 1.0 for s in result.scores) and result.source == "local"
    # the score of every item is what the summary averages
    acc = [x.score for x in result.samples["lf_facts_mc"]]
    assert by_task[("lf_facts_mc", "acc")].value == pytest.approx(sum(acc) / len(acc))
    assert {x.response for x in result.samples["lf_facts_mc"]} <= {"0", "1", "2", "3"}
