"""Static SVG charts generated in Python, so the daily report is one file with no scripts,
fonts or images to fetch: it opens the same in a mail client, offline, or years later.

Three shapes cover the report's panels: horizontal bars with error bars and reference ticks
(NPS or service level by touchpoint), columns with a reference line (missed calls by hour,
orders per day), and lines with a shaded band (NPS trend with its margin of error).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence
from xml.sax.saxutils import escape

FONT = "-apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', Arial, sans-serif"
TEXT = "#2b2f36"
MUTED = "#6b7280"
GRID = "#e5e8ec"
AXIS = "#9aa1ab"
BAR = "#3b6fb6"
BAR_LIGHT = "#a9c1e3"
HIGHLIGHT = "#e4572e"
WHISKER = "#1f2d3d"
MARKER = "#f0a202"
GOOD = "#2e8b57"
BAD = "#c0392b"


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None
    err: float | None = None       # half-width of the error bar (margin of error)
    marker: float | None = None    # a reference tick: a target or a baseline
    note: str = ""                 # text right of the plot: value, n
    color: str = BAR


@dataclass(frozen=True)
class Line:
    name: str
    values: Sequence[float | None]
    color: str = BAR
    dashed: bool = False


def _attr(value: object) -> str:
    return escape(str(value), {'"': "&quot;"})


def _num(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".") if math.isfinite(x) else "0"


def fit(text: str, pixels: float, char_px: float = 6.8) -> str:
    """Shorten a label to about `pixels` wide at the 12 px font (the full text stays in a tooltip)."""
    room = max(int(pixels / char_px), 4)
    return text if len(text) <= room else text[:room - 1].rstrip() + "\u2026"


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 2.5, 5 x 10^k steps) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(count, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw - 1e-12)
    first = math.ceil(lo / step - 1e-9) * step
    ticks, t = [], first
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 10))
        t += step
    return ticks


def _domain(values: list[float], lo: float | None, hi: float | None) -> tuple[float, float]:
    vmin = min(values) if values else 0.0
    vmax = max(values) if values else 1.0
    lo = min(0.0, vmin) if lo is None else lo
    hi = max(0.0, vmax) if hi is None else hi
    if hi - lo < 1e-9:
        hi = lo + 1.0
    ticks = nice_ticks(lo, hi)
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    return min(lo, ticks[0]), max(hi, ticks[-1] if ticks[-1] >= hi else ticks[-1] + step)


def _open(width: int, height: int, label: str) -> list[str]:
    return [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{_attr(label)}" '
            f'font-family="{_attr(FONT)}" font-size="12">',
            f"<title>{escape(label)}</title>"]


def empty_chart(label: str, message: str = "No data for this period", width: int = 640, height: int = 80) -> str:
    out = _open(width, height, label)
    out.append(f'<rect class="empty" x="0.5" y="0.5" width="{width - 1}" height="{height - 1}" fill="#fafbfc" '
               f'stroke="{GRID}"/>')
    out.append(f'<text x="{width / 2}" y="{height / 2 + 4}" text-anchor="middle" fill="{MUTED}">'
               f"{escape(message)}</text></svg>")
    return "\n".join(out)


def _legend(items: list[tuple[str, str, str]], x: float, y: float) -> list[str]:
    """items: (kind, color, text) with kind 'box', 'line', 'dash', 'tick' or 'band'; laid out right to left."""
    out, cursor = [], x
    for kind, color, text in reversed(items):
        cursor -= 7 * len(text) + 30
        sx = cursor
        if kind == "box":
            out.append(f'<rect x="{_num(sx)}" y="{_num(y - 9)}" width="12" height="10" fill="{color}"/>')
        elif kind == "band":
            out.append(f'<rect x="{_num(sx)}" y="{_num(y - 9)}" width="12" height="10" fill="{color}" '
                       'fill-opacity="0.25"/>')
        elif kind == "tick":
            out.append(f'<rect x="{_num(sx + 4)}" y="{_num(y - 11)}" width="3" height="14" fill="{color}"/>')
        else:
            dash = ' stroke-dasharray="4 3"' if kind == "dash" else ""
            out.append(f'<line x1="{_num(sx)}" y1="{_num(y - 4)}" x2="{_num(sx + 14)}" y2="{_num(y - 4)}" '
                       f'stroke="{color}" stroke-width="2.5"{dash}/>')
        out.append(f'<text x="{_num(sx + 18)}" y="{_num(y)}" fill="{MUTED}">{escape(text)}</text>')
    return out


def hbar_chart(bars: Sequence[Bar], *, label: str, lo: float | None = None, hi: float | None = None,
               tick_fmt: Callable[[float], str] = _num, legend: Sequence[tuple[str, str, str]] = (),
               width: int = 640, row: int = 26, label_width: int = 170, note_width: int = 120) -> str:
    """One horizontal bar per item, with optional error bars (±err) and reference ticks."""
    if not bars or all(b.value is None for b in bars):
        return empty_chart(label, width=width)
    extent = []
    for b in bars:
        if b.value is not None:
            extent += [b.value - (b.err or 0), b.value + (b.err or 0)]
        if b.marker is not None:
            extent.append(b.marker)
    lo, hi = _domain(extent, lo, hi)
    top = 24 if legend else 8
    plot_x0, plot_x1 = label_width, width - note_width
    height = top + row * len(bars) + 28
    sx = lambda v: plot_x0 + (min(max(v, lo), hi) - lo) / (hi - lo) * (plot_x1 - plot_x0)  # noqa: E731
    out = _open(width, height, label)
    if legend:
        out += _legend(list(legend), width - 4, 14)
    bottom = top + row * len(bars)
    for t in nice_ticks(lo, hi):
        x = sx(t)
        stroke = AXIS if abs(t) < 1e-12 else GRID
        out.append(f'<line x1="{_num(x)}" y1="{top}" x2="{_num(x)}" y2="{bottom}" stroke="{stroke}"/>')
        out.append(f'<text x="{_num(x)}" y="{bottom + 16}" text-anchor="middle" fill="{MUTED}">'
                   f"{escape(tick_fmt(t))}</text>")
    zero = sx(0.0) if lo <= 0 <= hi else sx(lo)
    for i, b in enumerate(bars):
        y = top + i * row
        cy = y + row / 2
        out.append(f'<text x="{label_width - 8}" y="{_num(cy + 4)}" text-anchor="end" fill="{TEXT}">'
                   f"{escape(fit(b.label, label_width - 12))}<title>{escape(b.label)}</title></text>")
        if b.value is not None:
            x0, x1 = sorted((zero, sx(b.value)))
            out.append(f'<rect class="bar" x="{_num(x0)}" y="{_num(y + 5)}" width="{_num(max(x1 - x0, 1.5))}" '
                       f'height="{row - 10}" fill="{b.color}"><title>{escape(b.label)}: {escape(b.note)}</title>'
                       "</rect>")
            if b.err:
                e0, e1 = sx(b.value - b.err), sx(b.value + b.err)
                out.append(f'<g class="err" stroke="{WHISKER}" stroke-width="1.5">'
                           f'<line x1="{_num(e0)}" y1="{_num(cy)}" x2="{_num(e1)}" y2="{_num(cy)}"/>'
                           f'<line x1="{_num(e0)}" y1="{_num(cy - 5)}" x2="{_num(e0)}" y2="{_num(cy + 5)}"/>'
                           f'<line x1="{_num(e1)}" y1="{_num(cy - 5)}" x2="{_num(e1)}" y2="{_num(cy + 5)}"/></g>')
        if b.marker is not None:
            mx = sx(b.marker)
            out.append(f'<rect class="marker" x="{_num(mx - 1.5)}" y="{_num(y + 2)}" width="3" height="{row - 4}" '
                       f'fill="{MARKER}"/>')
        out.append(f'<text x="{plot_x1 + 8}" y="{_num(cy + 4)}" fill="{MUTED}">{escape(b.note)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _x_labels(labels: Sequence[str], xs: list[float], every: int, y: float, from_end: bool = False) -> list[str]:
    """Every `every`-th label, counted from the first one or (for dates up to the day) from the last one."""
    last = len(labels) - 1
    return [f'<text x="{_num(x)}" y="{_num(y)}" text-anchor="middle" fill="{MUTED}">{escape(lab)}</text>'
            for i, (lab, x) in enumerate(zip(labels, xs)) if ((last - i) if from_end else i) % every == 0]


def _y_axis(lo: float, hi: float, sy: Callable[[float], float], x0: float, x1: float,
            fmt: Callable[[float], str]) -> list[str]:
    out = []
    for t in nice_ticks(lo, hi, 4):
        y = sy(t)
        stroke = AXIS if abs(t) < 1e-12 else GRID
        out.append(f'<line x1="{_num(x0)}" y1="{_num(y)}" x2="{_num(x1)}" y2="{_num(y)}" stroke="{stroke}"/>')
        out.append(f'<text x="{_num(x0 - 6)}" y="{_num(y + 4)}" text-anchor="end" fill="{MUTED}">'
                   f"{escape(fmt(t))}</text>")
    return out


def _path(points: list[tuple[float, float] | None]) -> str:
    """An SVG path that breaks where a point is missing (None)."""
    d, pen = [], False
    for p in points:
        if p is None:
            pen = False
            continue
        d.append(f"{'L' if pen else 'M'}{_num(p[0])},{_num(p[1])}")
        pen = True
    return " ".join(d)


def column_chart(labels: Sequence[str], values: Sequence[float | None], *, label: str,
                 reference: Line | None = None, highlight: Sequence[int] = (), tick_fmt: Callable[[float], str] = _num,
                 legend: Sequence[tuple[str, str, str]] = (), label_every: int = 1, label_from_end: bool = False,
                 width: int = 640, height: int = 220, color: str = BAR) -> str:
    """Vertical bars, optionally one or more highlighted, with an optional reference line on top."""
    present = [v for v in values if v is not None]
    ref_values = [v for v in (reference.values if reference else []) if v is not None]
    if not present and not ref_values:
        return empty_chart(label, width=width)
    lo, hi = _domain(present + ref_values, 0.0, None)
    left, right, top, bottom = 48, 24, (24 if legend else 10), height - 24
    n = len(labels)
    slot = (width - left - right) / max(n, 1)
    xs = [left + slot * (i + 0.5) for i in range(n)]
    sy = lambda v: bottom - (v - lo) / (hi - lo) * (bottom - top)  # noqa: E731
    out = _open(width, height, label)
    if legend:
        out += _legend(list(legend), width - 4, 14)
    out += _y_axis(lo, hi, sy, left, width - right, tick_fmt)
    marked = set(highlight)
    for i, v in enumerate(values):
        if v is None:
            continue
        y = sy(v)
        fill = HIGHLIGHT if i in marked else color
        out.append(f'<rect class="bar" x="{_num(xs[i] - slot * 0.36)}" y="{_num(y)}" width="{_num(slot * 0.72)}" '
                   f'height="{_num(max(bottom - y, 0))}" fill="{fill}"><title>{escape(labels[i])}: '
                   f"{escape(tick_fmt(v))}</title></rect>")
    if reference is not None:
        pts = [(xs[i], sy(v)) if v is not None else None for i, v in enumerate(reference.values)]
        dash = ' stroke-dasharray="5 4"' if reference.dashed else ""
        out.append(f'<path class="line" d="{_path(pts)}" fill="none" stroke="{reference.color}" stroke-width="2.5"'
                   f"{dash}/>")
    out += _x_labels(labels, xs, label_every, height - 8, label_from_end)
    out.append("</svg>")
    return "\n".join(out)


def line_chart(labels: Sequence[str], lines: Sequence[Line], *, label: str,
               band: tuple[Sequence[float | None], Sequence[float | None]] | None = None, band_color: str = BAR,
               lo: float | None = None, hi: float | None = None, tick_fmt: Callable[[float], str] = _num,
               legend: Sequence[tuple[str, str, str]] = (), label_every: int = 1, label_from_end: bool = False,
               highlight_last: bool = True, width: int = 640, height: int = 230) -> str:
    """Lines over a shared x axis, with an optional shaded band (for example value ± margin of error)."""
    values = [v for ln in lines for v in ln.values if v is not None]
    if band:
        values += [v for side in band for v in side if v is not None]
    if not values:
        return empty_chart(label, width=width)
    vmin, vmax = min(values), max(values)
    pad = (vmax - vmin) * 0.08 or 1.0
    lo, hi = _domain(values, vmin - pad if lo is None else lo, vmax + pad if hi is None else hi)
    left, right, top, bottom = 48, 24, (24 if legend else 10), height - 24
    n = len(labels)
    step = (width - left - right) / max(n - 1, 1)
    xs = [left + step * i for i in range(n)]
    sy = lambda v: bottom - (min(max(v, lo), hi) - lo) / (hi - lo) * (bottom - top)  # noqa: E731
    out = _open(width, height, label)
    if legend:
        out += _legend(list(legend), width - 4, 14)
    out += _y_axis(lo, hi, sy, left, width - right, tick_fmt)
    if band:
        lower, upper = band
        segment: list[int] = []
        for i in range(n + 1):  # one polygon per run of points where both sides are known
            if i < n and lower[i] is not None and upper[i] is not None:
                segment.append(i)
                continue
            if segment:
                pts = [(xs[j], sy(upper[j])) for j in segment] + [(xs[j], sy(lower[j])) for j in reversed(segment)]
                out.append(f'<polygon class="band" points="{" ".join(f"{_num(x)},{_num(y)}" for x, y in pts)}" '
                           f'fill="{band_color}" fill-opacity="0.25"/>')
            segment = []
    for ln in lines:
        pts = [(xs[i], sy(v)) if v is not None else None for i, v in enumerate(ln.values)]
        dash = ' stroke-dasharray="5 4"' if ln.dashed else ""
        out.append(f'<path class="line" d="{_path(pts)}" fill="none" stroke="{ln.color}" stroke-width="2.5"'
                   f'{dash}><title>{escape(ln.name)}</title></path>')
        for i, v in enumerate(ln.values):
            if v is not None and not ln.dashed:
                r = 4.5 if highlight_last and i == n - 1 else 2.5
                fill = HIGHLIGHT if highlight_last and i == n - 1 else ln.color
                out.append(f'<circle cx="{_num(xs[i])}" cy="{_num(sy(v))}" r="{r}" fill="{fill}">'
                           f"<title>{escape(labels[i])}: {escape(tick_fmt(v))}</title></circle>")
    out += _x_labels(labels, xs, label_every, height - 8, label_from_end)
    out.append("</svg>")
    return "\n".join(out)
