"""``lf evaluate tasks``: lm-evaluation-harness tasks on a model directory or an OpenAI-compatible endpoint.

* **Where tasks come from.** The tasks shipped in ``task_files/`` (``lf_facts_mc``,
  ``lf_facts_letter``, ``lf_short_qa``: data in the package, so they run offline), any task
  YAML file or folder of them (lm-eval's own format), and lm-eval's catalogue (``mmlu``,
  ``gsm8k``, ``hellaswag``...), whose data the harness downloads from the Hugging Face Hub.
  The catalogue (about 15,000 YAML files, ~15 s to index) is only indexed when a name is not
  found among the local tasks.
* **What is evaluated.** A model directory (or ``tiny``, ``smollm2``, a hub id) runs in
  this process through lm-eval's ``HFLM``; an ``http(s)://`` URL is spoken to through
  lm-eval's ``local-completions`` model (``/v1/completions``, greedy, the task's stop
  sequences). Multiple-choice (log-likelihood) tasks need the model's probabilities of the
  prompt: an endpoint must return them (``echo`` + ``logprobs``, as vLLM does); one that
  refuses is named with the tasks that need it, before anything runs.

lm-eval is imported only here, when a command runs (``lf --help`` never loads it).
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lf.components import Events, NullEvents
from lf.errors import ConfigError, DataError, DependencyMissingError, RunError
from lf_evaluate.config import TaskSample, TasksConfig, TaskScore, TasksResult

TASK_DIR = Path(__file__).parent / "task_files"
LOGLIKELIHOOD_TYPES = ("loglikelihood", "loglikelihood_rolling", "multiple_choice")
_TASK_LINE = re.compile(r"^task:\s*['\"]?([\w.-]+)", re.MULTILINE)


def _lm_eval() -> Any:
    try:
        import lm_eval
    except ImportError as exc:
        raise DependencyMissingError.for_package("lm_eval", "lf evaluate tasks", "'lf-evaluate[tasks]'") from exc
    for name in ("lm_eval", "lm-eval"):  # its INFO and advice lines would bury the results table
        logging.getLogger(name).setLevel(logging.ERROR)
    return lm_eval


@contextlib.contextmanager
def _quiet_progress() -> Iterator[None]:
    """No tqdm bars from lm-eval and datasets while it runs (lf reports progress itself)."""
    before = os.environ.get("TQDM_DISABLE")
    os.environ["TQDM_DISABLE"] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = before


def yaml_tasks(folder: Path) -> dict[str, Path]:
    """``{task name: YAML file}`` of every task YAML under ``folder`` (read with a regex: no lm-eval import)."""
    found: dict[str, Path] = {}
    for path in sorted(folder.rglob("*.y*ml")):
        for name in _TASK_LINE.findall(path.read_text(encoding="utf-8")):
            found.setdefault(name, path)
    return found


def shipped_tasks() -> dict[str, Path]:
    """The tasks that ship with lf-evaluate (data included)."""
    return yaml_tasks(TASK_DIR)


def resolve_task_specs(specs: list[str]) -> tuple[list[str], list[Path], bool]:
    """``(task names, folders to index, whether lm-eval's catalogue is needed)`` for ``--tasks`` entries.

    An entry is a shipped task, a YAML file (its ``task:``), a folder (every task in it) or,
    failing those, a name for lm-eval's catalogue.
    """
    names: list[str] = []
    folders: list[Path] = [TASK_DIR]
    shipped = shipped_tasks()
    catalogue = False
    for spec in (s.strip() for s in specs):
        path = Path(spec).expanduser()
        if spec in shipped:
            names.append(spec)
        elif path.is_file() and path.suffix in (".yaml", ".yml"):
            found = _TASK_LINE.findall(path.read_text(encoding="utf-8"))
            if not found:
                raise ConfigError(f"{path}: no 'task:' line, so it defines no task.", hint="See lm-eval's task guide.")
            names += found
            folders.append(path.resolve().parent)
        elif path.is_dir():
            found_in = list(yaml_tasks(path))
            if not found_in:
                raise ConfigError(f"{path}: no task YAML (a file with a 'task:' line) in this folder.")
            names += found_in
            folders.append(path.resolve())
        elif spec:
            names.append(spec)
            catalogue = True
    if not names:
        raise ConfigError("No tasks given.", hint=f"--tasks {','.join(shipped)} (the shipped ones) or lm-eval names.")
    return list(dict.fromkeys(names)), list(dict.fromkeys(folders)), catalogue


def task_manager(folders: list[Path], catalogue: bool) -> Any:
    """lm-eval's TaskManager over ``folders`` (and its own catalogue when asked)."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=[str(f) for f in folders], include_defaults=catalogue)


def check_known(names: list[str], manager: Any, catalogue: bool) -> None:
    """Refuse names neither the local tasks nor lm-eval's catalogue know, with suggestions."""
    known = set(manager.all_tasks)
    unknown = [n for n in names if n not in known]
    if not unknown:
        return
    close = {n: difflib.get_close_matches(n, sorted(known), n=3, cutoff=0.6) for n in unknown}
    hints = "; ".join(f"{n}: did you mean {', '.join(c)}?" for n, c in close.items() if c)
    raise ConfigError(
        f"Unknown task{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}."
        + (f" {hints}" if hints else "")
        + ("" if catalogue else " (lm-eval's catalogue was searched too.)"),
        hint=f"Shipped tasks: {', '.join(shipped_tasks())}; or a task YAML file or folder; or a name from "
        "lm-eval's catalogue (`python -m lm_eval ls tasks`).",
    )


def load_tasks(names: list[str], manager: Any) -> dict[str, Any]:
    """``{name: Task}`` of every task (groups expanded), loading their data; data problems become DataError."""
    try:
        loaded = manager.load(names)
    except Exception as exc:
        raise DataError(
            f"Could not load the data of task(s) {', '.join(names)}: {type(exc).__name__}: {str(exc)[:400]}",
            hint=_hub_hint(),
        ) from exc
    return dict(loaded["tasks"])


def _hub_hint() -> str:
    from lf.data.load import hub_unreachable_reason

    reason = hub_unreachable_reason()
    if reason:
        return (
            f"lm-eval's catalogue tasks download their data from the Hugging Face Hub, which is unreachable here "
            f"({reason}). The shipped tasks ({', '.join(shipped_tasks())}) and task YAMLs with local data run offline."
        )
    return "Check the task's dataset settings (dataset_path, dataset_name, splits) and HF_TOKEN for gated data."


def needs_logprobs(tasks: dict[str, Any]) -> list[str]:
    """The tasks scored by log-likelihood (they need the model's probabilities of the prompt)."""
    return [name for name, task in tasks.items() if task.get_config("output_type") in LOGLIKELIHOOD_TYPES]


def run_tasks(config: TasksConfig, events: Events | None = None) -> TasksResult:
    """Evaluate ``config.model`` on ``config.tasks`` and return every task's scores."""
    with _quiet_progress():
        return _run_tasks(config, events or NullEvents())


def _run_tasks(config: TasksConfig, events: Events) -> TasksResult:
    started = time.perf_counter()
    lm_eval = _lm_eval()
    names, folders, catalogue = resolve_task_specs(config.tasks)
    if catalogue:
        events.message("indexing lm-eval's task catalogue (about 15 s)")
    manager = task_manager(folders, catalogue)
    check_known(names, manager, catalogue)
    tasks = load_tasks(names, manager)
    from lf_evaluate.harness_models import build_lm

    lm, label, source = build_lm(config, needs_logprobs(tasks), events)
    events.message(f"evaluating {label} on {', '.join(tasks)}")
    results = _evaluate(lm_eval, lm, names, manager, config, label)
    return TasksResult(
        model=label,
        source=source,
        scores=scores_of(results),
        samples=samples_of(results) if config.samples else {},
        settings=_settings(config, names, lm_eval),
        seconds=round(time.perf_counter() - started, 2),
    )


def _evaluate(lm_eval: Any, lm: Any, names: list[str], manager: Any, config: TasksConfig, label: str) -> Any:
    """lm-eval's ``simple_evaluate``, quiet, every seed set, its failures turned into clear errors."""
    try:
        return lm_eval.simple_evaluate(
            model=lm,
            tasks=names,
            task_manager=manager,
            num_fewshot=config.num_fewshot,
            limit=config.limit,
            bootstrap_iters=1000,
            log_samples=True,
            random_seed=config.seed,
            numpy_random_seed=config.seed,
            torch_random_seed=config.seed,
            fewshot_random_seed=config.seed,
        )
    except (ConfigError, DataError, DependencyMissingError):
        raise
    except Exception as exc:
        raise RunError(
            f"lm-eval failed while evaluating {label}: {type(exc).__name__}: {str(exc)[:500]}",
            hint="Rerun with -v for lm-eval's traceback.",
        ) from exc


def _settings(config: TasksConfig, names: list[str], lm_eval: Any) -> dict[str, object]:
    from importlib.metadata import version

    return {
        "tasks": names,
        "limit": config.limit,
        "num_fewshot": config.num_fewshot,
        "seed": config.seed,
        "lm_eval": version("lm_eval") if hasattr(lm_eval, "__name__") else None,
        "revision": config.model_revision,
    }


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None  # NaN: not estimated


def scores_of(results: dict[str, Any]) -> list[TaskScore]:
    """One :class:`TaskScore` per task and metric (lm-eval's ``"metric,filter"`` keys split)."""
    out: list[TaskScore] = []
    higher = results.get("higher_is_better", {})
    counts = results.get("n-samples", {})
    for task, values in results.get("results", {}).items():
        items = int((counts.get(task) or {}).get("effective", values.get("sample_len", 0)) or 0)
        for key, value in values.items():
            if "," not in key or "_stderr," in key:
                continue
            metric, filter_name = key.split(",", 1)
            number = _number(value)
            if number is None:
                continue
            out.append(
                TaskScore(
                    task=task,
                    metric=metric,
                    value=number,
                    stderr=_number(values.get(f"{metric}_stderr,{filter_name}")),
                    filter=filter_name,
                    items=items,
                    higher_is_better=bool((higher.get(task) or {}).get(metric, True)),
                )
            )
    return out


def samples_of(results: dict[str, Any]) -> dict[str, list[TaskSample]]:
    """Every item's answer (after the task's filters) and its score on the task's first metric."""
    out: dict[str, list[TaskSample]] = {}
    for task, rows in (results.get("samples") or {}).items():
        metric = next((s.metric for s in scores_of({"results": {task: results["results"][task]}})), None)
        out[task] = [
            TaskSample(
                doc_id=int(row["doc_id"]),
                target=str(row.get("target")),
                response=_response(row.get("filtered_resps")),
                score=float(row.get(metric, 0.0)) if metric else 0.0,
                raw=_raw(row.get("resps")),
            )
            for row in rows
        ]
    return out


def _raw(resps: Any) -> str:
    """The generated text of a generative item (lm-eval keeps ``[[text]]``); empty for log-likelihood items."""
    while isinstance(resps, list) and resps:
        resps = resps[0]
    return resps if isinstance(resps, str) else ""


def _response(filtered: Any) -> str:
    """The answer lm-eval scored: a generated text, or for a multiple-choice item the index of the best choice."""
    if isinstance(filtered, list) and filtered and isinstance(filtered[0], (list, tuple)):
        lls = [float(x[0]) for x in filtered]  # (log-likelihood, is_greedy) per choice
        return str(max(range(len(lls)), key=lls.__getitem__))
    if isinstance(filtered, list):
        return str(filtered[0]) if filtered else ""
    return str(filtered)


def auth_header(api_key_env: str | None) -> dict[str, str]:
    """The Authorization header from ``api_key_env`` (empty without one)."""
    if not api_key_env:
        return {}
    key = os.environ.get(api_key_env)
    if not key:
        raise ConfigError(
            f"--api-key-env names {api_key_env}, which is not set.",
            hint=f"export {api_key_env}=... (the key itself never goes on the command line).",
        )
    return {"Authorization": f"Bearer {key}"}
