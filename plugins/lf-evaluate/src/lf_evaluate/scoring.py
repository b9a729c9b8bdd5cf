"""Sliding-window perplexity of a causal language model on held-out text (``lf_evaluate.perplexity``).

The texts are joined with blank lines and tokenized once. A window of ``max_length``
tokens moves ``stride`` tokens at a time; in each window only the tokens that no earlier
window scored count, so every token (but the first) is scored exactly once, with up to
``max_length - stride`` tokens of left context (the method of the Hugging Face guide
"Perplexity of fixed-length models"). Perplexity is ``exp(total NLL / scored tokens)``.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

from lf.components import Events, NullEvents
from lf.errors import ConfigError, DataError, DependencyMissingError, ModelNotFoundError, RunError
from lf_evaluate.config import PerplexityConfig, PerplexityResult

#: Upper bound of the default window: long enough for stable numbers, short enough for a CPU.
DEFAULT_MAX_LENGTH = 1024


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is present, else ``cpu``; other names pass through (checked)."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device '{device}' was asked for, but no CUDA GPU is available.", hint="Use device: cpu.")
    return device


def check_model_dir(model: str | os.PathLike[str]) -> Path:
    """The model directory, if it holds a Hugging Face config; a clear error otherwise."""
    path = Path(model)
    if not path.exists():
        raise ModelNotFoundError(
            f"Model directory not found: {path}", hint="Give a Hugging Face model directory (config.json inside)."
        )
    if not (path / "config.json").is_file():
        raise ModelNotFoundError(
            f"{path} is not a Hugging Face model directory (no config.json).",
            hint="Point at the directory that save_pretrained wrote.",
        )
    return path


def load_model(model_dir: str | os.PathLike[str], *, dtype: str = "auto", device: str = "cpu") -> tuple[Any, Any]:
    """``(model, tokenizer)`` from a directory, quantized or not, ready for inference on ``device``."""
    import torch

    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:  # pragma: no cover - a dependency of this plugin
        raise DependencyMissingError.for_package("transformers", "Measuring perplexity") from exc

    path = check_model_dir(model_dir)
    if dtype == "auto":
        torch_dtype: Any = torch.float32 if device == "cpu" else "auto"
    else:
        torch_dtype = getattr(torch, dtype)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype, device_map=device)
    except ImportError as exc:
        raise DependencyMissingError(
            f"Loading {path} needs a package that is not installed: {exc}",
            hint="A quantized model needs its method's package (compressed-tensors, gptqmodel); see `lf doctor`.",
        ) from exc
    except (OSError, ValueError) as exc:
        raise RunError(f"Could not load the model in {path}: {exc}") from exc
    model.eval()
    return model, tokenizer


def window_plan(n_tokens: int, max_length: int, stride: int) -> list[tuple[int, int, int]]:
    """``(begin, end, scored)`` per window: tokens ``[begin, end)`` in, the last ``scored`` of them counted."""
    plan: list[tuple[int, int, int]] = []
    prev_end = 0
    for begin in range(0, n_tokens, stride):
        end = min(begin + max_length, n_tokens)
        plan.append((begin, end, end - prev_end))
        prev_end = end
        if end == n_tokens:
            break
    return plan


def perplexity_of(
    model: Any,
    tokenizer: Any,
    texts: list[str],
    *,
    max_length: int | None = None,
    stride: int | None = None,
    events: Events | None = None,
    label: str = "perplexity",
) -> tuple[float, float, int, int, int, int]:
    """``(perplexity, mean nll, scored tokens, windows, max_length, stride)`` of a loaded model."""
    import torch

    events = events or NullEvents()
    if not texts:
        raise DataError("No text to measure perplexity on.")
    context = int(getattr(model.config, "max_position_embeddings", 0) or DEFAULT_MAX_LENGTH)
    max_length = max_length or min(DEFAULT_MAX_LENGTH, context)
    if max_length > context:
        raise ConfigError(
            f"max_length {max_length} exceeds the model's context length ({context} tokens).",
            hint=f"Use max_length <= {context}.",
        )
    stride = stride or max(1, max_length // 2)
    if stride > max_length:
        raise ConfigError(f"stride ({stride}) must not exceed max_length ({max_length}).")
    ids = tokenizer("\n\n".join(texts), return_tensors="pt").input_ids
    n_tokens = int(ids.shape[1])
    if n_tokens < 2:
        raise DataError("The text is shorter than two tokens: nothing to predict.", hint="Give more held-out text.")
    plan = window_plan(n_tokens, max_length, stride)
    device = next(model.parameters()).device
    nll_sum = 0.0
    scored = 0
    events.progress(label, 0, len(plan))
    with torch.inference_mode():
        for i, (begin, end, trg_len) in enumerate(plan, 1):
            window = ids[:, begin:end].to(device)
            logits = model(window).logits[:, :-1, :].float()
            targets = window[:, 1:]
            # only the last trg_len tokens of the window are new (the first token of the text has no prediction)
            keep = min(trg_len, targets.shape[1])
            losses = torch.nn.functional.cross_entropy(
                logits[:, -keep:, :].reshape(-1, logits.shape[-1]), targets[:, -keep:].reshape(-1), reduction="sum"
            )
            nll_sum += float(losses)
            scored += keep
            events.progress(label, i, len(plan), ppl=math.exp(nll_sum / scored))
    mean_nll = nll_sum / scored
    if not math.isfinite(mean_nll):
        raise RunError("The model produced non-finite losses (NaN or inf): its weights are broken.")
    return math.exp(mean_nll), mean_nll, scored, len(plan), max_length, stride


def perplexity(
    model_dir: str | os.PathLike[str],
    texts: list[str] | None = None,
    *,
    max_length: int | None = None,
    stride: int | None = None,
    max_samples: int | None = None,
    dtype: str = "auto",
    device: str = "auto",
    events: Events | None = None,
    data_label: str | None = None,
    label: str = "perplexity",
) -> PerplexityResult:
    """Sliding-window perplexity of the model in ``model_dir`` on ``texts`` (default: the bundled held-out set).

    Example::

        from lf_evaluate import perplexity, load_texts
        result = perplexity("out/model", load_texts("heldout.jsonl"), max_length=512)
        print(result.perplexity)
    """
    from lf_evaluate.texts import bundled_texts

    started = time.perf_counter()
    bundled = texts is None
    if texts is None:
        texts = bundled_texts("heldout")
    texts = [t for t in texts if t.strip()]
    if max_samples:
        texts = texts[:max_samples]
    if not texts:
        raise DataError("No text to measure perplexity on.", hint="Give at least one non-empty text.")
    check_model_dir(model_dir)
    model, tokenizer = load_model(model_dir, dtype=dtype, device=resolve_device(device))
    ppl, nll, tokens, windows, max_length, stride = perplexity_of(
        model, tokenizer, texts, max_length=max_length, stride=stride, events=events, label=label
    )
    return PerplexityResult(
        model=str(model_dir),
        perplexity=ppl,
        nll=nll,
        tokens=tokens,
        windows=windows,
        texts=len(texts),
        max_length=max_length,
        stride=stride,
        data=data_label or ("(bundled held-out set)" if bundled else f"{len(texts)} texts"),
        seconds=round(time.perf_counter() - started, 3),
    )


def run(config: PerplexityConfig, events: Events | None = None) -> PerplexityResult:
    """Measure what ``config`` asks (the body of ``lf evaluate perplexity``)."""
    from lf_evaluate.texts import load_texts

    texts = load_texts(config.data, max_samples=config.max_samples)
    return perplexity(
        config.model,
        texts,
        max_length=config.max_length,
        stride=config.stride,
        dtype=config.dtype,
        device=config.device,
        events=events,
        data_label=config.data or "(bundled held-out set)",
    )
