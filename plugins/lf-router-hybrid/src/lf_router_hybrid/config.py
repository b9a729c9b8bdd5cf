"""Options of the three classifiers (msgspec only: imported when ``lf`` starts).

Each is the ``config`` of its component spec: ``lf serve router --classifier keyword
--set plurals=false`` sets it beside the router's own options
(:class:`lf_router_hybrid.service.options.RouterOptions`), and Python code passes it to
``KeywordClassifier.from_config(config, experts)``.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec


class KeywordOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """How the keyword classifier matches."""

    case_sensitive: Annotated[bool, msgspec.Meta(description="Match letter case exactly")] = False
    plurals: Annotated[bool, msgspec.Meta(description="'bug' also matches 'bugs'")] = True
    evidence_scale: Annotated[
        float, msgspec.Meta(gt=0, description="Matched keyword weight that gives 63% evidence")
    ] = 1.0


#: The keyword classifier's config is its options.
KeywordConfig = KeywordOptions


class NeuralOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """How the neural classifier embeds and decides."""

    model_path: Annotated[
        str | None,
        msgspec.Meta(description="BERT sentence-encoder directory; empty: all-MiniLM-L6-v2 from its wheel"),
    ] = None
    state: Annotated[
        str | None, msgspec.Meta(description="A directory written by NeuralClassifier.save_state (trained)")
    ] = None
    threshold: Annotated[
        float, msgspec.Meta(ge=-1, le=1, description="Abstain below this similarity (until fit_thresholds)")
    ] = 0.1
    k: Annotated[int, msgspec.Meta(ge=1, description="Nearest exemplars averaged per expert")] = 5
    cache_size: Annotated[int, msgspec.Meta(ge=0, description="Query embeddings kept in the LRU cache")] = 10_000
    batch_size: Annotated[int, msgspec.Meta(ge=1, description="Texts per forward pass")] = 64
    max_length: Annotated[int, msgspec.Meta(ge=8, le=512, description="Tokens kept per query")] = 128
    precision: Annotated[
        Literal["float32", "int8", "bfloat16"],
        msgspec.Meta(description="Encoder precision: int8 is ~3x faster per query, within ~0.02 cosine"),
    ] = "float32"
    num_threads: Annotated[
        int | None, msgspec.Meta(description="torch threads (1 is fastest per query on a busy CPU); empty: default")
    ] = None


#: The neural classifier's config is its options.
NeuralConfig = NeuralOptions


class HybridConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Options of the hybrid classifier (keyword fast path + neural)."""

    keyword_weight: Annotated[float, msgspec.Meta(ge=0, description="Weight of keyword scores")] = 0.4
    neural_weight: Annotated[float, msgspec.Meta(ge=0, description="Weight of neural scores")] = 0.6
    keyword_threshold: Annotated[
        float, msgspec.Meta(ge=0, le=1, description="Keyword confidence that skips the neural pass")
    ] = 0.8
    disagreement_penalty: Annotated[
        float, msgspec.Meta(ge=0, le=1, description="Confidence lost when keyword and neural disagree")
    ] = 0.3
    keyword: Annotated[KeywordOptions, msgspec.Meta(description="Keyword matching")] = msgspec.field(
        default_factory=KeywordOptions
    )
    neural: Annotated[NeuralOptions, msgspec.Meta(description="Neural classification")] = msgspec.field(
        default_factory=NeuralOptions
    )
