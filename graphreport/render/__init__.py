"""Renderers read only the Report. `render(report, fmt)` picks one."""
from .drawing import attach_diagram  # noqa: F401  (the diagram started for a report, see drawing.py)
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


def render_parts(report, fmt: str):
    """The report as strings to write in turn: JSON is encoded as it is written (render/jsonout.py) and the
    HTML page is the template's pieces, so a huge report is never one string; Markdown is one string."""
    if fmt == "json":
        from .jsonout import iter_json
        return iter_json(report)
    if fmt == "html":
        attach_diagram(report)  # first: Graphviz lays out while the page's modules (Jinja2 ...) are imported
        from .html import render_html_parts
        return render_html_parts(report)
    return [render(report, fmt)]

