"""`graphreport ops --coverage`: every op graphreport knows of, per dialect, and which knowledge it has.

Known ops are the union of the rule registry (ops/registry.py: shape, cost and value rules), the TFLite
compatibility table (opdata/tflite_compat.json: probed TF ops, TF's Flex allowlist and Keras layers), the
TFLite schema's builtin operators (opdata/tflite_builtin_ops.json) and the op-role table (opdata/roles.py).
Columns:
  shape, cost, value  a rule of that kind is registered for the op in its dialect
  compat              TF op: builtin | flex | unsupported as probed, or flex* from TF's Flex allowlist (not
                      probed; JSON: "compat_source": "allowlist");
                      TFLite builtin: builtin; Keras layer: the status of its traced TF ops; "-" when unknown
  int8                what full-integer conversion does with it (ok | float | blocker), "-" when unknown
  roles               its roles in opdata/roles.py (TF ops)
"""
from __future__ import annotations

import json
import sys
from typing import Optional

from .analysis import compat
from .opdata import roles as op_roles
from .ops import registry
from .readers.tflite import opdata as tflite_schema

RULES = ("shape", "cost", "value")
DIALECT_NAMES = {"tf": "TensorFlow ops", "tflite": "TFLite builtins", "keras": "Keras layers"}


def _rules() -> dict[tuple[str, str], registry.OpInfo]:
    registry.lookup("NoOp")  # loads the rule families
    return dict(registry.REGISTRY)


def _row(op: str, info: Optional[registry.OpInfo], status: Optional[str], int8: Optional[str],
         roles: tuple = (), source: Optional[str] = None) -> dict:
    row = {"op": op}
    row.update({k: info is not None and getattr(info, k) is not None for k in RULES})
    row.update(compat=status, int8=int8)
    if source:
        row["compat_source"] = source
    if roles:
        row["roles"] = list(roles)
    return row


def coverage() -> dict:
    """{dialect: {"ops": [row ...], "totals": {...}}}, rows sorted by op."""
    rules = _rules()
    table = compat.load_table()
    allowlist = set(table.get("flex_allowlist", []))
    probed, layers = table.get("ops", {}), table.get("keras_layers", {})
    builtins = set(tflite_schema()["builtin_ops"].values())
    int8 = compat.builtin_int8(table)
    known = {d: {op for dd, op in rules if dd == d} for d in registry.DIALECTS}
    out = {}
    rows = []
    for op in sorted(known["tf"] | set(probed) | allowlist | set(op_roles.OP_ROLES)):
        entry = probed.get(op)
        status = entry.get("status") if entry else "flex" if op in allowlist else None
        source = "probe" if entry else "allowlist" if status else None
        rows.append(_row(op, rules.get(("tf", op)), status, entry.get("int8") if entry else None,
                         op_roles.OP_ROLES.get(op, ()), source))
    out["tf"] = rows
    out["tflite"] = [_row(op, rules.get(("tflite", op)), "builtin" if op in builtins else None, int8.get(op))
                     for op in sorted(known["tflite"] | builtins)]
    out["keras"] = [_row(op, rules.get(("keras", op)), layers.get(op, {}).get("status"), layers.get(op, {}).get("int8"))
                    for op in sorted(known["keras"] | set(layers))]
    return {d: {"ops": rows, "totals": _totals(rows)} for d, rows in out.items()}


def _totals(rows: list[dict]) -> dict:
    t = {"ops": len(rows)}
    t.update({k: sum(r[k] for r in rows) for k in RULES})
    t["compat"] = sum(r["compat"] is not None for r in rows)
    statuses: dict[str, int] = {}
    for r in rows:
        if r["compat"] is not None:
            statuses[r["compat"]] = statuses.get(r["compat"], 0) + 1
    t["compat_by_status"] = dict(sorted(statuses.items()))
    t["int8"] = sum(r["int8"] is not None for r in rows)
    t["no_knowledge"] = sum(not (r["shape"] or r["cost"] or r["value"] or r["compat"]) for r in rows)
    return t


def _compat_cell(row: dict) -> str:
    if row["compat"] is None:
        return "-"
    return row["compat"] + ("*" if row.get("compat_source") == "allowlist" else "")


def format_text(cov: dict) -> str:
    width = max(len(r["op"]) for d in cov.values() for r in d["ops"])
    mark = {True: "yes", False: "-"}
    lines = [f"{'dialect':7}  {'op':{width}}  shape  cost  value  {'compat':11}  {'int8':7}  roles"]
    for dialect, d in cov.items():
        for r in d["ops"]:
            lines.append(f"{dialect:7}  {r['op']:{width}}  {mark[r['shape']]:5}  {mark[r['cost']]:4}  "
                         f"{mark[r['value']]:5}  {_compat_cell(r):11}  {r['int8'] or '-':7}  "
                         f"{' '.join(r.get('roles', [])) or '-'}".rstrip())
    lines.append("")
    lines.append("flex*: in TensorFlow's Flex allowlist, not probed")
    lines.append("totals")
    for dialect, d in cov.items():
        t = d["totals"]
        by = ", ".join(f"{k} {v}" for k, v in t["compat_by_status"].items())
        lines.append(f"  {DIALECT_NAMES[dialect]}: {t['ops']} ops; shape rule {t['shape']}, cost rule {t['cost']}, "
                     f"value rule {t['value']}, compat entry {t['compat']} ({by or 'none'}), int8 known {t['int8']}, "
                     f"nothing known {t['no_knowledge']}")
    return "\n".join(lines) + "\n"


def run(args) -> int:
    """The `ops` command: prints to stdout."""
    cov = coverage()
    if args.dialect:
        cov = {args.dialect: cov[args.dialect]}
    text = json.dumps(cov, indent=1) + "\n" if args.json else format_text(cov)
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `graphreport ops --coverage | head`
        sys.stderr.close()
    return 0
