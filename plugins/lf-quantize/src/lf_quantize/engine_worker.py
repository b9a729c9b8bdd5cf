"""The quantization engine worker: runs llm-compressor in its own environment.

Started by :func:`lf_quantize.engine.run_worker` as ``python engine_worker.py REQUEST.json``
with an interpreter that has llm-compressor (see :mod:`lf_quantize.engine`). It imports
only the standard library, torch, transformers, datasets and llm-compressor - never
``lf`` - because that environment does not have LargeForge installed.

Protocol: one JSON object per line on stdout - ``{"event": "progress", ...}``,
``{"event": "message", ...}``, then ``{"event": "done", ...}`` or
``{"event": "error", "kind": ..., "message": ..., "hint": ...}``. Everything the
libraries print goes to stderr, which the parent keeps as a log.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from typing import Any, TextIO

_events: TextIO = sys.stdout


def emit(event: str, **data: Any) -> None:
    """Send one event to the parent."""
    _events.write(json.dumps({"event": event, **data}) + "\n")
    _events.flush()


class WorkerError(Exception):
    """A failure the parent turns into the matching ``lf.errors`` class."""

    def __init__(self, kind: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.kind, self.message, self.hint = kind, message, hint


def _claim_stdout() -> None:
    """Keep the real stdout for events; send everything else printed to stdout to stderr."""
    global _events
    fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    _events = os.fdopen(fd, "w", buffering=1, encoding="utf-8")


def _weights_scheme(req: dict[str, Any]) -> dict[str, Any]:
    group_size = int(req["group_size"])
    weights: dict[str, Any] = {
        "num_bits": int(req["bits"]),
        "type": "int",
        "symmetric": bool(req["symmetric"]),
        "strategy": "channel" if group_size == -1 else "group",
    }
    if group_size != -1:
        weights["group_size"] = group_size
    return {"group_0": {"targets": ["Linear"], "weights": weights}}


def _recipe(req: dict[str, Any]) -> list[Any]:
    from llmcompressor.modifiers.quantization import GPTQModifier, QuantizationModifier

    groups = _weights_scheme(req)
    if req["method"] == "gptq":
        g = req["gptq"]
        return [
            GPTQModifier(
                config_groups=groups,
                ignore=list(req["ignore"]),
                dampening_frac=float(g["damping"]),
                # static activation ordering: columns quantized by activation size, no g_idx at runtime
                actorder="static" if g["act_order"] else None,
                block_size=int(g["block_size"]),
            )
        ]
    from llmcompressor.modifiers.transform.awq import AWQModifier

    a = req["awq"]
    return [
        AWQModifier(duo_scaling=bool(a["duo_scaling"]), n_grid=int(a["n_grid"])),
        QuantizationModifier(config_groups=groups, ignore=list(req["ignore"])),
    ]


def _check_architecture(req: dict[str, Any], architecture: str) -> None:
    if req["method"] != "awq":
        return
    from llmcompressor.modifiers.transform.awq import mappings

    known = set(mappings.AWQ_MAPPING_REGISTRY)
    dynamic = getattr(mappings, "AWQ_DYNAMIC_MAPPING_REGISTRY", None)
    if dynamic is None:
        from llmcompressor.modifiers.transform.awq import dynamic_mappings

        dynamic = getattr(dynamic_mappings, "AWQ_DYNAMIC_MAPPING_REGISTRY", {})
    known |= set(dynamic)
    if architecture not in known:
        raise WorkerError(
            "config",
            f"AWQ does not know the architecture {architecture}: it needs to know which layers feed which "
            "to balance their scales.",
            hint=f"Use `lf quantize gptq` (works for any causal LM), or an architecture AWQ knows: "
            f"{', '.join(sorted(known)[:12])}, ...",
        )


def _install_progress(total_hint: int) -> None:
    """Report one step per sequential subgraph (one decoder layer each) as 'quantizing layers'."""
    import llmcompressor.pipelines.sequential.pipeline as seq
    from llmcompressor.core import LifecycleCallbacks

    state = {"done": 0, "total": total_hint}
    trace = seq.trace_subgraphs

    def counting_trace(*args: Any, **kwargs: Any) -> Any:
        subgraphs = trace(*args, **kwargs)
        state["total"] = len(subgraphs)
        emit("progress", description="quantizing layers", completed=0, total=state["total"])
        return subgraphs

    seq.trace_subgraphs = counting_trace
    original = LifecycleCallbacks.sequential_epoch_end.__func__

    def epoch_end(cls: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(cls, *args, **kwargs)
        state["done"] += 1
        emit("progress", description="quantizing layers", completed=state["done"], total=state["total"])
        return result

    LifecycleCallbacks.sequential_epoch_end = classmethod(epoch_end)


def _cpu_shims() -> None:
    """llm-compressor's AWQ pins cached activations for faster GPU copies; pinning needs a GPU."""
    import torch

    if torch.cuda.is_available():
        return
    from llmcompressor.pipelines.cache import IntermediatesCache

    IntermediatesCache.pin_memory = lambda self, *args, **kwargs: None


def quantize(req: dict[str, Any]) -> dict[str, Any]:
    """Load, calibrate, quantize and save one model as the request says."""
    started = time.perf_counter()
    emit("progress", description="loading the engine", completed=0, total=1)
    try:
        import torch
        from datasets import Dataset
        from llmcompressor import oneshot
        from transformers import AutoConfig, AutoModelForCausalLM
    except ImportError as exc:
        raise WorkerError(
            "dependency",
            f"The engine environment ({sys.executable}) lacks a package: {exc}",
            hint="Run `lf quantize setup --force` to rebuild it.",
        ) from exc
    import llmcompressor

    emit("progress", description="loading the engine", completed=1, total=1)
    config = AutoConfig.from_pretrained(req["model"])
    architecture = (getattr(config, "architectures", None) or [type(config).__name__])[0]
    _check_architecture(req, architecture)

    with open(req["calibration"], encoding="utf-8") as handle:
        blocks: list[list[int]] = json.load(handle)["input_ids"]
    dataset = Dataset.from_dict({"input_ids": blocks, "attention_mask": [[1] * len(b) for b in blocks]})

    dtype = req["dtype"]
    torch_dtype: Any = "auto" if dtype == "auto" else getattr(torch, dtype)
    emit("message", text=f"loading {req['model']} ({architecture}, dtype {dtype})", level="debug")
    model = AutoModelForCausalLM.from_pretrained(req["model"], dtype=torch_dtype)
    _cpu_shims()
    n_layers = int(getattr(getattr(model.config, "get_text_config", lambda: model.config)(), "num_hidden_layers", 0))
    _install_progress(n_layers + 1)

    q_started = time.perf_counter()
    oneshot(
        model=model,
        dataset=dataset,
        recipe=_recipe(req),
        max_seq_length=int(req["max_seq_length"]),
        num_calibration_samples=len(blocks),
        shuffle_calibration_samples=False,
        pipeline="sequential",
    )
    quantize_seconds = time.perf_counter() - q_started
    emit("progress", description="saving", completed=0, total=1)
    model.save_pretrained(req["output"], save_compressed=True)
    emit("progress", description="saving", completed=1, total=1)
    return {
        "library": f"llm-compressor {llmcompressor.__version__}",
        "architecture": architecture,
        "quantize_seconds": round(quantize_seconds, 3),
        "seconds": round(time.perf_counter() - started, 3),
    }


def main(argv: list[str]) -> int:
    """Entry point: ``engine_worker.py REQUEST.json``."""
    _claim_stdout()
    try:
        with open(argv[1], encoding="utf-8") as handle:
            request = json.load(handle)
        emit("done", **quantize(request))
        return 0
    except WorkerError as exc:
        emit("error", kind=exc.kind, message=exc.message, hint=exc.hint)
        return 1
    except Exception as exc:
        traceback.print_exc()
        kind = "oom" if type(exc).__name__ in ("OutOfMemoryError", "MemoryError") else "run"
        emit("error", kind=kind, message=f"{type(exc).__name__}: {exc}", hint="The full log is beside the output.")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
