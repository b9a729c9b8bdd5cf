"""Tiny random models of the common chat families, built offline: Llama-3, Qwen2, Mistral, Gemma-2, Phi-3.

Each is a real ``transformers`` model of its architecture (a few layers, built from its config)
with a tokenizer of the family's kind trained in milliseconds with ``tokenizers``: byte-level
BPE with the family's pre-tokenizer regex (Llama-3, Qwen2) or a SentencePiece-style BPE with
byte fallback (Mistral, Gemma-2, Phi-3), holding the family's special tokens. The chat template
and the stop tokens come from the family's files in a ``chat_templates`` folder (templates and
generation configs of each family, MIT, see :func:`find_chat_templates`); they are read from
there, never shipped. The generation config's stop ids are ids of the real vocabulary, so
:data:`FAMILIES` names the token behind each (``128009`` is Llama-3's ``<|eot_id|>``) and the tiny
model stops on the same tokens by their ids in its own vocabulary.

Example::

    from lf.testing.families import family_model, find_chat_templates
    path = family_model("gemma2", tmp_path / "gemma2", find_chat_templates())
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lf.testing.tiny import _CORPUS

#: The pre-tokenizer regexes of Llama-3's and Qwen2's byte-level BPE (their tokenizer.json files).
LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

_CHAT_TEXT = """
<|start_header_id|>user<|end_header_id|> [INST] What is two plus two? [/INST] Four. <start_of_turn>model
Name a colour. Blue. Say hello. Hello! Count to three. One, two, three. Be brief and polite.
<|user|> <|assistant|> system user assistant model The capital of France is Paris.
"""


@dataclass(frozen=True)
class Family:
    """How to build one family's tiny model: architecture, tokenizer kind, special tokens, template files."""

    name: str
    config_class: str
    template: str
    generation_config: str
    tokenizer: str  # "byte-level", "llama", "gemma" or "phi3"
    front: tuple[str, ...]  # special tokens at the start of the vocabulary
    added: tuple[str, ...]  # special tokens after it
    bos: str | None
    eos: str
    pad: str | None
    unk: str | None
    end_of_turn: str
    stop_names: dict[int, str]  # stop token ids of the real vocabulary -> their text
    system_role: bool
    strip_layout: bool = True  # the template is written with indentation and newlines for reading only
    split: str | None = None
    config: dict[str, Any] = field(default_factory=dict)


FAMILIES: dict[str, Family] = {
    "llama3": Family(
        name="llama3",
        config_class="LlamaConfig",
        template="llama-3-instruct.jinja",
        generation_config="llama-3-instruct.json",
        tokenizer="byte-level",
        front=(),
        added=(
            "<|begin_of_text|>",
            "<|end_of_text|>",
            "<|start_header_id|>",
            "<|end_header_id|>",
            "<|eom_id|>",
            "<|eot_id|>",
        ),
        bos="<|begin_of_text|>",
        eos="<|eot_id|>",
        pad=None,
        unk=None,
        end_of_turn="<|eot_id|>",
        stop_names={128001: "<|end_of_text|>", 128008: "<|eom_id|>", 128009: "<|eot_id|>"},
        system_role=True,
        split=LLAMA3_SPLIT,
        config={"rope_theta": 500000.0, "tie_word_embeddings": False},
    ),
    "qwen2": Family(
        name="qwen2",
        config_class="Qwen2Config",
        template="qwen2.5-instruct.jinja",
        generation_config="qwen2-instruct.json",
        tokenizer="byte-level",
        front=(),
        added=("<|endoftext|>", "<|im_start|>", "<|im_end|>"),
        bos=None,
        eos="<|im_end|>",
        pad="<|endoftext|>",
        unk=None,
        end_of_turn="<|im_end|>",
        stop_names={151643: "<|endoftext|>", 151645: "<|im_end|>"},
        system_role=True,
        strip_layout=False,
        split=QWEN2_SPLIT,
        config={"rope_theta": 1000000.0, "tie_word_embeddings": True},
    ),
    "mistral": Family(
        name="mistral",
        config_class="MistralConfig",
        template="mistral-instruct.jinja",
        generation_config="mistral-instruct.json",
        tokenizer="llama",
        front=("<unk>", "<s>", "</s>"),
        added=(),
        bos="<s>",
        eos="</s>",
        pad=None,
        unk="<unk>",
        end_of_turn="</s>",
        stop_names={2: "</s>"},
        system_role=True,  # folded into the first turn by the template
        config={"rope_theta": 1000000.0, "tie_word_embeddings": False, "sliding_window": None},
    ),
    "gemma2": Family(
        name="gemma2",
        config_class="Gemma2Config",
        template="gemma-it.jinja",
        generation_config="gemma-it.json",
        tokenizer="gemma",
        front=("<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"),
        added=(),
        bos="<bos>",
        eos="<eos>",
        pad="<pad>",
        unk="<unk>",
        end_of_turn="<end_of_turn>",
        stop_names={1: "<eos>", 107: "<end_of_turn>"},
        system_role=False,  # no system turn: the template folds a system message into the first user turn
        # llama.cpp scales Gemma-2's queries by 1/sqrt(head_dim): keep query_pre_attn_scalar = head_dim (as in 2B/9B)
        config={
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "head_dim": 256,
            "query_pre_attn_scalar": 256,
            "tie_word_embeddings": True,
        },
    ),
    "phi3": Family(
        name="phi3",
        config_class="Phi3Config",
        template="phi-3.jinja",
        generation_config="phi-3.json",
        tokenizer="phi3",
        front=("<unk>", "<s>", "</s>"),
        added=("<|endoftext|>", "<|assistant|>", "<|system|>", "<|end|>", "<|user|>"),
        bos="<s>",
        eos="<|endoftext|>",  # as Phi-3-mini ships it: <|end|> stops through the generation config
        pad="<|endoftext|>",
        unk="<unk>",
        end_of_turn="<|end|>",
        stop_names={2: "</s>", 32000: "<|endoftext|>", 32001: "<|assistant|>", 32007: "<|end|>"},
        system_role=True,
        config={"tie_word_embeddings": False},
    ),
}


def find_chat_templates(start: str | os.PathLike[str] | None = None) -> Path | None:
    """The ``chat_templates`` folder: ``$LF_CHAT_TEMPLATES``, else ``shared/data/chat_templates`` above ``start``.

    ``start`` defaults to the current directory; the project keeps the folder at
    ``../shared/data/chat_templates`` relative to the repository root. None when not found.
    """
    env = os.environ.get("LF_CHAT_TEMPLATES")
    if env:
        return Path(env) if Path(env).is_dir() else None
    here = Path(start or Path.cwd()).resolve()
    for parent in (here, *here.parents):
        candidate = parent / "shared" / "data" / "chat_templates"
        if (candidate / "templates").is_dir():
            return candidate
    return None


def read_template(family: Family, templates_dir: Path) -> str:
    """The family's chat template, with the layout-only indentation and newlines removed where it has them.

    The collection writes most templates over several indented lines for reading; its own
    instructions are to drop four-space indents and newlines before use (its string literals
    spell newlines as backslash-n). Templates written verbatim (``{%-`` trimming) are used as they are.
    """
    text = (templates_dir / "templates" / family.template).read_text(encoding="utf-8")
    return text.replace("    ", "").replace("\n", "") if family.strip_layout else text


def stop_tokens(family: Family, templates_dir: Path) -> list[str]:
    """The texts of the family's stop tokens, from its generation config's ids in the real vocabulary."""
    config = json.loads((templates_dir / "generation_configs" / family.generation_config).read_text(encoding="utf-8"))
    unknown = [i for i in config["stop_token_ids"] if i not in family.stop_names]
    if unknown:
        raise ValueError(f"{family.name}: stop token ids {unknown} are not in FAMILIES[{family.name!r}].stop_names")
    return [family.stop_names[i] for i in config["stop_token_ids"]]


def _train_bpe(family: Family, vocab_size: int) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A BPE vocabulary and merges trained on the built-in corpus, spelt as the family's tokenizer spells text."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    if family.tokenizer == "byte-level":
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(family.split or LLAMA3_SPLIT), behavior="isolated"),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    else:
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
        alphabet = []
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=alphabet, show_progress=False)
    lines = [line for line in (_CORPUS + _CHAT_TEXT).splitlines() if line]
    tok.train_from_iterator(lines * 4, trainer=trainer)
    state = json.loads(tok.to_str())["model"]
    pairs = [m.split(" ", 1) if isinstance(m, str) else m for m in state["merges"]]
    return dict(state["vocab"]), [(str(a), str(b)) for a, b in pairs]


def build_family_tokenizer(family: Family, chat_template: str, vocab_size: int = 400) -> Any:
    """The family's tokenizer: trained vocabulary, its special tokens where the family keeps them, its template."""
    from tokenizers import AddedToken

    learned, merges = _train_bpe(family, vocab_size)
    vocab: dict[str, int] = {}
    byte_tokens = [] if family.tokenizer == "byte-level" else [f"<0x{b:02X}>" for b in range(256)]
    for token in (*family.front, *byte_tokens, *sorted(learned, key=learned.__getitem__), *family.added):
        vocab.setdefault(token, len(vocab))
    specials = {"bos_token": family.bos, "eos_token": family.eos, "pad_token": family.pad, "unk_token": family.unk}
    tokenizer = _tokenizer_class(family)(vocab=vocab, merges=merges, **specials)
    extra = [t for t in (*family.front, *family.added) if t not in specials.values()]
    tokenizer.add_special_tokens(
        {"additional_special_tokens": [AddedToken(t, special=True, normalized=False) for t in extra]}
    )
    tokenizer.chat_template = chat_template
    return tokenizer


def _tokenizer_class(family: Family) -> Any:
    """``tokenizers``-backed classes shaped as each family's own tokenizer.json is."""
    from transformers import GemmaTokenizer, LlamaTokenizer, PreTrainedTokenizerFast

    if family.tokenizer == "gemma":
        return GemmaTokenizer
    if family.tokenizer in ("llama", "phi3"):
        return _phi3_tokenizer if family.tokenizer == "phi3" else LlamaTokenizer
    return lambda vocab, merges, **specials: _byte_level(family, vocab, merges, PreTrainedTokenizerFast, **specials)


def _phi3_tokenizer(vocab: dict[str, int], merges: list[tuple[str, str]], **specials: Any) -> Any:
    """Phi-3's shape: a Llama SentencePiece BPE whose prefix space comes from a normalizer."""
    from tokenizers import normalizers
    from transformers import LlamaTokenizer

    tokenizer = LlamaTokenizer(vocab=vocab, merges=merges, **specials)
    backend = tokenizer.backend_tokenizer
    backend.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    backend.pre_tokenizer = None
    return tokenizer


def _byte_level(family: Family, vocab: dict[str, int], merges: list[tuple[str, str]], cls: Any, **specials: Any) -> Any:
    """A byte-level BPE with the family's split regex (Llama-3: BOS added by the post-processor)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors

    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=family.name == "llama3"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(family.split or LLAMA3_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    if family.bos:
        bos_id = vocab[family.bos]
        tok.post_processor = processors.TemplateProcessing(
            single=f"{family.bos} $A", pair=f"{family.bos} $A {family.bos} $B", special_tokens=[(family.bos, bos_id)]
        )
    return cls(tokenizer_object=tok, **specials)


def _model_config(family: Family, tokenizer: Any, *, hidden_size: int, layers: int) -> Any:
    import transformers

    ids = {k: tokenizer.convert_tokens_to_ids(v) if v else None for k, v in (("bos", family.bos), ("pad", family.pad))}
    values: dict[str, Any] = {
        "vocab_size": len(tokenizer),
        "hidden_size": hidden_size,
        "intermediate_size": hidden_size * 2,
        "num_hidden_layers": layers,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 1024,
        "bos_token_id": ids["bos"],
        "eos_token_id": tokenizer.convert_tokens_to_ids(family.eos),
        "pad_token_id": ids["pad"],
        **family.config,
    }
    return getattr(transformers, family.config_class)(**values)


def family_model(
    name: str,
    path: str | os.PathLike[str],
    templates_dir: str | os.PathLike[str],
    *,
    hidden_size: int = 64,
    layers: int = 2,
    seed: int = 0,
) -> Path:
    """Build and save the tiny ``name`` model (a key of :data:`FAMILIES`) with its tokenizer in ``path``.

    The chat template and the stop tokens (the generation config's ``eos_token_id``) are the
    family's, read from ``templates_dir`` (see :func:`find_chat_templates`). About a second.
    """
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    family = FAMILIES[name]
    templates = Path(templates_dir)
    tokenizer = build_family_tokenizer(family, read_template(family, templates))
    config = _model_config(family, tokenizer, hidden_size=hidden_size, layers=layers)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    stops = [tokenizer.convert_tokens_to_ids(t) for t in stop_tokens(family, templates)]
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id, eos_token_id=stops, pad_token_id=config.pad_token_id, max_new_tokens=32
    )
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "lf_tiny_model.json").write_text(json.dumps({"family": name, "seed": seed, "layers": layers}))
    return out
