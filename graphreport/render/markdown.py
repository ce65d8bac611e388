"""A short Markdown summary for a pull-request comment: what matters first (the TFLite / int8 verdict, then
the cost: MACs, FLOPs with the batch-1 note, peak activation memory, parameters), then inputs and outputs,
then the op types that do the work (by FLOPs, not by count: Const and Identity do none)."""
from __future__ import annotations

from ..shapespec import format_shape
from .text import figure_text, human_bytes

TOP_OPS = 8


def _cell(s) -> str:
    """Model text inside a table cell: no HTML, no broken cells or code spans."""
    s = str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return s.replace("|", "\\|").replace("\n", " ").replace("\r", " ").replace("`", "'")


def _si(v) -> str:
    from .charts import _si as si
    return si(v)


def _ops_by_compute(r: dict) -> str:
    by_type = (r.get("cost") or {}).get("by_op_type") or {}
    total = (r.get("totals") or {}).get("flops") or sum(v.get("flops", 0) for v in by_type.values())
    working = [(op, v) for op, v in by_type.items() if v.get("flops") or v.get("unknown")]
    working.sort(key=lambda kv: (-kv[1].get("flops", 0), kv[0]))
    if not working:  # no cost known: the op types that are not constants or pass-through, by count
        counts = [(op, n) for op, n in r["op_counts"].items() if op not in ("Const", "Identity")]
        return "Op types: " + (", ".join(f"{_cell(op)} ×{n}" for op, n in counts[:TOP_OPS]) or "none") + "."
    parts = []
    for op, v in working[:TOP_OPS]:
        if not v.get("flops"):
            parts.append(f"{_cell(op)} ×{v['count']} (cost unknown)")
            continue
        share = f", {v['flops'] * 100 / total:.1f}%" if total else ""
        unknown = f", {v['unknown']} of unknown cost" if v.get("unknown") else ""
        parts.append(f"{_cell(op)} ×{v['count']} ({_si(v['flops'])} FLOPs{share}{unknown})")
    more = len(working) - min(len(working), TOP_OPS)
    idle = r["totals"]["nodes"] - sum(v["count"] for _, v in working)
    return ("Op types by compute: " + ", ".join(parts) + (f", and {more} more" if more else "")
            + (f"; the other {idle:,} nodes (constants, Identity, data movement) do no arithmetic" if idle > 0 else "")
            + ".")


def render_markdown(report) -> str:
    r = report.to_dict()
    t = r["totals"]
    c = r.get("compatibility") or {}
    lines = [f"### graphreport: `{_cell(r['file'])}` ({r['format']})", ""]
    # 1. will it convert, and quantize
    if c.get("verdict"):
        lines.append(f"**TFLite:** {_cell(c['verdict'])}")
        extra = []
        if c.get("quantization_type"):
            extra.append(f"quantization: {_cell(c['quantization_type'])}")
        for key, what in (("needs_flex", "needs Flex"), ("unsupported", "unsupported"),
                          ("int8_blockers", "keeps int8 from being full")):
            if c.get(key):
                ops = c[key]
                extra.append(f"{what}: " + ", ".join(f"`{_cell(x)}`" for x in ops[:8])
                             + (f" and {len(ops) - 8} more" if len(ops) > 8 else ""))
        if extra:
            lines += ["", "; ".join(extra) + "."]
        lines.append("")
    # 2. what it costs
    batch = t.get("batch_assumed") or {}
    note = (" per example (batch 1 assumed for " + ", ".join(f"`{_cell(k)}`" for k in batch) + ")") if batch else ""
    rows = []
    if "macs" in t:
        rows += [f"| MACs | {figure_text(t, 'macs')}{note} |", f"| FLOPs | {figure_text(t, 'flops')}{note} |",
                 f"| peak activation memory | {figure_text(t, 'activation_bytes_peak', human_bytes)} |"]
    rows += [f"| parameters | {figure_text(t, 'params')} ({human_bytes(t['weight_bytes'])} of weights) |",
             f"| graph | {t['nodes']:,} nodes, {len(r['op_counts'])} op types; file {human_bytes(r['file_size'])} |"]
    lines += ["| cost | |", "|---|---|", *rows, ""]
    # 3. inputs and outputs
    lines += ["| role | name | dtype | shape |", "|---|---|---|---|"]
    for kind in ("inputs", "outputs"):
        for x in r[kind]:
            lines.append(f"| {kind[:-1]} | `{_cell(x['name'])}` | {x['dtype']} | {format_shape(x['shape'])} |")
    for x in r["ignored_inputs"]:
        lines.append(f"| set apart ({x['role']}) | `{_cell(x['name'])}` | {x['dtype']} | {format_shape(x['shape'])} |")
    lines.append("")
    # 4. where the compute goes
    lines.append(_ops_by_compute(r))
    for w in r["warnings"]:
        lines.append(f"- ⚠ {_cell(w)}")
    return "\n".join(lines) + "\n"
