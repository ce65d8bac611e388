"""Small TensorFlow graphs (one or two ops each) for checking graphreport's TFLite compatibility verdicts
against the real converter, and the converter harness with its cache.

Each case builds a frozen GraphDef from placeholders (static shapes unless said) and constants, with its
outputs named out0, out1 ... The harness converts the written .pb three ways with
tf.compat.v1.lite.TFLiteConverter.from_frozen_graph, as a user converts a frozen graph:
  builtins  TFLITE_BUILTINS only                      -> the report's builtins_only
  select    TFLITE_BUILTINS + SELECT_TF_OPS           -> the report's "no unsupported op"
  int8      DEFAULT + representative data + TFLITE_BUILTINS_INT8, a success only when no op but
            QUANTIZE/DEQUANTIZE reads or writes a float32 tensor   -> the report's int8_full
Results are cached per TensorFlow version and graph bytes under .cache/compat/ (the repository root).

Everything here imports tensorflow lazily; the cases are only built inside the test that needs them.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = ROOT / ".cache" / "compat"
MODES = ("builtins", "select", "int8")

F32, F16, F64, I32, I64, BOOL, STR = "float32", "float16", "float64", "int32", "int64", "bool", "string"


class Case:
    def __init__(self, name, fn, ins, kind, v1_cf=False):
        self.name = name
        self.fn = fn
        self.ins = ins  # [(dtype, shape)]
        self.kind = kind  # what it exercises: builtin | flex | unsupported | int8 | attr | dtype | graph
        self.v1_cf = v1_cf


def cases():  # noqa: C901 - one table
    import numpy as np
    import tensorflow as tf

    R = tf.raw_ops
    tf1 = tf.compat.v1
    rng = np.random.RandomState(42)

    def w(*shape):
        return tf.constant(rng.standard_normal(shape).astype(np.float32) * 0.1)

    def i32(v):
        return tf.constant(v, dtype=tf.int32)

    img = [(F32, [1, 16, 16, 3])]
    vec = [(F32, [2, 8])]
    C = []

    def add(name, kind, ins, v1_cf=False):
        def deco(fn):
            C.append(Case(name, fn, ins, kind, v1_cf))
            return fn
        return deco

    # --- builtins, int8-friendly --------------------------------------------------------------------------
    @add("conv_relu", "builtin", img)
    def _(x):
        return tf.nn.relu(tf.nn.conv2d(x, w(3, 3, 3, 8), 1, "SAME"))

    @add("depthwise_relu6", "builtin", img)
    def _(x):
        return tf.nn.relu6(tf.nn.depthwise_conv2d(x, w(3, 3, 3, 1), [1, 2, 2, 1], "SAME"))

    @add("dense_softmax", "builtin", vec)
    def _(x):
        return tf.nn.softmax(tf.nn.bias_add(tf.matmul(x, w(8, 4)), w(4)))

    @add("maxpool_avgpool", "builtin", img)
    def _(x):
        return tf.nn.avg_pool2d(tf.nn.max_pool2d(x, 2, 2, "VALID"), 2, 2, "SAME")

    @add("global_mean", "builtin", img)
    def _(x):
        return tf.reduce_mean(x, axis=[1, 2])

    @add("concat_reshape", "builtin", [(F32, [1, 4, 4, 2]), (F32, [1, 4, 4, 3])])
    def _(x, y):
        return tf.reshape(tf.concat([x, y], axis=-1), [1, -1])

    @add("resize_bilinear", "builtin", img)
    def _(x):
        return tf.image.resize(x, [32, 32], method="bilinear")

    @add("transpose_pad", "builtin", img)
    def _(x):
        return tf.pad(tf.transpose(x, [0, 2, 1, 3]), [[0, 0], [1, 1], [1, 1], [0, 0]])

    @add("batchnorm_relu", "builtin", img)
    def _(x):
        y = R.FusedBatchNormV3(x=x, scale=w(3) + 1.0, offset=w(3), mean=w(3), variance=tf.abs(w(3)) + 1.0,
                               is_training=False, epsilon=1e-3)[0]
        return tf.nn.relu(y)

    @add("swish", "builtin", vec)
    def _(x):
        return x * tf.sigmoid(x)

    @add("strided_slice_tanh", "builtin", [(F32, [4, 8])])
    def _(x):
        return tf.tanh(x[1:3, ::2])

    @add("leaky_relu_sub", "builtin", vec)
    def _(x):
        return tf.nn.leaky_relu(x - 0.5, alpha=0.2)

    @add("argmax_int32", "builtin", vec)
    def _(x):
        return tf.argmax(x, axis=1, output_type=tf.int32)

    @add("gelu_exact", "builtin", vec)
    def _(x):
        return tf.nn.gelu(x, approximate=False)

    @add("gelu_tanh", "builtin", vec)
    def _(x):
        return tf.nn.gelu(x, approximate=True)

    @add("split_add", "builtin", [(F32, [2, 8])])
    def _(x):
        a, b = tf.split(x, 2, axis=1)
        return a + b

    @add("int32_arithmetic", "dtype", [(I32, [2, 4]), (I32, [2, 4])])
    def _(x, y):
        return tf.maximum(x * y, x + 1)

    @add("embedding_lookup", "builtin", [(I32, [1, 5])])
    def _(ids):
        return tf.reduce_sum(tf.gather(w(20, 4), ids), axis=1)

    @add("conv_dynamic_batch", "graph", [(F32, [None, 16, 16, 3])])
    def _(x):
        return tf.nn.conv2d(x, w(3, 3, 3, 4), 2, "VALID")

    @add("shape_of_dynamic", "graph", [(F32, [None, 4])])
    def _(x):
        return tf.reshape(x, tf.stack([tf.shape(x)[0], 2, 2]))

    # --- attribute-dependent ------------------------------------------------------------------------------
    @add("conv_nchw", "attr", [(F32, [1, 3, 16, 16])])
    def _(x):
        return tf.nn.conv2d(x, w(3, 3, 3, 4), 1, "SAME", data_format="NCHW")

    @add("depthwise_nchw", "attr", [(F32, [1, 3, 16, 16])])
    def _(x):
        return R.DepthwiseConv2dNative(input=x, filter=w(3, 3, 3, 1), strides=[1, 1, 1, 1], padding="SAME",
                                       data_format="NCHW")

    @add("avgpool_nchw", "attr", [(F32, [1, 3, 16, 16])])
    def _(x):
        return tf.nn.avg_pool2d(x, 2, 2, "VALID", data_format="NCHW")

    @add("mirror_pad_symmetric", "attr", img)
    def _(x):
        return tf.pad(x, [[0, 0], [2, 2], [2, 2], [0, 0]], mode="SYMMETRIC")

    @add("batchnorm_training", "attr", img)
    def _(x):
        return R.FusedBatchNormV3(x=x, scale=w(3) + 1.0, offset=w(3), mean=tf.constant([], tf.float32),
                                  variance=tf.constant([], tf.float32), is_training=True, epsilon=1e-3)[0]

    @add("sub_float64", "dtype", [(F64, [2, 4]), (F64, [2, 4])])
    def _(x, y):
        return x - y

    @add("conv_float16", "dtype", [(F16, [1, 8, 8, 3])])
    def _(x):
        return tf.nn.conv2d(x, tf.cast(w(3, 3, 3, 4), tf.float16), 1, "SAME")

    @add("floordiv_int64", "dtype", [(I64, [2, 4]), (I64, [2, 4])])
    def _(x, y):
        return tf.math.floordiv(x, y + 1)

    @add("matmul_int32", "dtype", [(I32, [2, 4]), (I32, [4, 3])])
    def _(x, y):
        return tf.matmul(x, y)

    # --- Flex only ----------------------------------------------------------------------------------------
    @add("erf_add", "flex", vec)
    def _(x):
        return tf.math.erf(x) + x

    @add("atan", "flex", vec)
    def _(x):
        return tf.atan(x)

    @add("cumprod", "flex", vec)
    def _(x):
        return tf.math.cumprod(x, axis=1)

    @add("matrix_inverse", "flex", [(F32, [4, 4])])
    def _(x):
        return tf.linalg.inv(x + 4.0 * tf.eye(4))

    @add("bitwise_and", "flex", [(I32, [2, 4]), (I32, [2, 4])])
    def _(x, y):
        return tf.bitwise.bitwise_and(x, y)

    @add("string_hash", "flex", [(STR, [3])])
    def _(s):
        return tf.strings.to_hash_bucket_fast(s, 100)

    @add("extract_patches", "flex", img)
    def _(x):
        return tf.image.extract_patches(x, [1, 2, 2, 1], [1, 2, 2, 1], [1, 1, 1, 1], "VALID")

    @add("maxpool3d", "flex", [(F32, [1, 4, 8, 8, 2])])
    def _(x):
        return tf.nn.max_pool3d(x, 2, 2, "VALID")

    @add("tensor_array_v1", "flex", [(F32, [4])], v1_cf=True)
    def _(x):
        ta = tf.TensorArray(tf.float32, size=2)
        return ta.write(0, x).write(1, x * 2.0).stack()

    @add("segment_max", "flex", [(F32, [3, 4])])
    def _(x):
        return tf.math.segment_max(x, tf.constant([0, 0, 1]))

    # --- unsupported --------------------------------------------------------------------------------------
    @add("acos", "unsupported", vec)
    def _(x):
        return tf.acos(x * 0.5)

    @add("euclidean_norm", "unsupported", vec)
    def _(x):
        return tf.math.reduce_euclidean_norm(x, axis=1)

    @add("digamma_conv", "unsupported", img)
    def _(x):
        return tf.math.digamma(tf.nn.conv2d(x, w(1, 1, 3, 2), 1, "SAME") + 2.0)

    @add("nth_element", "unsupported", vec)
    def _(x):
        return R.NthElement(input=x, n=i32(1))

    @add("unfrozen_variable", "graph", vec)
    def _(x):
        v = R.VariableV2(shape=[2, 8], dtype=tf.float32)
        return x * R.Identity(input=v)

    # --- builtin, but int8 leaves float ops ---------------------------------------------------------------
    @add("conv_sin", "int8", img)
    def _(x):
        return tf.sin(tf.nn.conv2d(x, w(3, 3, 3, 4), 1, "SAME"))

    @add("elu", "int8", vec)
    def _(x):
        return tf.nn.elu(x)

    @add("cast_to_int", "int8", vec)
    def _(x):
        return tf.cast(x * 10.0, tf.int32)

    @add("cumsum", "int8", vec)
    def _(x):
        return tf.cumsum(x, axis=1)

    @add("v1_cond", "int8", vec, v1_cf=True)
    def _(x):
        return tf1.cond(tf.reduce_sum(x) > 1.0, lambda: x * 2.0, lambda: x - 1.0)

    @add("floor_square", "int8", vec)
    def _(x):
        return tf.square(tf.floor(x * 4.0))

    @add("dropout_training", "int8", vec)
    def _(x):
        with tf.name_scope("dropout"):
            return tf.nn.dropout(x, rate=0.5, seed=1)

    @add("lrn", "int8", img)
    def _(x):
        return tf.nn.local_response_normalization(x, depth_radius=2)

    # --- quantization-aware and others --------------------------------------------------------------------
    @add("fake_quant_conv", "graph", img)
    def _(x):
        x = tf.quantization.fake_quant_with_min_max_vars(x, -1.0, 1.0)
        return tf.quantization.fake_quant_with_min_max_vars(tf.nn.conv2d(x, w(3, 3, 3, 4), 1, "SAME"), -6.0, 6.0)

    @add("constant_subgraph_erf", "graph", vec)
    def _(x):
        return x * tf.math.erf(tf.constant([0.5] * 8))  # Erf on a constant folds away

    @add("topk_values", "builtin", vec)
    def _(x):
        return tf.math.top_k(x, k=3).values

    # --- a second batch of common layers and odd ops ------------------------------------------------------
    @add("layer_norm", "builtin", [(F32, [2, 5, 8])])
    def _(x):
        mean, var = tf.nn.moments(x, axes=[-1], keepdims=True)
        return (x - mean) * tf.math.rsqrt(var + 1e-5) * w(8) + w(8)

    @add("hard_swish", "builtin", vec)
    def _(x):
        return x * tf.nn.relu6(x + 3.0) / 6.0

    @add("conv_transpose", "builtin", [(F32, [1, 8, 8, 4])])
    def _(x):
        return tf.nn.conv2d_transpose(x, w(3, 3, 2, 4), [1, 16, 16, 2], 2, "SAME")

    @add("attention_einsum", "builtin", [(F32, [1, 4, 8]), (F32, [1, 6, 8])])
    def _(q, k):
        return tf.nn.softmax(tf.einsum("bqd,bkd->bqk", q, k))

    @add("space_to_depth_log_softmax", "builtin", img)
    def _(x):
        return tf.nn.log_softmax(tf.nn.space_to_depth(x, 2))

    @add("softplus_log1p", "int8", vec)
    def _(x):
        return tf.math.log1p(tf.nn.softplus(x))

    @add("logsumexp", "builtin", vec)
    def _(x):
        return tf.reduce_logsumexp(x, axis=1)

    @add("atan2_floormod", "int8", [(F32, [2, 8]), (F32, [2, 8])])
    def _(x, y):
        return tf.math.floormod(tf.math.atan2(x, y), 1.0)

    @add("where_coords", "int8", vec)
    def _(x):
        return tf.cast(tf.where(x > 0.5), tf.float32)

    @add("segment_sum", "int8", [(F32, [3, 4])])
    def _(x):
        return tf.math.segment_sum(x, tf.constant([0, 0, 1]))

    @add("resize_bicubic", "flex", img)
    def _(x):
        return tf.image.resize(x, [32, 32], method="bicubic")

    @add("bincount", "flex", [(I32, [8])])
    def _(x):
        return tf.math.bincount(x, minlength=4)

    @add("string_length", "flex", [(STR, [3])])
    def _(s):
        return tf.strings.length(s)

    @add("band_part", "int8", [(F32, [4, 4])])
    def _(x):
        return tf.linalg.band_part(x, 0, -1)

    @add("gather_int64_ids", "dtype", [(I64, [1, 5])])
    def _(ids):
        return tf.gather(w(20, 4), ids)

    @add("unique_float", "builtin", [(F32, [8])])
    def _(x):
        return tf.unique(x).y

    @add("sort_descending", "builtin", vec)
    def _(x):
        return tf.sort(x, direction="DESCENDING")

    @add("reduce_std", "builtin", vec)
    def _(x):
        return tf.math.reduce_std(x, axis=1)

    # --- a third batch, added after the table and the analysis were settled (held out) --------------------
    @add("conv1d", "builtin", [(F32, [1, 10, 4])])
    def _(x):
        return tf.nn.conv1d(x, w(3, 4, 6), 1, "SAME")

    @add("separable_conv", "builtin", img)
    def _(x):
        return tf.nn.separable_conv2d(x, w(3, 3, 3, 2), w(1, 1, 6, 8), [1, 1, 1, 1], "SAME")

    @add("l2_normalize", "builtin", vec)
    def _(x):
        return tf.math.l2_normalize(x, axis=1)

    @add("log_sigmoid", "builtin", vec)
    def _(x):
        return tf.math.log_sigmoid(x)

    @add("selu_softsign", "builtin", vec)
    def _(x):
        return tf.nn.softsign(tf.nn.selu(x))

    @add("roll_reverse", "builtin", vec)
    def _(x):
        return tf.reverse(tf.roll(x, 2, axis=1), [0])

    @add("one_hot_argmin", "builtin", [(I32, [4]), (F32, [4, 5])])
    def _(ids, x):
        return tf.one_hot(ids, 5) + tf.one_hot(tf.argmin(x, axis=1), 5)

    @add("max_pool_argmax", "flex", img)
    def _(x):
        return tf.nn.max_pool_with_argmax(x, 2, 2, "VALID")[0]

    @add("determinant", "flex", [(F32, [3, 3])])
    def _(x):
        return tf.linalg.det(x)

    @add("erfinv", "unsupported", vec)
    def _(x):
        return tf.math.erfinv(x * 0.5)

    @add("lgamma", "int8", vec)
    def _(x):
        return tf.math.lgamma(x + 1.0)

    @add("matvec_clip", "builtin", [(F32, [3, 8]), (F32, [8])])
    def _(m, v):
        return tf.clip_by_value(tf.linalg.matvec(m, v), -1.0, 1.0)

    @add("grayscale_flip", "builtin", img)
    def _(x):
        return tf.image.flip_left_right(tf.image.rgb_to_grayscale(x))

    @add("boolean_mask", "int8", vec)
    def _(x):
        return tf.boolean_mask(x, x > 0.5)

    @add("round_any", "int8", vec)
    def _(x):
        return tf.cast(tf.reduce_any(tf.round(x) > 0.0, axis=1), tf.float32)

    @add("avg_pool1d_tile", "builtin", [(F32, [1, 8, 4])])
    def _(x):
        return tf.tile(tf.nn.avg_pool1d(x, 2, 2, "VALID"), [2, 1, 1])

    return C


# ----------------------------------------------------------------------------------------------------------
# Building and converting
# ----------------------------------------------------------------------------------------------------------

def build(case: Case) -> tuple[bytes, list[str]]:
    """-> (frozen GraphDef bytes, output node names)."""
    import tensorflow as tf

    tf1 = tf.compat.v1
    if case.v1_cf:
        tf1.disable_control_flow_v2()
    try:
        g = tf.Graph()
        with g.as_default():
            phs = [tf1.placeholder(tf.as_dtype(d), s, name=f"in{i}") for i, (d, s) in enumerate(case.ins)]
            res = case.fn(*phs)
            res = res if isinstance(res, (list, tuple)) else [res]
            outs = []
            for k, r in enumerate(res):
                tf.identity(r, name=f"out{k}")
                outs.append(f"out{k}")
        return g.as_graph_def().SerializeToString(deterministic=True), outs
    finally:
        tf1.enable_control_flow_v2()


def _rep_value(np, dtype, shape, rng):
    shape = [1 if d is None else d for d in shape]
    if dtype in (F32, F16, F64):
        return (0.1 + 0.9 * rng.rand(*shape)).astype(dtype)
    if dtype in (I32, I64):
        return rng.randint(0, 4, size=shape).astype(dtype)
    if dtype == BOOL:
        return rng.rand(*shape) > 0.5
    return np.full(shape, b"ab", dtype=object)


def convert(pb_path: str, case: Case, outs: list[str], mode: str) -> dict:
    """Convert one way; -> {"ok": bool, "ops": [...], "float_ops": [...], "error": str}."""
    import numpy as np
    import tensorflow as tf

    tf1 = tf.compat.v1
    try:
        conv = tf1.lite.TFLiteConverter.from_frozen_graph(pb_path, [f"in{i}" for i in range(len(case.ins))], outs)
        if mode == "select":
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
        elif mode == "int8":
            rng = np.random.RandomState(7)

            def rep():
                for _ in range(3):
                    yield [_rep_value(np, d, s, rng) for d, s in case.ins]

            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            conv.representative_dataset = rep
        content = conv.convert()
    except Exception as e:  # noqa: BLE001 - any converter failure is a "no"
        first = next((ln.strip() for ln in str(e).splitlines() if "error" in ln.lower()), str(e)[:200])
        return {"ok": False, "error": f"{type(e).__name__}: {first[:300]}"}
    interp = tf.lite.Interpreter(model_content=content)
    tensors = {t["index"]: t for t in interp.get_tensor_details()}
    ops, float_ops = [], []
    for o in interp._get_ops_details():
        ops.append(o["op_name"])
        if o["op_name"] in ("QUANTIZE", "DEQUANTIZE"):
            continue
        idx = [i for i in list(o["inputs"]) + list(o["outputs"]) if i >= 0 and i in tensors]
        if any(tensors[i]["dtype"] == np.float32 for i in idx):
            float_ops.append(o["op_name"])
    return {"ok": True, "ops": ops, "float_ops": float_ops}


def converter_truth(pb: bytes, pb_path: str, case: Case, outs: list[str]) -> dict:
    """The three converter outcomes for a graph, cached per TF version and graph bytes."""
    import tensorflow as tf

    key = hashlib.sha256(pb + json.dumps([case.ins, outs]).encode()).hexdigest()[:24]
    path = CACHE_DIR / f"tf-{tf.__version__}" / f"{case.name}-{key}.json"
    if path.exists():
        try:
            return json.loads(path.read_text())
        except ValueError:
            pass
    res = {mode: convert(pb_path, case, outs, mode) for mode in MODES}
    truth = {
        "builtins_only": res["builtins"]["ok"],
        "no_unsupported": res["select"]["ok"],
        "int8_full": res["int8"]["ok"] and not res["int8"]["float_ops"],
        "detail": res,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(truth, indent=1))
    tmp.replace(path)
    return truth
