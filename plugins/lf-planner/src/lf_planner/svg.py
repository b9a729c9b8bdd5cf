"""Small inline-SVG charts (no JavaScript, no external files): stacked bar, step line, bars, bands."""

from __future__ import annotations

import math
from html import escape

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1")
FONT = 'font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="12"'


def _f(x: float) -> str:
    return f"{x:.1f}"


def _attrs(attrs: dict[str, object]) -> str:
    return " ".join(f'{k.replace("_", "-")}="{_f(v) if isinstance(v, float) else v}"' for k, v in attrs.items())


def _el(tag: str, body: str = "", **attrs: object) -> str:
    return f"<{tag} {_attrs(attrs)}>{body}</{tag}>" if body else f"<{tag} {_attrs(attrs)}/>"


def _text(x: float, y: float, text: str, **attrs: object) -> str:
    return _el("text", escape(text), x=x, y=y, **attrs)


def _open(width: int, height: int, title: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" {FONT}>'
    ]


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for m in (1, 2, 2.5, 5, 10):
        if value <= m * exp:
            return m * exp
    return 10 * exp


def _grid(parts: list[str], left: float, right: float, ymax: float, sy: object) -> None:
    for i in range(6):
        y = ymax * i / 5
        yy = sy(y)  # type: ignore[operator]
        parts.append(_el("line", x1=float(left), y1=yy, x2=float(right), y2=yy, stroke="#e5e5e5"))
        parts.append(_text(left - 6, yy + 4, f"{y:,.4g}", text_anchor="end"))


def _y_label(parts: list[str], top: float, ph: float, label: str) -> None:
    mid = top + ph / 2
    parts.append(_text(14, mid, label, text_anchor="middle", transform=f"rotate(-90 14 {_f(mid)})"))


def stacked_bar(title: str, segments: list[tuple[str, float]], capacity: float | None, unit: str = "GB") -> str:
    """One horizontal bar split into ``segments``, against a dashed ``capacity`` line."""
    width, height, left, right = 640, 150, 20, 20
    segments = [(label, value) for label, value in segments if value > 0]
    total = sum(v for _, v in segments)
    scale_max = max(total, capacity or 0.0) * 1.05 or 1.0
    plot = width - left - right
    parts = _open(width, height, title)
    parts.append(_text(left, 18, title, font_weight="600"))
    x = float(left)
    for i, (label, value) in enumerate(segments):
        w = plot * value / scale_max
        tip = _el("title", escape(f"{label}: {value:,.2f} {unit}"))
        parts.append(_el("rect", tip, x=x, y=32, width=max(w, 0.0), height=34, fill=PALETTE[i % len(PALETTE)]))
        x += w
    if capacity:
        cx = left + plot * capacity / scale_max
        parts.append(_el("line", x1=cx, y1=26, x2=cx, y2=72, stroke="#333", stroke_dasharray="4 3"))
        anchor = "end" if cx > width * 0.75 else "middle"
        parts.append(_text(cx, 86, f"capacity {capacity:,.1f} {unit}", text_anchor=anchor))
    lx, ly = float(left), 102.0
    for i, (label, value) in enumerate(segments):
        text = f"{label} {value:,.1f} {unit}"
        step = 14 + 7.0 * len(text) + 16
        if lx + step > width - right and lx > left:  # wrap the legend onto a second row
            lx, ly = float(left), ly + 20
        parts.append(_el("rect", x=lx, y=ly, width=10, height=10, fill=PALETTE[i % len(PALETTE)]))
        parts.append(_text(lx + 14, ly + 9, text))
        lx += step
    parts.append("</svg>")
    return "".join(parts)


def step_chart(
    title: str,
    points: list[tuple[float, float]],
    markers: list[tuple[float, str]],
    x_label: str,
    y_label: str,
) -> str:
    """A step line (e.g. replicas vs load) with vertical markers (average, peak)."""
    width, height, left, right, top, bottom = 640, 300, 56, 20, 30, 44
    pw, ph = width - left - right, height - top - bottom
    xmax = _nice_max(max([p[0] for p in points] + [m[0] for m in markers] + [1e-9]))
    ymax = _nice_max(max([p[1] for p in points] + [1.0]))

    def sx(x: float) -> float:
        return left + pw * x / xmax

    def sy(y: float) -> float:
        return top + ph - ph * y / ymax

    parts = _open(width, height, title)
    parts.append(_text(left, 18, title, font_weight="600"))
    _grid(parts, left, width - right, ymax, sy)
    for i in range(6):
        x = xmax * i / 5
        parts.append(_text(sx(x), height - bottom + 16, f"{x:,.4g}", text_anchor="middle"))
    parts.append(_text(left + pw / 2, height - 8, x_label, text_anchor="middle"))
    _y_label(parts, top, ph, y_label)
    ordered = sorted(points)
    if ordered:
        d = [f"M{_f(sx(0))},{_f(sy(ordered[0][1]))}"]
        for (x0, y0), (x1, _) in zip(ordered, [*ordered[1:], (xmax, ordered[-1][1])], strict=True):
            d.append(f"L{_f(sx(x0))},{_f(sy(y0))}")
            d.append(f"L{_f(sx(x1))},{_f(sy(y0))}")
        parts.append(_el("path", d=" ".join(d), fill="none", stroke=PALETTE[0], stroke_width="2.5"))
        for x, y in ordered:
            tip = _el("title", escape(f"{x:,.3g}: {y:g}"))
            parts.append(_el("circle", tip, cx=sx(x), cy=sy(y), r=3, fill=PALETTE[0]))
    for i, (x, label) in enumerate(markers):
        color = PALETTE[1 + i % 3]
        parts.append(_el("line", x1=sx(x), y1=top, x2=sx(x), y2=top + ph, stroke=color, stroke_dasharray="5 3"))
        parts.append(_text(sx(x) + 4, top + 12 + 14 * i, label, fill=color))
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(title: str, items: list[tuple[str, float, bool]], unit: str) -> str:
    """Horizontal bars, one per item; the highlighted one is orange."""
    row, left, right, top = 26, 150, 110, 30
    width = 640
    height = top + row * max(len(items), 1) + 10
    vmax = max([v for _, v, _ in items] + [1e-9])
    pw = width - left - right
    parts = _open(width, height, title)
    parts.append(_text(10, 18, title, font_weight="600"))
    for i, (label, value, highlight) in enumerate(items):
        y = top + i * row
        w = pw * value / vmax
        color = PALETTE[1] if highlight else PALETTE[0]
        tip = _el("title", escape(f"{label}: {value:,.2f} {unit}"))
        parts.append(_text(left - 8, y + 16, label, text_anchor="end"))
        parts.append(_el("rect", tip, x=float(left), y=float(y + 3), width=max(w, 1.0), height=row - 8, fill=color))
        parts.append(_text(left + w + 6, y + 16, f"{value:,.0f} {unit}" + (" (chosen)" if highlight else "")))
    if not items:
        parts.append(_text(10, top + 16, "no priced option - add prices with --hardware"))
    parts.append("</svg>")
    return "".join(parts)


def band_chart(
    title: str,
    history: list[tuple[float, float]],
    forecast: list[tuple[float, float, float, float]],
    y_label: str,
    x_ticks: list[tuple[float, str]] | None = None,
) -> str:
    """History (line) followed by a forecast P50 line inside its P10-P90 band (x = day index)."""
    width, height, left, right, top, bottom = 640, 300, 60, 20, 30, 40
    pw, ph = width - left - right, height - top - bottom
    xs = [x for x, _ in history] + [x for x, *_ in forecast]
    ys = [y for _, y in history] + [hi for *_, hi in forecast]
    xmin, xmax = (min(xs), max(xs)) if xs else (0.0, 1.0)
    ymax = _nice_max(max([*ys, 1e-9]))
    span = (xmax - xmin) or 1.0

    def sx(x: float) -> float:
        return left + pw * (x - xmin) / span

    def sy(y: float) -> float:
        return top + ph - ph * max(y, 0.0) / ymax

    parts = _open(width, height, title)
    parts.append(_text(left, 18, title, font_weight="600"))
    _grid(parts, left, width - right, ymax, sy)
    parts.append(_text(left + pw / 2, height - 8, "day", text_anchor="middle"))
    for x, label in x_ticks or []:
        parts.append(_el("line", x1=sx(x), y1=float(top + ph), x2=sx(x), y2=float(top + ph + 4), stroke="#333"))
        parts.append(_text(sx(x), top + ph + 16, label, text_anchor="middle"))
    _y_label(parts, top, ph, y_label)
    if forecast:
        upper = " ".join(f"{_f(sx(x))},{_f(sy(hi))}" for x, _, _, hi in forecast)
        lower = " ".join(f"{_f(sx(x))},{_f(sy(lo))}" for x, lo, _, _ in reversed(forecast))
        band = _el("title", "P10-P90")
        parts.append(_el("polygon", band, points=f"{upper} {lower}", fill=PALETTE[1], fill_opacity="0.25"))
        mid = " ".join(f"{_f(sx(x))},{_f(sy(m))}" for x, _, m, _ in forecast)
        parts.append(_el("polyline", points=mid, fill="none", stroke=PALETTE[1], stroke_width="2"))
    if history:
        line = " ".join(f"{_f(sx(x))},{_f(sy(y))}" for x, y in history)
        parts.append(_el("polyline", points=line, fill="none", stroke=PALETTE[0], stroke_width="1.5"))
    parts.append("</svg>")
    return "".join(parts)
