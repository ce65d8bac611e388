"""Renderers read only the Report. `render(report, fmt)` picks one."""
from .text import figure_text, human_bytes  # noqa: F401  (the figures as text, shared by the renderers)


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
