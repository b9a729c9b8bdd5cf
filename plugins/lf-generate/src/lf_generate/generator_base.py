"""What the generators share: the run plan, opening models and the store, the engine loop, the summary."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lf.components import Events, NullEvents, RunResult
from lf.errors import ConfigError
from lf_generate.dedup import Deduplicator
from lf_generate.engine import Engine, Outcome
from lf_generate.models import ChatModel, RequestFailedError, check_ref, open_model
from lf_generate.prompts import Prompt, collect_prompts, work_units
from lf_generate.quality import QualityFilter
from lf_generate.store import RecordStore, check_output_path

#: Counters every summary shows, even at zero.
BASE_COUNTS = (
    "records_written",
    "failed",
    "retries",
    "filtered_min_length",
    "filtered_refusal",
    "filtered_language",
    "duplicates_exact",
    "duplicates_near",
)
PAIR_COUNTS = ("dropped_identical", "dropped_tie", "dropped_judge_unscored", "judge_unparsed")


@dataclass
class Plan:
    """What a run will do, worked out before any model loads."""

    units: list[Prompt]
    repeats: int
    fmt: Any
    quality: QualityFilter
    settings: dict[str, Any]


def prompt_messages(system: str | None, prompt: str) -> list[dict[str, Any]]:
    """The chat messages that ask ``prompt`` (after ``system``, when given)."""
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]


def record_format(name: str, shape: str) -> Any:
    """The data format ``name``, checked to hold records of ``shape`` (chat or preference)."""
    from lf.data.detect import get_format

    fmt = get_format(name)
    writer = "from_messages" if shape == "chat" else "from_preference"
    if getattr(fmt, "shape", None) != shape or not hasattr(fmt, writer):
        kinds = "a chat format (alpaca, sharegpt, messages, prompt-response)" if shape == "chat" else "dpo"
        raise ConfigError(f"format: '{name}' cannot hold these records; use {kinds}.")
    return fmt


class GeneratorBase(ABC):
    """What both generators share: ``run(config, events) -> RunResult``."""

    kind = ""
    shape = ""
    label = ""

    def plan(self, config: Any) -> Plan:
        """Check the config and list the work (raises before anything heavy happens)."""
        check_output_path(config.output)
        check_ref(config.teacher, "teacher")
        fmt = record_format(config.format, self.shape)
        texts, repeats = collect_prompts(config)
        units = work_units(self.kind, config, texts, getattr(config, "samples_per_prompt", 1))
        return Plan(units, repeats, fmt, QualityFilter.from_config(config), self.settings(config))

    def settings(self, config: Any) -> dict[str, Any]:
        """What the records depend on (kept in the journal; a resumed run says what changed)."""
        teacher = config.teacher
        return {
            "format": config.format,
            "teacher": teacher.base_url or teacher.backend,
            "teacher_model": teacher.model,
            "top_p": config.top_p,
            "max_tokens": config.max_tokens,
            "seed": config.seed,
        }

    def run(self, config: Any, events: Events) -> RunResult:
        """Generate what ``config`` asks (resuming an earlier run of the same output)."""
        plan = self.plan(config)
        return asyncio.run(self.execute(config, plan, events))

    async def execute(
        self, config: Any, plan: Plan, events: Events | None = None, teacher: ChatModel | None = None
    ) -> RunResult:
        """Run ``plan``; ``teacher`` (already open) is used as is, else one is opened and closed here."""
        events = events or NullEvents()
        store = RecordStore(config.output, kind=self.kind, settings=plan.settings, overwrite=config.overwrite)
        store.open()
        opened: list[ChatModel] = []
        try:
            if store.repaired:
                events.message(f"repaired {store.repaired} unfinished line(s) left by an interrupted run", "warning")
            if store.done and store.changed_settings:
                events.message(
                    f"resuming {config.output}, written with other settings ({', '.join(store.changed_settings)})",
                    "warning",
                )
            dedup = None
            if config.dedup or config.near_duplicate_threshold is not None:
                dedup = Deduplicator(exact=config.dedup, threshold=config.near_duplicate_threshold)
                for record in store.records():
                    dedup.add(self.dedup_text(plan.fmt, record))
            engine = Engine(
                store=store,
                events=events,
                label=self.label,
                concurrency=config.concurrency,
                max_retries=config.max_retries,
                retry_backoff_s=config.retry_backoff_s,
                max_consecutive_failures=config.max_consecutive_failures,
                dedup=dedup,
                max_records=config.max_records,
            )
            models: dict[str, ChatModel] = {}
            full = config.max_records is not None and store.kept >= config.max_records
            if not full and any(u.key not in store.done for u in plan.units):  # all done: no model loads
                models = await self.open_more(config, events, opened)  # the judge first: usually the cheaper check
                if teacher is None:
                    teacher = open_model(config.teacher, "teacher")
                    opened.append(teacher)
                    events.message(f"opening the teacher ({config.teacher.base_url or config.teacher.model})")
                    await teacher.open()
            await engine.run(plan.units, lambda unit: self.process(config, plan, engine, teacher, models, unit))
        finally:
            try:
                for model in opened:
                    await model.aclose()
            finally:
                store.close()
        result = self.result(config, plan, store, engine)
        events.metrics(result.metrics)
        for name, path in result.artifacts.items():
            events.artifact(name, path)
        return result

    async def open_more(self, config: Any, events: Events, opened: list[ChatModel]) -> dict[str, ChatModel]:
        """Other models a generator needs (the judge)."""
        return {}

    @abstractmethod
    async def process(
        self, config: Any, plan: Plan, engine: Engine, teacher: Any, models: dict[str, ChatModel], unit: Prompt
    ) -> Outcome:
        """Turn one unit into an outcome."""

    @abstractmethod
    def dedup_text(self, fmt: Any, record: dict[str, Any]) -> str:
        """The text de-duplication compares, from a kept record."""

    def result(self, config: Any, plan: Plan, store: RecordStore, engine: Engine) -> RunResult:
        """The summary of a run."""
        counts = engine.counts
        names = (*BASE_COUNTS, *(PAIR_COUNTS if self.kind == "preferences" else ()))
        metrics: dict[str, float] = {name: float(counts.get(name, 0)) for name in names}
        metrics.update({k: float(v) for k, v in counts.items() if k not in metrics})
        seconds = engine.seconds
        metrics.update(
            prompts=float(len(plan.units)),
            resumed=float(engine.resumed),
            records_total=float(store.kept),
            prompt_repeats=float(plan.repeats),
            repaired_lines=float(store.repaired),
            completion_tokens=float(engine.tokens),
            seconds=round(seconds, 3),
            records_per_s=round(counts["records_written"] / seconds, 3) if seconds > 0 else 0.0,
            tokens_per_s=round(engine.tokens / seconds, 2) if seconds > 0 else 0.0,
        )
        artifacts = {"data": str(store.output), "journal": str(store.journal_path)}
        if store.failures:
            artifacts["failures"] = str(store.failures_path)
        dropped = sum(v for k, v in counts.items() if k.startswith(("filtered_", "dropped_")))
        dups = counts["duplicates_exact"] + counts["duplicates_near"]
        summary = (
            f"{store.kept} {'pairs' if self.kind == 'preferences' else 'records'} in {store.output} "
            f"({counts['records_written']} new; {engine.resumed} prompts were done before); "
            f"{counts['failed']} failed, {dropped} filtered or dropped, {dups} duplicates"
        )
        return RunResult(
            output_dir=str(Path(store.output).parent), metrics=metrics, artifacts=artifacts, summary=summary
        )


async def gather_all(coroutines: Any) -> list[Any]:
    """Await all; if any failed for good, raise the first failure once all have finished."""
    results = await asyncio.gather(*coroutines, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        raise next((f for f in failures if isinstance(f, RequestFailedError)), failures[0])
    return list(results)
