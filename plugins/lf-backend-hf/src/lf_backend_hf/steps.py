"""One engine turn's model work, two ways: padded (any model) and ragged (Llama family on the CPU).

:class:`PaddedSteps` calls transformers' forward: the turn's new requests are prefilled
together, left-padded, their caches merged into the running batch, then every row decodes
one token. It serves every model, LoRA adapters included.

:class:`RaggedSteps` runs :class:`~lf_backend_hf.ragged.RaggedModel`: one forward per turn
takes the running rows' next tokens and the new prompts together, unpadded, with their
keys and values in a :class:`~lf_backend_hf.slots.SlotCache`.

Both hand the logits to ``engine._emit`` and report failures the engine's way: a failed
prefill retries its requests one by one (``engine._prefill_failed``), a failed decode ends
the rows it held.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch

from lf_backend_hf.batch import RunningBatch, left_padded
from lf_backend_hf.kvcache import growable_cache
from lf_backend_hf.ragged import RaggedModel, StepPlan
from lf_backend_hf.sequence import Outbox, Sequence, fail, generation_error

BASE_ADAPTER = "__base__"


class PaddedSteps:
    """transformers' forward on padded batches (see the module docstring)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.batch = RunningBatch(engine.device)

    @staticmethod
    def prefill_tokens(lengths: list[int]) -> int:
        """Tokens a prefill of prompts of ``lengths`` computes (padded to the longest)."""
        return max(lengths, default=0) * len(lengths)

    def turn(self, new: list[Sequence], outbox: Outbox) -> None:
        """Prefill ``new`` (joining the batch), then one decode step for every row."""
        if new:
            self._prefill(new, outbox)
        if self.batch.seqs:
            self._decode(outbox)

    def _forward(self, seqs: list[Sequence], **inputs: Any) -> Any:
        engine = self.engine
        if engine.adapters:
            inputs["adapter_names"] = [engine.adapters[s.adapter] if s.adapter else BASE_ADAPTER for s in seqs]
        return engine.model(**inputs, use_cache=True)

    def _prefill(self, new: list[Sequence], outbox: Outbox) -> None:
        engine = self.engine
        ids, mask = left_padded([s.prompt_ids for s in new], engine.pad_id, engine.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = growable_cache(getattr(engine.model, "config", None))
        try:
            out = self._forward(
                new, input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache, logits_to_keep=1
            )
        except Exception as exc:
            engine._prefill_failed(new, exc, outbox)
            return
        logits = out.logits[:, -1, :]
        next_pos = mask.sum(-1)
        if self.batch.seqs and not self.batch.merge(new, out.past_key_values, mask, next_pos):
            engine._requeue(new)  # the cache cannot be merged: wait for the batch to drain
            return
        if not self.batch.seqs:
            self.batch.start(new, out.past_key_values, mask, next_pos)
        engine._emit(logits, list(range(len(self.batch) - len(new), len(self.batch))), outbox)

    def _decode(self, outbox: Outbox) -> None:
        batch, engine = self.batch, self.engine
        assert batch.mask is not None and batch.positions is not None and batch.next_ids is not None
        batch.mask = torch.cat([batch.mask, batch.mask.new_ones((len(batch), 1))], dim=1)
        try:
            out = self._forward(
                batch.seqs,
                input_ids=batch.next_ids.unsqueeze(1),
                attention_mask=batch.mask,
                position_ids=batch.positions.unsqueeze(1),
                past_key_values=batch.cache,
            )
        except Exception as exc:
            end_all(engine, batch, exc, outbox)
            return
        batch.cache = out.past_key_values
        batch.positions = batch.positions + 1
        engine._emit(out.logits[:, -1, :], list(range(len(batch))), outbox)


def end_all(engine: Any, batch: Any, exc: Exception, outbox: Outbox) -> None:
    """A decode step raised: end every row of ``batch`` with the matching error."""
    seqs = list(batch.seqs)
    batch.clear()
    fail(seqs, generation_error(exc, "decode", len(seqs), engine.device), outbox)
    engine._count_failure(exc)


class RaggedBatch:
    """The rows of the ragged path: their sequences, next tokens and :class:`~lf_backend_hf.slots.SlotCache`."""

    def __init__(self, model: RaggedModel) -> None:
        self.seqs: list[Sequence] = []
        self.next_ids: list[int] = []
        self.cache = model.new_cache()

    def __len__(self) -> int:
        return len(self.seqs)

    def clear(self) -> None:
        """Drop every row and the cache."""
        self.seqs, self.next_ids = [], []
        self.cache.clear()

    def set_next(self, rows: list[int], tokens: list[int]) -> None:
        """Record the tokens just chosen for ``rows``: the next step's inputs."""
        for row, token in zip(rows, tokens, strict=True):
            self.next_ids[row] = token

    def keep(self, rows: list[int]) -> None:
        """Keep only ``rows`` (they may change places: rows from the end fill the holes)."""
        if len(rows) == len(self):
            return
        order = self.cache.remove(rows)
        self.seqs = [self.seqs[i] for i in order]
        self.next_ids = [self.next_ids[i] for i in order]


class RaggedSteps:
    """Ragged steps: running rows and new prompts in one forward (see the module docstring)."""

    def __init__(self, engine: Any, model: RaggedModel) -> None:
        self.engine = engine
        self.model = model
        self.batch = RaggedBatch(model)

    @staticmethod
    def prefill_tokens(lengths: list[int]) -> int:
        """Tokens a prefill of prompts of ``lengths`` computes (no padding)."""
        return sum(lengths)

    def turn(self, new: list[Sequence], outbox: Outbox) -> None:
        """One forward for every row and ``new``; if it fails, the new ones are retried alone and the rest steps on."""
        if new:
            try:
                logits = self._forward(new)
            except Exception as exc:
                self.engine._prefill_failed(new, exc, outbox)
            else:
                self._emit(new, logits, outbox)
                return
        if self.batch.seqs:
            try:
                logits = self._forward([])
            except Exception as exc:
                end_all(self.engine, self.batch, exc, outbox)
                return
            self._emit([], logits, outbox)

    def _forward(self, new: list[Sequence]) -> torch.Tensor:
        """Logits of every row then every new one; the cache's recorded rows change only once this returns."""
        batch, device = self.batch, self.model.device
        plan = StepPlan(batch.cache.lens, [len(s.prompt_ids) for s in new], device)
        batch.cache.reserve(plan.rows, plan.longest)
        tokens = itertools.chain(batch.next_ids, *(s.prompt_ids for s in new))
        ids = torch.tensor(list(tokens), dtype=torch.long, device=device)
        return self.model.forward(ids, plan, batch.cache)

    def _emit(self, new: list[Sequence], logits: torch.Tensor, outbox: Outbox) -> None:
        batch = self.batch
        batch.cache.lens = [length + 1 for length in batch.cache.lens] + [len(s.prompt_ids) for s in new]
        batch.seqs.extend(new)
        batch.next_ids.extend([self.engine.pad_id] * len(new))
        self.engine._emit(logits, list(range(len(batch))), outbox)
