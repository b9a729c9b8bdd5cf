"""Task scores for ``lf evaluate compare --tasks``: lm-evaluation-harness tasks on both models (``lf_evaluate``).

Each side is scored on the same tasks, in this process for a model directory or through its
endpoint; the summary keeps each task's first metric (``acc`` for multiple choice,
``exact_match`` for generative tasks). A side that cannot run a task (an endpoint without
prompt log-probabilities asked for a multiple-choice task) gets a note instead of scores,
and the comparison goes on.
"""

from __future__ import annotations

from typing import Any

from lf.components import Events
from lf.errors import ConfigError, DataError


def measure_tasks(
    sides: list[Any], refs: tuple[Any, Any], tasks: list[str], *, limit: int | None, events: Events
) -> None:
    """Fill ``task_scores`` (``{"task metric": value}``) or ``task_note`` of each :class:`ModelSummary`."""
    from lf_evaluate import TasksConfig, run_tasks

    for side, ref in zip(sides, refs, strict=True):
        model = ref.base_url or ref.model or ""
        config = TasksConfig(
            model=model,
            tasks=tasks,
            limit=limit,
            served_model=ref.model if ref.base_url else None,
            api_key_env=ref.api_key_env if ref.base_url else None,
        )
        events.message(f"task scores of {side.label}: {', '.join(tasks)}")
        try:
            result = run_tasks(config, events)
        except (ConfigError, DataError) as exc:
            side.task_note = exc.message
            continue
        seen: set[str] = set()
        for score in result.scores:
            if score.task not in seen:  # the task's first metric
                seen.add(score.task)
                side.task_scores[f"{score.task} {score.metric}"] = score.value
