"""`--fail-on` gates: comma-separated; `graphreport diff` exits 4 when one trips (the output is still written).

    io            an input or output removed, added (inputs), or with a changed dtype or fixed dimension
    flex          an op type newly needs SELECT_TF_OPS (Flex)
    unsupported   an op type newly converts neither as a builtin nor with Flex
    int8          an op type newly blocks full-integer int8
    params:+N%    parameters grew by more than N percent (params:+0% : any growth)
    flops:+N%     FLOPs grew by more than N percent
    size:+N%      the model file grew by more than N percent
    any           any change at all (nodes, figures, I/O, compatibility)

A figure gate on a figure unknown on either side trips: an unchecked limit is not a passed one.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import UsageError

SIMPLE = ("io", "flex", "unsupported", "int8", "any")
_FIGURE = re.compile(r"^(params|flops|size):\+?(\d+(?:\.\d+)?)%?$")


@dataclass
class Gate:
    name: str  # as written
    kind: str  # io | flex | unsupported | int8 | any | params | flops | size
    percent: float = 0.0


def parse_gates(text: str) -> list[Gate]:
    gates = []
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        low = item.lower()
        if low in SIMPLE:
            gates.append(Gate(item, low))
            continue
        m = _FIGURE.match(low)
        if not m:
            raise UsageError(f"--fail-on: unknown gate {item!r}; gates are io, flex, unsupported, int8, any, "
                             "params:+N%, flops:+N%, size:+N%")
        gates.append(Gate(item, m.group(1), float(m.group(2))))
    return gates


def _names(xs, n=5) -> str:
    xs = list(xs)
    return ", ".join(xs[:n]) + (f" and {len(xs) - n} more" if len(xs) > n else "")


def _figure(diff, kind: str) -> tuple:
    if kind == "size":
        return diff.old.get("file_size"), diff.new.get("file_size")
    return diff.old["totals"].get(kind), diff.new["totals"].get(kind)


def evaluate(diff, gates: list[Gate]) -> list[dict]:
    """[{gate, tripped, why}] for each gate, in the order given."""
    out = []
    for g in gates:
        tripped, why = False, ""
        if g.kind == "io":
            bad = diff.breaking_io
            tripped = bool(bad)
            why = ("breaking: " + _names(f"{x['kind']} {x['name']} ({'; '.join(x['notes'])})" for x in bad)
                   if bad else "no breaking input/output change")
        elif g.kind in ("flex", "unsupported", "int8"):
            key = {"flex": "new_flex", "unsupported": "new_unsupported", "int8": "new_int8_blockers"}[g.kind]
            ops = diff.compat[key]
            tripped = bool(ops)
            what = {"flex": "newly need SELECT_TF_OPS", "unsupported": "newly unsupported by TFLite",
                    "int8": "newly block full int8"}[g.kind]
            why = f"{_names(ops)} {what}" if ops else f"no op type {what.replace('newly ', '')} that did not before"
        elif g.kind == "any":
            tripped = not diff.identical
            why = "the models differ" if tripped else "no change"
        else:
            a, b = _figure(diff, g.kind)
            label = {"params": "parameters", "flops": "FLOPs", "size": "file size"}[g.kind]
            if a is None or b is None:
                tripped, why = True, f"{label} unknown on the {'old' if a is None else 'new'} side: the limit cannot be checked"
            elif a == 0:
                tripped = b > 0
                why = f"{label} {a:,} → {b:,}"
            else:
                pct = (b - a) * 100.0 / a
                tripped = pct > g.percent
                why = f"{label} {a:,} → {b:,} ({pct:+.2f}%, limit +{g.percent:g}%)"
        out.append({"gate": g.name, "tripped": tripped, "why": why})
    return out
