"""``SyntheticDataGenerator``: the Python API of the requirements (SRS 3.1.1) over the generators.

It keeps one teacher open across calls (a model loaded once, or an endpoint client) and
runs the same code as ``lf generate data|preferences`` - filters, de-duplication, retries
included - into a temporary file whose records it returns::

    from lf_generate import SyntheticDataGenerator

    with SyntheticDataGenerator("out/model") as gen:            # in-process (backend hf)
        pairs = gen.generate_instruction_data(["Explain tides."], system_prompt="Be brief.")
        prefs = gen.generate_preference_data(["Explain tides."], num_responses=3)
        gen.save_dataset(pairs, "data/tides.jsonl")

    gen = SyntheticDataGenerator(base_url="http://127.0.0.1:8000/v1", api_key_env="LF_KEY")
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec

from lf.components import NullEvents, RunResult
from lf.config import convert
from lf.errors import ConfigError
from lf_generate.config import JudgeConfig, ModelRef, PreferenceConfig, SyntheticConfig
from lf_generate.models import ChatModel, open_model


class _CallbackEvents(NullEvents):
    """Forwards progress to a ``callback(done, total)``."""

    def __init__(self, callback: Callable[[int, int], None] | None) -> None:
        self.callback = callback

    def progress(self, description: str, completed: float, total: float | None = None, **fields: Any) -> None:
        """Call the callback with whole numbers."""
        if self.callback is not None:
            self.callback(int(completed), int(total or 0))


class SyntheticDataGenerator:
    """Generate instruction and preference data with a teacher model.

    Args:
        teacher_model: a model directory (or shorthand ``tiny``, ``smollm2``) loaded in this
            process by ``backend``; with ``base_url``, the served model name (optional).
        device: ``auto``, ``cpu``, ``cuda``... (in-process only).
        quantization: None. Loading full-precision weights in 4/8 bit is not done here:
            quantize the teacher first (``lf quantize awq|gptq``) - the backend loads a
            quantized directory as it is - or serve it with vLLM and pass ``base_url``.
        torch_dtype: ``torch.bfloat16``, ``"float32"``... (in-process only; default: the backend's).
        base_url: an OpenAI-compatible endpoint instead of an in-process model.
        api_key_env: the environment variable holding the endpoint's key.
        backend: the registered backend that loads an in-process model (``hf``, ``vllm``...).
        judge: a judge for preference data: a :class:`JudgeConfig`, a :class:`ModelRef`, a
            model directory or an endpoint URL (None: lowest temperature is chosen).
        concurrency: requests in flight at once.
        options: any other field of :class:`SyntheticConfig` (``min_length``, ``language``,
            ``near_duplicate_threshold``, ``max_retries``, ``top_p`` ...).
    """

    def __init__(
        self,
        teacher_model: str | None = None,
        device: str = "auto",
        quantization: str | None = None,
        torch_dtype: Any = None,
        *,
        base_url: str | None = None,
        api_key_env: str | None = None,
        backend: str = "hf",
        backend_options: Mapping[str, Any] | None = None,
        judge: JudgeConfig | ModelRef | str | None = None,
        concurrency: int = 8,
        **options: Any,
    ) -> None:
        if quantization not in (None, "none"):
            raise ConfigError(
                f"quantization={quantization!r}: the teacher is not quantized while loading here.",
                hint="Quantize it first (`lf quantize awq MODEL OUT`) and pass OUT, "
                "or serve it (vLLM) and pass base_url.",
            )
        extra = dict(backend_options or {})
        if base_url is None:
            if device != "auto":
                extra.setdefault("device", device)
            if torch_dtype is not None:
                extra.setdefault("dtype", str(torch_dtype).removeprefix("torch."))
        self.teacher_ref = ModelRef(
            model=teacher_model, base_url=base_url, api_key_env=api_key_env, backend=backend, backend_options=extra
        )
        self.judge_ref = _judge_ref(judge, api_key_env)
        self.concurrency = concurrency
        self.options = options
        self.last_result: RunResult | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._teacher: ChatModel | None = None

    # -- lifecycle ----------------------------------------------------------------------------------

    def _run(self, coroutine: Any) -> Any:
        # one loop for the generator's life: an in-process backend stays bound to it between calls
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(coroutine)

    async def _open_teacher(self) -> ChatModel:
        if self._teacher is None:
            teacher = open_model(self.teacher_ref, "teacher")
            await teacher.open()
            self._teacher = teacher
        return self._teacher

    def close(self) -> None:
        """Release the teacher (unload the model, close the client)."""
        if self._loop is not None:
            if self._teacher is not None:
                self._loop.run_until_complete(self._teacher.aclose())
                self._teacher = None
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()
            self._loop = None

    def __enter__(self) -> SyntheticDataGenerator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the requirements' methods ------------------------------------------------------------------

    def generate_instruction_data(
        self,
        prompts: list[str],
        system_prompt: str | None = None,
        temperature: float = 0.7,
        max_tokens: int = 1024,
        batch_size: int = 1,
        callback: Callable[[int, int], None] | None = None,
    ) -> list[dict[str, str]]:
        """Instruction / response records (alpaca: ``instruction``, ``input``, ``output``, ``system``) for ``prompts``.

        Prompts that fail (after retries) or are filtered out give no record; see :attr:`last_result`.
        ``batch_size`` > 1 sets the requests in flight (default: ``concurrency``).
        """
        values = {
            "format": "alpaca",
            **self.options,
            "system_prompt": system_prompt,
            "temperature": temperature,
            "max_tokens": max_tokens,
        }
        return self._generate(SyntheticConfig, prompts, values, batch_size, callback)

    def generate_preference_data(
        self,
        prompts: list[str],
        num_responses: int = 2,
        temperature_range: tuple[float, float] = (0.5, 1.0),
        batch_size: int = 1,
        callback: Callable[[int, int], None] | None = None,
    ) -> list[dict[str, Any]]:
        """Preference records (dpo: ``prompt``, ``chosen``, ``rejected``): ``num_responses`` answers per prompt.

        Temperatures are spread evenly over ``temperature_range``; the judge (if any)
        ranks the answers, else the lowest temperature's is chosen and the highest's rejected.
        """
        if num_responses < 2:
            raise ConfigError("num_responses must be at least 2 (a chosen and a rejected answer).")
        low, high = temperature_range
        if not 0 <= low < high <= 2:
            raise ConfigError(f"temperature_range {temperature_range} must rise within [0, 2].")
        step = (high - low) / (num_responses - 1)
        temperatures = [round(low + i * step, 4) for i in range(num_responses)]
        judge = msgspec.to_builtins(self.judge_ref) if self.judge_ref is not None else None
        values = {"format": "dpo", **self.options, "temperatures": temperatures, "judge": judge}
        return self._generate(PreferenceConfig, prompts, values, batch_size, callback)

    def save_dataset(
        self, data: list[dict[str, Any]], output_path: str, format: Literal["json", "jsonl", "parquet"] = "jsonl"
    ) -> None:
        """Write records atomically as JSON Lines, a JSON array or Parquet (the path gets the suffix if it has none)."""
        from lf.data.io import write_records

        suffixes = {"jsonl": (".jsonl", ".ndjson", ".jsonlines"), "json": (".json",), "parquet": (".parquet", ".pq")}
        if format not in suffixes:
            raise ConfigError(f"format must be json, jsonl or parquet, not {format!r}.")
        path = Path(output_path)
        if not path.suffix:
            path = path.with_suffix(suffixes[format][0])
        elif path.suffix.lower() not in suffixes[format]:
            raise ConfigError(f"{path} does not end in {suffixes[format][0]}, but format is {format}.")
        write_records(path, data)

    # -- shared ---------------------------------------------------------------------------------------

    def _generate(
        self,
        config_type: type[SyntheticConfig] | type[PreferenceConfig],
        prompts: list[str],
        values: dict[str, Any],
        batch_size: int,
        callback: Callable[[int, int], None] | None,
    ) -> list[dict[str, Any]]:
        from lf_generate.generators import PreferenceGenerator, SyntheticGenerator

        generator: Any = SyntheticGenerator() if config_type is SyntheticConfig else PreferenceGenerator()
        with tempfile.TemporaryDirectory(prefix="lf-generate-") as tmp:
            data = {
                "concurrency": batch_size if batch_size > 1 else self.concurrency,
                **values,
                "prompts": list(prompts),
                "teacher": msgspec.to_builtins(self.teacher_ref),
                "output": str(Path(tmp) / "data.jsonl"),
            }
            config = convert(data, config_type, source="SyntheticDataGenerator")
            plan = generator.plan(config)

            async def go() -> RunResult:
                teacher = await self._open_teacher()
                return await generator.execute(config, plan, _CallbackEvents(callback), teacher=teacher)

            self.last_result = self._run(go())
            return [msgspec.json.decode(line) for line in Path(config.output).read_bytes().splitlines() if line]


def _judge_ref(judge: JudgeConfig | ModelRef | str | None, api_key_env: str | None) -> JudgeConfig | None:
    if judge is None or isinstance(judge, JudgeConfig):
        return judge
    if isinstance(judge, ModelRef):
        return msgspec.convert(msgspec.to_builtins(judge), JudgeConfig)
    if judge.startswith(("http://", "https://")):
        return JudgeConfig(base_url=judge, api_key_env=api_key_env)
    return JudgeConfig(model=judge)
