"""A Hugging Face tokenizer as GGUF metadata: tokens, types, merges or scores, special ids, template.

Two kinds of vocabulary exist in llama.cpp, and a ``tokenizer.json`` says which one it is:

* ``gpt2`` - byte-level BPE (Llama-3, Qwen2, SmolLM2): tokens spelt in the byte alphabet, the
  merges, and the name of the pre-tokenizer, which llama.cpp implements itself. We recognise
  it from the ``tokenizer.json`` pre-tokenizer (its split regex); one we cannot name is refused,
  since a wrong name would silently tokenize differently.
* ``llama`` - SentencePiece-style BPE with byte fallback (Mistral, Gemma, Phi-3): tokens spelt
  with ``▁``, ``<0xNN>`` byte tokens, and a score per token that orders the merges (the earlier
  a merge was learned, the higher the score of the token it makes).

Special ids (BOS, EOS, padding, unknown), whether BOS/EOS are added, the chat template and the
end-of-turn token (``tokenizer.ggml.eot_token_id``: the token the template closes replies
with, which llama.cpp and Ollama stop on) come from the tokenizer itself.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lf.errors import ConfigError

# The split regexes of the byte-level pre-tokenizers llama.cpp knows by name (tokenizer.json spelling).
_LLAMA3 = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN2 = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
SPLIT_NAMES = {_LLAMA3: "llama-bpe", _QWEN2: "qwen2"}

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
_BYTE_TOKEN = re.compile(r"^<0x[0-9A-Fa-f]{2}>$")


@dataclass
class Vocab:
    """Everything the ``tokenizer.*`` keys of a GGUF file hold."""

    model: str
    pre: str
    tokens: list[str]
    types: list[int]
    scores: list[float] | None = None
    merges: list[str] | None = None
    ids: dict[str, int] = field(default_factory=dict)  # bos, eos, unk, pad, eot, eom
    add_bos: bool = False
    add_eos: bool = False
    add_space_prefix: bool | None = None
    chat_template: str | None = None


def _kind(spec: dict[str, Any]) -> str:
    model = spec.get("model") or {}
    if model.get("type") != "BPE":
        raise ConfigError(
            f"lf export gguf handles BPE tokenizers; this one is {model.get('type')!r}.",
            hint="Export a Llama, Mistral, Qwen2, Gemma or Phi-3 model.",
        )
    return "llama" if model.get("byte_fallback") else "gpt2"


def _steps(node: dict[str, Any] | None) -> list[dict[str, Any]]:
    """A normalizer's or pre-tokenizer's steps, a Sequence flattened."""
    if not node:
        return []
    inner = node.get("pretokenizers") or node.get("normalizers")
    return [s for step in inner for s in _steps(step)] if node.get("type") == "Sequence" and inner else [node]


def byte_level_pre(spec: dict[str, Any]) -> str:
    """llama.cpp's name for a byte-level tokenizer's pre-tokenizer, from its tokenizer.json."""
    steps = _steps(spec.get("pre_tokenizer"))
    kinds = [s.get("type") for s in steps]
    if kinds == ["ByteLevel"] and steps[0].get("use_regex", True):
        return "gpt-2"
    if kinds == ["Digits", "ByteLevel"] and steps[0].get("individual_digits") and steps[1].get("use_regex", True):
        return "smollm"
    if kinds == ["Split", "ByteLevel"] and not steps[1].get("use_regex", True):
        regex = (steps[0].get("pattern") or {}).get("Regex")
        if regex in SPLIT_NAMES:
            return SPLIT_NAMES[regex]
    raise ConfigError(
        f"Cannot tell llama.cpp which pre-tokenizer this byte-level tokenizer uses ({json.dumps(steps)[:300]}).",
        hint="Known: GPT-2's ByteLevel, SmolLM's digits + ByteLevel, Llama-3's and Qwen2's split regexes.",
    )


def _add_space_prefix(spec: dict[str, Any]) -> bool:
    for step in _steps(spec.get("normalizer")):
        if step.get("type") == "Prepend" and step.get("prepend") == "\u2581":
            return True
    for step in _steps(spec.get("pre_tokenizer")):
        if step.get("type") == "Metaspace":
            return str(step.get("prepend_scheme", "always")) != "never"
    return False


def _token_table(tokenizer: Any, size: int) -> tuple[list[str], list[int], set[str]]:
    """Token texts by id (holes named ``[PADn]``), their types, and the texts of the added tokens."""
    by_id = {i: t for t, i in tokenizer.get_vocab().items()}
    added = {int(i): t for i, t in tokenizer.added_tokens_decoder.items()}
    tokens, types = [], []
    for i in range(size):
        if i in added:
            tokens.append(str(added[i].content))
            types.append(CONTROL if added[i].special else USER_DEFINED)
        elif i in by_id:
            tokens.append(by_id[i])
            types.append(BYTE if _BYTE_TOKEN.match(by_id[i]) else NORMAL)
        else:
            tokens.append(f"[PAD{i}]")
            types.append(UNUSED)
    if tokenizer.unk_token_id is not None and tokenizer.unk_token_id < size:
        types[tokenizer.unk_token_id] = UNKNOWN
    return tokens, types, {str(t.content) for t in added.values()}


def _merges(spec: dict[str, Any]) -> list[str]:
    return [m if isinstance(m, str) else " ".join(m) for m in spec["model"].get("merges") or []]


def _scores(tokens: list[str], merges: list[str]) -> list[float]:
    """SentencePiece-style scores: the token made by the r-th merge scores -r, earlier merges first."""
    rank: dict[str, int] = {}
    for r, merge in enumerate(merges):
        left, _, right = merge.partition(" ")
        rank.setdefault(left + right, r + 1)
    return [-float(rank[t]) if t in rank else 0.0 for t in tokens]


def _special_ids(tokenizer: Any, turn_end: str | None, stops: list[int]) -> dict[str, int]:
    ids = {
        name: int(value)
        for name, value in (
            ("bos", tokenizer.bos_token_id),
            ("eos", tokenizer.eos_token_id),
            ("unk", tokenizer.unk_token_id),
            ("pad", tokenizer.pad_token_id),
        )
        if value is not None
    }
    if turn_end:
        ids["eot"] = int(tokenizer.convert_tokens_to_ids(turn_end))
    eom = tokenizer.convert_tokens_to_ids("<|eom_id|>") if "<|eom_id|>" in tokenizer.get_vocab() else None
    if eom is not None and eom in stops:
        ids["eom"] = int(eom)
    return ids


def read_vocab(model_dir: Path, vocab_size: int, stop_ids: list[int]) -> Vocab:
    """The GGUF vocabulary of the tokenizer in ``model_dir`` (``vocab_size``: the model's embedding rows)."""
    from transformers import AutoTokenizer

    from lf.chat_template import end_of_turn_token

    spec_file = model_dir / "tokenizer.json"
    if not spec_file.is_file():
        raise ConfigError(f"{model_dir} has no tokenizer.json; GGUF export needs the fast tokenizer's file.")
    spec = json.loads(spec_file.read_text(encoding="utf-8"))
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    kind = _kind(spec)
    if len(tokenizer) > vocab_size:
        raise ConfigError(
            f"The tokenizer has {len(tokenizer)} tokens but the model only {vocab_size} embeddings; "
            "llama.cpp needs one token per embedding row.",
            hint="Resize the embeddings (model.resize_token_embeddings) and save the model again.",
        )
    size = vocab_size  # ids the tokenizer never produces become [PADn] placeholders, as llama.cpp's converter does
    tokens, types, _ = _token_table(tokenizer, size)
    merges = _merges(spec)
    probe = tokenizer("a")["input_ids"]
    turn_end = end_of_turn_token(tokenizer)
    vocab = Vocab(
        model=kind,
        pre=byte_level_pre(spec) if kind == "gpt2" else "default",
        tokens=tokens,
        types=types,
        ids=_special_ids(tokenizer, turn_end, stop_ids),
        add_bos=bool(probe) and tokenizer.bos_token_id is not None and probe[0] == tokenizer.bos_token_id,
        add_eos=bool(probe) and tokenizer.eos_token_id is not None and probe[-1] == tokenizer.eos_token_id,
        chat_template=getattr(tokenizer, "chat_template", None) or None,
    )
    if kind == "gpt2":
        vocab.merges = merges
    else:
        vocab.scores = _scores(tokens, merges)
        vocab.add_space_prefix = _add_space_prefix(spec)
    return vocab


def write_vocab(writer: Any, vocab: Vocab) -> None:
    """Add the ``tokenizer.*`` keys to a ``gguf.GGUFWriter``."""
    writer.add_tokenizer_model(vocab.model)
    writer.add_tokenizer_pre(vocab.pre)
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.types)
    if vocab.scores is not None:
        writer.add_token_scores(vocab.scores)
    if vocab.merges is not None:
        writer.add_token_merges(vocab.merges)
    setters = {
        "bos": writer.add_bos_token_id,
        "eos": writer.add_eos_token_id,
        "unk": writer.add_unk_token_id,
        "pad": writer.add_pad_token_id,
        "eot": writer.add_eot_token_id,
        "eom": writer.add_eom_token_id,
    }
    for name, value in vocab.ids.items():
        setters[name](value)
    writer.add_add_bos_token(vocab.add_bos)
    writer.add_add_eos_token(vocab.add_eos)
    if vocab.add_space_prefix is not None:
        writer.add_add_space_prefix(vocab.add_space_prefix)
    if vocab.chat_template:
        writer.add_chat_template(vocab.chat_template)
