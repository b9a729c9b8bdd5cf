"""Fine-tuning the top layers of the sentence encoder on labelled exemplars (cosine-softmax head).

The layers below ``split`` are frozen and their activations computed once, so an epoch costs
about a third of one forward pass over the data. The tuned model is a copy: the embedder it came
from keeps the original.
"""

from __future__ import annotations

import copy
import math
import random
from typing import TYPE_CHECKING, Any

import numpy as np

from lf.components import Events
from lf.errors import DataError

if TYPE_CHECKING:
    import torch

    from lf_router_hybrid.embedder import Embedder

#: Temperature (as a multiplier) of the cosine-softmax head's logits.
LOGIT_SCALE = 20.0
#: Texts per batch when computing activations and pooled vectors outside training.
CHUNK = 256


class TopLayerTuner:
    """A copy of ``embedder``'s encoder, its frozen lower layers' activations of ``texts`` cached.

    Args:
        embedder: whose encoder and tokenizer to use.
        texts: the exemplars to learn from.
        labels: the expert index of each text.
        n_layers: top layers to fine-tune (clamped to 1 .. the encoder's layers).
        seed: seeds torch and the batch order.
        events: receives progress (encoding, fine-tuning) and per-epoch metrics.
    """

    def __init__(
        self, embedder: Embedder, texts: list[str], labels: list[int], n_layers: int, seed: int, events: Events
    ) -> None:
        import torch

        if len(set(labels)) < 2:
            raise DataError("Fine-tuning needs exemplars of at least two experts.")
        self.texts = texts
        self.events = events
        self.model = copy.deepcopy(embedder.model)
        total_layers = len(self.model.layers)
        self.n_layers = max(1, min(n_layers, total_layers))
        self.split = total_layers - self.n_layers
        self.rng = random.Random(seed)
        torch.manual_seed(seed)
        self.cached = self._frozen_activations(embedder)
        self.labels = torch.tensor(labels)

    def _frozen_activations(self, emb: Embedder) -> list[Any]:
        """Each text's hidden states after the frozen layers (its real tokens only)."""
        import torch

        texts = self.texts
        cached: list[Any] = [None] * len(texts)
        self.events.progress("encoding exemplars", 0, len(texts))
        done = 0
        with torch.inference_mode():
            for chunk, ids, mask in emb.batches(emb.tokenize(texts), 128):
                hidden = self.model.bottom(ids, mask, self.split)
                for row, i in enumerate(chunk):
                    cached[i] = hidden[row, : int(mask[row].sum())].clone()
                done += len(chunk)
                self.events.progress("encoding exemplars", done, len(texts))
        return cached

    def pooled(self, idx: list[int]) -> torch.Tensor:
        """Unit vectors of the texts ``idx``: the top layers run on their cached activations."""
        import torch

        cached = self.cached
        width = max(cached[i].shape[0] for i in idx)
        x = torch.zeros(len(idx), width, self.model.hidden)
        m = torch.zeros(len(idx), width, dtype=torch.long)
        for r, i in enumerate(idx):
            n = cached[i].shape[0]
            x[r, :n] = cached[i]
            m[r, :n] = 1
        return self.model.top(x, m, self.split)

    def _unfreeze_top(self) -> list[Any]:
        """Make only the top layers trainable; returns their parameters."""
        for p in self.model.parameters():
            p.requires_grad_(False)
        params = [p for layer in self.model.layers[self.split :] for p in layer.parameters()]
        for p in params:
            p.requires_grad_(True)
        return params

    def _initial_head(self, n_classes: int) -> Any:
        """The cosine head, one row per expert: the normalized mean of its exemplars' vectors."""
        import torch
        from torch.nn import functional as F  # noqa: N812

        n = len(self.texts)
        y = self.labels
        with torch.no_grad():
            start_vecs = torch.cat([self.pooled(list(range(s, min(s + CHUNK, n)))) for s in range(0, n, CHUNK)])
            head = torch.stack([F.normalize(start_vecs[y == c].mean(0), dim=0) for c in range(n_classes)])
        return torch.nn.Parameter(torch.nan_to_num(head))

    def train(self, n_classes: int, epochs: int, lr: float, batch_size: int) -> float:
        """Fine-tune for ``epochs`` (cross-entropy over ``n_classes`` experts); returns the last epoch's loss."""
        import torch
        from torch.nn import functional as F  # noqa: N812

        params = self._unfreeze_top()
        head = self._initial_head(n_classes)
        optimizer = torch.optim.AdamW([{"params": params, "lr": lr}, {"params": [head], "lr": 1e-3}], weight_decay=0.01)
        cached, y = self.cached, self.labels
        steps_per_epoch = math.ceil(len(self.texts) / batch_size)
        total = steps_per_epoch * epochs
        step = 0
        mean_loss = float("nan")
        self.model.train()
        for epoch in range(epochs):
            order = sorted(range(len(self.texts)), key=lambda i: cached[i].shape[0] + self.rng.random())
            batches = [order[s : s + batch_size] for s in range(0, len(order), batch_size)]
            self.rng.shuffle(batches)
            running = 0.0
            for b in batches:
                vec = self.pooled(b)
                logits = LOGIT_SCALE * vec @ F.normalize(head, dim=1).T
                loss = F.cross_entropy(logits, y[b], label_smoothing=0.1)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                running += loss.item()
                step += 1
                self.events.progress(
                    "fine-tuning", step, total, epoch=epoch + 1, loss=running / (step - epoch * steps_per_epoch)
                )
            mean_loss = running / max(1, len(batches))
            self.events.metrics({"loss": mean_loss, "epoch": epoch + 1}, step=step)
        self.model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        return mean_loss

    def exemplar_vectors(self) -> list[tuple[str, np.ndarray]]:
        """Each text with its vector under the tuned model (from the cached activations), in order."""
        import torch

        n = len(self.texts)
        out: list[tuple[str, np.ndarray]] = []
        with torch.inference_mode():
            for s in range(0, n, CHUNK):
                idx = list(range(s, min(s + CHUNK, n)))
                out += [(self.texts[i], vec) for i, vec in zip(idx, self.pooled(idx).numpy(), strict=True)]
        return out
