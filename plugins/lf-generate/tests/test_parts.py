"""The pure parts: prompts and keys, language detection, MinHash, judge parsing, the crash-safe store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import lf_generate
from lf.errors import ConfigError, DataError, RunError
from lf.testing import check_plugin
from lf_generate.config import SyntheticConfig
from lf_generate.dedup import Deduplicator, MinHasher, estimated_jaccard, jaccard, shingles
from lf_generate.judge import combine_orderings, parse_score, parse_verdict
from lf_generate.language import detect_language
from lf_generate.prompts import collect_prompts, expand_templates, make_key, read_prompt_file, seed_for, work_units
from lf_generate.quality import QualityFilter
from lf_generate.store import RecordStore


def test_contract_and_lazy_api() -> None:
    specs = check_plugin(lf_generate)
    assert [(s.name, s.aliases) for s in specs] == [("synthetic", ("data",)), ("preferences", ())]
    assert lf_generate.SyntheticDataGenerator.__name__ == "SyntheticDataGenerator"


def test_templates_expand_every_combination_in_order() -> None:
    got = expand_templates(
        ["Explain {topic} to a {reader}.", "What is {topic}? {{literal}}"],
        {"topic": ["tides", "gravity"], "reader": ["child", "student"]},
    )
    assert got == [
        "Explain tides to a child.",
        "Explain tides to a student.",
        "Explain gravity to a child.",
        "Explain gravity to a student.",
        "What is tides? {literal}",
        "What is gravity? {literal}",
    ]


@pytest.mark.parametrize(
    ("templates", "variables", "message"),
    [
        (["Explain {topic}."], {}, "no values"),
        (["Explain {topic}."], {"topic": []}, "is empty"),
        (["Explain {0}."], {}, "plain names"),
        (["Explain {topic!r}."], {"topic": ["x"]}, "format spec"),
        (["Explain {topic."], {"topic": ["x"]}, "malformed"),
    ],
)
def test_bad_templates_are_explained(templates: list[str], variables: dict[str, list[str]], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        expand_templates(templates, variables)


def test_prompts_from_every_source_deduplicated_and_keyed(tmp_path: Path) -> None:
    text = tmp_path / "prompts.txt"
    text.write_text("First prompt\n\n  Second prompt  \nFirst prompt\n")
    data = tmp_path / "chat.jsonl"
    data.write_text(json.dumps({"instruction": "From a record", "input": "", "output": "x"}) + "\n")
    assert read_prompt_file(str(text)) == ["First prompt", "Second prompt", "First prompt"]
    assert read_prompt_file(str(data)) == ["From a record"]
    config = SyntheticConfig(
        output="x.jsonl",
        prompts=["Seed", "First prompt"],
        prompts_file=str(text),
        templates=["About {t}"],
        variables={"t": ["a", "b"]},
        samples_per_prompt=2,
    )
    texts, repeats = collect_prompts(config)
    assert texts == ["Seed", "First prompt", "Second prompt", "About a", "About b"]
    assert repeats == 2
    units = work_units("synthetic", config, texts, 2)
    assert len(units) == 10 and len({u.key for u in units}) == 10
    assert units[0].key == make_key("synthetic", None, "Seed", 0)  # stable across runs
    assert make_key("synthetic", "be brief", "Seed") != make_key("synthetic", None, "Seed")
    assert seed_for(units[0].key, 0) == seed_for(units[0].key, 0) != seed_for(units[0].key, 0, 1)
    with pytest.raises(ConfigError, match="No prompts"):
        collect_prompts(SyntheticConfig(output="x.jsonl"))
    with pytest.raises(DataError, match="not found"):
        read_prompt_file(str(tmp_path / "missing.txt"))


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("The quick brown fox jumps over the lazy dog and then it runs away into the forest.", "en"),
        ("Le renard brun saute par-dessus le chien paresseux et il court dans la forêt avec les autres.", "fr"),
        ("Der schnelle braune Fuchs springt über den faulen Hund und läuft dann in den Wald.", "de"),
        ("El rápido zorro marrón salta sobre el perro perezoso y luego corre hacia el bosque.", "es"),
        ("La volpe veloce salta sopra il cane pigro e poi corre nel bosco con gli altri animali.", "it"),
        ("De snelle bruine vos springt over de luie hond en rent dan naar het bos.", "nl"),
        ("Быстрая коричневая лиса прыгает через ленивую собаку и убегает в лес.", "ru"),
        ("敏捷的棕色狐狸跳过了懒惰的狗，然后跑进了森林。", "zh"),
        ("素早い茶色の狐はのろまな犬を飛び越えて、森へ走っていった。", "ja"),
        ("빠른 갈색 여우가 게으른 개를 뛰어넘어 숲으로 달려갔다.", "ko"),
        ("def f(x):\n    return x ** 2 + np.sum(y[i:j])", "und"),
        ("Ġthe ĠĠ zq xkcd wwv plmn qrst", "und"),
    ],
)
def test_language_detector(text: str, lang: str) -> None:
    assert detect_language(text)[0] == lang


def test_quality_filter_reasons() -> None:
    q = QualityFilter(min_length=10, refusal_patterns=[r"\bI can(?:no|')t help\b"], language="en")
    assert q.reason("short") == "min_length"
    assert q.reason("I can't help with that, sorry about it.") == "refusal"
    assert q.reason("Je ne sais pas du tout comment on fait une tarte aux pommes.") == "language"
    assert q.reason("Tides are caused by the gravity of the moon and the sun.") is None
    assert q.reason("Paris, France!") is None  # too few words to judge the language
    with pytest.raises(ConfigError, match="regular expression"):
        QualityFilter(refusal_patterns=["(unclosed"])


def test_minhash_estimates_jaccard_and_finds_near_duplicates() -> None:
    a = "the tide rises twice a day because the moon pulls the oceans toward it as the earth turns"
    b = "the tide rises twice a day because the moon pulls the oceans toward it while the earth turns"
    c = "bake the bread at two hundred degrees for forty minutes and let it cool before slicing"
    hasher = MinHasher(num_perm=256)
    sa, sb, sc = (hasher.signature(shingles(t)) for t in (a, b, c))
    assert abs(estimated_jaccard(sa, sb) - jaccard(shingles(a), shingles(b))) < 0.12
    assert estimated_jaccard(sa, sc) < 0.1
    assert jaccard(shingles(a), shingles(b)) == pytest.approx(13 / 19)  # one word of 18 differs
    dedup = Deduplicator(threshold=0.6)
    assert dedup.check(a) is None
    assert dedup.check(a.upper() + " !") == "exact"  # normalized: case and punctuation ignored
    assert dedup.check(b) == "near"
    assert dedup.check(c) is None
    assert Deduplicator(exact=True, threshold=None).check(b) is None


def test_minhash_is_unbiased_over_many_pairs() -> None:
    import random

    rng = random.Random(0)
    words = [f"w{i}" for i in range(200)]
    hasher = MinHasher(num_perm=128)
    errors = []
    for _ in range(40):
        a = [rng.choice(words) for _ in range(40)]
        b = list(a)
        for _ in range(rng.randrange(0, 25)):
            b[rng.randrange(40)] = rng.choice(words)
        sa, sb = shingles(" ".join(a)), shingles(" ".join(b))
        errors.append(estimated_jaccard(hasher.signature(sa), hasher.signature(sb)) - jaccard(sa, sb))
    assert abs(sum(errors) / len(errors)) < 0.02  # no bias (each estimate's spread is ~0.04 at 128 perms)
    assert max(abs(e) for e in errors) < 0.15


def test_judge_answers_parse_robustly() -> None:
    for text, score in [
        ("Score: 8", 8),
        ("**Score:** 7/10 - good", 7),
        ("I would rate it 6 out of 10.", 6),
        ("Rating - nine", 9),
        ("9\nShort but right.", 9),
        ("The answer is clear. 7/10", 7),
        ("I give this response a 3.", 3),
        ("score: 4.5", 4.5),
    ]:
        assert parse_score(text) == score, text
    for text in ["Score: 11", "On a 1-10 scale it is unclear.", "no idea", "Score: 0"]:
        assert parse_score(text) is None, text
    for text, verdict in [
        ("Verdict: A", "A"),
        ("Verdict: a tie, both fine", "tie"),
        ("verdict: B. It is more complete.", "B"),
        ("Response B is better.", "B"),
        ("I prefer A.", "A"),
        ("Both are equally good.", "tie"),
        ("**A**\nbecause", "A"),
    ]:
        assert parse_verdict(text) == verdict, text
    assert parse_verdict("I cannot say") is None
    # A first says A; B first says A too - i.e. B: the orders disagree, position bias: a tie
    assert combine_orderings("A", "A") == "tie"
    assert combine_orderings("A", "B") == "A"
    assert combine_orderings("B", "A") == "B"
    assert combine_orderings(None, "B") == "A"
    assert combine_orderings(None, None) is None


def _store(path: Path, **kw: object) -> RecordStore:
    store = RecordStore(str(path), kind="synthetic", settings={"format": "alpaca", "temperature": 0.7}, **kw)  # type: ignore[arg-type]
    store.open()
    return store


def test_store_repairs_what_a_crash_leaves(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    store = _store(out)
    for i in range(3):
        store.add(f"k{i}", "ok", {"instruction": f"q{i}", "output": f"a{i}"})
    store.add("k3", "filtered", reason="min_length")
    store.close()
    # a crash after a record was written but before its journal line, then one mid-line
    with open(out, "ab") as handle:
        handle.write(b'{"instruction":"q4","output":"a4"}\n{"instruction":"q5","out')
    with open(store.journal_path, "ab") as handle:
        handle.write(b'{"key":"k4","sta')
    store = _store(out)
    assert store.repaired == 3  # journal tail, orphan record, record tail
    assert set(store.done) == {"k0", "k1", "k2", "k3"}
    assert [r["instruction"] for r in store.records()] == ["q0", "q1", "q2"]
    store.add("k4", "ok", {"instruction": "q4", "output": "a4"})
    store.close()
    assert [json.loads(line)["instruction"] for line in out.read_text().splitlines()] == ["q0", "q1", "q2", "q4"]


def test_store_redoes_journaled_records_missing_from_a_cut_output(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    store = _store(out)
    for i in range(4):
        store.add(f"k{i}", "ok", {"instruction": f"q{i}", "output": "a"})
        store.add(f"f{i}", "filtered", reason="refusal")
    store.close()
    out.write_text("".join(out.read_text().splitlines(keepends=True)[:2]))  # someone cut the output
    store = _store(out)
    assert set(store.done) == {"k0", "f0", "k1", "f1"} and store.kept == 2
    store.close()


def test_store_refuses_foreign_output_other_kinds_and_a_second_writer(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text('{"text": "mine"}\n')
    with pytest.raises(ConfigError, match="not written by `lf generate`"):
        _store(out)
    store = _store(out, overwrite=True)
    with pytest.raises(RunError, match="Another `lf generate`"):
        _store(out)
    store.close()
    other = RecordStore(str(out), kind="preferences", settings={"format": "dpo"})
    with pytest.raises(ConfigError, match="holds synthetic data"):
        other.open()
    empty = RecordStore(str(out), kind="synthetic", settings={"format": "sharegpt"})
    empty.open()  # no record yet: another format is fine, and becomes the journal's
    empty.add("k0", "ok", {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]})
    empty.close()
    fmt = RecordStore(str(out), kind="synthetic", settings={"format": "alpaca"})
    with pytest.raises(ConfigError, match="sharegpt format"):
        fmt.open()
    with pytest.raises(ConfigError, match="cannot write"):
        RecordStore(str(tmp_path / "out.csv"), kind="synthetic", settings={})


def test_store_writes_json_and_parquet_from_a_partial_file(tmp_path: Path) -> None:
    from lf.data.io import iter_records

    for name in ("out.json", "out.parquet"):
        store = _store(tmp_path / name)
        store.add("k0", "ok", {"instruction": "q", "input": "", "output": "a"})
        store.add("k1", "ok", {"instruction": "r", "input": "", "output": "b", "system": "s"})
        store.close()
        assert [r["instruction"] for r in iter_records(tmp_path / name)] == ["q", "r"]
        assert (tmp_path / f"{name}.partial.jsonl").is_file()
        assert not (tmp_path / f"{name}.failures.jsonl").exists()  # no failures: no file
