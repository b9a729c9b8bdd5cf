"""How fast does the router route? Classifiers, then the router service (issue 5).

* keyword: classify latency p50/p99 with 10 experts x 50 keywords (goal p99 < 50 us);
  anchor: the naive loop ``sum(k in q for k in keywords)`` per expert over the same
  keywords, in the same run.
* neural: single-query latency p50/p99, un-cached and cached (goal p50 < 10 ms on this
  CPU), and batch throughput; anchor: a raw, un-cached ``transformers`` forward of the
  same model (AutoTokenizer + AutoModel + mean pooling), in the same run, same threads.

* service (bench/_route_service.py): latency added by the router p50/p99 (the same
  requests straight to a fast upstream vs through ``lf serve router``, classification
  excluded; goal p50 < 1 ms, p99 < 5 ms) and requests/s through our router vs through a
  LiteLLM proxy in front of the same upstream at the same concurrency (goal >= 2x). LiteLLM
  is installed on first use into ``.venv-litellm`` (gitignored); without it that part is
  skipped with the reason.

Run: .venv/bin/python bench/route.py [--part all|classify|service] [--threads 1] [--calls 20000]
     [--requests 2000] [--concurrency 32] [--seconds 5] [--no-litellm]
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from _util import table

GOAL_KEYWORD_P99_US = 50.0
GOAL_NEURAL_P50_MS = 10.0


def percentiles(samples: Sequence[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def latencies(
    fn: Callable[[str], object], queries: Sequence[str], calls: int, cpu: list[float] | None = None
) -> list[float]:
    """Wall seconds per call, cycling through ``queries`` (GC paused while timing).

    With ``cpu``, the calling thread's CPU seconds per call are appended to it too: on a
    shared machine the wall time includes waiting for a core, the CPU time does not.
    """
    for q in queries[:50]:
        fn(q)
    out = []
    gc.collect()
    gc.disable()
    try:
        for i in range(calls):
            q = queries[i % len(queries)]
            start, start_cpu = time.perf_counter(), time.thread_time()
            fn(q)
            out.append(time.perf_counter() - start)
            if cpu is not None:
                cpu.append(time.thread_time() - start_cpu)
    finally:
        gc.enable()
    return out


def load_average() -> str:
    try:
        import os

        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "?"


def keyword_setup(seed: int = 0) -> tuple[dict[str, list[str]], list[str]]:
    """10 experts x 50 keywords (45 words, 5 two-word phrases) from real English words, and queries."""
    from lf_router_hybrid import default_experts
    from lf_router_hybrid.keyword import TOKEN_RE

    experts = default_experts()
    texts = [t for e in experts for t in (e.description, *e.examples)]
    vocab = sorted({w for t in texts for w in TOKEN_RE.findall(t.lower()) if len(w) > 3})
    rng = random.Random(seed)
    rng.shuffle(vocab)
    keywords: dict[str, list[str]] = {}
    for e in range(10):
        words = [vocab[(e * 45 + i) % len(vocab)] for i in range(45)]
        phrases = [f"{vocab[(e * 7 + i) % len(vocab)]} {vocab[(e * 11 + i + 3) % len(vocab)]}" for i in range(5)]
        keywords[f"expert{e}"] = words + phrases
    queries = [q for e in experts for q in e.examples]  # everyday questions, 6-20 words
    return keywords, queries


def bench_keyword(calls: int) -> list[tuple[str, ...]]:
    from lf_router_hybrid import KeywordClassifier

    keywords, queries = keyword_setup()
    clf = KeywordClassifier(keywords, fallback_expert="expert0")

    def naive(q: str) -> str:  # the anchor: substring tests, one Python loop per keyword
        low = q.lower()
        scores = {name: sum(k in low for k in kws) for name, kws in keywords.items()}
        return max(scores, key=lambda n: scores[n])

    ours = percentiles(latencies(clf.classify, queries, calls))
    anchor = percentiles(latencies(naive, queries, calls))
    hits = sum(not clf.classify(q).fallback for q in queries)
    print(f"keyword: {len(keywords)} experts x 50 keywords, {len(queries)} queries ({hits} match a keyword)")
    verdict = "ok" if ours[1] * 1e6 < GOAL_KEYWORD_P99_US else f"over {GOAL_KEYWORD_P99_US:.0f} us"
    return [
        ("keyword classify", f"{ours[0] * 1e6:.1f} us", f"{ours[1] * 1e6:.1f} us", f"p99 {verdict}"),
        ("  anchor: naive `k in q` loop", f"{anchor[0] * 1e6:.1f} us", f"{anchor[1] * 1e6:.1f} us", ""),
        ("  ratio anchor / ours", f"{anchor[0] / ours[0]:.1f}x", f"{anchor[1] / ours[1]:.1f}x", ""),
    ]


def unique_queries(n: int, seed: int = 1) -> list[str]:
    """Distinct everyday-style questions (so that nothing is served from a cache)."""
    subjects = ["my python script", "this integral", "a cover letter", "the weather in Oslo", "a sql query",
                "my sourdough bread", "the probability of rain", "a wedding toast", "my docker container",
                "a haiku about snow", "compound interest", "the french revolution"]  # fmt: skip
    verbs = ["How do I fix", "Can you explain", "What is wrong with", "Help me improve", "Tell me about",
             "Why does everyone talk about", "Give me tips on", "What should I know about"]  # fmt: skip
    rng = random.Random(seed)
    out = {f"{rng.choice(verbs)} {rng.choice(subjects)} number {i}?" for i in range(n * 2)}
    return sorted(out)[:n]


def bench_neural(threads: int, calls: int) -> list[tuple[str, ...]]:
    import torch

    from lf_router_hybrid import NeuralClassifier, default_experts

    torch.set_num_threads(threads)
    started = time.perf_counter()
    uncached = NeuralClassifier.from_experts(default_experts(), cache_size=0)
    load_s = time.perf_counter() - started
    cached = NeuralClassifier(embedder=uncached.embedder.fork())
    cached.embedder.cache_size = 10_000
    cached.sync_experts(default_experts())
    queries = unique_queries(max(calls, 300))
    cpu: list[float] = []
    single = percentiles(latencies(uncached.classify, queries, calls, cpu))
    single_cpu = percentiles(cpu)
    int8 = NeuralClassifier.from_experts(default_experts(), cache_size=0, precision="int8")
    int8_cpu: list[float] = []
    single_int8 = percentiles(latencies(int8.classify, queries, calls, int8_cpu))
    int8_cpu_p = percentiles(int8_cpu)
    hot = queries[:50]
    for q in hot:
        cached.classify(q)
    hit = percentiles(latencies(cached.classify, hot, calls))

    # The anchor: plain transformers, un-cached, one query per forward.
    raw = _transformers_anchor(str(uncached.embedder.path))
    anchor_cpu: list[float] = []
    anchor = percentiles(latencies(lambda q: raw([q]), queries, calls, anchor_cpu))
    anchor_cpu_p = percentiles(anchor_cpu)
    ours_qps, anchor_qps = _batch_rates(uncached, raw)
    n_ex = sum(len(uncached.exemplars(e.name)) for e in uncached.list_experts())
    print(f"neural: all-MiniLM-L6-v2, {threads} torch thread(s), {len(uncached.list_experts())} experts "
          f"({n_ex} exemplars), loaded in {load_s:.1f} s; load average {load_average()}, {os_cpus()} CPUs")  # fmt: skip
    verdict = "ok" if single[0] * 1e3 < GOAL_NEURAL_P50_MS else f"over {GOAL_NEURAL_P50_MS:.0f} ms"
    return [
        ("neural classify, un-cached", f"{single[0] * 1e3:.2f} ms", f"{single[1] * 1e3:.2f} ms", f"p50 {verdict}"),
        ("  same, CPU time of the thread", f"{single_cpu[0] * 1e3:.2f} ms", f"{single_cpu[1] * 1e3:.2f} ms", ""),
        ("neural classify, un-cached, int8", f"{single_int8[0] * 1e3:.2f} ms", f"{single_int8[1] * 1e3:.2f} ms", ""),
        ("  same, CPU time of the thread", f"{int8_cpu_p[0] * 1e3:.2f} ms", f"{int8_cpu_p[1] * 1e3:.2f} ms", ""),
        ("neural classify, cache hit", f"{hit[0] * 1e6:.0f} us", f"{hit[1] * 1e6:.0f} us", ""),
        ("  anchor: raw transformers forward", f"{anchor[0] * 1e3:.2f} ms", f"{anchor[1] * 1e3:.2f} ms", ""),
        ("  same, CPU time of the thread", f"{anchor_cpu_p[0] * 1e3:.2f} ms", f"{anchor_cpu_p[1] * 1e3:.2f} ms", ""),
        ("  ratio anchor / ours (un-cached)", f"{anchor[0] / single[0]:.2f}x", f"{anchor[1] / single[1]:.2f}x", ""),
        ("neural classify_batch, 512 queries", f"{ours_qps:.0f} q/s", "", ""),
        ("  anchor: raw transformers, batches of 64", f"{anchor_qps:.0f} q/s", "", f"{ours_qps / anchor_qps:.2f}x"),
    ]


def _transformers_anchor(path: str) -> Callable[[list[str]], Any]:
    """Unit vectors of texts by plain transformers (mean-pooled, normalized), as sentence-transformers does."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()

    def raw(texts: list[str]) -> Any:
        batch = tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
        with torch.inference_mode():
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()

    return raw


def _batch_rates(classifier: Any, raw: Callable[[list[str]], Any]) -> tuple[float, float]:
    """Queries/s of ``classifier.classify_batch`` and of the anchor in batches of 64, on 512 queries."""
    batch_queries = unique_queries(512, seed=7)
    start = time.perf_counter()
    classifier.classify_batch(batch_queries)
    ours_qps = len(batch_queries) / (time.perf_counter() - start)
    start = time.perf_counter()
    for i in range(0, len(batch_queries), 64):
        raw(batch_queries[i : i + 64])
    anchor_qps = len(batch_queries) / (time.perf_counter() - start)
    return ours_qps, anchor_qps


def os_cpus() -> int:
    import os

    return os.cpu_count() or 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the neural part (default 1)")
    parser.add_argument("--calls", type=int, default=20_000, help="keyword calls (neural: a tenth)")
    parser.add_argument("--part", choices=("all", "classify", "service"), default="all", help="what to measure")
    parser.add_argument("--requests", type=int, default=2000, help="service: sequential requests each way")
    parser.add_argument("--concurrency", type=int, default=32, help="service: concurrent clients for requests/s")
    parser.add_argument("--seconds", type=float, default=5.0, help="service: seconds of load per target")
    parser.add_argument("--no-litellm", action="store_true", help="service: leave the LiteLLM comparison out")
    args = parser.parse_args()
    rows: list[tuple[str, ...]] = []
    if args.part in ("all", "classify"):
        rows += bench_keyword(args.calls)
        rows += bench_neural(args.threads, max(200, args.calls // 100))
    if args.part in ("all", "service"):
        from _route_service import bench_service

        rows += bench_service(args.requests, args.concurrency, args.seconds, litellm=not args.no_litellm)
    print()
    print(table(rows, ("measure", "p50 / rate", "p99", "goal")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
