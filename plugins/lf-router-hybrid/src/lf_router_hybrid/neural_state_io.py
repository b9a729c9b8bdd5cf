"""Reading and writing the neural classifier's trained state (a directory).

The directory holds ``neural_state.json`` (settings, thresholds, trained exemplars), the exemplar
vectors (``vectors.json`` + ``vectors.npy``) and, after fine-tuning, the tuned top layers
(``layers.safetensors``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from lf.errors import ConfigError

STATE_FILE = "neural_state.json"


def write_state(
    target: Path, meta: dict[str, Any], vectors: dict[str, np.ndarray], dim: int, model: Any, n_layers: int
) -> None:
    """Write ``meta``, the exemplar ``vectors`` and ``model``'s top ``n_layers`` layers to ``target``."""
    from safetensors.torch import save_file

    from lf.atomic import atomic_directory

    with atomic_directory(target, overwrite=True) as tmp:
        (tmp / STATE_FILE).write_text(json.dumps(meta, indent=1))
        texts = list(vectors)
        (tmp / "vectors.json").write_text(json.dumps(texts))
        matrix = np.stack([vectors[t] for t in texts]) if texts else np.zeros((0, dim))
        np.save(tmp / "vectors.npy", matrix.astype(np.float32))
        if n_layers:
            split = len(model.layers) - n_layers
            tensors = {
                f"layers.{i}.{k}": v.contiguous()
                for i in range(split, len(model.layers))
                for k, v in model.layers[i].state_dict().items()
            }
            save_file(tensors, str(tmp / "layers.safetensors"))


def read_meta(source: Path) -> dict[str, Any]:
    """The settings file of a saved state."""
    try:
        meta: dict[str, Any] = json.loads((source / STATE_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{source} is not a saved neural router state: {exc}") from None
    return meta


def load_tuned_model(source: Path, model: Any) -> Any:
    """A copy of ``model`` with the saved fine-tuned layers loaded into it."""
    import copy

    from safetensors.torch import load_file

    tuned = copy.deepcopy(model)
    tensors = load_file(str(source / "layers.safetensors"))
    loaded = tuned.load_state_dict(tensors, strict=False)
    if loaded.unexpected_keys:
        raise ConfigError(f"{source}: the saved layers do not fit this encoder ({loaded.unexpected_keys[:3]}).")
    return tuned


def load_vectors_into(source: Path, vectors: dict[str, np.ndarray]) -> None:
    """Add the saved exemplar vectors to ``vectors`` (by text); an unreadable file adds nothing more."""
    try:
        texts = json.loads((source / "vectors.json").read_text())
        matrix = np.load(source / "vectors.npy")
        vectors.update(zip(texts, matrix, strict=True))
    except (OSError, ValueError):
        pass
