"""The whole-graph diagram of a small graph: Graphviz `dot` to inline SVG, constants folded into their
consumers (render/diagram.py decides when it is drawn, and lays out big graphs one scope at a time).

Model-provided strings reach dot only inside quoted, escaped labels; node ids are our own (n0, n1, ...).
Large graphs are capped, and dot runs under a time limit; the note says what was cut or why it failed.
"""
from __future__ import annotations

import re

from ..model import Model
from ..shapespec import compact_shape
from ..opdata import roles as op_roles
from .graphviz import Run as DotRun, find as find_dot, run as run_dot  # names, not the package (no import circle)

MAX_NODES = 1500
DOT_TIMEOUT_S = 20
CATEGORY_COLORS = {  # fill colours by op family, loosely after Netron's palette
    "conv": "#cfe2f3", "pool": "#d9ead3", "norm": "#fff2cc", "act": "#f4cccc", "shape": "#eeeeee",
    "io": "#d0e0e3", "other": "#ffffff",
}


op_category = op_roles.category  # the categories are data: opdata/roles.py


def quote(s: str) -> str:
    """A Graphviz double-quoted string: backslashes and quotes escaped, no raw newlines."""
    s = s.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + s.replace("\r", " ").replace("\n", "\\n") + '"'


def constant_expressions(g) -> frozenset[str]:
    """Op nodes computed from constants alone (e.g. batch-norm scale = gamma * rsqrt(var + eps) in a
    frozen Keras graph): a converter folds them, and so does the diagram. Computed once per graph (the
    static drawing, the diagram's boxes and prestart all ask)."""
    return g.memo("constant_expressions", lambda: frozenset(_constant_expressions(g)))


def _constant_expressions(g) -> set[str]:
    out: set[str] = set()
    tensors = g.tensors
    for _ in range(64):  # frozen graphs are nearly topologically ordered: this settles in a pass or two
        before = len(out)
        for n in g.nodes:
            if n.is_const or not n.inputs or n.name in out or n.op.startswith("Placeholder"):
                continue
            t = tensors.get(n.inputs[0])  # most ops fail on their first input: no generator for them
            if t is None or not (t.is_const or t.producer in out):
                continue
            if all((t := tensors.get(i)) is not None and (t.is_const or t.producer in out) for i in n.inputs):
                out.add(n.name)
        if len(out) == before:
            break
    return out


def _cluster_key(names: list[str]):
    """Cluster by the first name-scope level below the scope that all scoped nodes share (the layer,
    usually): `model/block_1_expand/Conv2D` -> `model/block_1_expand`."""
    parts = [n.split("/")[:-1] for n in names if "/" in n]
    common: list[str] = []
    if parts:
        for level in zip(*parts):
            if len(set(level)) != 1:
                break
            common.append(level[0])
    depth = len(common)

    def key(name: str) -> str:
        comps = name.split("/")
        if len(comps) > depth + 1 and comps[:depth] == common:
            return "/".join(comps[:depth + 1])
        return ""
    return key


def build_dot(model: Model, max_nodes: int = MAX_NODES, keep=None, clusters_on: bool = True):
    """(dot source, node name -> diagram id, ops not drawn because of the cap, constant-only ops folded).
    `keep`: the node names to draw (the inference subgraph), or None for all."""
    g = model.main
    folded = constant_expressions(g)
    ops = [n for n in g.nodes if not n.is_const and n.name not in folded and n.op != "NoOp"
           and (keep is None or n.name in keep)]
    drawn = ops[:max_nodes]
    index = {n.name: i for i, n in enumerate(g.nodes)}
    ids = {n.name: f"n{index[n.name]}" for n in drawn}  # n<position in the graph>, as in the page's data
    lines = ["digraph G {", 'graph [rankdir=TB, fontname="Helvetica", fontsize=10, nodesep=0.15, ranksep=0.25];',
             'node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=9, height=0.2, '
             'margin="0.09,0.02"];',
             'edge [fontname="Helvetica", fontsize=7, color="#777777", arrowsize=0.5];']
    key = _cluster_key([n.name for n in drawn]) if clusters_on else (lambda name: "")
    clusters: dict[str, list] = {}
    for n in drawn:
        clusters.setdefault(key(n.name), []).append(n)
    for ci, (scope, members) in enumerate(clusters.items()):
        boxed = bool(scope) and len(members) > 1
        body = [f'{ids[n.name]} [label={_q_label(n.op, n.name, 1 if boxed else 2)}, tooltip={quote(n.name)}, '
                f'fillcolor="{CATEGORY_COLORS[op_category(n.op)]}", id="{ids[n.name]}"];' for n in members]
        if boxed:
            lines.append(f'subgraph cluster_{ci} {{ label={quote(scope.rsplit("/", 1)[-1])}; '
                         'style="rounded"; color="#bbbbbb"; fontsize=9;')
            lines.extend(body)
            lines.append("}")
        else:
            lines.extend(body)
    for n in drawn:
        for tname in n.inputs:
            t = g.tensors.get(tname)
            if t is None or t.is_const or t.producer not in ids:
                continue
            lab = compact_shape(t.shape) if t.shape is not None else ""
            lines.append(f"{ids[t.producer]} -> {ids[n.name]}" + (f" [label={quote(lab)}];" if lab else ";"))
    lines.append("}")
    return "\n".join(lines), ids, len(ops) - len(drawn), len(folded)


def _short(name: str, levels: int = 1) -> str:
    """The last `levels` components of a node name (the cluster box shows the scope above them)."""
    last = "/".join(name.split("/")[-levels:])
    return last if len(last) <= 40 else "..." + last[-37:]


def _q_label(op: str, name: str, levels: int = 1) -> str:
    short = _short(name, levels)
    return quote(op if short == op else f"{op}\n{short}")


def drawn_note(folded: int, hidden: int) -> str:
    """The diagram note's first sentences: constants folded (and `folded` ops computed from them alone), and the
    `hidden` nodes of a training graph left out of the drawing."""
    note = "Constants are folded into the ops that use them"
    note += "." if not folded else \
        f", and so {'is 1 op' if folded == 1 else f'are {folded:,} ops'} computed from constants alone."
    if hidden:
        what = "1 other node (training, saver, summaries, initialisation...) is" if hidden == 1 else \
            f"{hidden:,} other nodes (training, saver, summaries, initialisation...) are"
        note += f" Only the inference subgraph (what the outputs depend on) is drawn: {what} not."
    return note


_PROLOG = re.compile(r"^.*?(?=<svg)", re.S)


def render_diagram(model: Model, max_nodes: int = MAX_NODES, keep=None) -> tuple[str | None, str, dict]:
    """(inline SVG or None, note, node name -> id of its box in the SVG). A layout with name-scope
    clusters gets DOT_TIMEOUT_S; if that is not enough, a plain layout gets as long again."""
    return start_diagram(model, max_nodes, keep)()


def start_diagram(model: Model, max_nodes: int = MAX_NODES, keep=None):
    """render_diagram's dot run, started now; the function returned waits for it and gives the result."""
    exe = find_dot()
    if exe is None:
        return lambda: (None, "Graphviz `dot` is not installed: no diagram (install the graphviz package).", {})
    src, ids, cut, folded = build_dot(model, max_nodes, keep)
    run = DotRun(exe, src, "svg", DOT_TIMEOUT_S)
    return lambda: _finish(model, max_nodes, keep, exe, run, ids, cut, folded)


def _finish(model: Model, max_nodes: int, keep, exe: str, run, ids: dict, cut: int, folded: int):
    out, err = run.result()
    plain = ""
    if out is None and "longer" in err:
        src, ids, cut, folded = build_dot(model, max_nodes, keep, clusters_on=False)
        out, err2 = run_dot(exe, src.replace("graph [", "graph [splines=line, nslimit=2, mclimit=0.5, ", 1),
                            DOT_TIMEOUT_S)
        plain = f" {err} with name-scope boxes, so they are left out."
        err = err2 or err
    if out is None:
        return None, err + ": no diagram.", {}
    svg = _PROLOG.sub("", out, count=1)
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.S)
    hidden = 0 if keep is None else sum(1 for n in model.main.nodes if not n.is_const and n.name not in keep)
    note = drawn_note(folded, hidden)
    if cut:
        note += f" The graph has more than {max_nodes:,} ops: the first {max_nodes:,} are drawn, {cut:,} are not."
    return svg, note + plain, ids
