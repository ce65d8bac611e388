"""When a report's diagram is drawn: the renderer starts it (render/diagram.py does the drawing), never the
analysis; `attach_diagram` is also what a caller uses to read the diagram without rendering a page."""
from __future__ import annotations


def attach_diagram(report):
    """Start drawing the report's diagram (render/diagram.py) unless it is drawn already or not wanted
    (`report.wants_diagram`); returns the report. The HTML renderer calls it first, so Graphviz runs in the
    background while the rest of the page is made; the report's diagram_* properties wait for it. Only the
    graph's inference part is drawn: the ancestors of the suggested outputs (all of it when the file holds
    nothing else)."""
    if report.diagram is not None or not report.wants_diagram:
        return report
    from .diagram import start

    model, outs = report.model, [o.name for o in report.io.outputs]
    keep = None
    if not model.declares_io and outs:
        keep = model.main.ancestors(outs) | set(outs)
    report.diagram = start(report, keep=keep)
    return report
