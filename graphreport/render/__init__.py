"""Renderers read only the Report. `render(report, fmt)` picks one."""


def render(report, fmt: str) -> str:
    """The report as text in `fmt`: html, json or md."""
    if fmt == "html":
        from .html import render_html
        return render_html(report)
    if fmt == "json":
        from .jsonout import render_json
        return render_json(report)
    from .markdown import render_markdown
    return render_markdown(report)


def render_parts(report, fmt: str):
    """The report as strings to write in turn: JSON is encoded as it is written (render/jsonout.py) and the
    HTML page is the template's pieces, so a huge report is never one string; Markdown is one string."""
    if fmt == "json":
        from .jsonout import iter_json
        return iter_json(report)
    if fmt == "html":
        from .html import render_html_parts
        return render_html_parts(report)
    return [render(report, fmt)]


def human_bytes(n) -> str:
    """1536 -> '1.5 KiB'; None -> '?'."""
    if n is None:
        return "?"
    x = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if x < 1024 or unit == "GiB":
            return f"{x:,.0f} B" if unit == "B" else f"{x:,.1f} {unit}"
        x /= 1024
    return str(n)


def figure_text(totals: dict, key: str, fmt=None) -> str:
    """A whole-model figure as text: the value; "≥ N (k ops unknown)" when only part of it is known;
    "unknown" when nothing is. Never 0 for an unknown figure."""
    fmt = fmt or (lambda v: f"{v:,}")
    v = totals.get(key)
    if v is not None:
        return fmt(v)
    low = (totals.get("at_least") or {}).get(key)
    if not low:
        return "unknown"
    why = (totals.get("unknown") or {}).get(key, "")
    count = why.split(" ", 1)[0] if why[:1].isdigit() else ""
    what = "weights" if key == "params" else "tensors" if key == "activation_bytes_peak" else "ops"
    return f"≥ {fmt(low)} ({count} {what} unknown)" if count else f"≥ {fmt(low)}"
