"""Where prompts come from: seed prompts, a prompt file, and templates with ``{variables}``.

Every prompt gets a deterministic key (a hash of what makes its request: the generator,
the system prompt, the prompt and the sample number), so a re-run knows which prompts are
done whatever order they finished in, and the same prompt given twice is generated once.
"""

from __future__ import annotations

import hashlib
import itertools
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lf.errors import ConfigError, DataError

DATA_SUFFIXES = (".jsonl", ".ndjson", ".jsonlines", ".json", ".parquet", ".pq")


@dataclass(frozen=True)
class Prompt:
    """One unit of work: a prompt (and which sample of it), with its stable key."""

    key: str
    text: str
    sample: int = 0


def make_key(kind: str, system: str | None, text: str, sample: int = 0) -> str:
    """A stable 20-hex-digit key of one request."""
    digest = hashlib.sha256("\x00".join((kind, system or "", text, str(sample))).encode("utf-8"))
    return digest.hexdigest()[:20]


def seed_for(key: str, base: int, index: int = 0) -> int:
    """A per-request seed derived from the key: the same prompt samples the same way in every run."""
    return (int(key[:8], 16) + 7919 * index + base) % (2**31 - 1)


def template_fields(template: str) -> list[str]:
    """The variable names a template uses, in order, once each (``{{`` escapes are literal)."""
    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigError(
            f"Template {template!r} is malformed: {exc}.", hint="Write a literal brace as {{ or }}."
        ) from None
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if not field.isidentifier():
            raise ConfigError(f"Template {template!r} uses '{{{field}}}'; variables are plain names like {{topic}}.")
        if spec or conversion:
            raise ConfigError(f"Template {template!r}: '{{{field}}}' may not carry a format spec or conversion.")
        if field not in names:
            names.append(field)
    return names


def expand_templates(templates: list[str], variables: dict[str, list[str]]) -> list[str]:
    """Every combination of each template's variables, in a fixed order."""
    out: list[str] = []
    for template in templates:
        names = template_fields(template)
        missing = [n for n in names if n not in variables]
        if missing:
            raise ConfigError(
                f"Template {template!r} uses {', '.join(missing)}, which {'has' if len(missing) == 1 else 'have'} "
                "no values in `variables`.",
                hint=f"Add variables: {{{missing[0]}: [value, ...]}}.",
            )
        empty = [n for n in names if not variables[n]]
        if empty:
            raise ConfigError(f"variables.{empty[0]} is empty: template {template!r} would give no prompt.")
        for values in itertools.product(*(variables[n] for n in names)):
            out.append(template.format(**dict(zip(names, values, strict=True))))
    return out


def read_prompt_file(path: str) -> list[str]:
    """Prompts of a text file (one per non-blank line) or of a data file (each record's user turn)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"Prompt file not found: {p}", hint="Give a text file (one prompt per line) or a data file.")
    if p.suffix.lower() in DATA_SUFFIXES:
        return _record_prompts(p)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise DataError(f"{p} is not UTF-8 text ({exc}).") from None
    return [line.strip() for line in lines if line.strip()]


def _last_user(messages: list[dict[str, Any]]) -> str | None:
    users = [m["content"] for m in messages if m.get("role") == "user" and str(m.get("content") or "").strip()]
    return str(users[-1]) if users else None


def _record_prompts(path: Path) -> list[str]:
    from lf.data.convert import to_internal
    from lf.data.detect import detect_file_format
    from lf.data.formats import Preference
    from lf.data.io import iter_raw

    fmt = detect_file_format(path)
    prompts: list[str] = []
    for _, record, error in iter_raw(path):
        if error is not None or not isinstance(record, dict) or fmt.validate(record):
            continue
        value = to_internal(fmt, record, fmt.shape)
        if isinstance(value, Preference):
            text = _last_user(value.prompt)
        elif isinstance(value, str):
            text = value
        else:
            user_turns = [m for m in value if m.get("role") == "user"]
            text = str(user_turns[0]["content"]) if user_turns else None
        if text and text.strip():
            prompts.append(text.strip())
    if not prompts:
        raise DataError(f"{path} holds no usable prompt.", hint=f"Run `lf data validate {path}`.")
    return prompts


def collect_prompts(config: Any) -> tuple[list[str], int]:
    """The distinct prompts a config asks for (seeds, file, templates), and how many repeats were dropped."""
    texts: list[str] = [p.strip() for p in config.prompts if p.strip()]
    if config.prompts_file:
        texts += read_prompt_file(config.prompts_file)
    texts += expand_templates(config.templates, config.variables)
    if not texts:
        raise ConfigError(
            "No prompts: give `prompts`, `prompts_file` or `templates` (with `variables`).",
            hint="e.g. --set 'templates=[\"Explain {topic} simply.\"]' --set 'variables={topic: [tides, gravity]}'",
        )
    distinct = list(dict.fromkeys(texts))
    repeats = len(texts) - len(distinct)
    if config.max_prompts:
        distinct = distinct[: config.max_prompts]
    return distinct, repeats


def work_units(kind: str, config: Any, texts: list[str], samples: int = 1) -> list[Prompt]:
    """The keyed units of work: each prompt times ``samples``."""
    return [Prompt(make_key(kind, config.system_prompt, text, i), text, i) for text in texts for i in range(samples)]
