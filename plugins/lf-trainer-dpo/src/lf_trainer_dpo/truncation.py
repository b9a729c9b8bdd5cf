"""Prompt and reply limits of the ``dpo`` trainer: ``max_prompt_length`` and ``max_completion_length``.

TRL 1.x dropped both from ``DPOConfig`` (only ``max_length`` is left, which cuts the *end*
of prompt + reply: a long prompt then leaves the reply nothing, and TRL drops the pair).
The ``dpo`` trainer puts them back on TRL's tokenized pairs (``prompt_ids``,
``chosen_ids``, ``rejected_ids``): a prompt keeps its last ``max_prompt_length`` tokens -
the end, next to the reply, matters most - and each reply its first
``max_completion_length``. :func:`truncate_pairs` counts the pairs it cut, for one warning.
"""

from __future__ import annotations

from typing import Any

#: ``max_prompt_length: null`` means this many tokens (the requirements' default) ...
DEFAULT_PROMPT_TOKENS = 512


def prompt_limit(max_prompt_length: int | None, max_length: int) -> int:
    """The prompt budget: ``max_prompt_length``, or by default 512 and never more than half of ``max_length``."""
    if max_prompt_length is not None:
        return max_prompt_length
    return min(DEFAULT_PROMPT_TOKENS, max_length // 2)


def truncate_pairs(dataset: Any, max_prompt: int, max_completion: int | None) -> tuple[Any, int | None]:
    """``dataset`` (TRL's tokenized pairs) with prompts cut from the left and replies from the right.

    Returns the new dataset and how many pairs were cut (None for a streamed dataset, which
    is only cut as it is read).
    """

    def cut(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {"prompt_ids": [], "chosen_ids": [], "rejected_ids": [], "lf_truncated": []}
        rows = zip(batch["prompt_ids"], batch["chosen_ids"], batch["rejected_ids"], strict=True)
        for prompt, chosen, rejected in rows:
            cut_any = len(prompt) > max_prompt
            if max_completion is not None:
                cut_any = cut_any or len(chosen) > max_completion or len(rejected) > max_completion
                chosen, rejected = chosen[:max_completion], rejected[:max_completion]
            out["prompt_ids"].append(prompt[-max_prompt:] if len(prompt) > max_prompt else prompt)
            out["chosen_ids"].append(chosen)
            out["rejected_ids"].append(rejected)
            out["lf_truncated"].append(cut_any)
        return out

    if not hasattr(dataset, "column_names") or not hasattr(dataset, "__len__"):  # an IterableDataset
        return dataset.map(cut, batched=True).remove_columns(["lf_truncated"]), None
    mapped = dataset.map(cut, batched=True, desc="Applying max_prompt_length / max_completion_length")
    count = sum(bool(flag) for flag in mapped["lf_truncated"])
    return mapped.remove_columns(["lf_truncated"]), count


def truncation_warning(
    name: str, count: int | None, total: int | None, max_prompt: int, max_completion: int | None
) -> str | None:
    """The one warning about the pairs ``truncate_pairs`` cut in the ``name`` dataset, or None when none was."""
    limits = f"max_prompt_length={max_prompt}" + (
        f", max_completion_length={max_completion}" if max_completion is not None else ""
    )
    what = "prompts keep their last tokens, replies their first"
    if count is None:
        return f"{name}: pairs over {limits} are cut as they are read ({what})"
    if count == 0:
        return None
    share = f"{count} of {total}" if total is not None else str(count)
    return f"{name}: {share} preference pairs were truncated to {limits} ({what}); raise the limits to keep them whole"
