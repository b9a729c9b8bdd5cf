"""The comparison report as JSON and as one self-contained HTML page (and, if a browser is here, a PNG).

The page has no scripts and loads nothing: styles are inline, every piece of model output
or prompt is HTML-escaped, so it opens anywhere and a model's answer cannot inject markup.
"""

from __future__ import annotations

import html
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import msgspec

from lf.atomic import atomic_write_bytes, atomic_write_text
from lf_generate.evaluate.compare import CompareReport, ModelSummary, Row

BROWSERS = ("chromium", "chromium-headless-shell", "chromium-browser", "google-chrome", "chrome-headless-shell")

_CSS = """
:root { color-scheme: light; --a: #1f6feb; --b: #bf3989; --muted: #57606a; --line: #d0d7de; }
* { box-sizing: border-box; }
body { font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #1f2328;
       margin: 0 auto; max-width: 1280px; padding: 24px; background: #f6f8fa; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 10px; }
.meta { color: var(--muted); font-size: 13px; }
table.summary { border-collapse: collapse; background: #fff; width: 100%; margin-top: 8px; }
table.summary th, table.summary td { border: 1px solid var(--line); padding: 6px 10px; text-align: left;
                                     vertical-align: top; }
table.summary th { background: #eef1f4; font-weight: 600; }
.tag { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; color: #fff; }
.tag.A { background: var(--a); } .tag.B { background: var(--b); } .tag.tie { background: #6e7781; }
.tag.none { background: #afb8c1; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; margin: 14px 0; overflow: hidden; }
.card .prompt { padding: 10px 14px; border-bottom: 1px solid var(--line); background: #fbfcfd; }
.card .prompt .n { color: var(--muted); font-size: 12px; margin-right: 8px; }
.pair { display: grid; grid-template-columns: 1fr 1fr; }
.answer { padding: 10px 14px; min-width: 0; }
.answer + .answer { border-left: 1px solid var(--line); }
.answer h3 { margin: 0 0 6px; font-size: 13px; }
.answer.A h3 { color: var(--a); } .answer.B h3 { color: var(--b); }
.text { white-space: pre-wrap; overflow-wrap: anywhere; font-size: 14px; }
.error { color: #cf222e; }
.foot { color: var(--muted); font-size: 12px; padding: 6px 14px; border-top: 1px dashed var(--line); }
.judge { color: var(--muted); font-size: 12px; padding: 6px 14px; border-top: 1px solid var(--line);
         background: #fbfcfd; }
.judge summary { cursor: pointer; } .judge .text { font-size: 12px; color: #1f2328; }
@media (max-width: 800px) {
  .pair { grid-template-columns: 1fr; }
  .answer + .answer { border-left: 0; border-top: 1px solid var(--line); }
}
"""


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}g}" if abs(value) < 1000 else f"{value:,.0f}"


def _tag(verdict: str | None, a: str, b: str) -> str:
    if verdict == "A":
        return f'<span class="tag A">{_e(a)} wins</span>'
    if verdict == "B":
        return f'<span class="tag B">{_e(b)} wins</span>'
    if verdict == "tie":
        return '<span class="tag tie">tie</span>'
    return '<span class="tag none">not judged</span>'


def _summary_table(report: CompareReport) -> str:
    a, b = report.a, report.b
    judged = report.judge is not None

    def row(name: str, fa: str, fb: str) -> str:
        return f"<tr><th>{_e(name)}</th><td>{fa}</td><td>{fb}</td></tr>"

    def ppl(side: ModelSummary) -> str:
        if side.perplexity is not None:
            return _e(f"{side.perplexity:.3f}")
        return f'<span class="meta">{_e(side.perplexity_note or "not measured")}</span>'

    rows = [
        f'<tr><th></th><th><span class="tag A">A</span> {_e(a.label)}</th>'
        f'<th><span class="tag B">B</span> {_e(b.label)}</th></tr>',
        row("source", _e(f"{a.source} ({a.kind})"), _e(f"{b.source} ({b.kind})")),
        row("served as", _e(a.model), _e(b.model)),
        row("answered / failed", _e(f"{a.answered} / {a.failed}"), _e(f"{b.answered} / {b.failed}")),
        row("perplexity (reference set; lower is better)", ppl(a), ppl(b)),
        row("mean latency per answer (s)", _e(_num(a.mean_latency_s)), _e(_num(b.mean_latency_s))),
        row("output tokens / s (per request)", _e(_num(a.tokens_per_s)), _e(_num(b.tokens_per_s))),
        row("mean answer length (characters)", _e(_num(a.mean_answer_chars, 4)), _e(_num(b.mean_answer_chars, 4))),
    ]
    rows += _task_rows(a, b, row)
    if judged and report.judge is not None:
        j = report.judge
        rows.append(row("judge wins", _e(j.wins_a), _e(j.wins_b)))
        rows.append(row("win rate (ties count half)", _e(_pct(j.win_rate_a)), _e(_pct(j.win_rate_b))))
    return '<table class="summary">' + "".join(rows) + "</table>"


def _task_rows(a: ModelSummary, b: ModelSummary, row: Any) -> list[str]:
    """One row per task score (lm-evaluation-harness; higher is better), or the reason a side has none."""
    names = list(dict.fromkeys([*a.task_scores, *b.task_scores]))
    if not names and not (a.task_note or b.task_note):
        return []

    def cell(side: ModelSummary, name: str) -> str:
        if name in side.task_scores:
            return _e(f"{side.task_scores[name]:.3f}")
        return f'<span class="meta">{_e(side.task_note or "not measured")}</span>'

    rows = [row(f"task {name} (higher is better)", cell(a, name), cell(b, name)) for name in names]
    if not names:
        rows.append(row("task scores", cell(a, ""), cell(b, "")))
    return rows


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def _answer(side: str, label: str, text: str | None, error: str | None, seconds: float | None, tokens: int) -> str:
    body = (
        f'<div class="text">{_e(text)}</div>'
        if text is not None
        else f'<div class="text error">failed: {_e(error or "no answer")}</div>'
    )
    foot = f"{seconds:.2f} s, {tokens} tokens" if seconds is not None else ""
    return (
        f'<div class="answer {side}"><h3>{side} &middot; {_e(label)}</h3>{body}'
        + (f'<div class="meta">{_e(foot)}</div>' if foot else "")
        + "</div>"
    )


def _card(index: int, row: Row, report: CompareReport) -> str:
    judged = report.judge is not None
    verdict = _tag(row.verdict, report.a.label, report.b.label) if judged else ""
    judge = ""
    if judged:
        raw = "".join(
            f'<p><strong>{title}</strong></p><div class="text">{_e(answer)}</div>'
            for title, answer in (("A shown first", row.judge_a_first), ("B shown first", row.judge_b_first))
            if answer is not None
        )
        judge = (
            '<div class="judge">'
            f"A shown first: {_e(row.verdict_a_first or 'unparsed')} &middot; "
            f"B shown first: {_e(row.verdict_b_first or 'unparsed')}"
            + (f"<details><summary>the judge's answers</summary>{raw}</details>" if raw else "")
            + "</div>"
        )
    return (
        f'<section class="card" id="p{index}"><div class="prompt"><span class="n">#{index}</span>{verdict} '
        f'<div class="text">{_e(row.prompt)}</div></div><div class="pair">'
        + _answer("A", report.a.label, row.answer_a, row.error_a, row.latency_a, row.tokens_a)
        + _answer("B", report.b.label, row.answer_b, row.error_b, row.latency_b, row.tokens_b)
        + "</div>"
        + judge
        + "</section>"
    )


def render_html(report: CompareReport) -> str:
    """The report as a complete, self-contained HTML document."""
    s = report.settings
    title = f"{report.a.label} vs {report.b.label}"
    settings = (
        f"{len(report.rows)} prompts &middot; max_tokens {_e(s.get('max_tokens'))} &middot; "
        f"temperature {_e(s.get('temperature'))} &middot; seed {_e(s.get('seed'))}"
    )
    if s.get("system_prompt"):
        settings += f" &middot; system prompt: {_e(s['system_prompt'])}"
    if s.get("reference"):
        settings += f" &middot; reference set: {_e(s['reference'])} ({_e(s.get('reference_texts'))} texts)"
    judge = ""
    if report.judge is not None:
        j = report.judge
        judge = (
            "<h2>Judge</h2>"
            f'<p class="meta">{_e(j.judge)} compared each pair twice (A first, then B first); a model wins a prompt '
            "only when both orders prefer it, otherwise it is a tie. "
            f"Judged {j.judged}, unscored {j.unscored}, ties {j.ties}; "
            + (
                f"the two orders agreed on {_e(_pct(j.position_consistency))} of the pairs parsed in both.</p>"
                if j.position_consistency is not None
                else "no pair had a verdict in both orders.</p>"
            )
        )
    cards = "".join(_card(i, row, report) for i, row in enumerate(report.rows, 1))
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)} - lf evaluate compare</title><style>{_CSS}</style></head><body>"
        f"<h1>{_e(title)}</h1>"
        f'<p class="meta">lf evaluate compare &middot; {_e(report.created)} &middot; {settings} &middot; '
        f"{_e(report.seconds)} s</p>"
        f"<h2>Summary</h2>{_summary_table(report)}{judge}"
        f"<h2>Answers</h2>{cards}"
        "</body></html>\n"
    )


def write_report(report: CompareReport, output_dir: str | Path) -> dict[str, Path]:
    """Write ``compare.json`` and ``compare.html`` into ``output_dir``; returns their paths."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "compare.json", "html": out / "compare.html"}
    atomic_write_bytes(paths["json"], msgspec.json.format(msgspec.json.encode(report), indent=2) + b"\n")
    atomic_write_text(paths["html"], render_html(report))
    mode = 0o666 & ~_umask()  # readable like any file the user writes (atomic writes start private)
    for path in paths.values():
        os.chmod(path, mode)
    return paths


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def find_browser() -> str | None:
    """A headless-capable Chromium on PATH, if any."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def render_png(html_path: str | Path, png_path: str | Path, *, width: int = 1280, height: int = 1600) -> Path | None:
    """Screenshot ``html_path`` with headless Chromium; None when no browser is installed or it fails.

    ``height`` is the top of the page that is captured (the summary and the first answers).
    """
    browser = find_browser()
    if browser is None:
        return None
    png = Path(png_path).resolve()
    cmd = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--window-size={width},{height}",
        f"--screenshot={png}",
        Path(html_path).resolve().as_uri(),
    ]
    try:
        subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return png if png.is_file() and png.stat().st_size > 0 else None
