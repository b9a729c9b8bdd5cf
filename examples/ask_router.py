"""Ask the expert router a few questions with the official ``openai`` client.

Prints, for every question, which expert answered (the router's ``X-LF-Expert`` header),
how the choice was made (``X-LF-Routing``: classified, named or fallback), the answer's
first line and the tokens/s the client saw; then a summary. The last step of ``make demo``,
and runnable alone against any ``lf serve router``:

    python examples/ask_router.py --base-url http://127.0.0.1:8100/v1
    python examples/ask_router.py --base-url http://127.0.0.1:8100/v1 "Write a Python function that adds two numbers."
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

DEFAULT_QUESTIONS = [
    "Write a Python function that returns the largest number in a list.",
    "Write a Python function that checks whether a string is a palindrome.",
    "What is the capital of France?",
    "Give me three tips for sleeping better.",
]


@dataclass
class Answer:
    """One question's trip through the router."""

    question: str
    expert: str
    routing: str
    routing_ms: float
    answer: str
    completion_tokens: int
    seconds: float

    @property
    def tokens_per_s(self) -> float:
        """Completion tokens per second of wall time, as the client saw it."""
        return self.completion_tokens / self.seconds if self.seconds > 0 else 0.0


def ask(client: Any, question: str, max_tokens: int) -> Answer:
    """Send one chat request with ``model="auto"``; return what the router and the expert said."""
    started = time.perf_counter()
    raw = client.chat.completions.with_raw_response.create(
        model="auto",
        messages=[{"role": "user", "content": question}],
        max_tokens=max_tokens,
        temperature=0.0,
    )
    seconds = time.perf_counter() - started
    completion = raw.parse()
    tokens = completion.usage.completion_tokens if completion.usage else 0
    return Answer(
        question=question,
        expert=raw.headers.get("x-lf-expert", "?"),
        routing=raw.headers.get("x-lf-routing", "?"),
        routing_ms=float(raw.headers.get("x-lf-routing-ms") or 0.0),
        answer=completion.choices[0].message.content or "",
        completion_tokens=tokens,
        seconds=seconds,
    )


def main(argv: list[str] | None = None) -> int:
    """Ask the questions, print each answer and a summary; ``--json FILE`` also saves them."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("questions", nargs="*", help="Questions to ask (default: four, two about Python).")
    parser.add_argument("--base-url", default=os.environ.get("OPENAI_BASE_URL", "http://127.0.0.1:8100/v1"))
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--json", dest="json_path", help="Also write the results to this JSON file.")
    args = parser.parse_args(argv)
    try:
        import openai
    except ImportError:
        print("The openai package is missing: pip install openai", file=sys.stderr)
        return 1
    client = openai.OpenAI(base_url=args.base_url, api_key=os.environ.get("LARGEFORGE_API_KEY", "not-needed"))
    results: list[Answer] = []
    for question in args.questions or DEFAULT_QUESTIONS:
        try:
            result = ask(client, question, args.max_tokens)
        except openai.APIError as exc:
            print(f"The router refused {question!r}: {exc}", file=sys.stderr)
            return 1
        results.append(result)
        lines = result.answer.strip().splitlines()
        print(f"\n? {question}")
        print(
            f"  -> expert {result.expert} ({result.routing}, {result.routing_ms:.1f} ms to route), "
            f"{result.completion_tokens} tokens in {result.seconds:.2f} s = {result.tokens_per_s:.1f} tok/s"
        )
        print("  " + "\n  ".join(lines[:6]))
    total_tokens = sum(r.completion_tokens for r in results)
    total_seconds = sum(r.seconds for r in results)
    by_expert: dict[str, int] = {}
    for r in results:
        by_expert[r.expert] = by_expert.get(r.expert, 0) + 1
    print(
        f"\n{len(results)} questions, {total_tokens} tokens in {total_seconds:.1f} s "
        f"({total_tokens / max(total_seconds, 1e-9):.1f} tok/s); answered by: "
        + ", ".join(f"{name} x{count}" for name, count in sorted(by_expert.items()))
    )
    if args.json_path:
        with open(args.json_path, "w", encoding="utf-8") as handle:
            json.dump([asdict(r) | {"tokens_per_s": round(r.tokens_per_s, 1)} for r in results], handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
