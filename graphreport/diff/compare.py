"""The diff of two reports: a typed DiffReport and its JSON form (a contract: the keys below are documented
in README.md, "JSON of `graphreport diff`").

Every figure comes from each side's Report (graphreport.report.build_report): totals, per-node costs, per-layer
roll-up, op counts, compatibility, inputs and outputs. This module only subtracts and compares.

DIFF_SCHEMA_VERSION changes whenever the JSON shape changes:
  1 - first version: schema_version, generator, old, new, identical, delta, op_delta, io, matching, matched,
      added, removed, changed, scopes, compat, gates.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional

from .. import __version__
from ..analysis.cost import layer_depth
from ..model import split_tensor_name
from ..shapespec import format_shape
from .matching import Matching, attrs_key, match_graphs

DIFF_SCHEMA_VERSION = 1
FIGURES = ("nodes", "params", "weight_bytes", "macs", "flops", "activation_bytes_peak")
SAME_VOCABULARY = ("name", "renamed", "structural")  # matches whose attributes mean the same on both sides


@dataclass
class DiffReport:
    old: dict
    new: dict
    delta: dict
    op_delta: dict
    io: list[dict]
    matching: dict
    matched: list[dict]
    added: list[str]
    removed: list[str]
    changed: list[dict]
    scopes: list[dict]
    compat: dict
    gates: list[dict] = field(default_factory=list)
    old_report: Any = None  # the two Reports, for renderers that show more of each side
    new_report: Any = None

    @property
    def identical(self) -> bool:
        return not (self.added or self.removed or self.changed or self.op_delta
                    or any(v != 0 for v in self.delta.values())
                    or any(x["old"] != x["new"] for x in self.io)
                    or self.compat["old_verdict"] != self.compat["new_verdict"]
                    or any(s["status"] != "same" for s in self.scopes))

    @property
    def breaking_io(self) -> list[dict]:
        return [x for x in self.io if x["breaking"]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": DIFF_SCHEMA_VERSION,
            "generator": f"graphreport {__version__}",
            "old": self.old, "new": self.new,
            "identical": self.identical,
            "delta": self.delta, "op_delta": self.op_delta, "io": self.io,
            "matching": self.matching,
            "matched": self.matched, "added": self.added, "removed": self.removed, "changed": self.changed,
            "scopes": self.scopes, "compat": self.compat, "gates": self.gates,
        }


# ----------------------------------------------------------------------------------------------------------

def _delta(old_t: dict, new_t: dict) -> dict:
    return {k: (new_t[k] - old_t[k] if isinstance(old_t.get(k), (int, float)) and isinstance(new_t.get(k), (int, float))
                else None) for k in FIGURES}


def _op_delta(old_c: dict, new_c: dict) -> dict:
    out = {}
    for op in sorted(set(old_c) | set(new_c)):
        d = new_c.get(op, 0) - old_c.get(op, 0)
        if d:
            out[op] = d
    return dict(sorted(out.items(), key=lambda kv: (-abs(kv[1]), kv[0])))


# -- inputs and outputs ------------------------------------------------------------------------------------

def _shape_change(old: Optional[list], new: Optional[list]) -> tuple[bool, list[str]]:
    """(breaking, notes): a fixed dimension that changed (or the rank) breaks callers; a dimension that became
    unknown is noted, not breaking; one that became fixed is noted."""
    if old == new:
        return False, []
    if old is None or new is None:
        return False, ["rank became unknown" if new is None else "rank became known"]
    if len(old) != len(new):
        return True, [f"rank {len(old)} → {len(new)}"]
    breaking, notes = False, []
    for i, (a, b) in enumerate(zip(old, new)):
        if a == b:
            continue
        if a is not None and b is not None:
            breaking = True
            notes.append(f"dim {i}: {a} → {b}")
        elif b is None:
            notes.append(f"dim {i}: {a} → unknown")
        else:
            notes.append(f"dim {i}: unknown → {b}")
    return breaking, notes


def _io_entry(kind: str, name: str, old: Optional[dict], new: Optional[dict]) -> dict:
    notes: list[str] = []
    breaking = False
    if new is None:
        breaking, notes = True, ["removed"]
    elif old is None:
        # a new input must be fed by every caller; a new output breaks nobody
        breaking = kind == "input"
        notes = ["added: callers must feed it"] if breaking else ["added"]
    else:
        if old["dtype"] != new["dtype"]:
            breaking = True
            notes.append(f"dtype {old['dtype']} → {new['dtype']}")
        b, n = _shape_change(old["shape"], new["shape"])
        breaking = breaking or b
        notes += n
        if old["name"] != new["name"]:
            notes.insert(0, f"renamed {old['name']} → {new['name']}")
    def strip(x):
        return {"dtype": x["dtype"], "shape": x["shape"]}
    return {"kind": kind, "name": name, "old": strip(old) if old else None, "new": strip(new) if new else None,
            "breaking": breaking, "notes": notes,
            **({"old_name": old["name"]} if old and new and old["name"] != new["name"] else {})}


def _io(old_r: dict, new_r: dict, matching: Matching) -> list[dict]:
    out = []
    for kind in ("inputs", "outputs"):
        olds, news = list(old_r[kind]), list(new_r[kind])
        pairs: list[tuple[Optional[dict], Optional[dict]]] = []
        by_name = {x["name"]: x for x in news}
        rest_old = []
        for o in olds:  # 1. same name
            n = by_name.pop(o["name"], None)
            if n is not None:
                pairs.append((o, n))
            else:
                rest_old.append(o)
        rest_new = [x for x in news if x["name"] in by_name]
        still_old = []
        for o in rest_old:  # 2. the matched node
            node = split_tensor_name(o["name"])[0]
            cand = matching.old_to_new.get(node) or matching.old_to_new.get(o["name"])
            n = next((x for x in rest_new if cand and (x["name"] == cand or split_tensor_name(x["name"])[0] == cand)), None)
            if n is not None:
                rest_new.remove(n)
                pairs.append((o, n))
            else:
                still_old.append(o)
        if len(still_old) == len(rest_new):  # 3. by position, when as many are left on both sides
            pairs += list(zip(still_old, rest_new))
            still_old, rest_new = [], []
        pairs += [(o, None) for o in still_old] + [(None, n) for n in rest_new]
        for o, n in pairs:
            out.append(_io_entry(kind[:-1], (n or o)["name"], o, n))
    return out


# -- nodes -------------------------------------------------------------------------------------------------

def _short(v, limit: int = 80) -> str:
    s = json.dumps(v, ensure_ascii=False, default=str) if not isinstance(v, str) else v
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _conflict(a: list, b: list) -> bool:
    """Two shapes that cannot be the same tensor: another rank, or a fixed dimension fixed otherwise."""
    return len(a) != len(b) or any(x is not None and y is not None and x != y for x, y in zip(a, b))


def _node_changes(old_rep, new_rep, m, same_vocab: bool) -> list[str]:
    go, gn = old_rep.model.main, new_rep.model.main
    a, b = go.node(m.old), gn.node(m.new)
    if a is None or b is None:
        return []
    what = []
    if same_vocab:
        if a.op != b.op:
            what.append(f"op {a.op} → {b.op}")
        if attrs_key(a.attrs) != attrs_key(b.attrs):
            keys = sorted({k for k in (*a.attrs, *b.attrs) if not k.startswith("_") and k != "name"})
            for k in keys:
                if a.attrs.get(k) != b.attrs.get(k):
                    what.append(f"attr {k}: {_short(a.attrs.get(k))} → {_short(b.attrs.get(k))}")
    for i, (x, y) in enumerate(zip(a.outputs, b.outputs)):
        tx, ty = go.tensors.get(x), gn.tensors.get(y)
        if tx is None or ty is None:
            continue
        if same_vocab and tx.dtype != ty.dtype:
            what.append(f"output {i} dtype {tx.dtype} → {ty.dtype}")
        if tx.shape != ty.shape and tx.shape is not None and ty.shape is not None and (same_vocab or _conflict(tx.shape, ty.shape)):
            what.append(f"output {i} shape {format_shape(tx.shape)} → {format_shape(ty.shape)}")
    if same_vocab:
        if len(a.outputs) != len(b.outputs):
            what.append(f"outputs {len(a.outputs)} → {len(b.outputs)}")
        wa = old_rep.summary.weights_by_node.get(a.name, [])
        wb = new_rep.summary.weights_by_node.get(b.name, [])
        sa = [go.tensors[t].shape for t in wa if t in go.tensors]
        sb = [gn.tensors[t].shape for t in wb if t in gn.tensors]
        if sa != sb:
            what.append("weight shapes " + ", ".join(map(format_shape, sa)) + " → "
                        + ", ".join(map(format_shape, sb)))
        ka, kb = old_rep.node_costs().get(a.name), new_rep.node_costs().get(b.name)
        if ka is not None and kb is not None and ka.weight_bytes != kb.weight_bytes:
            what.append(f"weight bytes {ka.weight_bytes:,} → {kb.weight_bytes:,}")
    return what


# -- scopes ------------------------------------------------------------------------------------------------

def _scope_table(report) -> tuple[dict[str, dict], dict[str, str], list[str]]:
    """(scope → {params, flops, unknown, nodes}, node → scope, scopes in graph order), from the report's
    per-layer roll-up (Report.layers()); a graph whose names have no scope (Keras: one node per layer) uses
    each layer's own cost."""
    if report.cost is None:
        return {}, {}, []
    main = report.model.main.name
    costs = [x for x in report.cost.nodes if x.graph == main]
    scoped = [x.scope.split("/") for x in costs if x.scope]
    if not scoped:  # layers are the nodes
        table = {x.node: {"params": x.params, "flops": x.flops if x.known else None,
                          "unknown": 0 if x.known else 1, "nodes": 1} for x in costs}
        return table, {x.node: x.node for x in costs}, [x.node for x in costs]
    depth = layer_depth(costs)  # the depth Report.layers() rolls up at
    table = {s.scope: {"params": s.params, "flops": s.flops if not s.unknown else None, "unknown": s.unknown,
                       "nodes": s.nodes} for s in report.layers()}
    key_of, order = {}, []
    for x in costs:
        key = "/".join(x.scope.split("/")[:depth]) if x.scope else ""
        key = key or "(root)"
        if key not in table:
            continue
        key_of[x.node] = key
        if not order or order[-1] != key:
            order.append(key)
    return table, key_of, list(dict.fromkeys(order))


def _scopes(old_rep, new_rep, matching: Matching, changed_nodes: set[str], changed_new: set[str]) -> list[dict]:
    ta, ka, oa = _scope_table(old_rep)
    tb, kb, ob = _scope_table(new_rep)
    votes: dict[tuple[str, str], int] = {}
    for m in matching.matches:
        sa, sb = ka.get(m.old), kb.get(m.new)
        if sa and sb:
            votes[(sa, sb)] = votes.get((sa, sb), 0) + 1
    pair_a, pair_b = {}, {}
    for s in oa:  # a scope of the same name on both sides is the same layer
        if s in tb:
            pair_a[s], pair_b[s] = s, s
    for (sa, sb), _v in sorted(votes.items(), key=lambda kv: (-kv[1], kv[0])):  # renamed: most matched nodes
        if sa not in pair_a and sb not in pair_b:
            pair_a[sa], pair_b[sb] = sb, sa
    dirty_a: set[str] = {ka[x] for x in matching.removed if x in ka} | {ka[x] for x in changed_nodes if x in ka}
    dirty_b: set[str] = {kb[x] for x in matching.added if x in kb} | {kb[x] for x in changed_new if x in kb}

    def sub(x, y):
        return y - x if x is not None and y is not None else None

    out = []
    for s in ob:
        b = tb[s]
        if s not in pair_b:
            out.append({"scope": s, "status": "added", "params_delta": b["params"], "flops_delta": b["flops"]})
            continue
        so = pair_b[s]
        a = ta[so]
        pd, fd = sub(a["params"], b["params"]), sub(a["flops"], b["flops"])
        same = pd == 0 and fd == 0 and so not in dirty_a and s not in dirty_b and a["nodes"] == b["nodes"]
        e = {"scope": s, "status": "same" if same else "changed", "params_delta": pd, "flops_delta": fd}
        if so != s:
            e["old_scope"] = so
        out.append(e)
    for s in oa:
        if s not in pair_a:
            a = ta[s]
            out.append({"scope": s, "status": "removed", "params_delta": -a["params"] if a["params"] is not None else None,
                        "flops_delta": -a["flops"] if a["flops"] is not None else None})
    return out


# -- compatibility -----------------------------------------------------------------------------------------

def _compat(old_rep, new_rep) -> dict:
    a, b = old_rep.compat, new_rep.compat

    def ops(c, key):
        return set(getattr(c, key) or []) if c is not None else set()
    return {
        "old_verdict": a.verdict if a else None,
        "new_verdict": b.verdict if b else None,
        "old_int8_full": a.int8_full if a else None,
        "new_int8_full": b.int8_full if b else None,
        "new_flex": sorted(ops(b, "needs_flex") - ops(a, "needs_flex")),
        "new_unsupported": sorted(ops(b, "unsupported") - ops(a, "unsupported")),
        "new_int8_blockers": sorted(ops(b, "int8_blockers") - ops(a, "int8_blockers")),
        "resolved": {"flex": sorted(ops(a, "needs_flex") - ops(b, "needs_flex")),
                     "unsupported": sorted(ops(a, "unsupported") - ops(b, "unsupported")),
                     "int8_blockers": sorted(ops(a, "int8_blockers") - ops(b, "int8_blockers"))},
    }


# ----------------------------------------------------------------------------------------------------------

def compare(old_rep, new_rep) -> DiffReport:
    """The diff of two Reports (old, new)."""
    old_d, new_d = old_rep.to_dict(), new_rep.to_dict()

    def foldable(rep):
        return {x.node for x in rep.cost.nodes if x.foldable} if rep.cost else set()
    matching = match_graphs(old_rep.model.main, new_rep.model.main, foldable(old_rep), foldable(new_rep))
    changed, changed_old, changed_new = [], set(), set()
    seen = set()
    for m in matching.matches:
        if m.how not in SAME_VOCABULARY + ("cross-format",) or (m.old, m.new) in seen:
            continue
        seen.add((m.old, m.new))
        what = _node_changes(old_rep, new_rep, m, m.how in SAME_VOCABULARY)
        if what:
            changed.append({"old": m.old, "new": m.new, "what": what})
            changed_old.add(m.old)
            changed_new.add(m.new)
    counts = matching.counts()
    old_ops = sum(1 for n in old_rep.model.main.nodes if not n.is_const)
    new_ops = sum(1 for n in new_rep.model.main.nodes if not n.is_const)
    old_names = {n.name for n in old_rep.model.main.nodes if not n.is_const}
    new_names = {n.name for n in new_rep.model.main.nodes if not n.is_const}
    matched_old = len({m.old for m in matching.matches} & old_names)
    matching_info = {
        "cross_format": matching.cross_format,
        "old_op_nodes": old_ops, "new_op_nodes": new_ops,
        "old_matched": matched_old, "new_matched": len({m.new for m in matching.matches} & new_names),
        "by_how": counts, "prefixes": [{"old": a, "new": b, "nodes": k} for a, b, k in matching.prefixes],
        "work": matching.work,
    }
    return DiffReport(
        old={"file": old_d["file"], "format": old_d["format"], "file_size": old_d["file_size"],
             "totals": old_d["totals"]},
        new={"file": new_d["file"], "format": new_d["format"], "file_size": new_d["file_size"],
             "totals": new_d["totals"]},
        delta=_delta(old_d["totals"], new_d["totals"]),
        op_delta=_op_delta(old_d["op_counts"], new_d["op_counts"]),
        io=_io(old_d, new_d, matching),
        matching=matching_info,
        matched=[m.to_dict() for m in matching.matches],
        added=matching.added, removed=matching.removed, changed=changed,
        scopes=_scopes(old_rep, new_rep, matching, changed_old, changed_new),
        compat=_compat(old_rep, new_rep),
        old_report=old_rep, new_report=new_rep,
    )

