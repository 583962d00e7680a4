"""Charts as SVG markup, drawn on the server: the radar of scores by domain (current campaign
and the previous one) and a KPI's values over time. The same markup goes into the console
pages and into the PDFs (WeasyPrint draws SVG), so the two never disagree.

Only presentation attributes (``fill``, ``stroke``...), no ``style`` attribute and no script:
the console's Content-Security-Policy allows neither inline. Every text is escaped here."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

BLUE, GREY, GRID = "#1f4e8c", "#8a96a3", "#d0d7de"


def _text(x: float, y: float, label: str, size: float = 8, anchor: str = "middle", fill: str = "#333") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
            f'fill="{fill}">{escape(label)}</text>')


def _short(label: str, limit: int) -> str:
    return label if len(label) <= limit else label[:limit - 1] + "…"


def radar_svg(domains: Sequence[tuple[str, float | None, float | None]], *, size: int = 300,
              legend: tuple[str, str] | None = None, title: str = "", css_class: str = "radar") -> str:
    """One axis per domain, scores 0-100: ``(label, now, before)``; ``before`` dashed, drawn
    when any domain has one. ``legend``: the names of the two polygons (now, before)."""
    centre, radius = size / 2, size / 2 - 52
    count = max(len(domains), 3)
    top = 14 if legend else 0

    def point(index: int, value: float) -> tuple[float, float]:
        angle = -math.pi / 2 + 2 * math.pi * index / count
        return (centre + radius * value / 100 * math.cos(angle), centre + top + radius * value / 100 * math.sin(angle))

    def polygon(values: Sequence[float]) -> str:
        return " ".join(f"{x:.1f},{y:.1f}" for x, y in (point(i, v) for i, v in enumerate(values)))

    parts = [(f'<svg class="{escape(css_class)}" xmlns="http://www.w3.org/2000/svg" width="{size}" '
              f'height="{size + top}" viewBox="0 0 {size} {size + top}" role="img" aria-label="{escape(title)}">')]
    for ring in (25, 50, 75, 100):
        parts.append(f'<polygon points="{polygon([ring] * len(domains))}" fill="none" stroke="{GRID}"/>')
    for index, (label, _now, _before) in enumerate(domains):
        x, y = point(index, 100)
        lx, ly = point(index, 117)
        parts.append(f'<line x1="{centre:.1f}" y1="{centre + top:.1f}" x2="{x:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(_text(lx, ly + 3, _short(label, 24), 7.5))
    if any(b is not None for _l, _n, b in domains):
        parts.append(f'<polygon points="{polygon([b or 0 for _l, _n, b in domains])}" fill="none" '
                     f'stroke="{GREY}" stroke-width="1.5" stroke-dasharray="4 3"/>')
    parts.append(f'<polygon points="{polygon([n or 0 for _l, n, _b in domains])}" fill="#3465a4" '
                 f'fill-opacity="0.3" stroke="{BLUE}" stroke-width="1.5"/>')
    if legend:
        parts.append(f'<rect x="4" y="3" width="12" height="8" fill="#3465a4" fill-opacity="0.3" stroke="{BLUE}"/>')
        parts.append(_text(20, 10, legend[0], 8, "start"))
        parts.append(f'<line x1="{size / 2:.1f}" y1="7" x2="{size / 2 + 14:.1f}" y2="7" stroke="{GREY}" '
                     'stroke-width="1.5" stroke-dasharray="4 3"/>')
        parts.append(_text(size / 2 + 18, 10, legend[1], 8, "start"))
    parts.append("</svg>")
    return "".join(parts)


def trend_svg(points: Sequence[tuple[str, float | None]], *, fmt: Callable[[float], str] = lambda v: f"{v:g}",
              width: int = 320, height: int = 120, title: str = "", css_class: str = "trend") -> str:
    """Bars of a KPI's value per period (gaps left empty, labelled "–"), the latest
    highlighted, with the top value of the scale and the first and last period names."""
    values = [v for _l, v in points if v is not None]
    peak = max(values, default=0.0) or 1.0
    left, bottom, top = 4, height - 16, 14
    step = (width - left * 2) / max(len(points), 1)
    parts = [(f'<svg class="{escape(css_class)}" xmlns="http://www.w3.org/2000/svg" width="{width}" '
              f'height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'),
             f'<line x1="{left}" y1="{bottom}" x2="{width - left}" y2="{bottom}" stroke="{GRID}"/>',
             _text(left, 10, fmt(peak) if values else "–", 8, "start", "#555")]
    last = max((i for i, (_l, v) in enumerate(points) if v is not None), default=-1)
    for index, (label, value) in enumerate(points):
        x = left + index * step + step * 0.15
        if value is None:
            parts.append(_text(x + step * 0.35, bottom - 3, "–", 7, fill=GREY))
            continue
        high = (bottom - top) * value / peak
        colour = BLUE if index == last else "#7f9cc4"
        parts.append(f'<rect x="{x:.1f}" y="{bottom - high:.1f}" width="{step * 0.7:.1f}" '
                     f'height="{max(high, 0.5):.1f}" fill="{colour}"><title>{escape(label)}: '
                     f'{escape(fmt(value))}</title></rect>')
    if points:
        parts.append(_text(left, height - 4, points[0][0], 7.5, "start", "#555"))
        parts.append(_text(width - left, height - 4, points[-1][0], 7.5, "end", "#555"))
    parts.append("</svg>")
    return "".join(parts)
