"""``lf export gguf``: a Hugging Face model directory as one GGUF file, written with the ``gguf`` package.

No llama.cpp build is needed: the ``gguf`` package writes the container and quantizes
(``q8_0``, ``q5_1``, ``q5_0``, ``q4_1``, ``q4_0``) in numpy. Tensors are streamed: the header
and tensor table are written first, then each tensor is read from the safetensors files,
put in llama.cpp's layout, quantized and written before the next one is read, so memory
holds one tensor at a time. The file is written under a temporary name beside ``OUT`` and
renamed when complete: an interrupted export never leaves a file that looks finished.

Which type each tensor gets follows llama.cpp's rules: one-dimensional tensors (norms, biases)
stay float32; with the 4- and 5-bit types the token embeddings and the output head are
kept at ``q8_0``; a tensor whose rows do not split into quantization blocks falls back to f16.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lf.components import Events, NullEvents, RunResult
from lf.errors import ConfigError, RunError

#: ``--type`` -> (tensor type name, GGUF file type id: llama.cpp's LlamaFileType).
TYPES: dict[str, tuple[str, int]] = {
    "f32": ("F32", 0),
    "f16": ("F16", 1),
    "bf16": ("BF16", 32),
    "q8_0": ("Q8_0", 7),
    "q5_1": ("Q5_1", 9),
    "q5_0": ("Q5_0", 8),
    "q4_1": ("Q4_1", 3),
    "q4_0": ("Q4_0", 2),
}
_EMBEDDINGS = ("token_embd.weight", "output.weight")


def check_source(model_dir: Path) -> None:
    """Refuse, before anything heavy, what cannot be exported: not a model, an adapter, quantized weights."""
    if (model_dir / "adapter_config.json").is_file():
        raise ConfigError(
            f"{model_dir} is a LoRA adapter, not a model.",
            hint=f"Merge it first: lf merge lora BASE {model_dir} MERGED, then export MERGED.",
        )
    if not (model_dir / "config.json").is_file():
        raise ConfigError(f"{model_dir} is not a model directory (no config.json).")
    quant = (json.loads((model_dir / "config.json").read_text(encoding="utf-8")).get("quantization_config") or {}).get(
        "quant_method"
    )
    if quant and quant != "gguf":
        raise ConfigError(
            f"{model_dir} holds {quant}-quantized weights; GGUF export needs float weights.",
            hint="Export the model before quantizing it (or its merged float version).",
        )
    if not list(model_dir.glob("*.safetensors")):
        raise ConfigError(f"{model_dir} has no .safetensors weights.", hint="Re-save it with save_pretrained().")


@contextlib.contextmanager
def _tensors(model_dir: Path) -> Iterator[dict[str, Any]]:
    """Every tensor name -> an open safetensors file that holds it (read lazily)."""
    from safetensors import safe_open

    with contextlib.ExitStack() as stack:
        where: dict[str, Any] = {}
        for file in sorted(model_dir.glob("*.safetensors")):
            handle = stack.enter_context(safe_open(str(file), framework="pt"))
            where.update(dict.fromkeys(handle.keys(), handle))
        yield where


def tensor_type(name: str, shape: tuple[int, ...], wanted: str) -> Any:
    """The ``GGMLQuantizationType`` a tensor is written with (see the module docstring)."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    kind = GGMLQuantizationType[TYPES[wanted][0]]
    if len(shape) <= 1 or name.endswith("_norm.weight"):
        return GGMLQuantizationType.F32
    if wanted.startswith(("q4", "q5")) and name in _EMBEDDINGS:
        kind = GGMLQuantizationType.Q8_0
    block = GGML_QUANT_SIZES[kind][0]
    return kind if shape[-1] % block == 0 else GGMLQuantizationType.F16


def _nbytes(shape: tuple[int, ...], kind: Any) -> int:
    from gguf import GGML_QUANT_SIZES

    block, size = GGML_QUANT_SIZES[kind]
    count = 1
    for n in shape:
        count *= n
    return count // block * size


def _plan(where: dict[str, Any], hp: Any, wanted: str) -> list[tuple[Any, str, tuple[int, ...], Any]]:
    """``(source, gguf name, shape, type)`` of every tensor to write, in file order.

    The source is a Hugging Face tensor name, or the data of a tensor computed here
    (:func:`lf_export.arch.extra_tensors`).
    """
    from lf_export.arch import extra_tensors, gguf_name

    plan: list[tuple[Any, str, tuple[int, ...], Any]] = []
    for extra, data in extra_tensors(hp).items():
        plan.append((data, extra, tuple(data.shape), tensor_type(extra, tuple(data.shape), wanted)))
    for hf_name in sorted(where):
        name = gguf_name(hf_name, hp)
        if name is not None:
            shape = tuple(where[hf_name].get_slice(hf_name).get_shape())
            plan.append((hf_name, name, shape, tensor_type(name, shape, wanted)))
    if not any(p[1] == "output.weight" for p in plan) and not hp.tied:
        raise ConfigError("The model has untied output weights but no lm_head.weight tensor.")
    return plan


def _stream_tensors(writer: Any, where: dict[str, Any], plan: list[Any], hp: Any, events: Events) -> None:
    """Read, lay out, quantize and write each tensor in turn."""
    import gguf
    import torch

    from lf_export.arch import to_gguf_layout

    for i, (source, name, _, kind) in enumerate(plan):
        if isinstance(source, str):
            data = to_gguf_layout(name, where[source].get_tensor(source).to(torch.float32).numpy(), hp)
        else:
            data = source
        if kind == gguf.GGMLQuantizationType.F32:
            data = data.astype("float32")
        elif kind == gguf.GGMLQuantizationType.F16:
            data = data.astype("float16")
        else:
            data = gguf.quants.quantize(data, kind)
        writer.write_tensor_data(data)
        events.progress("writing tensors", i + 1, len(plan), tensor=name)


def _write(tmp: Path, model_dir: Path, hp: Any, vocab: Any, wanted: str, events: Events) -> int:
    """Write the whole GGUF file to ``tmp``; returns how many tensors it holds."""
    import gguf
    import numpy as np

    from lf_export.arch import write_hparams
    from lf_export.vocab import write_vocab

    writer = gguf.GGUFWriter(path=None, arch=hp.arch)
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(model_dir.name)
    write_hparams(writer, hp)
    writer.add_file_type(TYPES[wanted][1])
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    write_vocab(writer, vocab)
    with _tensors(model_dir) as where:
        plan = _plan(where, hp, wanted)
        for _, name, shape, kind in plan:
            writer.add_tensor_info(name, shape, np.dtype(np.float32), _nbytes(shape, kind), raw_dtype=kind)
        writer.write_header_to_file(path=tmp)
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        _stream_tensors(writer, where, plan, hp, events)
    writer.close()
    return len(plan)


@contextlib.contextmanager
def _atomic_target(out: Path) -> Iterator[Path]:
    """A temporary path beside ``out`` that becomes ``out`` (fsynced) only if the block succeeds."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, out)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def export_gguf(
    model: str, out: str | os.PathLike[str], *, type: str = "f16", overwrite: bool = False, events: Events | None = None
) -> RunResult:
    """Write ``model`` (a directory or shorthand) as the GGUF file ``out`` with tensors of ``type``."""
    from lf.models import resolve_model

    events = events or NullEvents()
    if type not in TYPES:
        raise ConfigError(f"--type must be one of {', '.join(TYPES)}; found {type!r}.")
    target = Path(out)
    if target.exists() and not overwrite:
        raise ConfigError(f"{target} exists.", hint="Pass --overwrite to replace it.")
    model_dir = Path(resolve_model(model, events=events))
    check_source(model_dir)
    from transformers import AutoConfig  # heavy: only once the request is known to be sound

    from lf_export.arch import read_hparams
    from lf_export.vocab import read_vocab

    hp = read_hparams(AutoConfig.from_pretrained(model_dir))
    stops = _stop_ids(model_dir)
    vocab = read_vocab(model_dir, hp.vocab_size, stops)
    started = time.monotonic()
    try:
        with _atomic_target(target) as tmp:
            count = _write(tmp, model_dir, hp, vocab, type, events)
    except OSError as exc:
        raise RunError(f"Could not write {target}: {exc.strerror or exc}") from exc
    size = target.stat().st_size
    return RunResult(
        output_dir=str(target.parent),
        metrics={"bytes": float(size), "tensors": float(count), "seconds": round(time.monotonic() - started, 2)},
        artifacts={"gguf": str(target)},
        summary=f"wrote {target} ({hp.arch}, {type}, {count} tensors, {size / 2**20:.1f} MiB)",
    )


def _stop_ids(model_dir: Path) -> list[int]:
    """The generation config's EOS ids (the tokens generation stops on)."""
    file = model_dir / "generation_config.json"
    if not file.is_file():
        return []
    value = json.loads(file.read_text(encoding="utf-8")).get("eos_token_id")
    return [int(value)] if isinstance(value, int) else [int(v) for v in value or []]
