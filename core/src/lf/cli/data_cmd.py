"""``lf data``: validate, convert, split and measure data files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from lf.cli.base import new_typer

if TYPE_CHECKING:
    from rich.console import Console

    from lf.data.validate import ValidationReport

app = new_typer(
    "Check and prepare data: validate, convert, split, stats. Formats: alpaca, sharegpt, "
    "messages, prompt-response, dpo, text (and any a plugin adds)."
)

FORMAT_HELP = "Force a format instead of detecting it (see `lf plugins`)."


@app.command("validate")
def validate(
    file: Path = typer.Argument(..., help="A .jsonl, .json or .parquet file."),
    format: str | None = typer.Option(None, "--format", "-f", help=FORMAT_HELP),
    max_examples: int = typer.Option(10, "--show", help="How many errors and warnings to print."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable report."),
) -> None:
    """Check every record: counts, the first errors with line numbers, and warnings.

    Exits 1 when any record is invalid (the valid ones are still counted).
    """
    from lf.cli.console import console, print_json
    from lf.data.validate import validate_file

    size = file.stat().st_size if file.is_file() else 0
    if as_json or size < 50 << 20:
        report = validate_file(file, format, max_examples=max_examples)
    else:
        report = _validate_with_progress(file, format, max_examples, size)
    if as_json:
        import msgspec

        print_json({**msgspec.to_builtins(report), "ok": report.ok})
    else:
        _print_report(console(), report)
    if report.invalid:
        raise typer.Exit(1)


def _validate_with_progress(file: Path, format: str | None, max_examples: int, size: int) -> ValidationReport:
    from lf.cli.console import RichEvents
    from lf.data.validate import validate_file

    done = 0

    with RichEvents() as events:

        def advance(n: int) -> None:
            nonlocal done
            done += n
            events.progress("validating", done / 2**20, size / 2**20, unit="MiB")

        return validate_file(file, format, max_examples=max_examples, on_progress=advance)


def _print_report(con: Console, report: ValidationReport) -> None:
    from rich.markup import escape

    r = report
    con.print(f"[bold]{escape(r.path)}[/]: format [cyan]{r.format}[/] ({r.shape})")
    con.print(
        f"  records {r.total:,}   valid [green]{r.valid:,}[/]   invalid "
        f"{'[red]' if r.invalid else ''}{r.invalid:,}{'[/]' if r.invalid else ''}   "
        f"with warnings {r.records_with_warnings:,}"
    )
    for title, issues, counts, style in (
        ("errors", r.errors, r.error_counts, "red"),
        ("warnings", r.warnings, r.warning_counts, "yellow"),
    ):
        if not issues:
            continue
        con.print(f"[{style}]{title}[/] (first {len(issues)}):")
        for issue in issues:
            con.print(f"  {r.location} {issue.line}: {escape(issue.message)}")
        if len(counts) > 0:
            con.print("  by kind: " + "; ".join(f"{escape(k)} x{v:,}" for k, v in list(counts.items())[:5]))


@app.command("convert")
def convert(
    source: Path = typer.Argument(..., help="Input file."),
    target: Path = typer.Argument(..., help="Output file (.jsonl, .json or .parquet)."),
    to: str = typer.Option(..., "--to", "-t", help="Target format (every registered one: see describe_formats)."),
    from_format: str | None = typer.Option(None, "--from", help=FORMAT_HELP),
) -> None:
    """Convert records to another format (invalid or unconvertible records are skipped and counted).

    Example: lf data convert data.jsonl chat.jsonl --to messages
    """
    from rich.markup import escape

    from lf.cli.console import console, warn
    from lf.data.convert import convert_file

    report = convert_file(source, target, to, from_format=from_format)
    console().print(
        f"{report.source_format} -> {report.target_format}: "
        f"wrote [green]{report.written:,}[/] records to {escape(str(target))}"
        + (f", skipped [yellow]{report.skipped:,}[/]" if report.skipped else "")
    )
    for example in report.examples:
        warn(escape(example))


@app.command("split")
def split(
    source: Path = typer.Argument(..., help="Input file."),
    out_dir: Path = typer.Option(..., "--out-dir", "-o", help="Directory for train/val[/test] files."),
    ratios: str = typer.Option(
        "0.9,0.1", "--ratios", "-r", help="train,val[,test] fractions or weights, e.g. 80,10,10."
    ),
    seed: int = typer.Option(42, "--seed", help="Same seed, same split."),
) -> None:
    """Shuffle and split into train/val[/test] files next to each other (reproducible)."""
    from lf.cli.console import console
    from lf.data.split import split_file

    report = split_file(source, out_dir, ratios=_ratios(ratios), seed=seed)
    for name, path in report.files.items():
        console().print(f"{name:<5} {report.counts[name]:>10,}  {path}")


def _ratios(text: str) -> list[float]:
    from lf.data.split import parse_ratios

    return parse_ratios(text)


@app.command("stats")
def stats(
    file: Path = typer.Argument(..., help="A data file."),
    tokenizer: str | None = typer.Option(
        None, "--tokenizer", help="Model directory or tokenizer.json: count tokens (default: characters)."
    ),
    format: str | None = typer.Option(None, "--format", "-f", help=FORMAT_HELP),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Records, turns and length percentiles (p50/p90/p95/p99) per field."""
    import msgspec
    from rich.table import Table

    from lf.cli.console import console, print_json
    from lf.data.stats import stats_file

    result = stats_file(file, tokenizer=tokenizer, format=format)
    if as_json:
        print_json(msgspec.to_builtins(result))
        return
    console().print(
        f"[bold]{result.path}[/]: {result.records:,} valid {result.format} records ({result.invalid:,} invalid)"
    )
    table = Table(title=f"lengths in {result.unit}", title_justify="left")
    for column in ("field", "mean", "min", "p50", "p90", "p95", "p99", "max"):
        table.add_column(column, justify="right" if column != "field" else "left")
    rows = dict(result.lengths)
    if result.turns is not None:
        rows["turns"] = result.turns
    for name, s in rows.items():
        p = s.percentiles
        table.add_row(
            name,
            f"{s.mean:,.1f}",
            f"{s.min:,}",
            *(f"{p.get(k, 0):,}" for k in ("p50", "p90", "p95", "p99")),
            f"{s.max:,}",
        )
    console().print(table)


def describe_formats(registry: Any) -> None:
    """Name every registered format - plugins' too - in the help of ``--to`` and ``--format``."""
    import inspect

    names = ", ".join(spec.name for spec in registry.specs("format"))
    for command, param, text in (
        (convert, "to", f"Target format: {names}."),
        (convert, "from_format", f"Force the source format instead of detecting it: {names}."),
        (validate, "format", f"Force a format instead of detecting it: {names}."),
    ):
        inspect.signature(command).parameters[param].default.help = text
