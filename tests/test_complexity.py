"""The report path is linear (or n log n) in graph size: counted work, never time. No TensorFlow needed.

Synthetic GraphDefs (bench/biggraphs.py: transformer blocks with einsum and MatMul/BatchMatMul attention,
softmax, GELU in its Erfc, tanh and Erf forms, layer norm via moments and L2 normalization; a deep chain;
a wide fan-out; many small functions behind StatefulPartitionedCall) at 1x, 2x and 8x their size are read,
analysed (build_report without the diagram) and rendered as JSON. Two counts of the work, both independent
of the machine's speed:
- cProfile's primitive call count of the whole path (reader, analyses, protobuf, json ...);
- per function of graphreport/, the Python lines it executed (sys.settrace; a loop's every iteration is a
  line event, so a quadratic comprehension shows even without a call in it).
8x the graph (nodes + edges) may cost at most SLACK x 8 the work, overall and in every function that does
a noticeable share of it; a whole-graph walk per node makes some function grow ~64x.
"""
from __future__ import annotations

import collections
import random
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import biggraphs  # noqa: E402
import work  # noqa: E402

from graphreport.analysis import compat  # noqa: E402
from graphreport.model import ConstData, Graph, Model, Node, Tensor  # noqa: E402
from graphreport.readers.graphdef import read  # noqa: E402
from graphreport.render import diagram  # noqa: E402
from graphreport.render.jsonout import render_json  # noqa: E402
from graphreport.report import build_report  # noqa: E402

pytestmark = pytest.mark.slow  # counted work on graphs of growing size

PACKAGE = str(Path(compat.__file__).resolve().parent.parent)  # the graphreport/ this test imported
UNITS = {"transformer": 2, "chain": 16, "fanout": 16, "functions": 16}  # per unit of scale (smaller than bench)
MIXES = ["transformer", "chain", "fanout", "functions", "functions_model"]
SLACK = 1.5  # n log n passes and per-run fixed costs: 8x the graph may cost at most 12x the work
BIG = 8  # the largest scale: a whole-graph walk per node grows ~64x there, against SLACK x 8 allowed
MIN_LINES = 1000  # functions doing less than this at the largest scale are too small to judge


@pytest.fixture(autouse=True)
def every_size_walked(monkeypatch):
    """The reader's walk cutting big weights (readers/slim.py) skips files under 1 MB: here it runs at every
    size, so that its own growth is counted (a threshold crossed between sizes would look superlinear)."""
    from graphreport.readers import graphdef

    monkeypatch.setattr(graphdef, "SLIM_ABOVE", 0)


def _build(mix: str, scale: int, unit: int | None = None):
    """A function that reads (or builds) the model and returns it: what the counted run starts with."""
    if mix == "functions_model":
        return lambda: biggraphs.functions_model(scale, unit=unit or UNITS["functions"])
    data = biggraphs.graphdef_bytes(mix, scale, unit=unit or UNITS[mix])
    return lambda: read(f"{mix}_{scale}x.pb", data)


def _report_path(load):
    model = load()
    render_json(build_report(model, diagram=False))
    return model


def _size(model: Model) -> int:
    return sum(len(g.nodes) + sum(len(n.inputs) for n in g.nodes) for g in model.graphs)


def calls(load) -> tuple[int, int]:
    """(cProfile's primitive call count of the report path, graph size)."""
    model, n = work.calls(_report_path, load)
    if isinstance(model, Exception):
        raise model
    return n, _size(model)


def lines(load, path=None) -> tuple[collections.Counter, int]:
    """(lines executed per code object of graphreport/ in `path(load)` (the report path when None), graph
    size)."""
    counts: collections.Counter = collections.Counter()

    def local(frame, event, arg):
        if event == "line":
            counts[frame.f_code] += 1
        return local

    def on_call(frame, event, arg):
        if frame.f_code.co_filename.startswith(PACKAGE):
            counts[frame.f_code] += 1
            return local
        return None

    old = sys.gettrace()
    sys.settrace(on_call)
    try:
        model = (path or _report_path)(load)
    finally:
        sys.settrace(old)
    return counts, _size(model)


def superlinear(small: tuple, big: tuple) -> list[str]:
    """Functions whose executed lines grew faster than SLACK x the graph, between two line counts."""
    (c1, n1), (c2, n2) = small, big
    bound = SLACK * n2 / n1
    out = []
    for code, k in c2.items():
        if k >= MIN_LINES and k / max(1, c1.get(code, 0)) > bound:
            out.append(f"{code.co_name} ({Path(code.co_filename).name}:{code.co_firstlineno}): "
                       f"{c1.get(code, 0)} -> {k} lines for {n2 / n1:.1f}x the graph")
    return out


@pytest.fixture(scope="module", autouse=True)
def warm_up():
    for mix in MIXES:  # imports, op tables, compiled patterns: paid once per process, not per graph
        _report_path(_build(mix, 1))


@pytest.mark.parametrize("mix", MIXES)
def test_call_count_grows_linearly(mix):
    (w1, n1), (w2, n2), (wb, nb) = (calls(_build(mix, s)) for s in (1, 2, BIG))
    assert nb / n1 > 0.75 * BIG, "the synthetic graph did not grow"
    assert wb / w1 <= SLACK * nb / n1, f"{mix}: {w1} -> {wb} calls for {nb / n1:.1f}x the graph"
    assert wb / w2 <= SLACK * nb / n2, f"{mix}: {w2} -> {wb} calls for {nb / n2:.1f}x the graph"


@pytest.mark.parametrize("mix", MIXES)
def test_no_function_grows_faster_than_the_graph(mix):
    small, big = lines(_build(mix, 1)), lines(_build(mix, BIG))
    assert sum(big[0].values()) / sum(small[0].values()) <= SLACK * big[1] / small[1]
    assert superlinear(small, big) == []


DIAGRAM_UNITS = {"transformer": 4, "chain": 64, "fanout": 64, "identity_chain": 1000, "relu_fanout": 1000}


@pytest.mark.parametrize("mix", sorted(DIAGRAM_UNITS))
def test_the_diagram_grows_linearly(mix):
    """The interactive diagram's build (boxes, blocks, series, edges and stubs per box, figures, layout
    keys, page rows: render/diagram.py and render/boxlayout.py, Graphviz aside) does at most SLACK x 8 the
    lines at 8x the graph. The flat mixes (one long level cut into blocks, then blocks of blocks) are issue
    13's 200k-node graphs, smaller. Only the sum is bounded, not each function: a level of blocks more at
    8x (log n of them) or a first series makes single functions jump between the two sizes."""
    out = {}
    for scale in (1, BIG):
        model = _build(mix, scale, DIAGRAM_UNITS[mix])()
        report = build_report(model, diagram=False)  # analysed before the count: only the drawing is counted
        built = []
        counts, size = lines(lambda: model, lambda load: built.append(diagram.build(report)) or load())
        assert built[0].data is not None and built[0].data["layouts"]
        out[scale] = (sum(k for c, k in counts.items()
                          if Path(c.co_filename).name in ("diagram.py", "boxlayout.py")), size)
    (w1, n1), (wb, nb) = out[1], out[BIG]
    assert nb / n1 > 0.75 * BIG, "the synthetic graph did not grow"
    assert wb / w1 <= SLACK * nb / n1, f"{mix}: {w1} -> {wb} lines for {nb / n1:.1f}x the graph"


def test_the_count_catches_a_whole_graph_walk_per_node(monkeypatch):
    """The check can fail: with compat's former GELU / L2-norm matcher (_reference_region below: a
    whole-graph ancestor walk per node of each candidate region, 124 s on 2,883 nodes), the functions it
    calls grow much faster than the graph, between 1x and 4x already."""
    monkeypatch.setattr(compat, "_fused_region", lambda g, anchor, cons, allowed, half_x, cyclic=frozenset():
                        _reference_region(g, anchor, cons, allowed, half_x))
    small, big = lines(_build("transformer", 1, unit=1)), lines(_build("transformer", 4, unit=1))
    assert any(s.startswith("_data_producers") for s in superlinear(small, big))


def test_synthetic_patterns_are_matched():
    """The big graphs exercise the pattern matchers: every GELU (three forms) and L2 normalization fuses."""
    model = read("t.pb", biggraphs.graphdef_bytes("transformer", 1, unit=12))
    rep = build_report(model, diagram=False)
    fused = collections.Counter(c.tflite for c in rep.compat.nodes.values())
    assert fused["builtin:GELU"] == 4 * (5 + 8 + 5)  # 12 blocks: Erfc, tanh and Erf forms in turn
    assert fused["builtin:L2_NORMALIZATION"] == 3 * 5
    assert rep.compat.builtins_only and rep.compat.int8_full


# ----------------------------------------------------------------------------------------------------------
# The bounded pattern matcher gives the verdicts of the whole-graph one it replaced (random graphs)
# ----------------------------------------------------------------------------------------------------------

def _reference_region(g: Graph, anchor: Node, cons, allowed, half_x) -> set[str]:
    """compat._fused_region as it was before it was made linear: the region is every descendant of the
    source that is an ancestor of the final Mul, each set found by walking the whole graph."""
    dp = compat._data_producers

    def ancestors(name):
        seen, stack = set(), [name]
        while stack:
            node = g.node(stack.pop())
            for p in dp(g, node) if node else ():
                if p not in seen:
                    seen.add(p)
                    stack.append(p)
        return seen

    final, seen, other = anchor, [], None
    for _ in range(3):
        users = cons.get(final.name, [])
        if len(users) != 1 or g.node(users[0]).op not in ("Mul", "Add", "AddV2"):
            return set()
        final = g.node(users[0])
        seen.append(final.name)
        rest = [p for p in dp(g, final) if p not in seen and p != anchor.name]
        if final.op == "Mul" and len(rest) == 1:
            other = g.node(rest[0])
            break
    if other is None:
        return set()
    src_prods = dp(g, other)
    source = src_prods[0] if half_x and other.op in ("Mul", "RealDiv") and len(src_prods) == 1 else other.name
    down, stack = set(), [source]
    while stack:
        for c in cons.get(stack.pop(), ()):
            if c not in down:
                down.add(c)
                stack.append(c)
    up = ancestors(final.name)
    region = {n for n in down if n == final.name or n in up}
    if anchor.name not in region or len(region) > 12:
        return set()
    for n in region:
        node = g.node(n)
        if node.op not in allowed or any(p not in region and p != source for p in dp(g, node)):
            return set()
        if n != final.name and any(c not in region for c in cons.get(n, ())):
            return set()
    return region


def _reference_fusions(g: Graph, names, folded, cons) -> dict[str, str]:
    """compat.fusions with the reference region."""
    out: dict[str, str] = {}
    for name in names:
        node = g.node(name)
        if name in folded:
            continue
        if node.op in ("Erf", "Erfc", "Tanh"):
            for p in _reference_region(g, node, cons, compat.GELU_OPS, True):
                out[p] = "GELU"
        elif node.op == "Rsqrt":
            r = _reference_region(g, node, cons, compat.L2NORM_OPS, False)
            if {"Square", "Sum"} <= {g.node(n).op for n in r}:
                for p in r:
                    out[p] = "L2_NORMALIZATION"
    for name in names:
        node = g.node(name)
        if node.op == "Square" and name not in out and name not in folded:
            prods = compat._data_producers(g, node)
            if len(prods) == 1 and g.node(prods[0]).op == "Sub" and cons.get(prods[0]) == [name]:
                out[name] = out[prods[0]] = "SQUARED_DIFFERENCE"
    return out


def _cycles(g: Graph, cons) -> list[set[str]]:
    """The graph's cycles as strongly connected components (a node reading itself included); small graphs."""
    def reach(v):
        seen, stack = set(), [v]
        while stack:
            for c in cons.get(stack.pop(), ()):
                if c not in seen:
                    seen.add(c)
                    stack.append(c)
        return seen

    down = {n.name: reach(n.name) for n in g.nodes}
    comps = []
    for v in down:
        if v in down[v] and not any(v in c for c in comps):
            comps.append({w for w in down[v] if v in down[w]})
    return comps


OPS = ["Mul", "Mul", "AddV2", "Add", "RealDiv", "Erf", "Erfc", "Tanh", "Pow", "Neg", "Square", "Sum", "Maximum",
       "Rsqrt", "Sqrt", "Relu", "Sub", "Identity"]


def _random_graph(rng: random.Random) -> Graph:
    """Real GELU / L2-norm patterns, then random damage: ops swapped, extra readers and inputs, constants,
    and now and then a TF1-style loop (Merge <- NextIteration) or a node reading itself."""
    g = Graph(name="main")
    names: list[str] = []

    def add(op, inputs):
        name = f"n{len(g.nodes)}"
        node = Node(name=name, op=op, inputs=[f"{i}:0" for i in inputs], outputs=[f"{name}:0"],
                    is_const=op == "Const")
        g.tensors[f"{name}:0"] = Tensor(name=f"{name}:0", dtype="float32", shape=[4], producer=name)
        if op == "Const":
            g.tensors[f"{name}:0"].const = ConstData(nbytes=4)
        g.nodes.append(node)
        names.append(name)
        return name

    def c():
        return add("Const", [])

    x = add("Placeholder", [])
    for _ in range(rng.randint(1, 4)):
        kind = rng.choice(["erf", "erfc", "tanh", "long", "l2", "random"])
        if kind == "erf":
            e = add("Erf", [add("RealDiv", [x, c()])])
            x = add("Mul", [add("Mul", [x, c()]), add("AddV2", [c(), e])])
        elif kind == "erfc":
            e = add("Erfc", [add("Mul", [add("Neg", [x]), c()])])
            x = add("Mul", [add("Mul", [c(), x]), e])
        elif kind == "tanh":
            inner = add("AddV2", [x, add("Mul", [c(), add("Pow", [x, c()])])])
            t = add("Tanh", [add("Mul", [c(), inner])])
            x = add("Mul", [add("Mul", [c(), x]), add("AddV2", [c(), t])])
        elif kind == "long":  # the tanh form with a longer cube branch: regions of 9 to 17 nodes
            cube = x
            for _ in range(rng.randint(1, 9)):
                cube = add("Mul", [cube, c()])
            inner = add("AddV2", [x, cube])
            t = add("Tanh", [add("Mul", [c(), inner])])
            x = add("Mul", [add("Mul", [c(), x]), add("AddV2", [c(), t])])
        elif kind == "l2":
            r = add("Rsqrt", [add("Maximum", [add("Sum", [add("Square", [x]), c()]), c()])])
            x = add("Mul", [x, r])
        else:
            for _ in range(rng.randint(1, 6)):
                x = add(rng.choice(OPS), [x] + ([rng.choice(names)] if rng.random() < 0.5 else []))
    for _ in range(rng.randint(0, 6)):  # damage
        what = rng.random()
        node = rng.choice(g.nodes)
        if what < 0.3 and not node.is_const:
            node.op = rng.choice(OPS)
        elif what < 0.6:
            add(rng.choice(OPS), [node.name])
        elif what < 0.8 and not node.is_const:
            node.inputs.append(f"{rng.choice(names)}:0")  # may point forward: a cycle
        elif what < 0.9 and not node.is_const:
            nxt = add("NextIteration", [rng.choice(names)])
            merge = add("Merge", [node.inputs[0] if node.inputs else f"{x}:0", f"{nxt}:0"])
            node.inputs[:1] = [f"{merge}:0"]
        elif not node.is_const:
            node.inputs.append(f"{node.name}:0")
    g.invalidate()
    return g


def test_bounded_matcher_agrees_with_the_whole_graph_one():
    """Same fusions on every random graph whose cycles (if any) pass through an op no pattern holds, as TF1
    loops pass through Merge and NextIteration. A cycle made only of pattern ops (a hostile file) may cost a
    fusion (never fused now), never a different one."""
    rng = random.Random(20240610)
    fused = hostile = 0
    for _ in range(3000):
        g = _random_graph(rng)
        names = [n.name for n in g.nodes]
        folded = {n.name for n in g.nodes if n.is_const}
        cons = g.consumers()
        cycles = _cycles(g, cons)
        assert set().union(*cycles) == set(compat.cyclic_nodes(g, cons))
        got = compat.fusions(g, names, folded, cons)
        if all(any(g.node(n).op not in compat.GELU_OPS | compat.L2NORM_OPS for n in c) for c in cycles):
            assert got == _reference_fusions(g, names, folded, cons)
        else:
            hostile += 1
            for n in g.nodes:
                for ops, half in ((compat.GELU_OPS, True), (compat.L2NORM_OPS, False)):
                    if n.op in ("Erf", "Erfc", "Tanh", "Rsqrt"):
                        mine = compat._fused_region(g, n, cons, ops, half, compat.cyclic_nodes(g, cons))
                        assert mine in (set(), _reference_region(g, n, cons, ops, half))
        fused += len(got)
    assert fused > 1000 and hostile > 10  # the random graphs hold patterns, and hostile cycles
