"""The ``serve`` kind: what an inference backend is (the core's OpenAI server drives it).

Required (:class:`Backend`; ``lf.testing.check_plugin`` checks these):

* ``load(config)`` once at start (sync - run in a thread - or async), with the backend's
  config Struct (a :class:`lf.serve.ServeConfig` subclass);
* ``async generate(request) -> Completion`` and ``stream(request)`` - an async iterator
  of :class:`lf.serve.schemas.Chunk` - for each request. Stopping the iteration
  (``aclose()``) or cancelling ``generate`` must abort the generation in the engine:
  that is how a client that disconnects or a request past its deadline frees its slot;
* ``models() -> list[ModelCard]``: the base model and every loaded LoRA adapter.

Optional (:data:`OPTIONAL_BACKEND_METHODS`): ``status() -> BackendStatus`` (loaded, pending
work, last progress, a fatal engine error, GPU memory: drives ``/ready``, ``/health`` and
liveness), ``validate(config)`` (checks before the model loads), ``async load_adapter(name,
path)``, ``async unload_adapter(name)``, ``async load_model(path, name)``, ``async
unload_model()`` (hot swap, behind the admin endpoints; paths are already confined to
``model_root``), ``async close()`` (graceful shutdown) and ``supports(model_dir) -> bool |
str``, a classmethod or staticmethod (called on the class, before anything loads) that
backend auto-selection asks: ``lf serve inference --model DIR`` without ``--backend`` takes
the first of :data:`lf.serve.select.PREFERENCE` (vllm, then hf) whose implementation imports
and whose ``supports`` answers ``True``; ``False`` or a string (the reason, printed) passes
the model on. A backend without ``supports`` takes every model. Keep it cheap and never
raise: read ``config.json``, check that the engine imports.

Errors: raise :mod:`lf.errors` classes - ``ModelOverloadedError`` for out-of-memory (503),
``ModelNotFoundError`` for an unknown adapter, ``InvalidRequestError`` for a prompt that
does not fit. Anything else becomes a 500 INTERNAL_ERROR without a stack trace. An engine
that cannot recover sets ``status().error``: the server then reports itself not live.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from lf.serve.schemas import Chunk as Chunk
    from lf.serve.schemas import Completion, GenerationRequest, ModelCard

#: Methods a backend may have; the server calls each only when present.
OPTIONAL_BACKEND_METHODS = (
    "status",
    "validate",
    "load_adapter",
    "unload_adapter",
    "load_model",
    "unload_model",
    "close",
    "supports",
)


@runtime_checkable
class Backend(Protocol):
    """What ``lf.serve`` needs from a backend (checked structurally, never by inheritance)."""

    def load(self, config: Any) -> Any:
        """Load the model (and adapters) described by ``config``."""
        ...

    async def generate(self, request: GenerationRequest) -> Completion:
        """Generate a whole completion."""
        ...

    def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        """Generate a completion piece by piece, as the tokens are produced."""
        ...

    def models(self) -> list[ModelCard]:
        """The served models: the base model first, then its LoRA adapters."""
        ...
