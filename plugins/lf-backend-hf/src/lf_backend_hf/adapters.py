"""LoRA adapters on a running engine: loaded, replaced and unloaded between steps, all or nothing.

Each adapter clients name is loaded into PEFT under a fresh internal name
(``engine.adapters`` maps one to the other): a replacement is loaded next to the adapter
it replaces, which keeps serving until the new one is in. A load that fails leaves the
model as it was: PEFT injects LoRA layers into the base model before it reads the
weights, so a failed first load strips those layers again, and a failed later one
deletes the half-loaded adapter.

:func:`attach` and :func:`detach` run on the engine thread (``engine.call``).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from lf.errors import InvalidRequestError, ModelNotFoundError
from lf.logs import get_logger
from lf_backend_hf.failures import origin

log = get_logger("lf.serve.hf")

BAD_ADAPTER = "Could not load an adapter from that path: it is not a LoRA adapter directory the hf backend can read."
"""The one answer to every adapter path that cannot be loaded: it never says whether the path exists."""

_serial = itertools.count(1)


def adapter_source(path: str) -> str:
    """The adapter directory at ``path``; :data:`BAD_ADAPTER` when it has no readable PEFT config."""
    from peft import PeftConfig

    directory = Path(path).expanduser()
    try:
        if (directory / "adapter_config.json").is_file():
            PeftConfig.from_pretrained(str(directory))
            return str(directory)
    except Exception as exc:  # an unreadable or invalid config: no adapter we can load
        log.warning("adapter config unreadable", extra={"context": {"error": type(exc).__name__}})
    raise InvalidRequestError(BAD_ADAPTER)


def attach(engine: Any, name: str, directory: str) -> None:
    """Load the adapter in ``directory`` as ``name`` (replacing one of that name); all or nothing."""
    from peft import PeftModel

    internal = f"lf_adapter_{next(_serial)}"
    model = engine.model
    try:
        if isinstance(model, PeftModel):
            _load_into(model, directory, internal)
        else:
            model = _wrap(model, directory, internal)
    except Exception as exc:
        log.warning("adapter load failed", extra={"context": {"error": type(exc).__name__, "at": origin(exc)}})
        raise InvalidRequestError(BAD_ADAPTER) from None
    model.eval()
    replaced = engine.adapters.get(name)
    engine.model = model
    engine.adapters[name] = internal
    if replaced is not None:
        model.delete_adapter(replaced)


def detach(engine: Any, name: str) -> None:
    """Unload adapter ``name``; its running requests fail with MODEL_NOT_FOUND (queued ones when taken)."""
    internal = engine.adapters.pop(name, None)
    if internal is None:
        raise ModelNotFoundError(f"No adapter named '{name}' is loaded.")
    engine.end_rows(lambda seq: seq.adapter == name, ModelNotFoundError(f"The adapter '{name}' was unloaded."))
    engine.model.delete_adapter(internal)
    if not engine.adapters:
        engine.model = engine.model.unload()


def _load_into(model: Any, directory: str, internal: str) -> None:
    """One more adapter on a PEFT model; a failure deletes what was loaded of it."""
    try:
        model.load_adapter(directory, adapter_name=internal)
    except Exception:
        if internal in model.peft_config:
            model.delete_adapter(internal)
        raise


def _wrap(model: Any, directory: str, internal: str) -> Any:
    """The base model wrapped with its first adapter; a failure strips the layers PEFT injected."""
    from peft import PeftModel

    try:
        return PeftModel.from_pretrained(model, directory, adapter_name=internal)
    except Exception:
        _strip_tuner_layers(model)
        raise


def _strip_tuner_layers(model: Any) -> None:
    """Put back the original module wherever PEFT replaced one with a LoRA wrapper."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    for name, module in list(model.named_modules()):
        if isinstance(module, BaseTunerLayer) and name:
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, module.get_base_layer())
    for attribute in ("peft_config", "_hf_peft_config_loaded"):
        if attribute in vars(model):
            delattr(model, attribute)
