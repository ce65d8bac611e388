"""A short Markdown summary for a pull-request comment."""
from __future__ import annotations

from . import figure_text


def _cell(s) -> str:
    """Model text inside a table cell: no HTML, no broken cells or code spans."""
    s = str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return s.replace("|", "\\|").replace("\n", " ").replace("\r", " ").replace("`", "'")


def _shape(s) -> str:
    return "?" if s is None else "[" + ", ".join("?" if d is None else str(d) for d in s) + "]"


def render_markdown(report) -> str:
    r = report.to_dict()
    t = r["totals"]
    lines = [f"### graphreport: `{_cell(r['file'])}` ({r['format']})", "",
             f"{t['nodes']:,} nodes, {len(r['op_counts'])} op types, {figure_text(t, 'params')} parameters, "
             f"{t['weight_bytes']:,} weight bytes, file {r['file_size']:,} bytes.", "",
             *([f"{figure_text(t, 'macs')} MACs, {figure_text(t, 'flops')} FLOPs"
                + (" per example (batch 1 assumed for " + ", ".join(f"`{_cell(k)}`" for k in t["batch_assumed"]) + ")"
                   if t.get("batch_assumed") else "") + ".", ""] if "macs" in t else []),
             "| role | name | dtype | shape |", "|---|---|---|---|"]
    for kind in ("inputs", "outputs"):
        for x in r[kind]:
            lines.append(f"| {kind[:-1]} | `{_cell(x['name'])}` | {x['dtype']} | {_shape(x['shape'])} |")
    for x in r["ignored_inputs"]:
        lines.append(f"| set apart ({x['role']}) | `{_cell(x['name'])}` | {x['dtype']} | {_shape(x['shape'])} |")
    lines.append("")
    top = list(r["op_counts"].items())[:10]
    lines.append("Top op types: " + ", ".join(f"{_cell(op)} ×{n}" for op, n in top))
    for w in r["warnings"]:
        lines.append(f"- ⚠ {_cell(w)}")
    return "\n".join(lines) + "\n"
