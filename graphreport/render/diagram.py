"""The interactive diagram: a tree of name scopes laid out one level at a time, embedded in the page.

What the page gets (``Diagram.data``, embedded as escaped JSON, drawn by templates/report.js):
- ``items``: one row per box: op nodes (leaves), name scopes, series (sibling scopes ``layer_0`` ...
  ``layer_255`` with the same inside, one box "layer_[0-255] ×256") and blocks (runs of a long flat level
  cut where the graph has a single path, e.g. one Inception module); each with its op count, params, share
  of FLOPs and TFLite status, summed from the Report's per-node figures (nothing is recomputed here).
- ``layouts``: a Graphviz `dot` layout of each box's inside (its children as boxes, edges between them
  with the tensor shape, stubs for what comes from or goes outside), computed here, at report time, so the
  page expands a scope without any layout engine. Boxes with the same inside share one layout; layout work
  is bounded (LAYOUT_BUDGET boxes laid out in all, at most MAX_VIEW per box), and dot runs in a few batched
  processes in parallel, under the time limit of svg.DOT_TIMEOUT_S (render/boxlayout.py).
- ``expanded``: the boxes open by default: all of them for a small graph (the page then shows the static
  whole-graph SVG of svg.render_diagram, as before), an overview for a big one.

Model strings reach dot only inside quoted, escaped labels (svg.quote); ids are our own.
"""
from __future__ import annotations

import gc
import heapq
import math
import os
import re
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import accumulate, compress, islice, repeat
from operator import add, attrgetter, eq, gt, itemgetter, lt, not_, sub
from typing import Optional

from ..shapespec import compact_shape
from .svg import (  # names, not the package (no import circle)
    DOT_TIMEOUT_S, constant_expressions, drawn_note, start_diagram)
from .boxlayout import BLOCK, MAX_VIEW, OP, SCOPE, SERIES, layout_all

SMALL = 150  # at most this many drawn ops: fully expanded, as one static Graphviz SVG
CHUNK_ABOVE = 60  # a level with more children is cut into blocks
OVERVIEW_ITEMS = 24  # a big graph opens boxes (biggest first) while at most this many are visible
SERIES_MIN = 3  # members of a series at least
SERIES_SPLIT = 256  # a series of more than MAX_VIEW members is drawn as series of this many
OK, FLEX, BAD, NONE = 0, 1, 2, 3  # TFLite status of a box (worst of its ops); NONE: nothing to judge

_NUM = re.compile(r"^(.*?)(\d+)(\D*)$")


@dataclass(slots=True)
class Item:
    kind: int
    label: str
    name: str  # full name (op node name, scope path) or description: what search matches
    op: str = ""
    parent: int = -1
    children: list[int] = field(default_factory=list)
    leaf: int = -1  # op: index in the drawn list (its box id in the page is n<leaf>)
    ops: int = 0
    params: int = 0
    flops: int = 0
    unknown: int = 0  # ops of unknown cost inside
    status: int = NONE
    layout: int = -1
    sig: int = 0  # structure (kinds, ops, internal edges), for series
    note: str = ""


@dataclass
class Diagram:
    svg: Optional[str]
    note: str
    ids: dict  # node name -> box id
    data: Optional[dict]


def display_path(name: str, fused: bool) -> list[str]:
    """Name scope components of a node; `fused` (Graph.fused_names, TFLite): a name joins the names of fused
    TF ops with ';' and the first is the op's own. A trailing '/' or empty components are dropped."""
    if fused:
        name = name.split(";", 1)[0]
    return [c for c in name.split("/") if c] or [name]


def status_of(tflite: str) -> int:
    if tflite.startswith("builtin"):
        return OK
    if tflite.startswith("flex"):
        return FLEX
    if tflite.startswith(("unsupported", "custom", "unknown")):
        return BAD
    return NONE


def drawn_ops(model, keep, positions: Optional[list] = None):
    """The op nodes the diagram draws, and the ops folded as constant expressions; `positions`, when given,
    gets each drawn op's position in the graph."""
    g = model.main
    folded = constant_expressions(g)
    ops = []
    for i, n in enumerate(g.nodes):
        if not n.is_const and n.op != "NoOp" and n.name not in folded and (keep is None or n.name in keep):
            ops.append(n)
            if positions is not None:
                positions.append(i)
    return ops, folded


class Builder:
    def __init__(self, report, keep):
        self.report = report
        self.model = report.model
        self.g = self.model.main
        self.gindex: list[int] = []  # position in the graph of each drawn op: the report's nodes[i]
        self.ops, self.folded = drawn_ops(self.model, keep, self.gindex)
        self.items: list[Item] = []
        self.edges: list[tuple[int, int, str]] = []  # leaf item -> leaf item, tensor shape text
        self.not_laid_out = 0
        self.layout_note = ""
        self.box = bytearray()  # per item: 1 unless an op (a box that may hold others), for container walks

    # ---------------------------------------------------------------- tree
    def new(self, item: Item) -> int:
        self.items.append(item)
        self.box.append(item.kind != OP)
        return len(self.items) - 1

    def build_tree(self):
        fused = self.g.fused_names
        paths = [display_path(n.name, fused) for n in self.ops]
        # the scope every op shares (the model's own name) is not drawn as a box
        common = 0
        scoped = [p for p in paths if len(p) > 1]
        if scoped and len(scoped) == len(paths):
            first = scoped[0]
            while common < len(first) - 1 and all(len(p) > common + 1 and p[common] == first[common] for p in scoped):
                common += 1
        self.root = self.new(Item(SCOPE, "/".join(paths[0][:common]) if common and paths else "graph",
                                  "/".join(paths[0][:common]) if common and paths else ""))
        scopes: dict[tuple, int] = {(): self.root}
        self.scope_of_path = scopes
        items, new, root = self.items, self.new, self.root
        leaf_item = [0] * len(self.ops)  # op position -> its item
        for i, (n, p) in enumerate(zip(self.ops, paths)):
            parent = root
            if len(p) > common + 1:
                p = p[common:]
                for d in range(1, len(p)):
                    key = tuple(p[:d])
                    s = scopes.get(key)
                    if s is None:
                        s = new(Item(SCOPE, p[d - 1], "/".join(paths[i][:common + d]), parent=parent))
                        items[parent].children.append(s)
                        scopes[key] = s
                    parent = s
            label = p[-1]
            # an op has no children (an empty tuple, shared) and, at the top level, its name as label
            leaf = leaf_item[i] = new(Item(OP, n.name if label == n.name else label, n.name, op=n.op,
                                           parent=parent, leaf=i, children=()))
            items[parent].children.append(leaf)
        self.leaf_item = leaf_item
        self._collapse_chains(sorted(scopes.values(), reverse=True))

    def _collapse_chains(self, scopes: list[int]):
        """A scope holding one op is drawn as that op (labelled scope/op); a scope holding one scope only
        is merged into it ('a/b'). `scopes`: each after the scopes inside it (a scope's item comes after
        its parent's), so a chain a/b/c collapses from its deep end."""
        items, box = self.items, self.box
        for k in scopes:
            it = items[k]
            children = it.children
            for pos, c in enumerate(children):
                if not box[c]:
                    continue
                ci = items[c]
                if ci.kind != SCOPE or len(ci.children) != 1:
                    continue
                only = items[ci.children[0]]
                only.label = f"{ci.label}/{only.label}"
                only.parent = k
                children[pos] = ci.children[0]
                ci.children = []
                ci.kind = -1  # dropped; figures of nodes not drawn fall back to the nearest kept ancestor

    def build_edges(self):
        tensors = self.g.tensors
        leaf_of = {n.name: self.leaf_item[i] for i, n in enumerate(self.ops)}  # op name -> its item
        texts: dict[tuple, str] = {}  # shape -> its text: one string for the many edges of one shape
        ends: dict[str, tuple] = {}  # tensor name -> (its producer's item, shape text), or () if not drawn
        append = self.edges.append
        for i, n in enumerate(self.ops):
            v = self.leaf_item[i]
            for tname in n.inputs:
                end = ends.get(tname)
                if end is None:
                    t = tensors.get(tname)
                    u = None if t is None or t.is_const else leaf_of.get(t.producer)
                    if u is None:
                        end = ()
                    elif t.shape is None:
                        end = (u, "")
                    else:
                        key = tuple(t.shape)
                        text = texts.get(key)
                        if text is None:
                            text = texts[key] = compact_shape(t.shape)
                        end = (u, text)
                    ends[tname] = end
                if end:
                    append((end[0], v, end[1]))

    # ---------------------------------------------------------------- views
    def preorder(self, root: int, containers: bool = False) -> list[int]:
        """Items below `root` (itself included), each before its children, children in order; only those
        with children when `containers` (ops are skipped without a look at each)."""
        items = self.items
        out, stack = [], [root]
        append, pop, push = out.append, stack.pop, stack.extend
        if containers:
            box = self.box.__getitem__
            while stack:
                k = pop()
                children = items[k].children
                if children:
                    append(k)
                    push(compress(reversed(children), map(box, reversed(children))))
            return out
        while stack:
            k = pop()
            append(k)
            children = items[k].children
            if children:
                push(reversed(children))
        return out

    def view_edges(self):
        """For each container: edges between its children (child position pairs, label) and stubs for
        edges that come from or go outside of it. Each edge climbs from its two ends to the box holding
        both: O(edges x depth), one dict entry per box crossed."""
        items = self.items
        parent = [-1] * len(items)
        pos = [0] * len(items)
        depth = [0] * len(items)
        for k in self.preorder(self.root):  # parents before children: depths top-down
            children = items[k].children
            if children:
                d = depth[k] + 1
                for j, c in enumerate(children):
                    parent[c] = k
                    pos[c] = j
                    depth[c] = d
        inner: dict[int, dict] = {}
        ins: dict[int, dict] = {}
        outs: dict[int, dict] = {}
        for u, v, lab in self.edges:
            a, b = u, v
            da, db = depth[u], depth[v]
            # stubs: in every container strictly between the lca and each end (the deeper end first)
            while da > db:
                p = parent[a]
                o = outs.get(p)
                if o is None:
                    o = outs[p] = {}
                o.setdefault(pos[a], lab)
                a = p
                da -= 1
            while db > da:
                p = parent[b]
                i = ins.get(p)
                if i is None:
                    i = ins[p] = {}
                i.setdefault((u, pos[b]), lab)
                b = p
                db -= 1
            pa, pb = parent[a], parent[b]
            while pa != pb:
                o = outs.get(pa)
                if o is None:
                    o = outs[pa] = {}
                o.setdefault(pos[a], lab)
                i = ins.get(pb)
                if i is None:
                    i = ins[pb] = {}
                i.setdefault((u, pos[b]), lab)
                a, b = pa, pb
                pa, pb = parent[a], parent[b]
            e = inner.get(pa)
            if e is None:
                e = inner[pa] = {}
            key = (pos[a], pos[b])
            x = e.get(key)
            if x is None:
                e[key] = [lab, 1]
            elif x[0] != lab:
                x[1] += 1
        self.inner, self.ins, self.outs = inner, ins, outs

    # ---------------------------------------------------------------- series
    def signatures(self):
        """Structure of each box, bottom-up: kinds and ops of its children in name order, the edges between
        them, and how many stubs; not names and not shapes."""
        items = self.items
        op_sigs: dict[str, int] = {}  # one int object per op type
        for k in self.leaf_item:
            it = items[k]
            sig = op_sigs.get(it.op)
            if sig is None:
                sig = op_sigs[it.op] = hash(("op", it.op))
            it.sig = sig
        inner, ins, outs = self.inner, self.ins, self.outs
        for k in self.postorder(self.root, containers=True):
            it = items[k]
            kids = [items[c] for c in it.children]
            order = sorted(range(len(kids)), key=[c.label for c in kids].__getitem__)
            rank = [0] * len(kids)
            for r, j in enumerate(order):
                rank[j] = r
            edges = sorted((rank[a], rank[b]) for a, b in inner.get(k, ()))
            it.sig = hash((it.kind, tuple(kids[j].sig for j in order), tuple(edges),
                           len(ins.get(k, ())), len(outs.get(k, ()))))

    def postorder(self, root: int, containers: bool = False) -> list[int]:
        """Items below `root` (itself included), each after its children, the last child's subtree first
        (the reverse of preorder); only those with children when `containers`."""
        out = self.preorder(root, containers)
        out.reverse()
        return out

    def find_series(self):
        """Sibling scopes <prefix><number><suffix> with the same inside become one box, when drawing them as
        one box keeps the level acyclic (members chained one after the other, or side by side)."""
        made = False
        for k in self.postorder(self.root, containers=True):
            it = self.items[k]
            if it.kind != SCOPE or len(it.children) < SERIES_MIN:
                continue
            groups: dict[tuple, list[tuple[int, int]]] = {}
            for j, c in enumerate(it.children):
                ci = self.items[c]
                if ci.kind != SCOPE:
                    continue
                m = _NUM.match(ci.label)
                if m:
                    groups.setdefault((m.group(1), m.group(3), ci.sig), []).append((int(m.group(2)), j))
            cands = [(key, sorted(v)) for key, v in groups.items() if len(v) >= SERIES_MIN
                     and len({x[0] for x in v}) == len(v)]
            if not cands:
                continue
            n = len(it.children)
            edges = list(self.inner.get(k, {}))
            group_of = list(range(n))
            accepted = []
            for key, members in sorted(cands, key=lambda x: -len(x[1])):
                trial = list(group_of)
                for _, j in members:
                    trial[j] = n + len(accepted)
                if _acyclic(trial, edges):
                    group_of = trial
                    accepted.append((key, members))
            if accepted:
                made = True
                self.make_series(k, accepted)
        if made:
            self.view_edges()
        return made

    def make_series(self, k: int, accepted):
        it = self.items[k]
        replace: dict[int, int] = {}  # child position -> series item (at its first member), or -1 (dropped)
        for (prefix, suffix, _sig), members in accepted:
            nums = [x[0] for x in members]
            first = self.items[it.children[members[0][1]]]
            base = first.name[:len(first.name) - len(first.label)] if first.name.endswith(first.label) else ""
            s = self.new(Item(SERIES, f"{prefix}[{_ranges(nums)}]{suffix} ×{len(members)}",
                              f"{base}{prefix}[{_ranges(nums)}]{suffix}", parent=k))
            kids = [it.children[j] for _, j in members]
            if len(kids) > MAX_VIEW:  # too many to draw side by side: series of series, SERIES_SPLIT each
                parts = []
                for a in range(0, len(kids), SERIES_SPLIT):
                    sub = nums[a:a + SERIES_SPLIT]
                    p = self.new(Item(SERIES, f"{prefix}[{_ranges(sub)}]{suffix} ×{len(sub)}",
                                      f"{base}{prefix}[{_ranges(sub)}]{suffix}", parent=s))
                    self.items[p].children = kids[a:a + SERIES_SPLIT]
                    for c in self.items[p].children:
                        self.items[c].parent = p
                    parts.append(p)
                kids = parts
            self.items[s].children = kids
            for c in kids:
                self.items[c].parent = s
            at = min(j for _, j in members)
            for _, j in members:
                replace[j] = s if j == at else -1
        it.children = [replace.get(j, c) for j, c in enumerate(it.children) if replace.get(j, 0) != -1]

    # ---------------------------------------------------------------- blocks
    def make_blocks(self):
        """A level with more than CHUNK_ABOVE children is cut into blocks: runs of the level's topological
        order between points that every path crosses (an Inception module, a residual block), and runs of a
        plain chain merged by name (block_3_expand, block_3_depthwise ... -> block_3)."""
        changed, made = True, False
        guard = 0
        # the edges between each box's children (child position pairs), kept up to date as boxes are cut:
        # view_edges (every edge's path to the root) runs once at the end, not after every round
        inner = {k: list(e) for k, e in self.inner.items()}
        items, box = self.items, self.box
        # boxes left as they were (no cut) whose children, edges and the children's first ops are unchanged
        # since: they would be left as they are again, so they are not looked at again
        settled: set[int] = set()
        keys = _Keys()  # label -> _key(label), for the rounds after the first
        while changed and guard < 8:
            changed = False
            guard += 1
            for k in self.postorder(self.root, containers=True):
                it = items[k]
                if it.kind in (OP, SERIES) or len(it.children) <= CHUNK_ABOVE or k in settled:
                    continue
                edges = inner.get(k, [])
                children = it.children
                labels = [items[c].label for c in children]
                groups = _blocks(labels, edges,
                                 [self.first_leaf(c) if box[c] else items[c].leaf for c in children], keys)
                if len(groups) >= len(children):
                    settled.add(k)
                    continue
                up = it.parent  # its first op may change: what holds it is looked at again
                while up >= 0:
                    settled.discard(up)
                    up = items[up].parent
                new_children = []
                group_of, place = [0] * len(children), [0] * len(children)  # old position -> new, and in a block
                blocks = []  # new position -> block item, or -1
                for g, grp in enumerate(groups):
                    if len(grp) == 1:
                        group_of[grp[0]] = g
                        new_children.append(children[grp[0]])
                        blocks.append(-1)
                        continue
                    kids = list(map(children.__getitem__, grp))
                    b = self.new(Item(BLOCK, _block_label(list(map(labels.__getitem__, grp))), "", parent=k))
                    items[b].children = kids
                    for c in kids:
                        items[c].parent = b
                    for p, j in enumerate(grp):
                        group_of[j] = g
                        place[j] = p
                    new_children.append(b)
                    blocks.append(b)
                it.children = new_children
                outer: dict = {}
                for a, c in edges:
                    ga, gc = group_of[a], group_of[c]
                    if ga != gc:
                        outer[(ga, gc)] = None
                    else:  # inside one block
                        inner.setdefault(blocks[ga], {})[(place[a], place[c])] = None
                inner[k] = list(outer)
                changed = True
            if changed:
                made = True
        if made:
            self.view_edges()
        return made

    def first_leaf(self, k: int) -> int:
        while self.items[k].kind != OP and self.items[k].children:
            k = self.items[k].children[0]
        return self.items[k].leaf if self.items[k].kind == OP else 0

    # ---------------------------------------------------------------- figures
    def figures(self):
        costs = self.report.node_costs()
        compat = self.report.compat.nodes if self.report.compat else {}
        items = self.items
        extra = self._extra_costs(costs)
        n = len(items)
        # per item, as lists: a box's figures are C-level sums over its children's entries
        ops, params, flops, unknown = [0] * n, [0] * n, [0] * n, [0] * n
        status = [-1] * n  # NONE as -1: the worst status is the largest
        statuses: dict[str, int] = {}
        for i, node in enumerate(self.ops):
            k = self.leaf_item[i]
            it = items[k]
            it.ops = ops[k] = 1
            c = costs.get(node.name)
            if c is not None:
                it.params = params[k] = c.params
                if c.known:
                    it.flops = flops[k] = c.flops or 0
                else:
                    it.unknown = unknown[k] = 1
            nc = compat.get(node.name)
            if nc:
                st = statuses.get(nc.tflite)
                if st is None:
                    st = statuses[nc.tflite] = status_of(nc.tflite)
                it.status = st
                status[k] = -1 if st == NONE else st
            else:
                it.status = NONE
        for k in self.postorder(self.root, containers=True):
            it = items[k]
            ch = it.children
            it.ops = ops[k] = sum(map(ops.__getitem__, ch))
            p = sum(map(params.__getitem__, ch))
            f = sum(map(flops.__getitem__, ch))
            it.unknown = unknown[k] = sum(map(unknown.__getitem__, ch))
            worst = status[k] = max(map(status.__getitem__, ch))
            it.status = NONE if worst < 0 else worst
            for c in extra.get(k, ()):
                p += c.params
                if c.known:
                    f += c.flops or 0
            it.params = params[k] = p
            it.flops = flops[k] = f

    def _extra_costs(self, costs: dict) -> dict[int, list]:
        """The costs of nodes not drawn (constants with their parameters, folded ops), by the box that
        holds their name scope (the nearest kept one)."""
        fused = self.g.fused_names
        by_path: dict[tuple, int] = {}
        for path, k in self.scope_of_path.items():
            if self.items[k].kind != -1:
                by_path[path] = k
        common_len = 0
        root_name = self.items[self.root].name
        if root_name:
            common_len = len(root_name.split("/"))
        nodes = self.g.nodes
        extra: dict[int, list] = {}
        for i in sorted(set(range(len(nodes))).difference(self.gindex)):
            node = nodes[i]
            c = costs.get(node.name)
            if c is None or (not c.params and not c.flops):
                continue
            p = tuple(display_path(node.name, fused)[common_len:-1])
            while p and p not in by_path:
                p = p[:-1]
            extra.setdefault(by_path.get(p, self.root), []).append(c)
        return extra

    # ---------------------------------------------------------------- defaults
    def default_expanded(self, small: bool) -> list[int]:
        if small:
            return [k for k, it in enumerate(self.items) if it.kind >= SCOPE and it.children and it.layout >= 0]
        opened = [self.root]
        visible = len(self.items[self.root].children)
        heap = [(-self.items[c].ops, c) for c in self.items[self.root].children]
        heapq.heapify(heap)
        while heap:
            _, k = heapq.heappop(heap)
            it = self.items[k]
            if it.kind == OP or it.layout < 0 or not it.children:
                continue
            if visible - 1 + len(it.children) > OVERVIEW_ITEMS and (visible > 4 or len(it.children) > CHUNK_ABOVE):
                break  # the biggest closed box does not fit: opening smaller ones would not help reading
            opened.append(k)
            visible += len(it.children) - 1
            for c in it.children:
                heapq.heappush(heap, (-self.items[c].ops, c))
        return opened

    # ---------------------------------------------------------------- labels
    def box_label(self, it: Item, total_flops) -> str:
        if it.kind == OP:
            short = it.label if len(it.label) <= 40 else "…" + it.label[-39:]
            return it.op if short == it.op else f"{it.op}\n{short}"
        head = it.label if len(it.label) <= 48 else it.label[:22] + "…" + it.label[-25:]
        figs = [f"{it.ops:,} ops"]
        if it.kind == SERIES:
            figs = [f"{self.items[it.children[0]].ops:,} ops each", "in all:"]
        if it.params:
            figs.append(f"{_si(it.params)} params")
        if total_flops and (it.flops or it.unknown):  # ops of unknown cost: at least the known part
            figs.append(("≥ " if it.unknown else "") + f"{100 * it.flops / total_flops:.1f}% FLOPs")
        return head + "\n" + " · ".join(figs).replace("in all: · ", "in all: ")


def _si(v) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= div:
            return f"{v / div:.3g}{unit}"
    return str(v)


def _ranges(nums: list[int]) -> str:
    nums = sorted(nums)
    parts, start, prev = [], nums[0], nums[0]
    for x in nums[1:] + [None]:
        if x is not None and x == prev + 1:
            prev = x
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if x is not None:
            start = prev = x
    return ",".join(parts) if len(parts) <= 4 else ",".join(parts[:3]) + ",…"


def _acyclic(group_of: list[int], edges) -> bool:
    adj: dict[int, set] = {}
    indeg: dict[int, int] = {}
    nodes = set(group_of)
    for a, b in edges:
        ga, gb = group_of[a], group_of[b]
        if ga == gb or gb in adj.setdefault(ga, set()):
            continue
        adj[ga].add(gb)
        indeg[gb] = indeg.get(gb, 0) + 1
    queue = [x for x in nodes if not indeg.get(x)]
    seen = 0
    while queue:
        x = queue.pop()
        seen += 1
        for y in adj.get(x, ()):
            indeg[y] -= 1
            if not indeg[y]:
                queue.append(y)
    return seen == len(nodes)


_INDEX = re.compile(r"(?:(?<=_)|^)\d+(?=_|/|$)")


def _key(label: str) -> tuple:
    """The numbers that index a layer's name (block_3_expand_BN -> (3,); conv2d_1_2 -> (1, 2))."""
    first = label.split("/", 1)[0]
    if "\n" in first:  # where _INDEX's $ also matches
        return tuple(_INDEX.findall(first))
    return tuple([part for part in first.split("_") if part.isdecimal()])  # isdecimal: what \d matches


def _topological(n: int, edges: set, ea: list[int], eb: list[int], order_hint: list[int]) -> list[int]:
    """Positions 0..n-1 in topological order, the one with the smallest (hint, position) first among those
    ready; with a cycle, what the cycle holds up comes last in hint order. `ea`, `eb`: the edges' ends."""
    hint = order_hint.__getitem__
    if all(map(lt, zip(map(hint, ea), ea), zip(map(hint, eb), eb))):
        # every edge goes forward in hint order (a file's usual order): that order is the answer
        return sorted(range(n), key=hint)
    succ: list[list[int]] = [[] for _ in range(n)]
    indeg = [0] * n
    for a, b in edges:
        succ[a].append(b)
        indeg[b] += 1
    heap = [(order_hint[j], j) for j in range(n) if not indeg[j]]
    heapq.heapify(heap)
    order = []
    while heap:
        _, j = heapq.heappop(heap)
        order.append(j)
        for b in succ[j]:
            indeg[b] -= 1
            if not indeg[b]:
                heapq.heappush(heap, (order_hint[b], b))
    if len(order) < n:  # a cycle between scopes: the rest in file order
        placed = set(order)
        order += sorted((j for j in range(n) if j not in placed), key=lambda j: order_hint[j])
    return order


class _Keys(dict):
    """label -> _key(label), worked out when first asked."""

    def __missing__(self, label: str) -> tuple:
        key = self[label] = _key(label)
        return key


def _blocks(labels: list[str], edges, order_hint: list[int], keys: Optional[_Keys] = None) -> list[list[int]]:
    """Groups of child positions (see make_blocks). `keys`: _key's answers so far."""
    if keys is None:
        keys = _Keys()
    n = len(labels)
    edges = set(edges)
    ea, eb = list(map(itemgetter(0), edges)), list(map(itemgetter(1), edges))
    order = _topological(n, edges, ea, eb, order_hint)
    at = sorted(range(n), key=order.__getitem__)  # child -> its place in `order`
    cross = [0] * (n + 1)
    if edges:
        pa, pb = list(map(at.__getitem__, ea)), list(map(at.__getitem__, eb))
        for lo, hi in compress(zip(pa, pb), map(gt, map(abs, map(sub, pa, pb)), repeat(1))):
            if lo > hi:
                lo, hi = hi, lo
            cross[lo + 1] += 1  # covers the positions strictly between: none of them is a cut point
            cross[hi] -= 1
    # a segment ends where no edge passes over
    stops = list(map(add, compress(range(n), map(not_, accumulate(cross[:n]))), repeat(1)))
    if not stops or stops[-1] != n:
        stops.append(n)
    target = max(4, math.ceil(n / (CHUNK_ABOVE // 2)))
    if len(stops) == n:  # every child a segment of its own (a chain, or no edges)
        k = list(map(keys.__getitem__, map(labels.__getitem__, order)))
        if not any(map(eq, k, islice(k, 1, None))):  # and no two in a row named alike: each its own group
            if n <= CHUNK_ABOVE:
                return [[j] for j in order]
            return [grp[s:s + MAX_VIEW // 2] for grp in (order[a:a + target] for a in range(0, n, target))
                    for s in range(0, len(grp), MAX_VIEW // 2)]
    segments = list(map(order.__getitem__, map(slice, [0, *stops[:-1]], stops)))
    target = max(4, math.ceil(n / (CHUNK_ABOVE // 2)))
    groups: list[list[int]] = []
    acc: list[int] = []
    acc_key = None  # _key of acc's last label
    for seg in segments:
        if len(seg) >= 3:  # a block with branches (a module, a residual block): its own group
            if acc:
                groups.append(acc)
                acc = []
            groups.append(seg)
            continue
        key = keys[labels[seg[0]]]
        if acc and (len(acc) + len(seg) > 3 * target or key != acc_key):
            groups.append(acc)
            acc = []
        acc.extend(seg)  # in place: a copy per segment made a long chain quadratic
        acc_key = key if len(seg) == 1 else _key(labels[seg[-1]])
    if acc:
        groups.append(acc)
    groups = _attach_tails(groups, labels)
    if len(groups) > CHUNK_ABOVE:  # names did not help (layer_0, layer_1 ... each its own): by size
        merged: list[list[int]] = []
        for grp in groups:
            if merged and len(merged[-1]) + len(grp) <= target:
                merged[-1].extend(grp)
            else:
                merged.append(grp)
        groups = merged
    out: list[list[int]] = []
    for grp in groups:  # a huge run without cut points: plain slices
        for s in range(0, len(grp), MAX_VIEW // 2):
            out.append(grp[s:s + MAX_VIEW // 2])
    return out


def _block_label(labels: list[str]) -> str:
    """What the members' names share, cut after a number (block_3_expand, block_3_project -> block_3;
    conv2_block1_1_conv, conv2_block1_add -> conv2_block1); else 'first … last'."""
    pre = os.path.commonprefix([min(labels), max(labels)])  # what all share: what the extremes share
    n = len(pre)
    # cut after a digit that no name continues with a digit: past the shared part, the names' own
    # characters are looked at; inside it, the next shared one
    if not (n and pre[-1].isdigit() and all(len(x) == n or not x[n].isdigit() for x in labels)):
        n -= 1
        while n > 0 and not (pre[n - 1].isdigit() and not pre[n].isdigit()):
            n -= 1
        pre = pre[:max(n, 0)]
    if len(pre) >= 3:
        return pre
    return f"{labels[0].split('/')[0]} … {labels[-1].split('/')[0]}"


def _attach_tails(groups: list[list[int]], labels: list[str]) -> list[list[int]]:
    """A lone layer right after a block and named like it (conv2_block1_out after conv2_block1) joins it."""
    out: list[list[int]] = []
    for grp in groups:
        if out and len(grp) == 1 and len(out[-1]) > 1:
            name = _block_label([labels[j] for j in out[-1]])
            if "…" not in name and labels[grp[0]].startswith(name) and \
                    not labels[grp[0]][len(name):len(name) + 1].isdigit():
                out[-1] = out[-1] + grp
                continue
        out.append(grp)
    return out


# -------------------------------------------------------------------- layout

class BoxIds(Mapping):
    """Node name -> id of its box in the page (n<position in the graph>), made when first read: the page of a
    big graph draws its node table from the data and never asks (200k names and ids were 30 MB)."""

    def __init__(self, ops: list, gindex: list[int]):
        self._ops, self._gindex, self._ids = ops, gindex, None

    def _all(self) -> dict:
        if self._ids is None:
            self._ids = {n.name: f"n{i}" for n, i in zip(self._ops, self._gindex)}
            self._ops = self._gindex = None
        return self._ids

    def __getitem__(self, name: str) -> str:
        return self._all()[name]

    def __iter__(self):
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


class Pending:
    """A diagram whose Graphviz runs go on in the background (start()): the box ids are known at once,
    result() waits for the layouts and makes the Diagram. Meanwhile the caller renders the rest of the page,
    so dot's time (a process of its own, on another core) mostly hides behind it."""

    def __init__(self, ids: dict, finish):
        self.ids, self._finish, self._done = ids, finish, None

    def result(self) -> Diagram:
        if self._done is None:
            self._done = _no_gc(self._finish)
            self._finish = None
        return self._done


def _no_gc(fn):
    enabled = gc.isenabled()
    gc.disable()  # tens of thousands of small objects beside a big model: the cyclic collector costs more than all else
    try:
        return fn()
    finally:
        if enabled:
            gc.enable()


def build(report, keep=None) -> Diagram:
    """The diagram of the report's main graph: static SVG (small graphs), note, box ids, page data."""
    return start(report, keep).result()


def start(report, keep=None) -> Pending:
    """build(), its Graphviz runs left going in the background: Pending.result() is the Diagram."""
    return _no_gc(lambda: _start(report, keep))


_EARLY: dict = {}  # id(model) -> (model, its static drawing's job, started by prestart)


def prestart(model) -> None:
    """Start the static drawing's Graphviz run right after reading, while the analyses run, when nothing of
    it can depend on them: the file stores every tensor's shape (no shape inference to wait for) and names
    its inputs and outputs (the whole graph is drawn), and its drawn ops fit the static drawing. The diagram
    takes the job over when its report's diagram is started (_start)."""
    if model.stores_shapes and model.declares_io:
        ops, _ = drawn_ops(model, None)
        if ops and len(ops) <= SMALL:
            _EARLY[id(model)] = (model, start_diagram(model, keep=None))


def _start(report, keep) -> Pending:
    t0 = time.monotonic()
    b = Builder(report, keep)
    if not b.ops:
        done = Diagram(None, "No op to draw.", {}, None)
        return Pending({}, lambda: done)
    ids = BoxIds(b.ops, b.gindex)
    small = len(b.ops) <= SMALL
    early = _EARLY.pop(id(b.model), None)
    static_job = None
    if small:
        static_job = early[1] if early is not None and early[0] is b.model and keep is None else \
            start_diagram(b.model, keep=keep)
    b.build_tree()
    b.build_edges()
    b.view_edges()
    b.signatures()
    if b.find_series() | b.make_blocks():
        b.signatures()  # the boxes' insides changed: their structure again, for sharing layouts
    b.figures()
    b.layouts = []
    layouts = layout_all(b, t0 + DOT_TIMEOUT_S)
    b.edges = b.scope_of_path = None  # done with (the layouts need the boxes' edges and stubs still)
    return Pending(ids, lambda: _finish(b, keep, small, ids, static_job, layouts, t0))


def _finish(b: Builder, keep, small: bool, ids: dict, static_job, layouts, t0: float) -> Diagram:
    # what does not depend on the layouts is made while Graphviz runs: the rows (a box's layout and note
    # are filled in after), the counts
    rows, boxes = _rows(b)
    kinds = Counter(map(attrgetter("kind"), b.items))
    n_series, n_scopes = kinds[SERIES], kinds[SCOPE] + kinds[BLOCK]
    hidden = sum(1 for n in b.g.nodes if not n.is_const and n.name not in keep) if keep is not None else 0
    layouts()
    b.inner = b.ins = b.outs = None  # done with
    for k in boxes:
        rows[k] = _box_row(b.items[k], rows[k][8])
    static, note, _ids = static_job() if static_job is not None else (None, "", {})
    if not b.layouts and static is None:
        msg = b.layout_note or note or "no layout"
        return Diagram(None, msg if msg.endswith(".") else msg + ": no diagram.", {}, None)
    if not note:
        note = drawn_note(len(b.folded), hidden)
    if not small:
        note += (f" {len(b.ops):,} ops in {n_scopes:,} name scopes and blocks"
                 + (f", repeated blocks grouped into {n_series} series" if n_series else "")
                 + ": shown collapsed; open a box with + (or double-click), search by name or op.")
    if b.not_laid_out:
        why = sorted({re.sub(r"^\d+ boxes inside: ", "", it.note).replace("not laid out: ", "")
                      for it in b.items if it.note})
        n = b.not_laid_out
        note += f" {'1 box stays' if n == 1 else f'{n:,} boxes stay'} closed: " + "; ".join(why) + "."
    return Diagram(static, note, ids, {
        "v": 1,
        "fields": "kind parent label name op children ops params flops% status layout node note",
        "items": rows,
        "root": b.root,
        "layouts": b.layouts,
        "expanded": b.default_expanded(small and static is not None),
        "overview": b.default_expanded(False),
        "static": static is not None,
        "build_s": round(time.monotonic() - t0, 3),
    })


def _rows(b: Builder) -> tuple[list[list], list[int]]:
    """The page's row of each item (see Diagram.data's "fields"), and the items that are boxes."""
    total = b.items[b.root].flops
    gindex = b.gindex
    rows, boxes = [], []
    append = rows.append
    for k, it in enumerate(b.items):
        kind = it.kind
        share = round(100 * it.flops / total, 2) if total and it.flops else 0
        if kind == OP:  # name and op: the report's nodes[leaf] (not repeated)
            append([OP, it.parent, it.label, None, None, None, 1, it.params, share, it.status, -1, gindex[it.leaf]])
        elif kind == -1:
            append([-1])
        else:
            append(_box_row(it, share))
            boxes.append(k)
    return rows, boxes


def _box_row(it: Item, share) -> list:
    row = [it.kind, it.parent, it.label, it.name, "", it.children, it.ops, it.params, share, it.status,
           it.layout, -1]
    if it.note:
        row.append(it.note)
    return row
