"""Small inline SVG charts (no script, no external resource); every label is escaped."""
from __future__ import annotations

from markupsafe import Markup, escape


def _si(v: float) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= div:
            return f"{v / div:.3g}{unit}"
    return f"{v:.3g}"


def bar_chart(items: list[tuple[str, float]], unit: str = "FLOPs", width: int = 900, bar_h: int = 14) -> Markup:
    """Horizontal bars: label, bar, value. `items` are (label, value), drawn in the given order."""
    items = [(lab, val) for lab, val in items if val]
    if not items:
        return Markup("")
    top = max(v for _, v in items)
    label_w, value_w = 300, 90
    bar_w = width - label_w - value_w
    h = len(items) * (bar_h + 4) + 4
    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" '
             f'viewBox="0 0 {width} {h}" role="img" aria-label="{escape(unit)} per layer">']
    for i, (label, val) in enumerate(items):
        y = 4 + i * (bar_h + 4)
        w = max(1.0, bar_w * val / top)
        short = label if len(label) <= 46 else "…" + label[-45:]
        parts.append(
            f'<g><title>{escape(label)}: {val:,.0f} {escape(unit)}</title>'
            f'<text x="{label_w - 6}" y="{y + bar_h - 3}" text-anchor="end" font-size="11">{escape(short)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="#0969da" rx="2"></rect>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + bar_h - 3}" font-size="11">{_si(val)}</text></g>')
    parts.append("</svg>")
    return Markup("".join(parts))
