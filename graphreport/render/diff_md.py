"""`graphreport diff --format md`: a pull-request comment, most important first (gates, breaking inputs and
outputs, TFLite / int8 regressions, figures, op types, layers), long lists collapsed in <details>, at most
65,536 characters (GitHub's limit for a comment)."""
from __future__ import annotations

from ..shapespec import format_shape
from .text import figure_text, human_bytes
from .markdown import _cell

LIMIT = 65_536
FIGURE_ROWS = (("params", "parameters"), ("weight_bytes", "weight bytes"), ("macs", "MACs"), ("flops", "FLOPs"),
               ("activation_bytes_peak", "peak activation memory"), ("nodes", "nodes"))


def _signed(v) -> str:
    if v is None:
        return "unknown"
    return f"{v:+,}" if v else "0"


def _pct(old, delta) -> str:
    if delta is None or not isinstance(old, (int, float)) or old == 0:
        return ""
    return f"{delta * 100.0 / old:+.2f}%"


def _io_text(x) -> str:
    return "—" if x is None else f"{x['dtype']} {format_shape(x['shape'])}"


def _details(summary: str, lines: list[str]) -> list[str]:
    return ["<details><summary>" + summary + "</summary>", "", *lines, "", "</details>", ""]


def _clip(items: list, n: int) -> tuple[list, int]:
    return items[:n], max(0, len(items) - n)


def render_diff_markdown(diff) -> str:
    for n in (200, 100, 50, 20, 10, 0):
        text = _render(diff, n)
        if len(text) <= LIMIT:
            return text
    note = "\n\n…(cut at 65,536 characters; the JSON or HTML diff has everything)\n"
    return text[: LIMIT - len(note)] + note


def _render(diff, n: int) -> str:
    d = diff.to_dict()
    o, w = d["old"], d["new"]
    L = [f"### graphreport diff: `{_cell(o['file'])}` ({o['format']}) → `{_cell(w['file'])}` ({w['format']})", ""]
    breaking = [x for x in d["io"] if x["breaking"]]
    comp = d["compat"]
    regress = comp["new_flex"] or comp["new_unsupported"] or comp["new_int8_blockers"]
    if d["identical"]:
        L += ["**No change**: same nodes, figures, inputs and outputs, and TFLite verdict.", ""]
    else:
        bits = []
        if breaking:
            bits.append(f"**{len(breaking)} breaking input/output change{'s' if len(breaking) > 1 else ''}**")
        if regress:
            bits.append("**TFLite / int8 regression**")
        bits.append(f"{len(d['added']):,} nodes added, {len(d['removed']):,} removed, {len(d['changed']):,} changed")
        L += ["; ".join(bits) + ".", ""]
    tripped = [g for g in d["gates"] if g["tripped"]]
    if d["gates"]:
        L += [f"**Gates: {len(tripped)} of {len(d['gates'])} tripped.**", "", "| gate | result | why |", "|---|---|---|"]
        L += [f"| `{_cell(g['gate'])}` | {'❌ tripped' if g['tripped'] else '✅ passed'} | {_cell(g['why'])} |"
              for g in d["gates"]]
        L.append("")
    # 1. inputs and outputs
    changed_io = [x for x in d["io"] if x["old"] != x["new"] or x.get("old_name")]
    if changed_io:
        L += ["#### Inputs and outputs", "", "| | name | old | new | breaking | notes |", "|---|---|---|---|---|---|"]
        for x in sorted(changed_io, key=lambda x: not x["breaking"]):
            L.append(f"| {x['kind']} | `{_cell(x['name'])}` | {_io_text(x['old'])} | {_io_text(x['new'])} | "
                     f"{'**yes**' if x['breaking'] else 'no'} | {_cell('; '.join(x['notes']))} |")
        L.append("")
    # 2. compatibility
    resolved = comp["resolved"]
    if regress or any(resolved.values()) or comp["old_verdict"] != comp["new_verdict"]:
        L += ["#### TFLite and int8", ""]
        for key, what in (("new_flex", "newly need SELECT_TF_OPS (Flex)"), ("new_unsupported", "newly unsupported"),
                          ("new_int8_blockers", "newly block full int8")):
            if comp[key]:
                L.append(f"- ⚠ {', '.join(f'`{_cell(x)}`' for x in comp[key])} {what}")
        for key, what in (("flex", "no longer need Flex"), ("unsupported", "no longer unsupported"),
                          ("int8_blockers", "no longer block int8")):
            if resolved[key]:
                L.append(f"- ✅ {', '.join(f'`{_cell(x)}`' for x in resolved[key])} {what}")
        L += [f"- old: {_cell(comp['old_verdict'] or 'not judged')}", f"- new: {_cell(comp['new_verdict'] or 'not judged')}", ""]
    # 3. figures
    ot, nt = o["totals"], w["totals"]
    batch = sorted(set(ot.get("batch_assumed") or {}) | set(nt.get("batch_assumed") or {}))
    L += ["#### Figures" + (" (per example: batch 1 assumed for " + ", ".join(f"`{_cell(b)}`" for b in batch) + ")"
                            if batch else ""), "",
          "| | old | new | change | |", "|---|---:|---:|---:|---:|"]
    for key, label in FIGURE_ROWS:
        if key not in ot and key not in nt:
            continue
        fmt = human_bytes if key in ("weight_bytes", "activation_bytes_peak") else None
        dv = d["delta"].get(key)
        dtext = _signed(dv) if fmt is None or dv is None else (("+" if dv > 0 else "−" if dv < 0 else "") + human_bytes(abs(dv)) if dv else "0")
        L.append(f"| {label} | {figure_text(ot, key, fmt)} | {figure_text(nt, key, fmt)} | {dtext} | {_pct(ot.get(key), dv)} |")
    fs = (o.get("file_size"), w.get("file_size"))
    if all(isinstance(x, int) for x in fs):
        L.append(f"| file size | {human_bytes(fs[0])} | {human_bytes(fs[1])} | {_signed(fs[1] - fs[0])} B | {_pct(fs[0], fs[1] - fs[0])} |")
    L.append("")
    # 4. op types
    if d["op_delta"]:
        items = list(d["op_delta"].items())
        shown, more = _clip(items, 20)
        L += ["#### Op types (new count − old count)", "", ", ".join(f"`{_cell(op)}` {v:+d}" for op, v in shown)
              + (f", and {more} more" if more else ""), ""]
    # 5. layers
    scopes = [s for s in d["scopes"] if s["status"] != "same"]
    if scopes:
        order = {"added": 0, "removed": 1, "changed": 2}
        scopes.sort(key=lambda s: (order[s["status"]], -abs(s["flops_delta"] or 0), -abs(s["params_delta"] or 0)))
        rows = [f"| `{_cell(s['scope'])}`" + (f" (was `{_cell(s['old_scope'])}`)" if s.get("old_scope") else "")
                + f" | {s['status']} | {_signed(s['params_delta'])} | {_signed(s['flops_delta'])} |" for s in scopes]
        head = ["| layer (scope) | status | Δ params | Δ FLOPs |", "|---|---|---:|---:|"]
        top, rest = rows[:15], rows[15:]
        L += [f"#### Layers: {len(scopes)} of {len(d['scopes'])} differ", "", *head, *top, ""]
        if rest:
            shown, more = _clip(rest, n)
            L += _details(f"{len(rest)} more layers", [*head, *shown] + ([f"\n… and {more} more"] if more else []))
    # 6. nodes
    for key, label in (("added", "Added nodes"), ("removed", "Removed nodes")):
        if d[key]:
            shown, more = _clip(d[key], n)
            L += _details(f"{label} ({len(d[key]):,})", [f"- `{_cell(x)}`" for x in shown] + ([f"- … and {more} more"] if more else []))
    if d["changed"]:
        shown, more = _clip(d["changed"], n)
        lines = [f"- `{_cell(c['new'])}`" + (f" (was `{_cell(c['old'])}`)" if c["old"] != c["new"] else "")
                 + ": " + _cell("; ".join(c["what"])) for c in shown]
        L += _details(f"Changed nodes ({len(d['changed']):,})", lines + ([f"- … and {more} more"] if more else []))
    m = d["matching"]
    hows = ", ".join(f"{k} {v:,}" for k, v in m["by_how"].items() if v)
    lines = [f"{m['old_matched']:,} of {m['old_op_nodes']:,} old op nodes and {m['new_matched']:,} of "
             f"{m['new_op_nodes']:,} new op nodes matched" + (f" ({hows})" if hows else "") + "."]
    for p in m["prefixes"][:10]:
        lines.append(f"- scope `{_cell(p['old'] or '(root)')}` → `{_cell(p['new'] or '(root)')}`: {p['nodes']:,} nodes renamed")
    L += _details("How nodes were matched", lines)
    return "\n".join(L).rstrip() + "\n"
