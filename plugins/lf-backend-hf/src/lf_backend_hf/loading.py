"""Loading a model for the hf backend: device, dtype, threads, model, tokenizer and engine."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from lf.errors import ConfigError, RunError
from lf.logs import get_logger
from lf.serve.backend import quantization_method
from lf_backend_hf.config import HFConfig

log = get_logger("lf.serve.hf")
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def model_source(path: str) -> str | None:
    """What to load for ``path``: a model directory (one with a ``config.json``), a hub id, or None."""
    local = Path(path).expanduser()
    try:
        if local.is_dir() and (local / "config.json").is_file():
            return str(local)
        if not local.exists() and HUB_ID.match(path):
            return path
    except OSError:  # unreadable: not something we can load
        pass
    return None


def resolve_device(name: str) -> Any:
    """``auto`` -> cuda, else mps, else cpu; anything else as given (checked)."""
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device '{name}' was asked for but CUDA is not available here.", hint="Use device=cpu.")
    return device


def cpu_threads() -> int:
    """All usable cores but one, which is left to the HTTP server (vLLM's CPU policy too).

    Oversubscribed OpenMP threads wait on each other at every barrier: on a busy 2-core
    machine, two torch threads decoded ~10x slower than one.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


def _attention(name: str) -> str:
    """``sdpa`` -> ``lf_sdpa`` (the same kernel, without copying grouped KV heads on the CPU)."""
    if name != "sdpa":
        return name
    from lf_backend_hf.attention import register

    return register()


def resolve_dtype(name: str, device: Any) -> Any:
    """``auto`` -> bfloat16 on a GPU that supports it (float16 on older ones), float32 on CPU."""
    import torch

    if name != "auto":
        return getattr(torch, name)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


class LoadedModel:
    """A loaded base model, its tokenizer, engine and adapters."""

    def __init__(self, name: str, path: str, model: Any, tokenizer: Any, engine: Any, max_len: int) -> None:
        self.name = name
        self.path = path
        self.model = model
        self.tokenizer = tokenizer
        self.engine = engine
        self.max_len = max_len
        self.adapters: dict[str, str] = {}
        self.quantization = quantization_method(path)


def build(config: HFConfig, path: str, name: str) -> LoadedModel:
    """Load the model and tokenizer at ``path`` (a directory or hub id) and start its engine."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from lf_backend_hf.engine import BatchEngine

    hf_logging.disable_progress_bar()  # a server logs "model loaded", not a progress bar

    device = resolve_device(config.device)
    if config.threads or device.type == "cpu":
        torch.set_num_threads(config.threads or cpu_threads())
    dtype = resolve_dtype(config.dtype, device)
    path = str(Path(path).expanduser()) if Path(path).expanduser().exists() else path
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=config.trust_remote_code)
        quantized = quantization_method(path) is not None
        model = AutoModelForCausalLM.from_pretrained(
            path,
            dtype=dtype,
            attn_implementation=_attention(config.attn_implementation),
            trust_remote_code=config.trust_remote_code,
            device_map=str(device) if quantized else None,
        )
    except OSError as exc:
        raise RunError(f"Cannot load the model '{path}': {exc}", hint="Check the directory or hub id.") from exc
    if not quantized:
        model = model.to(device)
    model.eval()
    if config.cpu_prepack and device.type == "cpu" and dtype == torch.float32 and not quantized:
        from lf.cpu_prepack import prepack_linears

        prepack_linears(model, batch_hint=min(32, config.max_batch_size))
    ragged = None
    if config.ragged and not quantized:
        from lf_backend_hf.ragged import ragged_model

        ragged = ragged_model(model, device, model.config._attn_implementation)
    eos = eos_ids(model, tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(eos) if eos else 0
    max_len = config.max_model_len or context_length(model, tokenizer)
    engine = BatchEngine(
        model,
        tokenizer,
        device=device,
        eos_ids=eos,
        pad_id=pad,
        max_batch_size=config.max_batch_size,
        max_prefill_tokens=config.max_prefill_tokens,
        batch_wait_s=config.batch_wait_ms / 1000,
        ragged=ragged,
    )
    context = {"model": name, "device": str(device), "dtype": str(dtype), "ragged": ragged is not None}
    log.info("model loaded", extra={"context": context})
    return LoadedModel(name, path, model, tokenizer, engine, max_len)


def eos_ids(model: Any, tokenizer: Any) -> set[int]:
    """Every end-of-sequence id the model's generation config, config and tokenizer name.

    Plus the token the chat template closes replies with (:func:`lf.chat_template.end_of_turn_token`):
    a checkpoint whose configs name only the end of text (Llama-3 as first released named
    ``<|end_of_text|>`` but closes turns with ``<|eot_id|>``) still stops at the end of its turn.
    """
    from lf.chat_template import end_of_turn_token

    ids: set[int] = set()
    for source in (getattr(model, "generation_config", None), getattr(model, "config", None)):
        value = getattr(source, "eos_token_id", None) if source is not None else None
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    turn_end = end_of_turn_token(tokenizer)
    turn_id = tokenizer.convert_tokens_to_ids(turn_end) if turn_end else None
    if isinstance(turn_id, int) and turn_id != tokenizer.unk_token_id:
        ids.add(turn_id)
    return ids


def context_length(model: Any, tokenizer: Any) -> int:
    """The model's context length (its config's, else the tokenizer's, else 2,048)."""
    config = model.config
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    return int(limit) if isinstance(limit, int) and 0 < limit < 10**7 else 2048
