"""The diagram: constants folded, capped, time-limited, only the inference subgraph of training graphs; and
the interactive diagram of big graphs (render/diagram.py): a tree of name scopes, repeated blocks grouped
into series, long flat levels cut into blocks, collapsed by default above a size, one bounded dot layout per
distinct box inside, every model string escaped."""
import json
import re

import numpy as np
import pytest

from conftest import SAMPLES
from graphreport.readers import tfproto
from graphreport.readers.detect import load
from graphreport.render import attach_diagram, boxlayout, diagram, svg
from graphreport.render.html import render_html
from graphreport.report import build_report

# ---------------------------------------------------------------------------------------------------------
# a synthetic transformer-like GraphDef, built without TensorFlow: `blocks` identical encoder layers
# (layer norm, attention, GELU feed-forward, residual adds) under encoder/layer_<i>/...
# ---------------------------------------------------------------------------------------------------------
SEQ, D, FF = 8, 16, 32


class _G:
    def __init__(self):
        self.gd = tfproto.GraphDef()
        self.gd.versions.producer = 1882
        self.rng = np.random.default_rng(0)

    def op(self, name, op, inputs, **attrs):
        n = self.gd.node.add(name=name, op=op)
        n.input.extend(inputs)
        n.attr["T"].type = 1
        for k, v in attrs.items():
            if isinstance(v, bool):
                n.attr[k].b = v
            else:
                n.attr[k].type = v
        return name

    def const(self, name, arr):
        arr = np.asarray(arr, dtype=np.int32 if np.asarray(arr).dtype.kind == "i" else np.float32)
        n = self.gd.node.add(name=name, op="Const")
        dt = 3 if arr.dtype == np.int32 else 1
        n.attr["dtype"].type = dt
        t = n.attr["value"].tensor
        t.dtype = dt
        for d in arr.shape:
            t.tensor_shape.dim.add(size=int(d))
        if arr.ndim == 0:
            (t.int_val if dt == 3 else t.float_val).append(arr.item())
        else:
            t.tensor_content = arr.tobytes()
        return name

    def weight(self, name, *shape):
        return self.const(name, self.rng.standard_normal(shape).astype(np.float32) * 0.05)


def transformer_graphdef(blocks: int = 256) -> bytes:
    """45 nodes per block (+ 12 outside them): 256 blocks -> 11,532 nodes."""
    g = _G()
    n = g.gd.node.add(name="input", op="Placeholder")
    n.attr["dtype"].type = 1
    for d in (SEQ, D):
        n.attr["shape"].shape.dim.add(size=d)
    axes, eps, scale = g.const("axes", np.int32(-1)), g.const("eps", np.float32(1e-5)), g.const("scale", 0.25)
    sqrt2, one, half = g.const("sqrt2", 1.4142135), g.const("one", 1.0), g.const("half", 0.5)
    x = g.op("embed/Relu", "Relu", ["input"])

    def layer_norm(s, x):
        mean = g.op(f"{s}/mean", "Mean", [x, axes], keep_dims=True, Tidx=3)
        c = g.op(f"{s}/sub", "Sub", [x, mean])
        sq = g.op(f"{s}/Square", "Square", [c])
        var = g.op(f"{s}/variance", "Mean", [sq, axes], keep_dims=True, Tidx=3)
        r = g.op(f"{s}/Rsqrt", "Rsqrt", [g.op(f"{s}/add", "AddV2", [var, eps])])
        return g.op(f"{s}/mul", "Mul", [c, r])

    def dense(s, x, din, dout, bias=True):
        y = g.op(f"{s}/MatMul", "MatMul", [x, g.weight(f"{s}/kernel", din, dout)], transpose_a=False,
                 transpose_b=False)
        return g.op(f"{s}/BiasAdd", "BiasAdd", [y, g.weight(f"{s}/bias", dout)]) if bias else y

    for i in range(blocks):
        s = f"encoder/layer_{i}"
        h = layer_norm(f"{s}/ln_1", x)
        a = f"{s}/attention"
        q, k = dense(f"{a}/query", h, D, D), dense(f"{a}/key", h, D, D)
        v = dense(f"{a}/value", h, D, D)
        sc = g.op(f"{a}/scores", "MatMul", [q, k], transpose_a=False, transpose_b=True)
        p = g.op(f"{a}/Softmax", "Softmax", [g.op(f"{a}/scaled", "Mul", [sc, scale])])
        o = g.op(f"{a}/context", "MatMul", [p, v], transpose_a=False, transpose_b=False)
        o = dense(f"{a}/output", o, D, D, bias=False)
        x = g.op(f"{s}/add", "AddV2", [x, o])
        h = layer_norm(f"{s}/ln_2", x)
        f = f"{s}/ffn"
        u = dense(f"{f}/up", h, D, FF)
        e = g.op(f"{f}/gelu/Erf", "Erf", [g.op(f"{f}/gelu/truediv", "RealDiv", [u, sqrt2])])
        u = g.op(f"{f}/gelu/mul_1", "Mul", [g.op(f"{f}/gelu/mul", "Mul", [u, half]),
                                             g.op(f"{f}/gelu/add", "AddV2", [one, e])])
        u = dense(f"{f}/down", u, FF, D, bias=False)
        x = g.op(f"{s}/add_1", "AddV2", [x, u])
    g.op("head/Softmax", "Softmax", [dense("head/logits", x, D, 10)])
    return g.gd.SerializeToString()


@pytest.fixture(scope="module")
def big_report(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "transformer.pb"
    path.write_bytes(transformer_graphdef(256))
    return attach_diagram(build_report(load(str(path))))


def _items(rep):
    return rep.diagram_data["items"]


def _by_label(rep, pattern):
    return [(k, it) for k, it in enumerate(_items(rep)) if it[0] >= 0 and re.fullmatch(pattern, it[2])]


# ---------------------------------------------------------------------------------------------------------
# the static whole-graph SVG (small graphs)
# ---------------------------------------------------------------------------------------------------------
def test_constants_are_folded_and_boxes_match_op_nodes():
    model = load(str(SAMPLES / "tiny_mobilenet.pb"))
    src, ids, cut, folded = svg.build_dot(model)
    g = model.main
    # TensorFlow's Const nodes (and Identity reads of them) never get a box
    assert not any(g.node(name).is_const for name in ids)
    drawn = len(ids)
    assert drawn + folded + sum(1 for n in g.nodes if n.is_const or n.op == "NoOp") == len(g.nodes)
    assert cut == 0 and folded > 0  # batch-norm arithmetic on constants is folded


def test_cap_is_reported():
    rep = build_report(load(str(SAMPLES / "tiny_mobilenet.pb")), diagram=False)
    out, note, ids = svg.render_diagram(rep.model, max_nodes=3)
    assert out is not None and len(ids) == 3
    assert len(re.findall(r'class="node"', out)) == 3
    assert "the first 3 are drawn" in note


def test_timeout_gives_a_note_not_a_hang(monkeypatch):
    monkeypatch.setattr(svg, "DOT_TIMEOUT_S", 0.0001)
    out, note, ids = svg.render_diagram(load(str(SAMPLES / "tiny_mobilenet.pb")))
    assert out is None and ids == {}
    assert "longer than" in note and "no diagram" in note


def test_timeout_of_the_scope_layouts_gives_a_note(monkeypatch):
    for module in (svg, diagram, boxlayout):  # each reads the limit under this name
        monkeypatch.setattr(module, "DOT_TIMEOUT_S", 0.0001)
    rep = build_report(load(str(SAMPLES / "tiny_mobilenet.pb")), diagram=False)
    d = diagram.build(rep)
    assert d.svg is None and d.data is None and d.ids == {}
    assert "longer than" in d.note


def test_training_graph_draws_inference_subgraph_only():
    rep = attach_diagram(build_report(load(str(SAMPLES / "tf1_training.pb"))))
    names = set(rep.diagram_ids)
    assert "logits" in names and "input" in names
    assert not any(n.startswith(("gradients/", "save/", "Adam")) for n in names)
    assert "Only the inference subgraph" in rep.diagram_note
    g = rep.model.main
    leaves = {g.nodes[it[11]].name for it in _items(rep) if it[0] == diagram.OP}
    assert leaves == names  # the page's boxes are the same nodes (it[11]: the node's position in the graph)


def test_small_graph_is_fully_expanded_with_the_static_svg():
    rep = attach_diagram(build_report(load(str(SAMPLES / "tiny_mobilenet.pb"))))
    data = rep.diagram_data
    assert rep.diagram_svg is not None and data["static"] is True
    containers = [k for k, it in enumerate(data["items"]) if it[0] in (1, 2, 3) and it[5]]
    assert containers and set(data["expanded"]) == set(containers)
    # every drawn op is one leaf, with the same box id as in the static SVG and the node table
    leaf_ids = {f"n{it[11]}" for it in data["items"] if it[0] == diagram.OP}
    assert leaf_ids == set(rep.diagram_ids.values())
    assert set(re.findall(r'<g id="(n\d+)" class="node"', rep.diagram_svg)) == leaf_ids


# ---------------------------------------------------------------------------------------------------------
# the big graph: 256 identical blocks, 11.5k nodes
# ---------------------------------------------------------------------------------------------------------
def test_generator_size():
    gd = tfproto.GraphDef()
    gd.ParseFromString(transformer_graphdef(256))
    assert 11_400 <= len(gd.node) <= 11_600


def test_repeated_blocks_become_one_series(big_report):
    rep = big_report
    series = _by_label(rep, r"layer_\[0-255\] ×256")
    assert len(series) == 1, [it[2] for it in _items(rep) if it[0] == diagram.SERIES]
    k, s = series[0]
    assert s[0] == diagram.SERIES and len(s[5]) == 256
    members = [_items(rep)[c] for c in s[5]]
    assert [m[2] for m in members] == [f"layer_{i}" for i in range(256)]  # in number order
    # each member holds the same ops: 35 drawn per block (45 nodes minus 10 weight constants)
    assert {m[6] for m in members} == {35}
    assert s[6] == 35 * 256
    # every member shares one layout of its inside
    assert len({m[10] for m in members}) == 1 and members[0][10] >= 0


def test_series_figures_are_the_reports(big_report):
    """A box's params and FLOPs share are sums of the Report's per-node figures (never recomputed)."""
    rep = big_report
    costs = rep.node_costs()
    k, s = _by_label(rep, r"layer_\[0-255\] ×256")[0]
    names = [n.name for n in rep.model.main.nodes if n.name.startswith("encoder/layer_")]
    assert s[7] == sum(costs[n].params for n in names if n in costs)
    assert s[7] == 256 * (4 * D * D + 3 * D + D * FF + FF + FF * D)  # the generator's weights
    total = rep.cost.totals["flops"]
    flops = sum(costs[n].flops for n in names if n in costs)
    assert s[8] == round(100 * flops / total, 2)
    assert 0 < s[8] < 100
    # TFLite status: every op here is a builtin -> ok (0)
    assert s[9] == diagram.OK


def test_big_graph_opens_collapsed(big_report):
    data = big_report.diagram_data
    assert data["static"] is False and big_report.diagram_svg is None
    items = data["items"]
    opened = set(data["expanded"])
    visible = [c for k in opened for c in items[k][5] if items[c][1] == k]
    assert len(visible) <= diagram.OVERVIEW_ITEMS
    k, s = _by_label(big_report, r"layer_\[0-255\] ×256")[0]
    assert k not in opened and items[s[1]][0] >= 0
    # the series box is visible in the overview: all its ancestors are open
    p = s[1]
    while p >= 0:
        assert p in opened
        p = items[p][1]
    assert "collapsed" in big_report.diagram_note


def test_layouts_are_shared_and_cover_every_box(big_report):
    data = big_report.diagram_data
    items, layouts = data["items"], data["layouts"]
    containers = [it for it in items if it[0] in (1, 2, 3) and it[5]]
    assert all(it[10] >= 0 for it in containers)  # each can be opened in the page
    # far fewer layouts than boxes: one per distinct inside
    assert len(layouts) < 20 < len(containers)
    for it in containers:
        lay = layouts[it[10]]
        assert len(lay["n"]) == len(it[5]) == len(lay["t"])
        for x, y, w, h in lay["n"]:
            assert 0 <= x <= lay["w"] + 0.5 and 0 <= y <= lay["h"] + 0.5 and w > 0 and h > 0


def test_search_finds_a_deep_node(big_report):
    """What the page searches: every op node is an item under its scopes (here 4 levels deep)."""
    items = _items(big_report)
    nodes = big_report.model.main.nodes
    k = next(k for k, it in enumerate(items)
             if it[0] == diagram.OP and nodes[it[11]].name == "encoder/layer_200/attention/query/MatMul")
    chain = []
    p = items[k][1]
    while p >= 0:
        chain.append(items[p][2])
        p = items[p][1]
    assert "layer_200" in chain and any("×256" in c for c in chain)


def test_layout_budget_keeps_deep_boxes_closed(monkeypatch, tmp_path):
    """Beyond the budget, a box is not laid out: it stays closed, with a note, and the page still works."""
    path = tmp_path / "t.pb"
    path.write_bytes(transformer_graphdef(8))
    rep = build_report(load(str(path)), diagram=False)
    monkeypatch.setattr(diagram, "SMALL", 10)
    full = diagram.build(rep)
    monkeypatch.setattr(boxlayout, "LAYOUT_BUDGET", 12)
    cut = diagram.build(rep)
    assert len(cut.data["layouts"]) < len(full.data["layouts"])
    closed = [it for it in cut.data["items"] if it[0] in (1, 2, 3) and it[5] and it[10] < 0]
    assert closed and all("budget" in it[12] for it in closed)
    assert "stay closed: the diagram's layout budget is spent." in cut.note
    assert cut.data["layouts"][cut.data["items"][cut.data["root"]][10]]  # the overview is laid out first


def test_long_flat_levels_are_cut_into_blocks(tmp_path):
    """Keras-style flat names (one scope per layer) over a long chain: the level is cut into blocks at points
    every path crosses, grouped by the layer's number (block_3_expand, block_3_project -> block_3)."""
    g = _G()
    n = g.gd.node.add(name="input", op="Placeholder")
    n.attr["dtype"].type = 1
    for d in (1, 8):
        n.attr["shape"].shape.dim.add(size=d)
    x = "input"
    for i in range(40):
        y = g.op(f"block_{i}_expand/Relu", "Relu", [x])
        y = g.op(f"block_{i}_project/Relu6", "Relu6", [y])
        x = g.op(f"block_{i}_add/add", "AddV2", [x, y])  # a residual block: one block per i
    model_path = tmp_path / "flat.pb"
    model_path.write_bytes(g.gd.SerializeToString())
    rep = build_report(load(str(model_path)), diagram=False)
    b = diagram.Builder(rep, None)
    b.build_tree()
    b.build_edges()
    b.view_edges()
    b.signatures()
    b.find_series()
    b.make_blocks()
    root = b.items[b.root]
    assert len(root.children) <= diagram.CHUNK_ABOVE
    labels = [b.items[c].label for c in root.children]
    assert "block_7" in labels and "block_39" in labels


def test_names_are_escaped_in_layouts_and_page_data(tmp_path):
    from hostile import EVIL_NAMES, evil_graphdef
    path = tmp_path / "evil.pb"
    path.write_bytes(evil_graphdef())
    rep = build_report(load(str(path)))
    html = render_html(rep)
    m = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S)
    raw = m.group(1)
    assert "<" not in raw and ">" not in raw and "&" not in raw
    page = json.loads(raw)
    data = page["diagram"]
    names = {page["nodes"][it[11]]["name"] for it in data["items"] if it[0] == diagram.OP}
    for name in EVIL_NAMES[1:]:
        assert name in names
    # labels reach dot quoted: no injected statement made a node of its own
    for lay in data["layouts"]:
        assert len(lay["n"]) == len(lay["t"])
    assert not any(it[2] == "evil" for it in data["items"] if it[0] >= 0)


def test_note_counts_read_as_english():
    assert svg.drawn_note(0, 0) == "Constants are folded into the ops that use them."
    assert svg.drawn_note(1, 0).endswith(", and so is 1 op computed from constants alone.")
    assert svg.drawn_note(12345, 0).endswith(", and so are 12,345 ops computed from constants alone.")
    one = svg.drawn_note(0, 1)
    assert "drawn: 1 other node (training" in one and one.endswith(") is not.")
    assert "drawn: 2,500 other nodes (training" in svg.drawn_note(3, 2500)


def test_without_graphviz_the_page_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot anywhere
    for name in ("tiny_mobilenet.pb", "tiny_mobilenet_int8.tflite"):  # the static drawing and the boxes
        rep = build_report(load(str(SAMPLES / name)), diagram=False)
        d = diagram.build(rep)
        assert d.svg is None and "Graphviz `dot` is not installed" in d.note
