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
