"""Pieces shared by the terminal summaries of plans: footnote references, numbers, tables, footer."""

from __future__ import annotations

from typing import Any

from lf_planner.plans import Assumption, LLMCapacityPlan, TrainingCapacityPlan


def refs(assumptions: list[Assumption], *paths: str) -> str:
    """``[A3,A5]``: the assumptions that cover any of ``paths`` (a section covers its fields)."""
    ids: list[str] = []
    for a in assumptions:
        for target in a.applies_to:
            if any(p == target or p.startswith(target + ".") for p in paths) and a.id not in ids:
                ids.append(a.id)
    return f"[{','.join(ids)}]" if ids else ""


def number(value: float, digits: int = 0) -> str:
    """``value`` with thousands separators and ``digits`` decimals."""
    return f"{value:,.{digits}f}"


def money(value: float) -> str:
    """Dollars: cents below $100, whole dollars above."""
    return f"${value:,.2f}" if value < 100 else f"${value:,.0f}"


def table(title: str, rows: list[tuple[str, str, str]]) -> Any:
    """A headerless rich table of (label, value, footnote references) rows."""
    from rich.table import Table

    out = Table(title=title, title_justify="left", title_style="bold", show_header=False, box=None, pad_edge=False)
    out.add_column(style="cyan", no_wrap=True)
    out.add_column(justify="right")
    out.add_column(style="dim")
    for row in rows:
        out.add_row(*row)
    return out


def print_options(con: Any, header: list[str], rows: list[list[str]], chosen: str) -> None:
    """The other GPU types' table, the chosen one in bold."""
    from rich.table import Table

    out = Table(title="Other GPU types (same workload)", title_justify="left", title_style="bold", box=None)
    for i, h in enumerate(header):
        out.add_column(h, justify="left" if i == 0 else "right")
    for row in rows:
        out.add_row(*row, style="bold" if row[0] == chosen else None)
    con.print(out)


def print_footer(con: Any, plan: LLMCapacityPlan | TrainingCapacityPlan) -> None:
    """The warnings, then the numbered assumptions."""
    from rich.markup import escape

    if plan.warnings:
        con.print()
        for w in plan.warnings:
            con.print(f"[yellow]warning:[/] {escape(w)}")
    con.print()
    con.print("[bold]Assumptions[/]")
    for a in plan.assumptions:
        con.print(f"[dim]{a.id}[/] {escape(a.text)}", highlight=False)
