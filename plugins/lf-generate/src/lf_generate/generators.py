"""The generators ``synthetic`` (instruction data) and ``preferences`` (chosen / rejected pairs).

Both check everything they can before a model loads (output path, teacher and judge,
format, prompts, filters), open the store (which repairs and resumes an earlier run), and
load the teacher only when some prompt is still to do. See :mod:`lf_generate.engine` for
concurrency, retries and progress, :mod:`lf_generate.store` for the files,
:mod:`lf_generate.generator_base` for what both generators share.
"""

from __future__ import annotations

from typing import Any

from lf.components import Events
from lf.errors import ConfigError
from lf_generate.config import PreferenceConfig, SyntheticConfig
from lf_generate.dedup import normalize
from lf_generate.engine import Engine, Outcome
from lf_generate.generator_base import GeneratorBase, Plan, gather_all, prompt_messages
from lf_generate.judge import parse_score, score_messages
from lf_generate.models import ChatModel, check_ref, open_model
from lf_generate.prompts import Prompt, seed_for


class SyntheticGenerator(GeneratorBase):
    """``synthetic`` (alias ``data``): a teacher answers each prompt; one record per answer."""

    kind = "synthetic"
    shape = "chat"
    label = "generating"

    def settings(self, config: SyntheticConfig) -> dict[str, Any]:
        """Teacher, sampling and format."""
        return {**super().settings(config), "temperature": config.temperature}

    async def process(
        self,
        config: SyntheticConfig,
        plan: Plan,
        engine: Engine,
        teacher: Any,
        models: dict[str, ChatModel],
        unit: Prompt,
    ) -> Outcome:
        """Ask, filter, build the record."""
        messages = prompt_messages(config.system_prompt, unit.text)
        reply = await engine.call(
            lambda: teacher.chat(
                messages,
                temperature=config.temperature,
                top_p=config.top_p,
                max_tokens=config.max_tokens,
                seed=seed_for(unit.key, config.seed),
                stop=config.stop,
            )
        )
        if reply.finish_reason == "length":
            engine.counts["truncated"] += 1
        text = reply.text.strip()
        reason = plan.quality.reason(text)
        if reason:
            return Outcome("filtered", reason=reason, tokens=reply.completion_tokens)
        record = plan.fmt.from_messages([*messages, {"role": "assistant", "content": text}])
        return Outcome(
            "ok",
            record=record,
            dedup_text=f"{unit.text}\n{text}",
            tokens=reply.completion_tokens,
            info={"finish_reason": reply.finish_reason},
        )

    def dedup_text(self, fmt: Any, record: dict[str, Any]) -> str:
        """The user turn and the answer."""
        messages = fmt.to_messages(record)
        user = next((m["content"] for m in messages if m["role"] == "user"), "")
        return f"{user}\n{messages[-1]['content']}"


class PreferenceGenerator(GeneratorBase):
    """``preferences``: several answers per prompt at different temperatures; chosen and rejected among them."""

    kind = "preferences"
    shape = "preference"
    label = "preference pairs"

    def plan(self, config: PreferenceConfig) -> Plan:
        """Also check the judge."""
        if config.judge is not None:
            check_ref(config.judge, "judge")
        if len(set(config.temperatures)) < 2:
            raise ConfigError("temperatures: give at least two different temperatures.", hint="e.g. [0.3, 1.0]")
        return super().plan(config)

    def settings(self, config: PreferenceConfig) -> dict[str, Any]:
        """Teacher, sampling, format and judge."""
        judge = config.judge
        return {
            **super().settings(config),
            "temperatures": list(config.temperatures),
            "judge": None if judge is None else (judge.base_url or judge.backend, judge.model, judge.rubric),
        }

    async def open_more(
        self, config: PreferenceConfig, events: Events, opened: list[ChatModel]
    ) -> dict[str, ChatModel]:
        """Open the judge, when there is one."""
        if config.judge is None:
            return {}
        judge = open_model(config.judge, "judge")
        opened.append(judge)
        events.message(f"opening the judge ({config.judge.base_url or config.judge.model})")
        await judge.open()
        return {"judge": judge}

    async def process(
        self,
        config: PreferenceConfig,
        plan: Plan,
        engine: Engine,
        teacher: Any,
        models: dict[str, ChatModel],
        unit: Prompt,
    ) -> Outcome:
        """Answers at each temperature, then chosen / rejected by the judge or by temperature."""
        messages = prompt_messages(config.system_prompt, unit.text)
        temps = list(config.temperatures)

        def ask(index: int, temperature: float) -> Any:
            return engine.call(
                lambda: teacher.chat(
                    messages,
                    temperature=temperature,
                    top_p=config.top_p,
                    max_tokens=config.max_tokens,
                    seed=seed_for(unit.key, config.seed, index),
                    stop=config.stop,
                )
            )

        replies = await gather_all(ask(i, t) for i, t in enumerate(temps))
        tokens = sum(r.completion_tokens for r in replies)
        texts = [r.text.strip() for r in replies]
        info: dict[str, Any] = {"temperatures": temps}
        if len({normalize(t) for t in texts}) == 1:
            return Outcome("dropped", reason="identical", tokens=tokens, info=info)
        pair = await self._chosen_and_rejected(config, engine, models, unit.text, texts, info)
        if isinstance(pair, str):
            return Outcome("dropped", reason=pair, tokens=tokens, info=info)
        best, worst = pair
        chosen, rejected = texts[best], texts[worst]
        info["chosen_temperature"], info["rejected_temperature"] = temps[best], temps[worst]
        if normalize(chosen) == normalize(rejected):
            return Outcome("dropped", reason="identical", tokens=tokens, info=info)
        reason = plan.quality.reason(chosen)
        if reason:
            return Outcome("filtered", reason=reason, tokens=tokens, info=info)
        from lf.data.formats import Preference

        record = plan.fmt.from_preference(
            Preference(
                prompt=messages,
                chosen=[{"role": "assistant", "content": chosen}],
                rejected=[{"role": "assistant", "content": rejected}],
            )
        )
        return Outcome("ok", record=record, dedup_text=f"{unit.text}\n{chosen}", tokens=tokens, info=info)

    async def _chosen_and_rejected(
        self,
        config: PreferenceConfig,
        engine: Engine,
        models: dict[str, ChatModel],
        prompt: str,
        texts: list[str],
        info: dict[str, Any],
    ) -> tuple[int, int] | str:
        """Indices of the chosen and rejected answers, or why the prompt is dropped.

        With a judge: its best and worst scored answers (the cooler one wins a tie in score);
        without: the coolest and the hottest temperature's answers.
        """
        temps = list(config.temperatures)
        by_temperature = sorted(range(len(temps)), key=lambda i: temps[i])
        if "judge" not in models:
            return by_temperature[0], by_temperature[-1]
        scores = await self._scores(config, engine, models["judge"], prompt, texts)
        info["scores"] = scores
        scored = [i for i in by_temperature if scores[i] is not None]
        if len(scored) < 2:
            return "judge_unscored"
        best = max(scored, key=lambda i: (scores[i], -temps[i]))
        worst = min(scored, key=lambda i: (scores[i], -temps[i]))
        if scores[best] == scores[worst]:
            return "tie"
        return best, worst

    async def _scores(
        self, config: PreferenceConfig, engine: Engine, judge: ChatModel, prompt: str, texts: list[str]
    ) -> list[float | None]:
        assert config.judge is not None
        rubric, max_tokens = config.judge.rubric, config.judge.max_tokens

        def ask(text: str) -> Any:
            return engine.call(
                lambda: judge.chat(score_messages(rubric, prompt, text), temperature=0.0, max_tokens=max_tokens, seed=0)
            )

        answers = await gather_all(ask(t) for t in texts)
        scores = [parse_score(a.text) for a in answers]
        engine.counts["judge_unparsed"] += sum(s is None for s in scores)
        return scores

    def dedup_text(self, fmt: Any, record: dict[str, Any]) -> str:
        """The last user turn and the chosen answer."""
        pref = fmt.to_preference(record)
        user = next((m["content"] for m in reversed(pref.prompt) if m["role"] == "user"), "")
        return f"{user}\n{pref.chosen[-1]['content']}"
