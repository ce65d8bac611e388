"""`graphreport diff --format html`: one self-contained page, built like the report (Jinja2 with autoescape,
CSS and JS inlined, the diff embedded as escaped JSON, a Content-Security-Policy that allows no request and
only the page's own script, by hash). The environment and the JSON escaping are the report's own."""
from __future__ import annotations

import base64
import hashlib

from markupsafe import Markup

from .text import figure_text, human_bytes
from .html import FORMAT_NAMES, _env, _read, script_json
from .jsonout import _clean

CARDS = (("params", "parameters", None), ("flops", "FLOPs", "si"), ("macs", "MACs", "si"),
         ("weight_bytes", "weight bytes", "bytes"), ("activation_bytes_peak", "peak activation memory", "bytes"),
         ("nodes", "nodes", None))


def _signed(v) -> str:
    return "unknown" if v is None else (f"{v:+,}" if v else "0")


def _cards(d: dict) -> list[dict]:
    from .charts import _si

    fmts = {None: lambda v: f"{v:,}", "si": _si, "bytes": human_bytes}
    ot, nt = d["old"]["totals"], d["new"]["totals"]
    out = []
    for key, label, unit in CARDS:
        if key not in ot and key not in nt:
            continue
        dv = d["delta"].get(key)
        f = fmts[unit]
        delta = "unknown" if dv is None else ("0" if dv == 0 else ("+" if dv > 0 else "−") + f(abs(dv)))
        old = ot.get(key)
        pct = f"{dv * 100.0 / old:+.2f}%" if dv and isinstance(old, (int, float)) and old else ""
        out.append({"label": label, "delta": delta, "old": figure_text(ot, key, f), "new": figure_text(nt, key, f),
                    "pct": pct, "cls": "" if not dv else ("pos" if dv > 0 else "neg")})
    return out


def render_diff_html(diff) -> str:
    d = _clean(diff.to_dict())
    js = _read("diff.js")
    digest = base64.b64encode(hashlib.sha256(js.encode("utf-8")).digest()).decode()
    env = _env()
    env.filters["signed"] = _signed
    old_nodes = {n.name: n.op for n in diff.old_report.model.main.nodes} if diff.old_report else {}
    new_nodes = {n.name: n.op for n in diff.new_report.model.main.nodes} if diff.new_report else {}
    comp = d["compat"]
    counts = {st: sum(1 for s in d["scopes"] if s["status"] == st) for st in ("added", "removed", "changed", "same")}
    batch = sorted(set(d["old"]["totals"].get("batch_assumed") or {}) | set(d["new"]["totals"].get("batch_assumed") or {}))
    return env.get_template("diff.html.j2").render(
        d=d, css=Markup(_read("diff.css")), js=Markup(js), script_hash=f"sha256-{digest}",
        data_json=Markup(script_json(d)), format_names=FORMAT_NAMES,
        breaking=[x for x in d["io"] if x["breaking"]],
        regress=bool(comp["new_flex"] or comp["new_unsupported"] or comp["new_int8_blockers"]),
        cards=_cards(d), batch=batch, scope_counts=counts,
        added=[{"name": x, "op": new_nodes.get(x, "")} for x in d["added"]],
        removed=[{"name": x, "op": old_nodes.get(x, "")} for x in d["removed"]],
        old_counts=(diff.old_report.summary.op_counts if diff.old_report else {}),
        new_counts=(diff.new_report.summary.op_counts if diff.new_report else {}),
    )
