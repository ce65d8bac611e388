"""Cost analysis (graphreport.analysis.cost) and peak activation memory (graphreport.analysis.memory).

(a) Rules on tiny hand-built graphs with figures worked out by hand, and on the traced tiny graphs of
    test_shapes.py against the "flops" statistics TensorFlow registers for their ops.
(b) keras.applications models (tests/refmodels.py, weights=None): per op type, the FLOPs of the op types
    TensorFlow's v1 profiler counts (float_operation) are within 1% of the profiler's; parameters within 0.5%
    of Keras' count_params(); each model's .tflite gives total MACs within 2% of its GraphDef's; MobileNet
    and MobileNetV2 MACs within 3% of their papers; MobileNetV2 with an unknown batch plus input_shapes
    gives the static version's FLOPs.

Which op types the profiler counts and how: the functions registered with
``ops.RegisterStatistics(<op>, "flops")`` in tensorflow/python/profiler/internal/flops_registry.py and
tensorflow/python/ops/nn_ops.py (Conv2D, Conv3D, DepthwiseConv2dNative, BiasAdd, MatMul, BatchMatMul*,
element-wise Add/AddV2/Sub/Mul/RealDiv/Maximum/Minimum/Pow/comparisons (1 per output element),
SquaredDifference 2, Rsqrt 2, Reciprocal/Square/Log/Neg 1, Softmax 5, Mean/Sum/ArgMax (reductions),
AvgPool/MaxPool (window x output), AddN, L2Loss and some gradients). It does not count activations
(Relu, Relu6, Sigmoid, Tanh ...), FusedBatchNorm, Pad, Concat or resizes.
"""
from __future__ import annotations

import json
import time

import pytest

from graphreport.analysis.cost import CONVENTIONS, compute_cost, roll_up
from graphreport.analysis.memory import peak_activation
from graphreport.analysis.shapes import infer_shapes
from graphreport.analysis.summary import summarize
from graphreport.model import ConstData, Graph, Model, Node, Tensor
from graphreport.readers import detect

from test_shapes import CASE_NAMES, MODELS, case_index, read_pb, reference_model, reference_tflite  # noqa: F401

# Op types with a registered "flops" statistic whose formula graphreport shares (L2Loss is left out: TF
# counts 3N - 1, graphreport 2N).
PROFILED_OPS = {"Conv2D", "Conv3D", "DepthwiseConv2dNative", "BiasAdd", "MatMul", "BatchMatMul", "BatchMatMulV2",
                "BatchMatMulV3", "Add", "AddV2", "Sub", "Mul", "RealDiv", "Maximum", "Minimum", "Pow",
                "GreaterEqual", "Greater", "LessEqual", "Less", "Equal", "NotEqual", "SquaredDifference",
                "Rsqrt", "Reciprocal", "Square", "Log", "Neg", "Softmax", "Mean", "Sum", "ArgMax", "ArgMin",
                "AvgPool", "MaxPool", "AddN", "Conv2DBackpropInput"}

# Papers: Howard et al. 2017, "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision
# Applications", Table 8 (1.0 MobileNet-224: 569 million mult-adds, 4.2 million parameters); Sandler et al.
# 2018, "MobileNetV2: Inverted Residuals and Linear Bottlenecks", Table 4 / Table 6 (MobileNetV2 1.0 at 224:
# 300 million multiply-adds, 3.4 million parameters).
PAPER_MACS = {"MobileNet": 569e6, "MobileNetV2": 300e6}


# ----------------------------------------------------------------------------------------------------------
# helpers to build tiny graphs by hand
# ----------------------------------------------------------------------------------------------------------
def _graph(nodes, tensors, kind="main", outputs=(), dialect="tf"):
    g = Graph(name="main" if kind == "main" else "subgraph0", kind=kind, outputs=list(outputs), dialect=dialect)
    g.nodes = nodes
    g.tensors = {t.name: t for t in tensors}
    return g


def _const(name, shape, dtype="float32"):
    n = 1
    for d in shape:
        n *= d
    return Tensor(name, dtype, shape, const=ConstData(nbytes=n * 4))


def _model(g, fmt="graphdef"):
    # a TFLite flatbuffer lists its operators in execution order, and the TFLite reader says so
    return Model(format=fmt, path="-", file_size=0, graphs=[g], execution_order_is_file_order=fmt == "tflite")


def _by_node(report):
    return {c.node: c for c in report.nodes}


# ----------------------------------------------------------------------------------------------------------
# (a) unit tests
# ----------------------------------------------------------------------------------------------------------
def test_conv_matmul_elementwise_by_hand():
    x = Tensor("x:0", "float32", [1, 8, 8, 3], producer="x")
    w = _const("w:0", [3, 3, 3, 16])
    dw = _const("dw:0", [3, 3, 16, 1])
    fc = _const("fc:0", [16, 10])
    nodes = [
        Node("x", "Placeholder", outputs=["x:0"], attrs={"shape": [1, 8, 8, 3]}),
        Node("w", "Const", outputs=["w:0"], is_const=True),
        Node("dw", "Const", outputs=["dw:0"], is_const=True),
        Node("fc", "Const", outputs=["fc:0"], is_const=True),
        Node("b1/conv", "Conv2D", ["x:0", "w:0"], ["b1/conv:0"], attrs={"strides": [1, 2, 2, 1], "padding": "SAME"}),
        Node("b1/relu", "Relu6", ["b1/conv:0"], ["b1/relu:0"]),
        Node("b2/dw", "DepthwiseConv2dNative", ["b1/relu:0", "dw:0"], ["b2/dw:0"],
             attrs={"strides": [1, 1, 1, 1], "padding": "VALID"}),
        Node("b2/mean", "Mean", ["b2/dw:0", "axes:0"], ["b2/mean:0"], attrs={"keep_dims": False}),
        Node("head/mm", "MatMul", ["b2/mean:0", "fc:0"], ["head/mm:0"]),
        Node("head/add", "AddV2", ["head/mm:0", "fc_b:0"], ["head/add:0"]),
        Node("head/sm", "Softmax", ["head/add:0"], ["head/sm:0"]),
        Node("head/mystery", "FancyOp", ["head/sm:0"], ["head/mystery:0"]),
    ]
    import numpy as np

    axes = Tensor("axes:0", "int32", [2], const=ConstData(8, loader=lambda: np.array([1, 2], np.int32)))
    tensors = [x, w, dw, fc, axes, _const("fc_b:0", [10])]
    for n in nodes[4:]:
        tensors.append(Tensor(n.outputs[0], "float32", producer=n.name))
    for n in nodes[1:4]:
        next(t for t in tensors if t.name == n.outputs[0]).producer = n.name
    g = _graph(nodes, tensors)
    model = _model(g)
    infer_shapes(model)
    r = compute_cost(model)
    c = _by_node(r)
    assert g.tensors["b2/dw:0"].shape == [1, 2, 2, 16]
    assert c["b1/conv"].macs == 4 * 4 * 16 * 3 * 3 * 3 and c["b1/conv"].flops == 2 * c["b1/conv"].macs
    assert c["b1/conv"].params == 3 * 3 * 3 * 16 and c["b1/conv"].weight_bytes == 4 * 432
    assert c["b1/conv"].activation_bytes == 4 * 4 * 16 * 4
    assert c["b1/relu"].flops == 256 and c["b1/relu"].macs == 0
    assert c["b2/dw"].macs == 2 * 2 * 16 * 9
    assert c["b2/mean"].flops == 2 * 2 * 16  # 1 per input element
    assert c["head/mm"].macs == 160 and c["head/mm"].flops == 320
    assert c["head/add"].flops == 10 and c["head/add"].params == 10
    assert c["head/sm"].flops == 50
    assert not c["head/mystery"].known and "no cost rule for op FancyOp" in c["head/mystery"].reason
    assert c["x"].known and c["x"].flops == 0
    assert [u.node for u in r.unknown] == ["head/mystery"]
    t = r.totals
    # one op (FancyOp) has no rule: the totals are unknown, the known part is given apart
    assert t["macs"] is None and t["flops"] is None
    assert t["at_least"]["macs"] == 6912 + 576 + 160
    assert t["at_least"]["flops"] == 2 * (6912 + 576 + 160) + 256 + 64 + 10 + 50
    assert t["params"] == 432 + 144 + 160 + 10 == summarize(model).params
    assert t["unknown_ops"] == 1 and not t["complete"]
    assert r.top[0].node == "b1/conv"
    scopes = {s.scope: s for s in r.by_scope}
    assert scopes["b1"].macs == 6912 and scopes["head"].unknown == 1 and scopes["head"].params == 170
    assert [s.scope for s in roll_up(r.nodes, 0)] == ["(root)"]
    assert r.by_op_type["Conv2D"]["macs"] == 6912
    assert "FLOPs = 2 x MACs" in CONVENTIONS and r.conventions == CONVENTIONS


def test_unknown_shape_gives_reason_not_zero():
    x = Tensor("x:0", "float32", [None, 8, 8, 3], producer="x")
    w = _const("w:0", [1, 1, 3, 4])
    nodes = [Node("x", "Placeholder", outputs=["x:0"], attrs={"shape": [None, 8, 8, 3]}),
             Node("c", "Conv2D", ["x:0", "w:0"], ["c:0"], attrs={"strides": [1, 1, 1, 1], "padding": "SAME"}),
             Node("r", "Reshape", ["c:0", "s:0"], ["r:0"])]
    g = _graph(nodes, [x, w, Tensor("c:0", "float32", producer="c"), Tensor("r:0", "float32", producer="r")])
    model = _model(g)
    infer_shapes(model)
    r = compute_cost(model)
    c = _by_node(r)
    assert not c["c"].known and c["c"].macs is None
    assert "input_shapes" in c["c"].reason and "[?, 8, 8, 4]" in c["c"].reason
    assert c["r"].known and c["r"].flops == 0  # free by nature even with unknown shapes
    assert r.totals["macs"] is None and r.totals["at_least"]["macs"] == 0 and r.totals["unknown_ops"] == 1
    assert "1 op(s) of unknown cost, e.g. c (Conv2D)" in r.totals["unknown"]["macs"]
    infer_shapes(model, {"x": [2, 8, 8, 3]})
    r = compute_cost(model)
    c = _by_node(r)
    assert r.totals["macs"] == 2 * 8 * 8 * 4 * 3 and r.totals["unknown_ops"] == 0
    assert c["r"].activation_bytes is None  # its shape stays unknown (no shape operand), its cost is 0


def test_shared_weight_counted_once_and_pooling_bn_conventions():
    x = Tensor("x:0", "float32", [1, 4, 4, 2], producer="x")
    sc = _const("sc:0", [2])
    nodes = [Node("x", "Placeholder", outputs=["x:0"], attrs={"shape": [1, 4, 4, 2]}),
             Node("bn", "FusedBatchNormV3", ["x:0", "sc:0", "sc:0", "sc:0", "sc:0"],
                  [f"bn:{i}" for i in range(6)], attrs={"is_training": False}),
             Node("bn_t", "FusedBatchNormV3", ["x:0", "sc:0", "sc:0", "e:0", "e:0"],
                  [f"bn_t:{i}" for i in range(6)], attrs={"is_training": True}),
             Node("mp", "MaxPool", ["bn:0"], ["mp:0"], attrs={"ksize": [1, 3, 3, 1], "strides": [1, 2, 2, 1],
                                                             "padding": "SAME"}),
             Node("ap", "AvgPool", ["bn:0"], ["ap:0"], attrs={"ksize": [1, 2, 2, 1], "strides": [1, 2, 2, 1],
                                                             "padding": "VALID"})]
    tensors = [x, sc, _const("e:0", [0])]
    for n in nodes[1:]:
        tensors += [Tensor(o, "float32", producer=n.name) for o in n.outputs]
    model = _model(_graph(nodes, tensors))
    infer_shapes(model)
    c = _by_node(compute_cost(model))
    assert c["bn"].params == 2 and c["bn_t"].params == 0  # one constant, counted once
    assert c["bn"].flops == 2 * 32
    assert not c["bn_t"].known and "training" in c["bn_t"].reason
    assert c["mp"].flops == 9 * (2 * 2 * 2) and c["ap"].flops == 4 * (2 * 2 * 2)


def test_registered_flops_of_tiny_graphs(case_index):
    """Per node, graphreport's FLOPs equal TensorFlow's registered statistic for the ops both count alike."""
    d, _ = case_index
    tf_flops = json.loads((d / "flops.json").read_text())
    compared, bad = 0, []
    for name in CASE_NAMES:
        if name not in tf_flops:
            continue
        model = read_pb(d / f"{name}.pb")
        infer_shapes(model)
        mine = {c.node: c for c in compute_cost(model).nodes}
        for node, want in tf_flops[name].items():
            n = model.main.node(node)
            if n.op not in PROFILED_OPS or node not in mine:
                continue
            if n.op.startswith("BatchMatMul") and n.attrs.get("adj_x"):
                # TF's statistic reads attribute "transpose_a", which BatchMatMul ops do not have (they have
                # adj_x), so it takes the wrong inner dimension for an adjoint lhs; graphreport uses adj_x.
                continue
            op = n.op
            compared += 1
            if mine[node].flops != want:
                bad.append(f"{name}/{node} ({op}): graphreport {mine[node].flops} vs TensorFlow {want}")
    assert compared >= 40, compared
    assert not bad, "\n".join(bad)


def test_peak_memory_by_hand():
    # x(400 B) -> a(400) -> b(800) -> c(100); a also feeds d(40) at the end: lifetimes overlap
    sizes = {"x": [100], "a": [100], "b": [200], "c": [25], "d": [10]}
    nodes = [Node("x", "Placeholder", outputs=["x:0"]),
             Node("a", "Relu", ["x:0"], ["a:0"]),
             Node("b", "Tile", ["a:0", "m:0"], ["b:0"]),
             Node("c", "Slice", ["b:0"], ["c:0"]),
             Node("d", "AddV2", ["a:0", "c:0"], ["d:0"]),
             Node("i", "Identity", ["d:0"], ["i:0"])]
    tensors = [Tensor(f"{k}:0", "float32", v, producer=k) for k, v in sizes.items()]
    tensors += [Tensor("i:0", "float32", [10], producer="i"), _const("m:0", [1])]
    g = _graph(nodes, tensors)
    m = peak_activation(g)
    # at c: a (400, still needed by d) + b (800, read by c) + c (100) = 1300; x was freed after a
    assert m.peak_bytes == 1300 and m.at_node == "c" and m.complete
    assert "topological" in m.order_used
    assert [b for b, _ in m.live_at_peak] == ["b:0", "a:0", "c:0"]
    g.kind = "subgraph"  # TFLite: file order, no buffer forwarding
    m = peak_activation(g)
    assert m.peak_bytes == 1300
    g.tensors["b:0"].shape = [None]
    m = peak_activation(g)
    assert not m.complete and m.unknown_tensors == ["b:0"] and m.peak_bytes == 800  # a lower bound


def test_tflite_style_graph_costs():
    x = Tensor("in", "int8", [1, 8, 8, 3])
    nodes = [Node("conv", "CONV_2D", ["in", "w", "b"], ["c"], attrs={"fused_activation_function": "RELU6"}),
             Node("dw", "DEPTHWISE_CONV_2D", ["c", "dww", "b2"], ["d"], attrs={"fused_activation_function": "NONE"}),
             Node("mean", "MEAN", ["d", "ax"], ["m"]),
             Node("fc", "FULLY_CONNECTED", ["m", "fcw", ""], ["f"]),
             Node("rs", "RESHAPE", ["f", "shp"], ["o"]),
             Node("custom", "MyCustom", ["o"], ["z"], custom=True)]
    tensors = [x, Tensor("w", "int8", [16, 3, 3, 3], const=ConstData(432)), Tensor("b", "int32", [16], const=ConstData(64)),
               Tensor("c", "int8", [1, 4, 4, 16]), Tensor("dww", "int8", [1, 3, 3, 16], const=ConstData(144)),
               Tensor("b2", "int32", [16], const=ConstData(64)), Tensor("d", "int8", [1, 4, 4, 16]),
               Tensor("ax", "int32", [2], const=ConstData(8)), Tensor("m", "int8", [1, 16]),
               Tensor("fcw", "int8", [10, 16], const=ConstData(160)), Tensor("f", "int8", [1, 10]),
               Tensor("shp", "int32", [2], const=ConstData(8)), Tensor("o", "int8", [1, 10]),
               Tensor("z", "int8", [1, 10])]
    g = _graph(nodes, tensors, kind="subgraph", outputs=["z"], dialect="tflite")
    g.inputs = ["in"]
    model = _model(g, "tflite")
    r = compute_cost(model)
    c = _by_node(r)
    assert c["conv"].macs == 4 * 4 * 16 * 27 and c["conv"].flops == 2 * 6912 + 256
    assert c["conv"].params == 432 + 16  # int32 bias of a conv is a weight
    assert c["dw"].macs == 4 * 4 * 16 * 9 and c["dw"].flops == 2 * 2304
    assert c["mean"].flops == 256 and c["mean"].params == 0  # int32 axes are not weights
    assert c["fc"].macs == 160
    assert c["rs"].flops == 0 and c["conv"].activation_bytes == 256
    assert not c["custom"].known
    # the custom op's cost is unknown: the total is null, its known part 6912 + 2304 + 160
    assert set(r.per_subgraph) == {"subgraph0"} and r.per_subgraph["subgraph0"]["macs"] is None
    assert r.per_subgraph["subgraph0"]["at_least"]["macs"] == 6912 + 2304 + 160
    assert r.memory.order_used.startswith("operator order")


# ----------------------------------------------------------------------------------------------------------
# (b) keras.applications models
# ----------------------------------------------------------------------------------------------------------
_COSTS: dict = {}


def graphdef_cost(name, batch=1, input_shapes=None):
    key = (name, batch, json.dumps(input_shapes))
    if key not in _COSTS:
        pb, facts = reference_model(name, batch)
        t0 = time.perf_counter()
        model = read_pb(pb)
        infer_shapes(model, input_shapes)
        report = compute_cost(model)
        _COSTS[key] = (model, report, facts, time.perf_counter() - t0)
    return _COSTS[key]


def tflite_cost(name, quantize=None):
    key = ("tflite", name, quantize)
    if key not in _COSTS:
        path = reference_tflite(name, quantize)
        model = detect.load(str(path))
        infer_shapes(model)  # TFLite tensors carry shapes: nothing to do, must not break anything
        _COSTS[key] = (model, compute_cost(model))
    return _COSTS[key]


@pytest.mark.requires_tf
@pytest.mark.parametrize("name", MODELS)
def test_flops_match_profiler_per_op_type(name):
    model, report, facts, seconds = graphdef_cost(name)
    assert report.totals["complete"], report.unknown[:3]
    prof = facts["flops_by_op_type"]
    lines, mine_sum, theirs_sum = [], 0, 0
    for op, theirs in sorted(prof.items()):
        assert op in PROFILED_OPS, f"the profiler counts {op}, not in this test's list"
        mine = report.by_op_type.get(op, {}).get("flops", 0)
        mine_sum += mine
        theirs_sum += theirs
        lines.append(f"{op}: {mine} vs {theirs} ({mine / theirs:.4f})")
        assert mine == pytest.approx(theirs, rel=0.01), op
    assert theirs_sum == facts["flops"]
    assert mine_sum == pytest.approx(facts["flops"], rel=0.01)
    print(f"\n{name}: FLOPs over the profiler's op types {mine_sum} vs profiler {facts['flops']} "
          f"(ratio {mine_sum / facts['flops']:.5f}); all ops {report.totals['flops']}; "
          f"shapes + cost in {seconds:.2f} s\n  " + "\n  ".join(lines))


@pytest.mark.requires_tf
@pytest.mark.parametrize("name", MODELS)
def test_params_match_keras(name):
    model, report, facts, _ = graphdef_cost(name)
    assert report.totals["params"] == pytest.approx(facts["count_params"], rel=0.005)
    assert report.totals["params"] == summarize(model).params
    print(f"\n{name}: params {report.totals['params']} vs Keras {facts['count_params']} "
          f"(ratio {report.totals['params'] / facts['count_params']:.6f})")


@pytest.mark.requires_tf
@pytest.mark.parametrize("name", MODELS)
def test_tflite_macs_match_graphdef(name):
    _, gd_report, _, _ = graphdef_cost(name)
    model, report = tflite_cost(name)
    assert report.per_subgraph and report.totals["complete"], report.unknown[:3]
    ratio = report.totals["macs"] / gd_report.totals["macs"]
    print(f"\n{name}: TFLite MACs {report.totals['macs']} vs GraphDef {gd_report.totals['macs']} ({ratio:.5f})")
    assert ratio == pytest.approx(1.0, abs=0.02)


@pytest.mark.requires_tf
def test_quantized_tflite_macs():
    _, gd_report, _, _ = graphdef_cost("MobileNetV2")
    model, report = tflite_cost("MobileNetV2", "int8")
    _, float_report = tflite_cost("MobileNetV2")
    assert report.totals["complete"], report.unknown[:3]
    ratio = report.totals["macs"] / gd_report.totals["macs"]
    print(f"\nMobileNetV2 int8: TFLite MACs {report.totals['macs']} ({ratio:.5f} of the GraphDef's); "
          f"params {report.totals['params']}, weight bytes {report.totals['weight_bytes']} "
          f"(float: {float_report.totals['weight_bytes']})")
    assert ratio == pytest.approx(1.0, abs=0.02)
    assert report.totals["params"] == pytest.approx(float_report.totals["params"], rel=0.01)
    assert report.totals["weight_bytes"] < 0.4 * float_report.totals["weight_bytes"]


@pytest.mark.requires_tf
@pytest.mark.parametrize("name", sorted(PAPER_MACS))
def test_macs_match_papers(name):
    _, report, _, _ = graphdef_cost(name)
    ratio = report.totals["macs"] / PAPER_MACS[name]
    print(f"\n{name}: {report.totals['macs'] / 1e6:.1f} M MACs vs paper {PAPER_MACS[name] / 1e6:.0f} M ({ratio:.4f})")
    assert ratio == pytest.approx(1.0, abs=0.03)


@pytest.mark.requires_tf
def test_unknown_batch_plus_input_shapes_gives_static_flops():
    _, static, _, _ = graphdef_cost("MobileNetV2", 1)
    _, dynamic, _, _ = graphdef_cost("MobileNetV2", None, {"x": [1, 224, 224, 3]})
    assert dynamic.totals["flops"] == static.totals["flops"]
    assert dynamic.totals["macs"] == static.totals["macs"]
    assert dynamic.totals["params"] == static.totals["params"]
    assert dynamic.totals["activation_bytes_peak"] == static.totals["activation_bytes_peak"]
    assert dynamic.totals["complete"]
    _, unfixed, _, _ = graphdef_cost("MobileNetV2", None)
    assert not unfixed.totals["complete"] and unfixed.unknown
    for c in unfixed.unknown:
        assert c.reason and ("input_shapes" in c.reason or "not fully known" in c.reason), c


@pytest.mark.requires_tf
@pytest.mark.parametrize("name", ["MobileNetV2", "ResNet50"])
def test_peak_memory_is_plausible(name):
    model, report, _, _ = graphdef_cost(name)
    mem = report.memory
    assert mem.complete and mem.at_node and model.main.node(mem.at_node)
    g = model.main
    # no schedule can go below the largest step's own inputs + outputs
    floor = 0
    for n in g.op_nodes():
        if n.op in ("Identity", "Reshape", "Squeeze", "ExpandDims"):  # these forward their input buffer
            continue
        ts = {t: g.tensors[t] for t in list(n.inputs) + list(n.outputs) if t in g.tensors}
        floor = max(floor, sum(4 * _elems(t) for t in ts.values() if t.const is None))
    assert floor <= mem.peak_bytes <= report.totals["activation_bytes_total"]
    print(f"\n{name}: peak activation {mem.peak_bytes / 1e6:.2f} MB at {mem.at_node} "
          f"(one step's floor {floor / 1e6:.2f} MB, all activations {report.totals['activation_bytes_total'] / 1e6:.1f} MB)")


def _elems(t):
    n = 1
    for d in t.shape:
        n *= d
    return n
