"""The graph diagram: Graphviz `dot` to inline SVG, constants folded into their consumers.

Model-provided strings reach dot only inside quoted, escaped labels; node ids are our own (n0, n1, ...).
Large graphs are capped, and dot runs under a time limit; the note says what was cut or why it failed.
"""
from __future__ import annotations

import re
import shutil
import subprocess

from ..model import Model

MAX_NODES = 1500
DOT_TIMEOUT_S = 60
CATEGORY_COLORS = {  # fill colours by op family, loosely after Netron's palette
    "conv": "#cfe2f3", "pool": "#d9ead3", "norm": "#fff2cc", "act": "#f4cccc", "shape": "#eeeeee",
    "io": "#d0e0e3", "other": "#ffffff",
}


def op_category(op: str) -> str:
    o = op.lower()
    if "conv" in o or "matmul" in o or "fully_connected" in o or o in ("dense",):
        return "conv"
    if "pool" in o or o in ("mean", "max", "sum"):
        return "pool"
    if "norm" in o:
        return "norm"
    if o in ("relu", "relu6", "sigmoid", "tanh", "softmax", "logistic", "elu", "selu", "leakyrelu", "leaky_relu",
             "hard_swish", "gelu", "swish", "prelu", "log_softmax", "logsoftmax"):
        return "act"
    if o in ("reshape", "transpose", "squeeze", "expanddims", "expand_dims", "concatv2", "concatenation", "pack",
             "unpack", "identity", "shape", "stridedslice", "strided_slice", "pad", "padv2", "gather", "gatherv2"):
        return "shape"
    if o.startswith("placeholder") or o in ("input", "output"):
        return "io"
    return "other"


def quote(s: str) -> str:
    """A Graphviz double-quoted string: backslashes and quotes escaped, no raw newlines."""
    s = s.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + s.replace("\r", " ").replace("\n", "\\n") + '"'


def fmt_shape(shape) -> str:
    if shape is None:
        return "?"
    return "×".join("?" if d is None else str(d) for d in shape) or "scalar"


def build_dot(model: Model, max_nodes: int = MAX_NODES) -> tuple[str, int]:
    g = model.main
    ops = [n for n in g.nodes if not n.is_const]
    drawn = ops[:max_nodes]
    ids = {n.name: f"n{i}" for i, n in enumerate(drawn)}
    lines = ["digraph G {", 'graph [rankdir=TB, fontname="Helvetica", fontsize=10, nodesep=0.15, ranksep=0.25];',
             'node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=9, height=0.2, margin="0.06,0.02"];',
             'edge [fontname="Helvetica", fontsize=7, color="#777777", arrowsize=0.5];']
    # cluster by top-level name scope (one level keeps dot fast and the picture readable)
    clusters: dict[str, list[str]] = {}
    for n in drawn:
        scope = n.name.split("/", 1)[0] if "/" in n.name else ""
        clusters.setdefault(scope, []).append(n.name)
    ci = 0
    for scope, members in clusters.items():
        body = []
        for name in members:
            n = g.node(name)
            color = CATEGORY_COLORS[op_category(n.op)]
            body.append(f'{ids[name]} [label={_q_label(n.op, n.name)}, tooltip={quote(n.name)}, '
                        f'fillcolor="{color}", id="{ids[name]}"];')
        if scope and len(members) > 1:
            lines.append(f"subgraph cluster_{ci} {{ label={quote(scope)}; style=\"rounded\"; color=\"#bbbbbb\"; fontsize=9;")
            lines.extend(body)
            lines.append("}")
            ci += 1
        else:
            lines.extend(body)
    for n in drawn:
        for tname in n.inputs:
            t = g.tensors.get(tname)
            if t is None or t.is_const or t.producer not in ids:
                continue
            lab = fmt_shape(t.shape) if t.shape is not None else ""
            lines.append(f'{ids[t.producer]} -> {ids[n.name]}' + (f' [label={quote(lab)}];' if lab else ";"))
    lines.append("}")
    return "\n".join(lines), len(ops) - len(drawn)


def _short(name: str) -> str:
    last = name.rsplit("/", 1)[-1]
    return last if len(last) <= 40 else last[:37] + "..."


def _q_label(op: str, name: str) -> str:
    short = _short(name)
    return quote(op if short == op else f"{op}\n{short}")


_PROLOG = re.compile(r"^.*?(?=<svg)", re.S)


def render_diagram(model: Model, summ=None, max_nodes: int = MAX_NODES) -> tuple[str | None, str]:
    """(inline SVG or None, note)."""
    exe = shutil.which("dot")
    if exe is None:
        return None, "Graphviz `dot` is not installed: no diagram (install the graphviz package)."
    src, cut = build_dot(model, max_nodes)
    try:
        proc = subprocess.run([exe, "-Tsvg"], input=src.encode("utf-8"), capture_output=True,
                              timeout=DOT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None, f"Graphviz took longer than {DOT_TIMEOUT_S} s: no diagram."
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()[:1]
        return None, f"Graphviz failed: {err[0] if err else 'unknown error'}"
    svg = _PROLOG.sub("", proc.stdout.decode("utf-8", "replace"), count=1)
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.S)
    note = "Constants are folded into the ops that use them."
    if cut:
        note += f" The graph has more than {max_nodes} ops: the first {max_nodes} are drawn, {cut} are not."
    return svg, note
