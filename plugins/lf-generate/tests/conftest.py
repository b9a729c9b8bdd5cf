"""Real servers on 127.0.0.1 for the generator and evaluation tests.

* ``tiny_url``: the ``hf`` backend serving the tiny random chat model (real sampling,
  real batching; its text is noise, which is fine where content does not matter);
* ``echo_url``: the test kit's echo backend (answers with the prompt's words; the word
  OVERLOAD makes it fail with 503, as an out-of-memory engine would);
* ``judge_url``: a rule-based judge behind the same server - it reads the judge prompts
  this plugin sends and answers in the varied shapes real judges use, so score parsing,
  ties and position handling are checked exactly. It cannot rate requests containing
  the word UNSCORABLE (it then answers without a number).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from lf.serve.app import create_app
from lf.serve.config import ServeConfig
from lf.testing import running_server, wait_ready
from lf.testing.echo_backend import EchoBackend, EchoConfig

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def tiny_url(tiny_model_dir: Path) -> Iterator[str]:
    from lf_backend_hf.backend import HFBackend
    from lf_backend_hf.config import HFConfig

    config = HFConfig(model=str(tiny_model_dir), served_model_name="tiny", batch_wait_ms=2)
    with running_server(create_app(HFBackend(), config, backend_name="hf")) as url:
        wait_ready(url)
        yield url


@pytest.fixture(scope="session")
def echo_url() -> Iterator[str]:
    config = EchoConfig(overloaded_word="OVERLOAD")
    with running_server(create_app(EchoBackend(), config, backend_name="echo")) as url:
        wait_ready(url)
        yield url


@pytest.fixture
def slow_echo_url() -> Iterator[str]:
    """Echo at about 100 tokens/s per request: a run lasts long enough to be killed mid-way."""
    config = EchoConfig(token_delay_s=0.01)
    with running_server(create_app(EchoBackend(), config, backend_name="echo")) as url:
        wait_ready(url)
        yield url


# --- a rule-based judge ---------------------------------------------------------------------------


def judge_score(response: str) -> int:
    """The score the rule judge gives: more distinct words is better (1-10)."""
    return min(10, 1 + len(set(response.split())) // 2)


_SHAPES = ["Score: {n}", "**Score:** {n}/10 - reasonable.", "I would rate it {n} out of 10.", "{n}\nClear enough."]


class RuleJudge:
    """A backend whose 'model' judges by rule (see :func:`judge_score`)."""

    def __init__(self) -> None:
        self.calls = 0
        self.loaded = False

    def load(self, config: Any) -> None:
        self.loaded = True

    def models(self) -> list[Any]:
        from lf.serve.schemas import ModelCard

        return [ModelCard(id="rule-judge")] if self.loaded else []

    def answer(self, request: Any) -> str:
        self.calls += 1
        text = str(request.messages[-1]["content"])
        if "[Response A]" in text:
            a = re.search(r"\[Response A\]\n(.*?)\n\n\[Response B\]", text, re.S)
            b = re.search(r"\[Response B\]\n(.*?)\n\nWhich response", text, re.S)
            assert a and b, text
            la, lb = len(a.group(1).split()), len(b.group(1).split())
            return "Verdict: tie" if la == lb else f"Verdict: {'A' if la > lb else 'B'} - more complete."
        found = re.search(r"\[Response\]\n(.*?)\n\nReply with the score", text, re.S)
        assert found, text
        if "UNSCORABLE" in text:  # a request the judge cannot rate: it says so, without a number
            return "I cannot decide on this one."
        return _SHAPES[self.calls % len(_SHAPES)].format(n=judge_score(found.group(1)))

    async def generate(self, request: Any) -> Any:
        from lf.serve.schemas import Completion

        text = self.answer(request)
        return Completion(text=text, finish_reason="stop", prompt_tokens=10, completion_tokens=len(text.split()))

    async def stream(self, request: Any) -> AsyncIterator[Any]:
        from lf.serve.schemas import Chunk

        text = self.answer(request)
        yield Chunk(text=text, finish_reason="stop", prompt_tokens=10, completion_tokens=len(text.split()))


@pytest.fixture(scope="session")
def judge_url() -> Iterator[str]:
    with running_server(create_app(RuleJudge(), ServeConfig(model="rule-judge"), backend_name="rule")) as url:
        wait_ready(url)
        yield url
