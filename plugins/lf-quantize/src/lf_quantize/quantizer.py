"""The ``awq`` and ``gptq`` quantizers: check, calibrate, quantize (engine), verify, report.

1. Checks that need no model (architecture, already quantized, group size, output dir,
   the engine environment, enough calibration tokens) - bad input stops here.
2. The engine (llm-compressor, in its own environment) quantizes into a staging directory
   that becomes ``output_dir`` only when everything below succeeded
   (:func:`lf.atomic.atomic_directory`): an interrupted run leaves nothing that looks valid.
3. The quality check loads the original and the quantized model *here*, with
   transformers + compressed-tensors (the way a server loads it), measures perplexity on
   held-out text and generates a short answer with each.
4. The report (sizes, compression ratio, perplexity before/after, pass/warn verdict) is
   written as ``quantize_report.json`` beside the weights and returned as a QuantizeResult.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from lf.atomic import atomic_directory, atomic_write_bytes
from lf.components import Events, QuantizeResult
from lf.errors import LFError
from lf_quantize import calibration, engine
from lf_quantize.checks import WEIGHT_SUFFIXES, check_architecture, preflight
from lf_quantize.config import AWQConfig, GPTQConfig, QuantizeConfig, QuantizeReport
from lf_quantize.report import dir_size, human_bytes, increase_pct, verdict, weights_size

REPORT_FILE = "quantize_report.json"
FORMAT = "compressed-tensors (pack-quantized)"
SAMPLE_PROMPT = "What is the capital of France? Answer in one sentence."
#: Warn (not fail) below this many calibration sequences.
FEW_BLOCKS = 8


class _Quantizer:
    method = ""
    symmetric_default = True

    def _method_options(self, config: Any) -> dict[str, Any]:
        return {}

    def run(self, config: QuantizeConfig, events: Events) -> QuantizeResult:
        """Quantize ``config.model`` into ``config.output_dir`` and report its quality."""
        started = time.perf_counter()
        config = msgspec.structs.replace(
            config, model=os.path.expanduser(config.model), output_dir=os.path.expanduser(config.output_dir)
        )
        inputs = _prepare(config, events)
        symmetric = self.symmetric_default if config.symmetric is None else config.symmetric
        events.message(
            f"{self.method} {config.bits}-bit, group size {inputs.group_size}, "
            f"{'symmetric' if symmetric else 'asymmetric'}; {inputs.architecture}; calibration: {inputs.calib.source} "
            f"({len(inputs.calib.blocks)} x <= {config.max_seq_length} tokens)"
        )
        out = Path(config.output_dir)
        with (
            tempfile.TemporaryDirectory(prefix="lf-quantize-") as work,
            atomic_directory(out, overwrite=config.overwrite) as staging,
        ):
            calib_path = Path(work) / "calibration.json"
            calib_path.write_text(json.dumps({"input_ids": inputs.calib.blocks}))
            request = {
                "method": self.method,
                "model": str(Path(config.model).resolve()),
                "output": str(Path(staging).resolve()),
                "bits": config.bits,
                "group_size": inputs.group_size,
                "symmetric": symmetric,
                "ignore": list(config.ignore),
                "dtype": config.dtype,
                "calibration": str(calib_path),
                "max_seq_length": config.max_seq_length,
                self.method: self._method_options(config),
            }
            done = self._run_engine(request, inputs.python, inputs.device, events, Path(work) / "engine.log", out)
            _copy_aux_files(Path(config.model), staging)
            _annotate(staging, self.method, config, inputs.group_size, symmetric, done["library"], inputs.architecture)
            quality = _quality(config.model, staging, inputs.eval_texts, config, inputs.device, events)
            report = self._report(config, inputs, symmetric, done, quality, staging, started)
            atomic_write_bytes(staging / REPORT_FILE, msgspec.json.format(msgspec.json.encode(report), indent=2))
            _share(staging)
        return _result(report, out, events)

    def _report(
        self,
        config: QuantizeConfig,
        inputs: _Inputs,
        symmetric: bool,
        done: dict[str, Any],
        quality: dict[str, Any],
        staging: Path,
        started: float,
    ) -> QuantizeReport:
        """Sizes before and after, perplexity before and after with the verdict, and how the run went."""
        size_before, size_after = dir_size(config.model), dir_size(staging)
        return QuantizeReport(
            method=self.method,
            bits=config.bits,
            group_size=inputs.group_size,
            symmetric=symmetric,
            format=FORMAT,
            library=done["library"],
            model=config.model,
            output_dir=config.output_dir,
            size_before_bytes=size_before,
            size_after_bytes=size_after,
            compression_ratio=round(size_before / size_after, 4),
            weights_before_bytes=weights_size(config.model),
            weights_after_bytes=weights_size(staging),
            perplexity_before=quality["before"],
            perplexity_after=quality["after"],
            perplexity_increase_pct=round(increase_pct(quality["before"], quality["after"]), 4),
            max_perplexity_increase_pct=config.max_perplexity_increase,
            verdict=verdict(quality["before"], quality["after"], config.max_perplexity_increase),
            eval_data=config.eval_data or "(bundled held-out set)",
            eval_tokens=quality["tokens"],
            calibration_data=inputs.calib.source,
            calibration_samples=len(inputs.calib.blocks),
            calibration_tokens=inputs.calib.tokens,
            quantize_seconds=float(done["quantize_seconds"]),
            total_seconds=round(time.perf_counter() - started, 3),
            sample_prompt=quality["prompt"],
            sample_before=quality["sample_before"],
            sample_after=quality["sample_after"],
        )

    def _run_engine(
        self, request: dict[str, Any], python: str, device: str, events: Events, log: Path, out: Path
    ) -> dict[str, Any]:
        def relay(event: dict[str, Any]) -> None:
            if event.get("event") == "progress":
                events.progress(str(event["description"]), event.get("completed", 0), event.get("total"))
            elif event.get("event") == "message":
                events.message(str(event.get("text", "")), str(event.get("level", "info")))

        extra_env = {"CUDA_VISIBLE_DEVICES": ""} if device == "cpu" else {}
        try:
            return engine.run_worker(request, python=python, on_event=relay, log_path=log, extra_env=extra_env)
        except LFError as exc:
            kept = out.with_name(f"{out.name}.quantize.log")
            if log.exists():
                shutil.copyfile(log, kept)
                exc.hint = f"{exc.hint + ' ' if exc.hint else ''}Engine log: {kept}"
            raise


class AWQQuantizer(_Quantizer):
    """AWQ (activation-aware weight quantization) via llm-compressor; asymmetric by default."""

    method = "awq"
    symmetric_default = False

    def _method_options(self, config: AWQConfig) -> dict[str, Any]:
        return {"duo_scaling": config.duo_scaling, "n_grid": config.n_grid}


class GPTQQuantizer(_Quantizer):
    """GPTQ (second-order error-correcting rounding) via llm-compressor; symmetric by default."""

    method = "gptq"
    symmetric_default = True

    def _method_options(self, config: GPTQConfig) -> dict[str, Any]:
        return {"act_order": config.act_order, "damping": config.damping, "block_size": config.block_size}


@dataclass
class _Inputs:
    """What the checks found and what the run reads, worked out before the engine starts."""

    group_size: int
    python: str
    architecture: str
    device: str
    calib: calibration.Calibration
    eval_texts: list[str]


def _prepare(config: QuantizeConfig, events: Events) -> _Inputs:
    """Run the checks, then tokenize the calibration data and read the evaluation texts (bad input stops here)."""
    events.progress("checking", 0, 1)
    model_config, group_size = preflight(config)
    python = engine.find_engine_python(config.engine_python)
    architecture = check_architecture(config.model, model_config)
    from transformers import AutoTokenizer

    from lf_evaluate import load_texts, resolve_device

    device = resolve_device(config.device)
    tokenizer = AutoTokenizer.from_pretrained(config.model)
    calib = calibration.prepare(
        config.calibration_data,
        tokenizer,
        max_seq_length=config.max_seq_length,
        max_blocks=config.num_calibration_samples,
        min_tokens=config.min_calibration_tokens,
    )
    eval_texts = load_texts(config.eval_data, max_samples=config.eval_max_samples)
    events.progress("checking", 1, 1)
    if len(calib.blocks) < FEW_BLOCKS:
        events.message(
            f"only {len(calib.blocks)} calibration sequences of up to {config.max_seq_length} tokens; "
            "more varied calibration data usually gives better scales",
            level="warning",
        )
    return _Inputs(group_size, python, architecture, device, calib, eval_texts)


def _copy_aux_files(source: Path, staging: Path) -> None:
    """Tokenizer, chat template and other small files the engine did not write (never weights)."""
    for item in source.iterdir():
        if (
            not item.is_file()
            or item.name.startswith(".")
            or item.suffix in WEIGHT_SUFFIXES
            or item.name.endswith(".index.json")
            or item.name == REPORT_FILE
            or (staging / item.name).exists()
        ):
            continue
        shutil.copy2(item, staging / item.name)


def _share(directory: Path) -> None:
    """Usual permissions (umask applied) instead of the private ones of temporary files, so a server may read it."""
    mask = os.umask(0)
    os.umask(mask)
    directory.chmod(0o777 & ~mask)
    for item in directory.rglob("*"):
        item.chmod((0o777 if item.is_dir() else 0o666) & ~mask)


def _annotate(
    staging: Path, method: str, config: QuantizeConfig, group_size: int, symmetric: bool, library: str, arch: str
) -> None:
    """Name the method in config.json (``lf_quantization``), for servers and ``lf`` commands to show."""
    path = staging / "config.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["lf_quantization"] = {
        "method": method,
        "bits": config.bits,
        "group_size": group_size,
        "symmetric": symmetric,
        "format": FORMAT,
        "library": library,
        "architecture": arch,
        "source_model": str(config.model),
        "report": REPORT_FILE,
    }
    atomic_write_bytes(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


def _sample(model: Any, tokenizer: Any) -> tuple[str, str]:
    """``(prompt, greedy answer)``: the chat template when there is one."""
    import torch

    if getattr(tokenizer, "chat_template", None):
        messages = [{"role": "user", "content": SAMPLE_PROMPT}]
        inputs = tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
    else:
        inputs = tokenizer(SAMPLE_PROMPT, return_tensors="pt")
    inputs = {k: v.to(next(model.parameters()).device) for k, v in inputs.items()}
    with torch.inference_mode():
        output = model.generate(**inputs, max_new_tokens=32, do_sample=False)
    answer = tokenizer.decode(output[0][inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    return SAMPLE_PROMPT, answer.strip()


def _quality(
    model_dir: str, staging: Path, texts: list[str], config: QuantizeConfig, device: str, events: Events
) -> dict[str, Any]:
    """Perplexity and a sample answer, before (original) and after (the quantized output, loaded from disk)."""
    from lf_evaluate import load_model, perplexity_of

    result: dict[str, Any] = {}
    for when, path in (("before", model_dir), ("after", str(staging))):
        model, tokenizer = load_model(path, dtype="auto", device=device)
        ppl, _, tokens, *_ = perplexity_of(
            model, tokenizer, texts, max_length=config.eval_max_length, events=events, label=f"perplexity {when}"
        )
        result[when], result["tokens"] = ppl, tokens
        result["prompt"], result[f"sample_{when}"] = _sample(model, tokenizer)
        del model
        gc.collect()
    return result


def _result(report: QuantizeReport, out: Path, events: Events) -> QuantizeResult:
    metrics = {
        "size_before_bytes": float(report.size_before_bytes),
        "size_after_bytes": float(report.size_after_bytes),
        "compression_ratio": report.compression_ratio,
        "weights_before_bytes": float(report.weights_before_bytes),
        "weights_after_bytes": float(report.weights_after_bytes),
        "perplexity_before": report.perplexity_before,
        "perplexity_after": report.perplexity_after,
        "perplexity_increase_pct": report.perplexity_increase_pct,
        "max_perplexity_increase_pct": report.max_perplexity_increase_pct,
        "calibration_samples": float(report.calibration_samples),
        "calibration_tokens": float(report.calibration_tokens),
        "quantize_seconds": report.quantize_seconds,
    }
    events.metrics(metrics)
    events.artifact("model", str(out))
    events.artifact("report", str(out / REPORT_FILE))
    summary = (
        f"{report.method} {report.bits}-bit: {human_bytes(report.size_before_bytes)} -> "
        f"{human_bytes(report.size_after_bytes)} ({report.compression_ratio:.2f}x smaller); perplexity "
        f"{report.perplexity_before:.3f} -> {report.perplexity_after:.3f} ({report.perplexity_increase_pct:+.2f}%, "
        f"limit {report.max_perplexity_increase_pct:g}%): {report.verdict}"
    )
    if report.verdict == "warn":
        events.message(f"quality check: {summary}", level="warning")
    return QuantizeResult(
        output_dir=str(out),
        metrics=metrics,
        artifacts={"model": str(out), "report": str(out / REPORT_FILE)},
        summary=summary,
        verdict=report.verdict,
    )
