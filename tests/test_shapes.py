"""Static shape inference (graphreport.analysis.shapes) against TensorFlow's own shape inference.

(a) Tiny graphs, one or a few ops each, traced with tf.function in a subprocess (CASE_SCRIPT below): the shape
    of every tensor after graphreport's inference (the GraphDef is read by graphreport's own reader, which
    sees no shapes but the placeholders') must equal the shape TensorFlow infers when it imports the same
    GraphDef.
(b) keras.applications models with weights=None, frozen to GraphDefs by tests/refmodels.py (shared with
    test_cost.py): every tensor's shape equals TensorFlow's; MobileNetV2 frozen with an unknown batch plus
    input_shapes {"x": [1, 224, 224, 3]} gives the static version's shapes.

TensorFlow runs in subprocesses only (this process never imports it); what they build is cached under
.cache/shapes/<tf version>-<script hash>/ and .cache/refmodels/<tf version>/ so reruns take seconds.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from graphreport.analysis.shapes import infer_shapes, topological_order
from graphreport.errors import UsageError
from graphreport.model import Graph, Model, Node, Tensor
from graphreport.readers import graphdef

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache"
sys.path.insert(0, str(Path(__file__).resolve().parent))


def tf_version() -> str:
    for dist in ("tensorflow-cpu", "tensorflow", "tf-nightly", "tensorflow-macos"):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "unknown"


def cache_dir(kind: str, script: str) -> Path:
    digest = hashlib.sha1(script.encode()).hexdigest()[:10]
    d = CACHE / kind / f"tf-{tf_version()}-{digest}"
    d.mkdir(parents=True, exist_ok=True)
    return d


def run_tf(script: str, *args, timeout=1800) -> None:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="-1", PYTHONHASHSEED="0")
    p = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True,
                       env=env, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"TensorFlow helper failed ({p.returncode}):\n{p.stderr[-4000:]}")


def read_pb(path: Path) -> Model:
    return graphdef.read(str(path), path.read_bytes())


def compare_shapes(model: Model, tf_shapes: dict) -> list[str]:
    """Tensors whose graphreport shape differs from TensorFlow's ("node:idx" -> list | None). Outputs that no
    node consumes (e.g. Unique's second output) are not in graphreport's model and are not compared."""
    g = model.main
    bad = []
    for name, want in tf_shapes.items():
        t = g.tensors.get(name)
        if t is None and g.node(name.rsplit(":", 1)[0]) is not None:
            continue
        got = None if t is None else t.shape
        if got != want:
            note = f" ({t.shape_note})" if t is not None and t.shape_note else ""
            bad.append(f"{name}: graphreport {got} vs TensorFlow {want}{note}")
    return bad


# ----------------------------------------------------------------------------------------------------------
# (a) tiny graphs, one rule at a time
# ----------------------------------------------------------------------------------------------------------
CASE_SCRIPT = r'''
import json, os, sys
import numpy as np
import tensorflow as tf

OUT = sys.argv[1]
S = tf.TensorSpec
CASES = {}


def case(*specs):
    def deco(fn):
        CASES[fn.__name__] = (fn, specs)
        return fn
    return deco


F = tf.float32
I = tf.int32


@case(S([1, 15, 17, 3]), S([3, 3, 3, 8]))
def conv2d_same_s2(x, w): return tf.nn.conv2d(x, w, 2, "SAME")

@case(S([2, 15, 17, 3]), S([3, 2, 3, 8]))
def conv2d_valid_s12(x, w): return tf.nn.conv2d(x, w, [1, 1, 2, 1], "VALID")

@case(S([1, 3, 15, 17]), S([3, 3, 3, 8]))
def conv2d_nchw(x, w): return tf.nn.conv2d(x, w, 2, "SAME", data_format="NCHW")

@case(S([1, 3, 16, 17]), S([5, 3, 3, 8]))
def conv2d_nchw_valid_dilated(x, w): return tf.nn.conv2d(x, w, 1, "VALID", data_format="NCHW", dilations=[1, 1, 2, 3])

@case(S([1, 15, 17, 3]), S([3, 3, 3, 8]))
def conv2d_explicit(x, w): return tf.nn.conv2d(x, w, [1, 2, 2, 1], [[0, 0], [1, 2], [3, 0], [0, 0]])

@case(S([1, 20, 21, 3]), S([3, 3, 3, 4]))
def conv2d_dilated_same(x, w): return tf.nn.conv2d(x, w, 1, "SAME", dilations=2)

@case(S([None, 32, 32, 3]), S([3, 3, 3, 16]))
def conv2d_unknown_batch(x, w): return tf.nn.relu(tf.nn.conv2d(x, w, 2, "SAME"))

@case(S([1, None, None, 3]), S([3, 3, 3, 16]))
def conv2d_unknown_spatial(x, w): return tf.nn.conv2d(x, w, 2, "VALID")

@case(S([1, 15, 17, 4]), S([3, 3, 4, 2]))
def depthwise_same_s2(x, w): return tf.nn.depthwise_conv2d(x, w, [1, 2, 2, 1], "SAME")

@case(S([1, 15, 17, 4]), S([3, 3, 4, 1]))
def depthwise_valid_dilated(x, w): return tf.nn.depthwise_conv2d(x, w, [1, 1, 1, 1], "VALID", dilations=[2, 2])

@case(S([1, 4, 15, 17]), S([3, 3, 4, 3]))
def depthwise_nchw(x, w): return tf.raw_ops.DepthwiseConv2dNative(input=x, filter=w, strides=[1, 1, 2, 2], padding="SAME", data_format="NCHW")

@case(S([1, 15, 17, 4]), S([3, 3, 4, 2]))
def depthwise_explicit(x, w): return tf.raw_ops.DepthwiseConv2dNative(input=x, filter=w, strides=[1, 2, 2, 1], padding="EXPLICIT", explicit_paddings=[0, 0, 1, 1, 2, 0, 0, 0])

@case(S([1, 9, 15, 17, 3]), S([3, 3, 3, 3, 8]))
def conv3d_same(x, w): return tf.nn.conv3d(x, w, [1, 2, 2, 2, 1], "SAME")

@case(S([1, 3, 9, 15, 17]), S([2, 3, 3, 3, 8]))
def conv3d_ncdhw_valid(x, w): return tf.nn.conv3d(x, w, [1, 1, 1, 2, 2], "VALID", data_format="NCDHW")

@case(S([2, 8, 9, 16]), S([3, 3, 4, 16]))
def conv2d_transpose(x, w): return tf.nn.conv2d_transpose(x, w, [2, 16, 18, 4], 2, "SAME")

@case(S([None, 8, 9, 16]), S([3, 3, 4, 16]))
def conv2d_transpose_dynamic(x, w):
    n = tf.shape(x)[0]
    return tf.nn.conv2d_transpose(x, w, tf.stack([n, 17, 19, 4]), 2, "VALID")

@case(S([1, 4, 8, 9, 16]), S([3, 3, 3, 4, 16]))
def conv3d_transpose(x, w): return tf.nn.conv3d_transpose(x, w, [1, 8, 16, 18, 4], 2, "SAME")

@case(S([1, 8, 9, 4]), S([3, 3, 4, 1]))
def depthwise_backprop_input(x, w): return tf.raw_ops.DepthwiseConv2dNativeBackpropInput(input_sizes=[1, 16, 18, 4], filter=w, out_backprop=x, strides=[1, 2, 2, 1], padding="SAME")

@case(S([1, 15, 17, 3]))
def pools(x):
    return (tf.nn.max_pool2d(x, 3, 2, "SAME"), tf.nn.avg_pool2d(x, [2, 3], [2, 1], "VALID"),
            tf.nn.max_pool2d(x, 1, 1, "VALID"))

@case(S([1, 3, 15, 17]))
def pool_nchw(x): return tf.nn.max_pool2d(x, 3, 2, "SAME", data_format="NCHW")

@case(S([1, 9, 15, 17, 3]))
def pool3d(x): return tf.nn.max_pool3d(x, 2, 2, "VALID"), tf.nn.avg_pool3d(x, 3, 2, "SAME")

@case(S([1, 15, 17, 3]))
def maxpool_argmax(x): return tf.nn.max_pool_with_argmax(x, 3, 2, "SAME")

@case(S([None, 15, 17, 3]))
def maxpool_v2(x): return tf.raw_ops.MaxPoolV2(input=x, ksize=[1, 3, 3, 1], strides=[1, 2, 2, 1], padding="VALID")

@case(S([3, 5]), S([5, 7]), S([7, 5]))
def matmuls(a, b, c):
    return (tf.matmul(a, b), tf.matmul(a, c, transpose_b=True), tf.matmul(b, b, transpose_a=True),
            tf.matmul(c, b, transpose_a=True, transpose_b=True))

@case(S([2, 1, 3, 5]), S([4, 5, 6]), S([None, 4, 3]))
def batch_matmul(a, b, c):
    return tf.matmul(a, b), tf.matmul(b, b, adjoint_a=True), tf.matmul(c, c, transpose_b=True)

@case(S([2, 1, 4]), S([3, 1]), S([None, 4]), S([]))
def broadcasting(a, b, c, s):
    return a + b, a * c, c - s, tf.maximum(a, s), a < b, tf.math.squared_difference(b, c), tf.math.rsqrt(a)

@case(S([2, 3], tf.bool), S([2, 3]), S([1, 3]))
def selects(c, a, b): return tf.where(c, a, b), tf.raw_ops.Select(condition=c, x=a, y=a)

@case(S([2, 3, 4, 5]))
def reductions(x):
    return (tf.reduce_mean(x, [1, 2], keepdims=True), tf.reduce_sum(x, -1), tf.reduce_max(x, [0, -1]),
            tf.reduce_min(x), tf.argmax(x, 2), tf.reduce_prod(x, 1, keepdims=True), tf.reduce_all(x > 0, [1]))

@case(S([None, 7, 7, 64]))
def reduce_unknown_batch(x): return tf.reduce_mean(x, [1, 2]), tf.argmin(x, -1)

@case(S([2, 3, 4]))
def reshape_const(x): return tf.reshape(x, [-1, 4]), tf.reshape(x, [6, 2, 2]), tf.reshape(x, [24])

@case(S([None, 4, 6]))
def reshape_dynamic(x):
    return (tf.reshape(x, [tf.shape(x)[0], -1]), tf.reshape(x, [-1, 24]), tf.reshape(x, [-1, 2, 12]),
            tf.reshape(x, tf.concat([tf.shape(x)[:1], [2, 12]], 0)))

@case(S([3, 4, 6]))
def reshape_shape_arith(x):
    s = tf.shape(x)
    return (tf.reshape(x, [s[0], tf.reduce_prod(s[1:])]), tf.reshape(x, tf.stack([s[0] * s[1], -1])),
            tf.reshape(x, tf.reverse(s, [0])), tf.reshape(x, [s[2] // 2, -1]))

@case(S([2, 3, 4, 5]))
def transposes(x): return tf.transpose(x, [0, 3, 1, 2]), tf.transpose(x), tf.transpose(x, [3, 2, 0, 1])

@case(S([2, 3, 4]), S([2, 5, 4]), S([2, None, 4]))
def concats(a, b, c): return tf.concat([a, b], 1), tf.concat([a, b, c], -2), tf.concat([a, a], 0)

@case(S([6, 8, 9]))
def splits(x):
    return tf.split(x, 3, axis=0) + tf.split(x, [2, -1, 3], axis=2) + tf.unstack(x, axis=1)[:2]

@case(S([2, 3]), S([2, 3]))
def stacks(a, b): return tf.stack([a, b]), tf.stack([a, b], axis=-1), tf.stack([a, b], 1)

@case(S([5, 6, 7]))
def slices(x): return tf.slice(x, [1, 0, 2], [2, -1, 3]), tf.slice(x, [0, 0, 0], [-1, 2, -1])

@case(S([5, 6, 7, 8]))
def strided_slices(x):
    return (x[1:3], x[..., 1:3], x[:, tf.newaxis, ::-1], x[1], x[-1, ..., ::2], x[3:1:-1, 2, :, -3:],
            x[::2, ::3, ::-2, 1:-1], x[tf.newaxis, ..., tf.newaxis], x[10:], x[:, -100:2], x[..., 0],
            x[-2:, 1:, :, 5:2])

@case(S([None, 6, None, 8]))
def strided_slices_unknown(x): return x[:, 1:3], x[1:, ..., 0], x[..., ::2], x[0]

@case(S([3, 4]))
def pads(x):
    return (tf.pad(x, [[1, 2], [0, 3]]), tf.pad(x, [[1, 1], [2, 2]], "REFLECT"),
            tf.pad(x, [[0, 1], [1, 0]], constant_values=2.0))

@case(S([1, 3, 1, 4, 1]))
def squeeze_expand(x):
    return (tf.squeeze(x), tf.squeeze(x, [0, -1]), tf.expand_dims(x, 0), tf.expand_dims(x, -1),
            tf.expand_dims(x, 2))

@case(S([2, 3]), S([None, 3]))
def tiles(x, y): return tf.tile(x, [2, 3]), tf.tile(y, [3, 1]), tf.tile(x, tf.shape(x))

@case(S([5, 6, 7]), S([2, 3], I), S([5, 4], I))
def gathers(p, i, j):
    return (tf.gather(p, i), tf.gather(p, i, axis=2), tf.gather(p, j, axis=1, batch_dims=1),
            tf.gather_nd(p, tf.zeros([4, 2], tf.int32)), tf.gather(p, 3, axis=-1))

@case(S([4, 5], I))
def one_hots(i): return tf.one_hot(i, 7), tf.one_hot(i, 3, axis=0), tf.one_hot(i, 2, axis=1)

@case(S([None, 3, 4]))
def fills(x):
    s = tf.shape(x)
    return (tf.fill(s[1:], 1.0), tf.zeros_like(x), tf.ones([s[1], 5]), tf.broadcast_to(x[:1], [6, 3, 4]),
            tf.range(s[2] * 3), tf.range(2, 11, 3), tf.fill([2, 2], 0))

@case(S([1, 6, 7, 3]))
def resizes(x):
    s = tf.shape(x)
    return (tf.image.resize(x, [12, 14]), tf.image.resize(x, s[1:3] * 2, method="nearest"),
            tf.compat.v1.image.resize_bilinear(x, [3, 4]), tf.image.resize(x, [5, 5], method="bicubic"))

@case(S([2, 5, 6, 4]), S([4]), S([4]), S([4]), S([4]))
def fused_batch_norm(x, sc, of, m, v):
    return tf.raw_ops.FusedBatchNormV3(x=x, scale=sc, offset=of, mean=m, variance=v, is_training=False)[:5]

@case(S([2, 4, 5, 6]), S([4]), S([4]), S([4]), S([4]))
def fused_batch_norm_nchw(x, sc, of, m, v):
    return tf.raw_ops.FusedBatchNormV3(x=x, scale=sc, offset=of, mean=m, variance=v, is_training=False, data_format="NCHW")[:5]

@case(S([2, 4, 5, 6]), S([4]))
def bias_softmax(x, b):
    return (tf.nn.bias_add(x, b, data_format="NCHW"), tf.nn.softmax(x), tf.nn.log_softmax(x, axis=1),
            tf.nn.relu6(x), tf.nn.elu(x), tf.nn.leaky_relu(x), tf.sigmoid(x), tf.nn.l2_loss(x),
            tf.nn.lrn(tf.transpose(x, [0, 2, 3, 1])))

@case(S([2, 4, 6, 8]))
def space_depth(x):
    return (tf.nn.depth_to_space(x, 2), tf.nn.space_to_depth(x, 2),
            tf.space_to_batch_nd(x, [2, 3], [[0, 0], [1, 2]]),
            tf.batch_to_space(tf.reshape(x, [8, 2, 6, 4]), [2, 2], [[1, 0], [0, 2]]))

@case(S([3, 10]))
def topk(x): return tuple(tf.math.top_k(x, 4))

@case(S([2, 3, 4]), S([4, 5]), S([2, 4, 6]))
def einsums(a, b, c):
    return (tf.einsum("bij,jk->bik", a, b), tf.einsum("...j,jk->...k", a, b), tf.einsum("bij,bjk->bik", a, c),
            tf.einsum("bij->bji", a), tf.einsum("bij,bij->b", a, a), tf.einsum("ij,ij->ij", b, b))

@case(S([None, 3, 4]))
def shape_ops(x):
    s = tf.shape(x)
    return s, tf.size(x), tf.rank(x), tf.shape_n([x, x[0]]), tf.cast(s, tf.float32), s[1:] + 1

@case(S([2, 3]), S([2, 3]))
def misc_unary(a, b):
    return (tf.add_n([a, b, a]), tf.cast(a, tf.int32), tf.clip_by_value(a, 0.0, 1.0), tf.math.cumsum(a, 1),
            tf.reverse(a, [1]), tf.stop_gradient(a), tf.identity_n([a, b])[1], tf.math.floordiv(a, b),
            tf.math.abs(a), tf.math.exp(a), tf.math.is_nan(a), tf.math.logical_not(a > b))

@case(S([None]))
def data_dependent(x): return tf.where(x > 0), tf.unique(x)[0], tf.boolean_mask(x, x > 0)

@case(S([2, 3, 4], I))
def int_shape_math(x):
    s = tf.shape(x)
    return tf.zeros(tf.stack([s[0] * s[2], tf.reduce_max(s) - 1])), tf.ones(tf.maximum(s, 3)[1:])

@case(S(None), S([4, 6]), S(None, I))
def unknown_rank(x, w, i):
    return (tf.matmul(x, w), tf.nn.max_pool2d(x, 2, 2, "VALID"), tf.nn.conv2d(x, tf.zeros([3, 3, 2, 5]), 1, "SAME"),
            tf.nn.bias_add(x, tf.zeros([6])), tf.reduce_mean(x, 1, keepdims=True), tf.reshape(x, [-1, 12]),
            tf.concat([x, w], 0), tf.transpose(x, [1, 0]), tf.squeeze(x, [0]), tf.expand_dims(x, 1), x[0],
            x[..., 1:], tf.shape(x), tf.gather(w, i), tf.nn.relu(x), x + w, tf.pad(x, [[1, 1], [0, 2]]))

@case(S([None, 7, 7, 8]), S([2, 6]))
def keras_style(x, y):
    flat = tf.reshape(x, [-1, 7 * 7 * 8])
    up = tf.image.resize(x, [14, 14], method="nearest")
    return (flat, up, tf.nn.space_to_depth(x[:, :6, :6], 2), tf.stack([y, y], axis=-2),
            tf.where(y > 0, y, tf.zeros([1, 6])), tf.gather(y, [1, 0], axis=-1), tf.reduce_sum(y, [-1, 0]),
            tf.split(x, [3, 5], axis=-1)[1], tf.compat.v1.nn.fused_batch_norm(x, tf.ones([8]), tf.zeros([8]))[0])

@case(S([None, 5]), S([3], I))
def partial_shape_values(x, s):
    n = tf.shape(x)[0]
    return (tf.zeros(tf.stack([n, 2 * 5])), tf.reshape(x, tf.stack([n, 5, 1])), tf.fill(s, 1.0),
            tf.zeros(tf.concat([tf.shape(x), [2]], 0)), tf.broadcast_to(x[:, :1], tf.shape(x)),
            tf.tile(x, tf.stack([1, n])), tf.ones(tf.shape(x)[1:]))


def tf1_while():
    g = tf.Graph()
    tf.compat.v1.disable_control_flow_v2()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [2, 3], name="in0")
        i0 = tf.constant(0)
        _, y = tf.compat.v1.while_loop(lambda i, v: i < 5, lambda i, v: (i + 1, tf.tanh(v) * 2.0), [i0, x])
        z = tf.concat([y, y], 0)
        tf.identity(z, name="out")
    tf.compat.v1.enable_control_flow_v2()
    return g.as_graph_def()


def shapes_on_import(gd):
    g = tf.Graph()
    with g.as_default():
        tf.graph_util.import_graph_def(gd, name="")
    out = {}
    for op in g.get_operations():
        for i, t in enumerate(op.outputs):
            out[f"{op.name}:{i}"] = None if t.shape.rank is None else t.shape.as_list()
    return out


def registered_flops(gd):
    """Per node, the "flops" statistic TensorFlow registers for its op (what the v1 profiler sums)."""
    from tensorflow.python.framework import ops as tf_ops
    g = tf.Graph()
    with g.as_default():
        tf.graph_util.import_graph_def(gd, name="")
    out = {}
    for nd in gd.node:
        try:
            stat = tf_ops.get_stats_for_node_def(g, nd, "flops")
        except Exception:
            continue
        if stat.value is not None:
            out[nd.name] = int(stat.value)
    return out


index, flops = {}, {}
for name, (fn, specs) in CASES.items():
    specs = [tf.TensorSpec(s.shape, s.dtype, name=f"in{i}") for i, s in enumerate(specs)]
    gd = tf.function(fn).get_concrete_function(*specs).graph.as_graph_def()
    (open(os.path.join(OUT, name + ".pb"), "wb")).write(gd.SerializeToString())
    index[name] = shapes_on_import(gd)
    flops[name] = registered_flops(gd)
json.dump(flops, open(os.path.join(OUT, "flops.json"), "w"))
for path in sys.argv[2:]:  # the bundled sample GraphDefs, as files
    gd = tf.compat.v1.GraphDef()
    gd.ParseFromString(open(path, "rb").read())
    index["sample:" + os.path.basename(path)] = shapes_on_import(gd)
gd = tf1_while()
open(os.path.join(OUT, "tf1_while.pb"), "wb").write(gd.SerializeToString())
index["tf1_while"] = shapes_on_import(gd)
json.dump(index, open(os.path.join(OUT, "index.json"), "w"))
'''

CASE_NAMES = re.findall(r"^def (\w+)\(", CASE_SCRIPT.split("def tf1_while")[0], re.M) + ["tf1_while"]
CASE_NAMES = [c for c in CASE_NAMES if c not in ("case",)]


SAMPLE_PBS = ["tiny_mobilenet.pb", "tf1_frozen.pb", "tf1_training.pb"]


@pytest.fixture(scope="session")
def case_index(tf_reference):
    samples = [ROOT / "sample_models" / f for f in SAMPLE_PBS]
    key = CASE_SCRIPT + "".join(hashlib.sha1(p.read_bytes()).hexdigest() for p in samples)
    d = cache_dir("shapes", key)
    if not (d / "index.json").exists():
        run_tf(CASE_SCRIPT, d, *samples)
    return d, json.loads((d / "index.json").read_text())


@pytest.mark.parametrize("name", CASE_NAMES)
def test_rule_matches_tensorflow(case_index, name):
    d, index = case_index
    model = read_pb(d / f"{name}.pb")
    stats = infer_shapes(model)
    bad = compare_shapes(model, index[name])
    assert not bad, f"{len(bad)} of {len(index[name])} tensors differ:\n  " + "\n  ".join(bad)
    for u in stats.unknown_tensors:
        assert u.reason, u


@pytest.mark.parametrize("name", SAMPLE_PBS)
def test_sample_graphdefs_match_tensorflow(case_index, name):
    """Keras 3 frozen, TF1 frozen (no producer version: scalar placeholder shapes mean unknown; Switch/Merge)
    and a TF1 training graph (gradients, Adam, summaries, saver)."""
    _, index = case_index
    model = read_pb(ROOT / "sample_models" / name)
    infer_shapes(model)
    want = index["sample:" + name]
    bad = compare_shapes(model, want)
    assert not bad, f"{len(bad)} of {len(want)} tensors differ:\n  " + "\n  ".join(bad)


def test_every_unknown_has_a_reason(case_index):
    d, _ = case_index
    for name in ("data_dependent", "tf1_while", "conv2d_unknown_spatial", "reshape_dynamic"):
        model = read_pb(d / f"{name}.pb")
        stats = infer_shapes(model)
        assert stats.unknown_tensors, name
        for t in model.main.tensors.values():
            if t.const is None and (t.shape is None or None in t.shape):
                assert t.shape_note, (name, t.name)


def test_data_dependent_reasons(case_index):
    d, _ = case_index
    model = read_pb(d / "data_dependent.pb")
    infer_shapes(model, {"in0": [10]})
    where = next(n for n in model.main.nodes if n.op == "Where")
    t = model.main.tensors[where.outputs[0]]
    assert t.shape == [None, 1]
    assert "data-dependent" in t.shape_note or "not known statically" in t.shape_note or t.shape_note


def test_tf1_while_loop_cycle_is_broken(case_index):
    d, _ = case_index
    model = read_pb(d / "tf1_while.pb")
    order, broken = topological_order(model.main)
    assert len(order) == len(model.main.nodes)
    assert broken and all(model.main.node(b).op == "Merge" for b in broken)
    stats = infer_shapes(model)
    assert stats.cycles_broken


def test_input_shapes_fix_unknown_dims(case_index):
    d, _ = case_index
    model = read_pb(d / "conv2d_unknown_batch.pb")
    stats = infer_shapes(model, {"in0": [4, 32, 32, 3]})
    relu = next(n for n in model.main.nodes if n.op == "Relu")
    assert model.main.tensors[relu.outputs[0]].shape == [4, 16, 16, 16]
    assert stats.overridden == {"in0": [4, 32, 32, 3]}
    assert stats.unknown == 0 and stats.partial == 0


def test_input_shapes_errors(case_index):
    d, _ = case_index
    model = read_pb(d / "conv2d_unknown_batch.pb")
    with pytest.raises(UsageError, match="not a node"):
        infer_shapes(model, {"nope": [1, 32, 32, 3]})
    with pytest.raises(UsageError, match="rank"):
        infer_shapes(model, {"in0": [1, 32, 32]})
    with pytest.raises(UsageError):
        infer_shapes(model, {"in0": "1,32,32,3"})


def test_declared_shapes_are_refined_not_overwritten():
    g = Graph(name="main")
    g.nodes = [Node("x", "Placeholder", outputs=["x:0"], attrs={"dtype": "float32", "shape": [None, 4]}),
               Node("r", "Relu", inputs=["x:0"], outputs=["r:0"], attrs={"T": "float32"}),
               Node("s", "Relu", inputs=["x:0"], outputs=["s:0"], attrs={"T": "float32"})]
    g.tensors = {"x:0": Tensor("x:0", "float32", [None, 4], producer="x"),
                 "r:0": Tensor("r:0", "float32", [2, None], producer="r"),  # declared by the file
                 "s:0": Tensor("s:0", "float32", [None, 5], producer="s")}  # declared, contradicts
    model = Model(format="graphdef", path="-", file_size=0, graphs=[g])
    stats = infer_shapes(model)
    assert g.tensors["r:0"].shape == [2, 4]  # refined
    assert g.tensors["s:0"].shape == [None, 5]  # kept
    assert stats.conflicts and "s:0" in stats.conflicts[0]


def test_nodes_in_any_order():
    g = Graph(name="main")
    g.nodes = [Node("r", "Relu", inputs=["m:0"], outputs=["r:0"]),
               Node("m", "MatMul", inputs=["x:0", "w:0"], outputs=["m:0"]),
               Node("x", "Placeholder", outputs=["x:0"], attrs={"shape": [3, 5]})]
    g.tensors = {"r:0": Tensor("r:0", "float32", producer="r"), "m:0": Tensor("m:0", "float32", producer="m"),
                 "x:0": Tensor("x:0", "float32", producer="x"),
                 "w:0": Tensor("w:0", "float32", [5, 7])}  # an input without a producing node
    infer_shapes(Model(format="graphdef", path="-", file_size=0, graphs=[g]))
    assert g.tensors["r:0"].shape == [3, 7]


def test_unknown_op_gets_a_reason_and_does_not_stop_the_walk():
    g = Graph(name="main")
    g.nodes = [Node("x", "Placeholder", outputs=["x:0"], attrs={"shape": [3]}),
               Node("f", "MyCustomOp", inputs=["x:0"], outputs=["f:0"]),
               Node("r", "Relu", inputs=["f:0"], outputs=["r:0"]),
               Node("q", "Relu", inputs=["x:0"], outputs=["q:0"])]
    g.tensors = {n + ":0": Tensor(n + ":0", "float32", producer=n) for n in "xfrq"}
    stats = infer_shapes(Model(format="graphdef", path="-", file_size=0, graphs=[g]))
    assert g.tensors["q:0"].shape == [3]
    assert g.tensors["f:0"].shape_note == "no shape rule for op MyCustomOp"
    assert "f:0" in g.tensors["r:0"].shape_note
    assert stats.unknown == 2


def test_function_call_hook():
    body = Graph(name="fn", kind="function", inputs=["a:0"], outputs=["r:0"])
    body.nodes = [Node("a", "Placeholder", outputs=["a:0"], attrs={}),
                  Node("r", "Relu", inputs=["a:0"], outputs=["r:0"])]
    body.tensors = {"a:0": Tensor("a:0", "float32", producer="a"), "r:0": Tensor("r:0", "float32", producer="r")}
    g = Graph(name="main")
    g.nodes = [Node("x", "Placeholder", outputs=["x:0"], attrs={"shape": [2, 3]}),
               Node("c", "StatefulPartitionedCall", inputs=["x:0"], outputs=["c:0"], attrs={"f": {"func": "fn"}}),
               Node("d", "PartitionedCall", inputs=["x:0"], outputs=["d:0"], attrs={"f": {"func": "missing"}})]
    g.tensors = {"x:0": Tensor("x:0", "float32", producer="x"), "c:0": Tensor("c:0", "float32", producer="c"),
                 "d:0": Tensor("d:0", "float32", producer="d")}
    infer_shapes(Model(format="savedmodel", path="-", file_size=0, graphs=[g, body]))
    assert g.tensors["c:0"].shape == [2, 3]
    assert g.tensors["d:0"].shape is None and "missing" in g.tensors["d:0"].shape_note


# ----------------------------------------------------------------------------------------------------------
# (b) keras.applications models
# ----------------------------------------------------------------------------------------------------------
MODELS = ["MobileNet", "MobileNetV2", "ResNet50", "InceptionV3", "EfficientNetB0"]

# Built by tests/refmodels.py (keras.applications, weights=None), cached under .cache/refmodels/<tf version>/;
# run in a subprocess so that this process never imports TensorFlow.
REQUIRED = ([("pb", m, 1) for m in MODELS] + [("pb", "MobileNetV2", None)]
            + [("tflite", m, None) for m in MODELS] + [("tflite", "MobileNetV2", "int8")])
BUILD_SCRIPT = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import refmodels
out = {}
for kind, name, arg in json.loads(sys.argv[2]):
    p = refmodels.frozen_graphdef(name, batch=arg) if kind == "pb" else refmodels.tflite_model(name, quantize=arg)
    out[f"{kind}:{name}:{arg}"] = str(p)
print("PATHS:" + json.dumps(out))
"""
_PATHS: dict = {}


def _cached_paths() -> dict | None:
    """The paths refmodels would return, when every file and sidecar is already there (no TF import)."""
    import refmodels

    d = refmodels.ROOT / ".cache" / "refmodels" / tf_version()
    out = {}
    for kind, name, arg in REQUIRED:
        tag = "bNone" if kind == "tflite" or arg is None else f"b{arg}"
        p = d / (f"{name}_{tag}.pb" if kind == "pb" else f"{name}_{tag}_{arg or 'float'}.tflite")
        if not (p.exists() and Path(str(p) + ".json").exists()):
            return None
        out[f"{kind}:{name}:{arg}"] = str(p)
    return out


def reference_paths() -> dict:
    """key "pb:<model>:<batch>" / "tflite:<model>:<quantize>" -> path; builds what is missing (once)."""
    if not _PATHS:
        _PATHS.update(_cached_paths() or {})
    if not _PATHS:
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="-1")
        p = subprocess.run([sys.executable, "-c", BUILD_SCRIPT, str(Path(__file__).parent), json.dumps(REQUIRED)],
                           capture_output=True, text=True, env=env, timeout=3600)
        line = next((x for x in p.stdout.splitlines() if x.startswith("PATHS:")), None)
        if p.returncode != 0 or line is None:
            raise RuntimeError(f"building the reference models failed:\n{p.stderr[-4000:]}")
        _PATHS.update(json.loads(line[len("PATHS:"):]))
    return _PATHS


def reference_model(name: str, batch) -> tuple[Path, dict]:
    """Frozen GraphDef of keras.applications.<name>(weights=None) (batch 1 or None) and its sidecar facts
    (count_params, tensor_shapes as TF infers them on import, profiler flops and flops_by_op_type)."""
    path = Path(reference_paths()[f"pb:{name}:{batch}"])
    return path, json.loads(Path(str(path) + ".json").read_text())


def reference_tflite(name: str, quantize=None) -> Path:
    return Path(reference_paths()[f"tflite:{name}:{quantize}"])


@pytest.fixture(scope="module", params=MODELS)
def keras_model(request, tf_reference):
    pb, facts = reference_model(request.param, 1)
    return request.param, pb, facts


def test_keras_application_shapes_match_tensorflow(keras_model):
    name, pb, facts = keras_model
    model = read_pb(pb)
    stats = infer_shapes(model)
    bad = compare_shapes(model, facts["tensor_shapes"])
    n = len(facts["tensor_shapes"])
    assert not bad, f"{name}: {len(bad)} of {n} tensors differ:\n  " + "\n  ".join(bad[:20])
    assert stats.unknown == 0 and stats.partial == 0, stats.unknown_tensors[:5]
    print(f"\n{name}: {n} tensors, all equal to TensorFlow's")


@pytest.mark.requires_tf
def test_unknown_batch_plus_input_shapes_equals_static():
    pb_none, facts_none = reference_model("MobileNetV2", None)
    pb_one, facts_one = reference_model("MobileNetV2", 1)
    dynamic = read_pb(pb_none)
    stats = infer_shapes(dynamic)
    # without fixed inputs: equal to TensorFlow's own inference of the unknown-batch graph
    assert not compare_shapes(dynamic, facts_none["tensor_shapes"])
    assert stats.partial > 0 and all(u.reason for u in stats.unknown_tensors)
    fixed = read_pb(pb_none)
    infer_shapes(fixed, {"x": [1, 224, 224, 3]})
    bad = compare_shapes(fixed, facts_one["tensor_shapes"])
    assert not bad, "\n".join(bad[:20])
