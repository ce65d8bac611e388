"""Graphviz layouts of the diagram's boxes (render/diagram.py builds the boxes): one `dot -Tplain` layout per
distinct box inside, shallow boxes first, within a budget of boxes; batched into a few dot processes that run
in the background while the page is rendered, then parsed and packed into the page's layout records. `b` is a
diagram.Builder throughout."""
from __future__ import annotations

import threading
import time
from itertools import compress

from .graphviz import Run as DotRun, find as find_dot  # names, not the package (no import circle)
from .svg import CATEGORY_COLORS, DOT_TIMEOUT_S, op_category, quote  # names, not the package (no import circle)

OP, SCOPE, SERIES, BLOCK = 0, 1, 2, 3  # kinds of box (diagram.Item.kind)
MAX_VIEW = 400  # children of one box laid out together at most
LAYOUT_BUDGET = 60000  # boxes laid out in all (100k-node graphs: deep scopes beyond stay collapsed)
HUGE_OPS, HUGE_LAYOUT_BUDGET = 120_000, 8000  # more drawn ops than this: a smaller budget (issue 13: a 200k-op
# graph reports in 20 s and 600 MB; its first levels are laid out (8,000 boxes: Graphviz took 2.3 s of CPU for
# 20,000 on the 200k chain, 0.9 s for 8,000), deeper boxes stay closed)
BATCH_NODES = 4000  # boxes per dot process
SPLIT_ABOVE = 1000  # boxes: a single batch is cut in two for two dot processes from this size
WORKERS = 2


def _view_dot(b, k: int, gid: int) -> tuple[str, int]:
    """dot source of one box's inside; children are c<j>, stubs i<j> / o<j>."""
    it = b.items[k]
    lines = [f"digraph v{gid} {{", 'graph [rankdir=TB, nodesep=0.18, ranksep=0.28, margin=0];',
             'node [shape=box, style="rounded", fontname="Helvetica", fontsize=9, height=0.2, '
             'margin="0.08,0.03"];', 'edge [fontname="Helvetica", fontsize=7, arrowsize=0.5];']
    for j, c in enumerate(it.children):
        # a box that opens gets the page's 13-unit "+" badge on its top right corner: room for it on both
        # sides (the label stays centred) so that it covers no text
        wide = ', margin="0.19,0.03"' if b.items[c].kind != OP else ""
        lines.append(f"c{j} [label={quote(b.box_texts[c])}{wide}];")
    ins = b.ins.get(k, {})
    stub_in: dict[int, str] = {}
    srcs: dict[int, int] = {}
    many = len(it.children) > 64  # a wide box: stub edges without labels (each label is a node for dot)
    seen = set()
    for (src, j), lab in ins.items():
        s = srcs.setdefault(src, len(srcs)) if len(srcs) < 8 or src in srcs else 7
        stub_in.setdefault(s, "")
        if (s, j) not in seen:
            seen.add((s, j))
            lines.append(f"i{s} -> c{j}" + (";" if many else f" [label={quote(lab)}];"))
    for s in stub_in:
        lines.append(f"i{s} [shape=point, width=0.06, height=0.06];")
    outs = b.outs.get(k, {})
    if len(outs) > 8:  # one stub for everything that leaves
        lines.append("ox [shape=point, width=0.06, height=0.06];")
        lines += [f"c{j} -> ox;" for j in outs]
        outs = {"x": ""}
    else:
        for j, lab in outs.items():
            lines.append(f"o{j} [shape=point, width=0.06, height=0.06];")
            lines.append(f"c{j} -> o{j}" + (";" if many else f" [label={quote(lab)}];"))
    for (a, c), (lab, more) in b.inner.get(k, {}).items():
        if a == c:
            continue
        text = lab + (f" (+{more - 1})" if more > 1 else "")
        lines.append(f"c{a} -> c{c}" + (f" [label={quote(text)}];" if text else ";"))
    if len(stub_in) > 0:
        lines.append("{rank=min; " + " ".join(f"i{s};" for s in stub_in) + "}")
    if outs:
        lines.append("{rank=max; " + " ".join(f"o{j};" for j in outs) + "}")
    lines.append("}")
    return "\n".join(lines), len(it.children) + len(stub_in) + len(outs)


def _parse_plain(text: str) -> list[dict]:
    """dot -Tplain output of several graphs -> one layout dict each (points, y down)."""
    out, cur, H = [], None, 0.0
    for line in text.split("\n"):  # not splitlines(): a model string may hold \u2028 and the like
        t = line.split()
        if not t:
            continue
        if t[0] == "graph":
            H = float(t[3]) * 72
            cur = {"w": round(float(t[2]) * 72, 1), "h": round(H, 1), "n": {}, "s": [], "e": []}
        elif t[0] == "node" and cur is not None:
            name = t[1]
            x, y, w, h = (float(v) * 72 for v in t[2:6])
            box = [round(x, 1), round(H - y, 1), round(w, 1), round(h, 1)]
            if name[0] == "c":
                cur["n"][int(name[1:])] = box
            else:
                cur["s"].append([name, box[0], box[1]])
        elif t[0] == "edge" and cur is not None:
            n = int(t[3])
            pts = []
            for p in range(n):
                pts += [round(float(t[4 + 2 * p]) * 72, 1), round(H - float(t[5 + 2 * p]) * 72, 1)]
            rest = t[4 + 2 * n:]
            lab = None
            if len(rest) > 2:
                lab = [round(float(rest[-4]) * 72, 1), round(H - float(rest[-3]) * 72, 1)]
            cur["e"].append([t[1], t[2], pts, lab])
        elif t[0] == "stop" and cur is not None:
            out.append(cur)
            cur = None
    return out


def _pack(b, k: int, raw: dict) -> dict:
    """A layout in the page's form: n = [x, y, w, h] per child position; s = stub points; e = [from, to,
    points, label, lx, ly] with child positions, or -1 - stub index for a stub."""
    it = b.items[k]
    stubs = {name: i for i, (name, _x, _y) in enumerate(raw["s"])}
    nodes = [raw["n"].get(j, [0, 0, 0, 0]) for j in range(len(it.children))]
    labels = {}
    for (src, j), lab in b.ins.get(k, {}).items():
        labels.setdefault(("i", j), lab)
    for j, lab in b.outs.get(k, {}).items():
        labels[("o", j)] = lab
    for (a, c), (lab, more) in b.inner.get(k, {}).items():
        labels[(a, c)] = lab + (f" (+{more - 1})" if more > 1 else "")
    edges = []

    def ref(name):
        return int(name[1:]) if name[0] == "c" else -1 - stubs[name]
    for tail, head, pts, lab in raw["e"]:
        a, c = ref(tail), ref(head)
        if tail[0] == "i":
            text = labels.get(("i", c), "")
        elif head[0] == "o":
            text = labels.get(("o", a), "")
        else:
            text = labels.get((a, c), "")
        e = [a, c, pts]
        if lab is not None and text:
            e += [text, lab[0], lab[1]]
        edges.append(e)
    texts = [b.box_texts[c] for c in it.children]
    fills = [_fill(b.items[c]) for c in it.children]
    return {"w": raw["w"], "h": raw["h"], "n": nodes, "t": texts, "f": fills,
            "s": [[x, y] for _n, x, y in raw["s"]], "e": edges}


def _fill(it) -> str:
    if it.kind == OP:
        return CATEGORY_COLORS[op_category(it.op)]
    return {SCOPE: "#eef3fa", SERIES: "#e3ebf7", BLOCK: "#f4f4f4"}[it.kind]


class _Job(threading.Thread):
    """fn() in a thread started now; result() waits for it (and re-raises what it raised)."""

    def __init__(self, fn):
        super().__init__(daemon=True)
        self.fn, self.out, self.exc = fn, None, None
        self.start()

    def run(self) -> None:
        try:
            self.out = self.fn()
        except BaseException as e:  # noqa: BLE001 - handed to the thread that waits
            self.exc = e

    def result(self):
        self.join()
        if self.exc is not None:
            raise self.exc
        return self.out


def _run_all(fn, items: list, workers: int) -> list:
    """fn over items, `workers` threads at a time, in the background; the returned list of jobs yields the
    results in item order."""
    lock = threading.Lock()
    todo = iter(range(len(items)))
    out: list = [None] * len(items)

    def worker():
        while True:
            with lock:
                i = next(todo, None)
            if i is None:
                return
            out[i] = fn(items[i])

    jobs = [_Job(worker) for _ in range(min(workers, len(items)))]

    def results():
        for j in jobs:
            j.result()
        return out

    return results


def layout_all(b, deadline: float):
    """One dot layout per distinct box inside, shallow boxes first, within LAYOUT_BUDGET boxes; batched into
    a few dot processes run WORKERS at a time, in the background. Returns a function that waits for them and
    stores the layouts (b.layouts)."""
    exe = find_dot()
    if exe is None:
        b.layout_note = "Graphviz `dot` is not installed: no diagram (install the graphviz package)."
        return lambda: None
    total_flops = b.items[b.root].flops
    # each box's label, once (dropped items: none)
    texts = b.box_texts = [b.box_label(it, total_flops) if it.kind >= 0 else "" for it in b.items]
    order: list[int] = []
    frontier = [b.root]
    box = b.box.__getitem__  # not an op
    while frontier:  # breadth first: the overview is laid out before deep scopes
        order += frontier
        frontier = [c for k in frontier for c in compress(b.items[k].children, map(box, b.items[k].children))]
    by_key: dict[tuple, list[int]] = {}
    budget = LAYOUT_BUDGET if len(b.ops) <= HUGE_OPS else HUGE_LAYOUT_BUDGET
    for k in order:
        it = b.items[k]
        if not it.children:
            continue
        if len(it.children) > MAX_VIEW:
            it.note = f"{len(it.children)} boxes inside: too many to lay out"
            b.not_laid_out += 1
            continue
        key = (it.sig, tuple(sorted((e, tuple(v)) for e, v in b.inner.get(k, {}).items())),
               tuple(sorted(b.ins.get(k, {}).values())), tuple(sorted(b.outs.get(k, {}).items())),
               tuple(map(texts.__getitem__, it.children)))
        if key in by_key:
            by_key[key].append(k)
            continue
        if budget - len(it.children) < 0:
            it.note = "not laid out: the diagram's layout budget is spent"
            b.not_laid_out += 1
            continue
        budget -= len(it.children)
        by_key[key] = [k]
    views = list(by_key.values())
    sources = []
    for gid, ks in enumerate(views):
        src, size = _view_dot(b, ks[0], gid)
        sources.append((src, size))
    batches: list[list[int]] = []
    cur, size = [], 0
    for gid, (_src, n) in enumerate(sources):
        cur.append(gid)
        size += n
        if size >= BATCH_NODES:
            batches.append(cur)
            cur, size = [], 0
    if cur:
        batches.append(cur)
    # split work evenly across workers when there is only one batch of several graphs, big enough for dot's
    # time to show past the page render it runs beside (each dot process costs ~10 ms of CPU to start)
    if len(batches) == 1 and len(batches[0]) > 8 and sum(sources[g][1] for g in batches[0]) >= SPLIT_ABOVE:
        half = len(batches[0]) // 2
        batches = [batches[0][:half], batches[0][half:]]

    def dot(batch):
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        return DotRun(exe, "\n".join(sources[g][0] for g in batch), "plain", left, DOT_TIMEOUT_S)

    started: list = []
    go = threading.Event()

    def run(i):
        """dot on batch i, its output parsed and packed here, in the worker, beside the other batches' dot
        runs: (packed layouts in batch order, or None; what went wrong)."""
        go.wait()
        batch = batches[i]
        job = started[i] if i < len(started) else dot(batch)
        if job is None:
            return None, f"Graphviz took longer than {DOT_TIMEOUT_S:.0f} s"
        text, err = job.result()
        if text is None:
            return None, err
        parsed = _parse_plain(text)
        if len(parsed) != len(batch):
            return None, err
        return [_pack(b, views[g][0], raw) for g, raw in zip(batch, parsed)], ""

    # the workers' threads start before dot does (a thread started beside a running dot waited for a core);
    # the first WORKERS runs start from this thread, now, the others from the workers
    running = _run_all(run, list(range(len(batches))), WORKERS)
    try:
        started += [dot(batch) for batch in batches[:WORKERS]]
    finally:
        go.set()

    def finish() -> None:
        layouts: list[dict] = []
        errors = []
        for batch, (packed, err) in zip(batches, running()):
            if packed is None:
                errors.append(err or "Graphviz gave an unexpected answer")
                for g in batch:
                    for k in views[g]:
                        b.items[k].note = "not laid out: " + (err or "Graphviz failed")
                        b.not_laid_out += 1
                continue
            for g, layout in zip(batch, packed):
                lid = len(layouts)
                layouts.append(layout)
                for k in views[g]:
                    b.items[k].layout = lid
        b.layouts = layouts
        b.box_texts = None  # the packed layouts hold the labels they show
        if errors:
            b.layout_note = errors[0]

    return finish
