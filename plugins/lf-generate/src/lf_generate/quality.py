"""Quality filters on generated responses: minimum length, refusals, language.

Each filter answers with the reason a response is dropped (``min_length``, ``refusal``,
``language``) or None; the reasons become the ``filtered_*`` counts of the run summary.
"""

from __future__ import annotations

import re
from typing import Any

from lf.errors import ConfigError
from lf_generate.config import DEFAULT_REFUSAL_PATTERNS
from lf_generate.language import MIN_WORDS, UNDETERMINED, detect_language

#: Refusals announce themselves early; later matches are usually quotes or examples.
REFUSAL_WINDOW = 400


class QualityFilter:
    """The filters a generator config asks for, compiled once."""

    def __init__(
        self,
        *,
        min_length: int = 0,
        refusal_patterns: list[str] | None = None,
        language: str | None = None,
    ) -> None:
        self.min_length = min_length
        self.language = language.lower() if language else None
        self.refusals: list[re.Pattern[str]] = []
        for pattern in refusal_patterns or []:
            try:
                self.refusals.append(re.compile(pattern, re.IGNORECASE))
            except re.error as exc:
                raise ConfigError(f"refusal_patterns: {pattern!r} is not a valid regular expression ({exc}).") from None

    @classmethod
    def from_config(cls, config: Any) -> QualityFilter:
        """The filters of a generator config."""
        return cls(
            min_length=config.min_length,
            refusal_patterns=[*DEFAULT_REFUSAL_PATTERNS, *config.refusal_patterns] if config.filter_refusals else [],
            language=config.language,
        )

    def reason(self, text: str) -> str | None:
        """Why ``text`` is dropped, or None when it passes."""
        stripped = text.strip()
        if len(stripped) < self.min_length:
            return "min_length"
        head = stripped[:REFUSAL_WINDOW]
        if any(p.search(head) for p in self.refusals):
            return "refusal"
        if self.language and len(stripped.split()) >= MIN_WORDS:
            found, _ = detect_language(stripped)
            if found != self.language and not (found == UNDETERMINED and self.language == UNDETERMINED):
                return "language"
        return None
