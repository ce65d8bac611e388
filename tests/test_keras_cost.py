"""Keras layer cost and shape rules (graphreport/ops/keras_layers.py, keras_rnn.py, dialect "keras").

(a) Per layer kind, a tiny Keras model saved as .keras reports the same MACs and FLOPs as the same model
    frozen to a GraphDef (batch 1) under graphreport's TensorFlow op rules: the Keras conventions are the
    TF ones (constant-only per-channel subgraphs of the frozen graph, e.g. batch norm's rsqrt of the variance,
    are left out: graphreport reports them apart as "foldable").
(b) keras.applications MobileNet and MobileNetV2 saved as .keras and .h5 (tests/refmodels.py, weights=None)
    report MACs within 0.5% and FLOPs within 2% of the same network's fixed-batch frozen GraphDef, whose
    figures tests/test_cost.py checks against tf.compat.v1.profiler; params equal Keras' count_params().
(c) A model with Embedding, Conv1D, LSTM, GRU, Bidirectional, MultiHeadAttention, LayerNormalization and Dense
    reports FLOPs within 3% of tf.compat.v1.profiler's float_operation on its frozen graph at batch 1.
(d) Unit tests of each rule family on tiny configs, figures worked out by hand.

Keras models have an unknown batch: the figures here are taken with `--input-shape <input>=1,...` (the CLI)
or input_shapes (in process), which also holds when the report assumes batch 1 by itself.
"""
from __future__ import annotations

import os

import pytest

import refmodels
from conftest import report_json
from graphreport.analysis.cost import compute_cost
from graphreport.analysis.shapes import infer_shapes
from graphreport.ops.helpers import Unknown
from graphreport.ops.registry import Ctx, lookup
from graphreport.readers import detect


def _keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    return keras


def _figures(path, input_shapes=None) -> dict:
    """graphreport's totals for a model file, in process (the report's shape and cost passes)."""
    model = detect.load(str(path))
    infer_shapes(model, input_shapes)
    return compute_cost(model).totals


def _batch1(km) -> dict:
    return {t.name.split(":")[0]: [1 if d is None else int(d) for d in t.shape] for t in km.inputs}


# ----------------------------------------------------------------------------------------------------------
# (a) one model per layer kind: Keras file == its frozen graph
# ----------------------------------------------------------------------------------------------------------

def _layer_models(keras) -> dict:
    L = keras.layers
    I = keras.Input  # noqa: E741

    def one(shape, layer, dtype="float32"):
        x = I(shape, dtype=dtype, name="x")
        return x, layer(x)

    def seq(shape, *layers):
        x = I(shape, name="x")
        y = x
        for lyr in layers:
            y = lyr(y)
        return x, y

    m = {
        "dense_softmax": one((10,), L.Dense(7, activation="softmax")),
        "dense_3d_nobias": one((5, 6), L.Dense(4, use_bias=False, activation="relu")),
        "conv2d_same_s2_relu": one((16, 16, 3), L.Conv2D(8, 3, strides=2, padding="same", activation="relu")),
        "conv2d_valid_nobias": one((9, 9, 3), L.Conv2D(5, (3, 2), use_bias=False)),
        "conv2d_dilated": one((12, 12, 2), L.Conv2D(4, 3, dilation_rate=2)),
        "conv1d_causal_tanh": one((20, 4), L.Conv1D(6, 3, padding="causal", dilation_rate=2, activation="tanh")),
        "conv3d": one((6, 6, 6, 2), L.Conv3D(4, 2, strides=(1, 2, 2))),
        "depthwise2d": one((10, 10, 4), L.DepthwiseConv2D(3, depth_multiplier=2, activation="relu6")),
        "depthwise2d_s2": one((10, 10, 4), L.DepthwiseConv2D(3, strides=2, padding="same", use_bias=False)),
        "depthwise1d": one((12, 3), L.DepthwiseConv1D(3)),
        "separable2d": one((10, 10, 4), L.SeparableConv2D(8, 3, strides=2, padding="same")),
        "separable1d": one((12, 3), L.SeparableConv1D(6, 3, depth_multiplier=2)),
        "conv2d_transpose": one((5, 5, 4), L.Conv2DTranspose(3, 3, strides=2, padding="same")),
        "conv1d_transpose": one((7, 4), L.Conv1DTranspose(3, 3, strides=2)),
        "conv3d_transpose": one((3, 3, 3, 2), L.Conv3DTranspose(2, 2, strides=2, use_bias=False)),
        "batchnorm": one((8, 8, 4), L.BatchNormalization()),
        "batchnorm_nocenter": one((8, 8, 4), L.BatchNormalization(center=False)),
        "layernorm": one((5, 8), L.LayerNormalization()),
        "layernorm_noscale": one((5, 8), L.LayerNormalization(scale=False)),
        "groupnorm": one((6, 6, 4), L.GroupNormalization(groups=2)),
        "unitnorm": one((5, 8), L.UnitNormalization()),
        "maxpool2d": one((9, 9, 3), L.MaxPooling2D(3, 2, padding="same")),
        "avgpool2d": one((8, 8, 3), L.AveragePooling2D(2)),
        "maxpool1d": one((10, 3), L.MaxPooling1D(2)),
        "avgpool3d": one((4, 4, 4, 2), L.AveragePooling3D(2)),
        "gap2d": one((7, 7, 5), L.GlobalAveragePooling2D()),
        "gmp1d": one((9, 4), L.GlobalMaxPooling1D()),
        "relu6_layer": one((6, 6, 3), L.ReLU(6.0)),
        "relu_layer": one((6, 6, 3), L.ReLU()),
        "leaky_relu": one((6, 6, 3), L.LeakyReLU()),
        "softmax_layer": one((4, 9), L.Softmax()),
        "elu_layer": one((20,), L.ELU()),
        "prelu": one((6, 6, 3), L.PReLU()),
        "rescaling": one((6, 6, 3), L.Rescaling(1 / 127.5, offset=-1)),
        "normalization": one((6, 6, 3), L.Normalization(mean=[0.1, 0.2, 0.3], variance=[1.0, 2.0, 3.0])),
        "upsampling2d_nearest": one((4, 4, 3), L.UpSampling2D(2)),
        "upsampling2d_bilinear": one((4, 4, 3), L.UpSampling2D(2, interpolation="bilinear")),
        "upsampling1d": one((4, 3), L.UpSampling1D(3)),
        "reshape_flatten_permute": seq((4, 6), L.Reshape((3, 8)), L.Permute((2, 1)), L.Flatten(),
                                       L.Dropout(0.5), L.RepeatVector(2), L.GaussianNoise(0.1)),
        "pad_crop": seq((8, 8, 3), L.ZeroPadding2D(((1, 2), (0, 1))), L.Cropping2D(((2, 0), (1, 1)))),
        "embedding": one((6,), L.Embedding(20, 4), dtype="int32"),
        "simple_rnn": one((5, 3), L.SimpleRNN(4, unroll=True)),
        "lstm_seq": one((5, 3), L.LSTM(4, return_sequences=True, unroll=True)),
        "gru": one((5, 3), L.GRU(4, unroll=True)),
        "gru_reset_before": one((5, 3), L.GRU(4, reset_after=False, unroll=True)),
        "bilstm_concat": one((5, 3), L.Bidirectional(L.LSTM(4, return_sequences=True, unroll=True))),
        "bigru_sum": one((5, 3), L.Bidirectional(L.GRU(4, unroll=True), merge_mode="sum")),
        "bisimple_ave": one((5, 3), L.Bidirectional(L.SimpleRNN(4, unroll=True), merge_mode="ave")),
        "einsum_dense": one((5, 6), L.EinsumDense("abc,cd->abd", output_shape=(None, 4), bias_axes="d")),
        "time_distributed": one((5, 6), L.TimeDistributed(L.Dense(3, activation="relu"))),
    }
    for act in ("relu", "sigmoid", "tanh", "softmax", "swish", "gelu", "hard_sigmoid", "elu", "selu",
                "softplus", "softsign", "relu6", "exponential", "mish", "log_softmax", "hard_silu", "linear"):
        m[f"act_{act}"] = one((4, 5), L.Activation(act))
    # merges, MultiHeadAttention: several inputs
    a, b, c = I((4, 5), name="a"), I((4, 5), name="b"), I((1, 5), name="c")
    for cls, ins in (("Add", [a, b, c]), ("Subtract", [a, b]), ("Multiply", [a, c]), ("Average", [a, b, c]),
                     ("Maximum", [a, b]), ("Minimum", [a, b]), ("Concatenate", [a, b])):
        m[f"merge_{cls.lower()}"] = (ins, getattr(L, cls)()(ins))
    q = I((5, 8), name="q")
    m["mha_self"] = ([q], L.MultiHeadAttention(2, 4)(q, q))
    q2, v2 = I((5, 8), name="q"), I((7, 6), name="v")
    m["mha_cross_valuedim"] = ([q2, v2], L.MultiHeadAttention(3, 4, value_dim=2, output_shape=5)(q2, v2))
    return m


@pytest.fixture(scope="module")
def layer_models(tmp_path_factory, tf):
    keras = _keras()
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    d = tmp_path_factory.mktemp("layers")
    out = {}
    for name, (ins, y) in _layer_models(keras).items():
        km = keras.Model(ins, y, name=name)
        kpath = d / f"{name}.keras"
        km.save(kpath)
        pb = refmodels.freeze_keras(km, d / f"{name}.pb")
        out[name] = (kpath, pb, _batch1(km))
    return out


CASES = ["dense_softmax", "dense_3d_nobias", "conv2d_same_s2_relu", "conv2d_valid_nobias", "conv2d_dilated",
         "conv1d_causal_tanh", "conv3d", "depthwise2d", "depthwise2d_s2", "depthwise1d", "separable2d",
         "separable1d", "conv2d_transpose", "conv1d_transpose", "conv3d_transpose", "batchnorm",
         "batchnorm_nocenter", "layernorm", "layernorm_noscale", "groupnorm", "unitnorm", "maxpool2d", "avgpool2d", "maxpool1d",
         "avgpool3d", "gap2d", "gmp1d", "relu6_layer", "relu_layer", "leaky_relu", "softmax_layer", "elu_layer",
         "prelu", "rescaling", "normalization", "upsampling2d_nearest", "upsampling2d_bilinear", "upsampling1d",
         "reshape_flatten_permute", "pad_crop", "embedding", "simple_rnn", "lstm_seq", "gru", "gru_reset_before",
         "bilstm_concat", "bigru_sum", "bisimple_ave", "einsum_dense", "time_distributed",
         *[f"act_{a}" for a in ("relu", "sigmoid", "tanh", "softmax", "swish", "gelu", "hard_sigmoid", "elu",
                                "selu", "softplus", "softsign", "relu6", "exponential", "mish", "log_softmax",
                                "hard_silu", "linear")],
         *[f"merge_{c}" for c in ("add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate")],
         "mha_self", "mha_cross_valuedim"]


# Recurrent layers: the first step's products with the zero initial state are constant-only in the frozen graph
# (hence "foldable" there); the Keras rules count them, as the graph computes them.
STATE_FOLDED = {"simple_rnn", "lstm_seq", "gru", "gru_reset_before", "bilstm_concat", "bigru_sum", "bisimple_ave"}


@pytest.mark.parametrize("name", CASES)
def test_layer_matches_frozen_graph(layer_models, name):
    kpath, pb, shapes = layer_models[name]
    k = _figures(kpath, shapes)
    f = _figures(pb)
    assert k["unknown_ops"] == 0 and f["unknown_ops"] == 0, (k["unknown"], f["unknown"])
    assert k["macs"] == f["macs"], (k["macs"], f["macs"])
    if name in STATE_FOLDED:
        assert f["foldable_flops"] > 0 and k["flops"] == f["flops"], (k["flops"], f["flops"])
    else:
        assert k["flops"] == f["flops"] - f["foldable_flops"], (k["flops"], f["flops"], f["foldable_flops"])
    assert k["macs"] > 0 or k["flops"] > 0 or name in ZERO_COST, "a layer of no cost is in ZERO_COST"


ZERO_COST = {"upsampling2d_nearest", "upsampling1d", "reshape_flatten_permute", "pad_crop", "act_linear",
             "merge_concatenate"}


# ----------------------------------------------------------------------------------------------------------
# (b) keras.applications as .keras and .h5 against the same network's frozen GraphDef (batch 1)
# ----------------------------------------------------------------------------------------------------------

@pytest.mark.requires_tf
@pytest.mark.parametrize("name,ext", [(n, e) for n in ("MobileNet", "MobileNetV2") for e in ("keras", "h5")]
                         + [("ResNet50", "keras"), ("InceptionV3", "keras"), ("EfficientNetB0", "keras")])
def test_applications_match_frozen_graph(name, ext):
    """Measured (Keras 3.15, TF 2.21): MACs equal; FLOPs 0.002% to 0.016% below the frozen graph's, whose
    constant-only batch-norm subgraphs (rsqrt of the variance ...) the Keras rules leave out."""
    kfile = refmodels.keras_application(name, ext)
    pb = refmodels.frozen_graphdef(name, batch=1)
    s = refmodels.input_size(name)
    k = report_json(kfile, "--input-shape", f"x=1,{s},{s},3")["totals"]
    f = report_json(pb)["totals"]
    assert k["params"] == refmodels.facts(kfile)["count_params"] == refmodels.facts(pb)["count_params"]
    assert k["macs"] is not None and k["flops"] is not None, k.get("unknown")
    assert abs(k["macs"] - f["macs"]) <= 0.005 * f["macs"], (k["macs"], f["macs"])
    assert abs(k["flops"] - f["flops"]) <= 0.02 * f["flops"], (k["flops"], f["flops"])


# ----------------------------------------------------------------------------------------------------------
# (c) a sequence model against tf.compat.v1.profiler
# ----------------------------------------------------------------------------------------------------------

def _sequence_model(keras):
    L = keras.layers
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    tok = keras.Input((16,), dtype="int32", name="tok")
    x = L.Embedding(100, 32, name="emb")(tok)
    x = L.Conv1D(32, 3, padding="same", activation="relu", name="conv")(x)
    x = L.Bidirectional(L.LSTM(24, return_sequences=True, unroll=True), name="bilstm")(x)
    x = L.LayerNormalization(name="ln")(x)
    a = L.MultiHeadAttention(4, 12, name="mha")(x, x)
    x = L.Add(name="res")([x, a])
    x = L.GRU(32, unroll=True, name="gru")(x)
    x = L.Dense(64, activation="relu", name="fc")(x)
    return keras.Model(tok, L.Dense(10, activation="softmax", name="out")(x), name="seqnet")


@pytest.fixture(scope="module")
def sequence_model(tmp_path_factory, tf):
    keras = _keras()
    km = _sequence_model(keras)
    d = tmp_path_factory.mktemp("seq")
    km.save(d / "seqnet.keras")
    km.save(d / "seqnet.h5")
    # The reference: the model frozen at batch 1 and profiled by tf.compat.v1.profiler (float_operation).
    # The RNNs are built with unroll=True, so every timestep is a separate op in the graph (the profiler counts
    # a while-loop body once); tf.einsum is traced as TensorFlow's legacy einsum (MatMul / BatchMatMul, which
    # the profiler has statistics for; it has none for the Einsum op).
    pb = refmodels.freeze_keras(km, d / "seqnet.pb", einsum_v1=True)
    return km, d, refmodels.profiler_flops(pb), refmodels.freeze_keras(km, d / "seqnet_einsum.pb")


@pytest.mark.parametrize("ext", ["keras", "h5"])
def test_sequence_model_flops_match_profiler(sequence_model, ext):
    km, d, prof, pb = sequence_model
    r = report_json(d / f"seqnet.{ext}", "--input-shape", "tok=1,16")
    t = r["totals"]
    assert t["params"] == km.count_params()
    assert t["flops"] is not None, t.get("unknown")
    # measured: 1,077,548 FLOPs against the profiler's 1,071,580 (+0.6%: the profiler does not count
    # activations, Sigmoid / Tanh / Relu)
    assert abs(t["flops"] - prof["flops"]) <= 0.03 * prof["flops"], (t["flops"], prof["flops"],
                                                                     prof["flops_by_op_type"])
    # and exactly what graphreport's TF rules give on the frozen graph (with its Einsum ops), the RNNs' first
    # products with the zero initial state included (see STATE_FOLDED)
    f = _figures(pb)
    assert (t["macs"], t["flops"]) == (f["macs"], f["flops"])


# ----------------------------------------------------------------------------------------------------------
# (d) the rules on tiny configs (no TensorFlow), figures worked out by hand
# ----------------------------------------------------------------------------------------------------------

def _ctx(op, attrs, *in_shapes, weights=(), out=None, dtypes=None):
    """A rule context as the walkers build it: data inputs first, then the layer's weights (constants)."""
    shapes = list(in_shapes) + list(weights)
    info = lookup(op, "keras")
    assert info is not None, op
    ctx = Ctx(op, attrs, in_shapes=shapes, in_const=[False] * len(in_shapes) + [True] * len(weights),
              in_dtypes=(dtypes or [None] * len(in_shapes)) + [None] * len(weights), n_out=1)
    if out is None and info.shape is not None:
        out = info.shape(ctx)
    ctx.out_shapes = list(out or [None])
    return ctx, info


def _run(op, attrs, *in_shapes, weights=()):
    ctx, info = _ctx(op, attrs, *in_shapes, weights=weights)
    return ctx.out_shapes, info.cost(ctx)


def test_keras_rules_live_in_their_own_dialect():
    assert lookup("Conv2D", "keras").shape is not lookup("Conv2D", "tf").shape
    assert lookup("Dense", "tf") is None and lookup("Dense", "keras").cost is not None
    assert lookup("LSTM", "keras").cost is not None and lookup("MultiHeadAttention", "keras").cost is not None


def test_conv_family_by_hand():
    out, c = _run("Conv2D", {"filters": 8, "kernel_size": [3, 3], "strides": [2, 2], "padding": "same",
                             "activation": "relu"}, [1, 16, 16, 3], weights=[[3, 3, 3, 8], [8]])
    assert out == [[1, 8, 8, 8]]  # the weights (constant inputs) are not data
    assert c == {"macs": 512 * 27, "flops": 2 * 512 * 27 + 512 + 512}
    out, c = _run("Conv2D", {"filters": 4, "kernel_size": 3, "use_bias": False, "data_format": "channels_first"},
                  [1, 6, 9, 9])
    assert out == [[1, 4, 7, 7]] and c == {"macs": 196 * 54, "flops": 2 * 196 * 54}
    out, c = _run("Conv1D", {"filters": 6, "kernel_size": 3, "padding": "causal", "dilation_rate": 2},
                  [1, 20, 4])
    assert out == [[1, 20, 6]] and c["macs"] == 120 * 12
    out, c = _run("Convolution3D", {"filters": 2, "kernel_size": 2, "padding": "valid"}, [1, 5, 5, 5, 3])
    assert out == [[1, 4, 4, 4, 2]] and c["macs"] == 128 * 8 * 3  # Keras 2 class name
    out, c = _run("DepthwiseConv2D", {"kernel_size": 3, "depth_multiplier": 2, "use_bias": False},
                  [1, 10, 10, 4])
    assert out == [[1, 8, 8, 8]] and c == {"macs": 512 * 9, "flops": 2 * 512 * 9}
    out, c = _run("SeparableConv2D", {"filters": 8, "kernel_size": 3, "strides": 2, "padding": "same"},
                  [1, 10, 10, 4])
    assert out == [[1, 5, 5, 8]] and c["macs"] == 25 * 4 * 9 + 200 * 4 and c["flops"] == 2 * c["macs"] + 200
    out, c = _run("Conv2DTranspose", {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same"},
                  [1, 5, 5, 4])
    assert out == [[1, 10, 10, 3]] and c["macs"] == 100 * 9 * 3 and c["flops"] == 2 * c["macs"] + 300
    out, _ = _run("Conv2DTranspose", {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "valid",
                                      "output_padding": 1}, [1, 5, 5, 4])
    assert out == [[1, 12, 12, 3]]


def test_dense_pool_norm_merge_by_hand():
    out, c = _run("Dense", {"units": 7, "activation": "softmax"}, [1, 5, 10], weights=[[10, 7], [7]])
    assert out == [[1, 5, 7]] and c == {"macs": 350, "flops": 700 + 35 + 5 * 35}
    out, c = _run("MaxPooling2D", {"pool_size": [3, 3], "strides": [2, 2], "padding": "same"}, [1, 9, 9, 3])
    assert out == [[1, 5, 5, 3]] and c == {"macs": 0, "flops": 75 * 9}
    out, c = _run("AvgPool1D", {"pool_size": 2}, [1, 9, 4])
    assert out == [[1, 4, 4]] and c["flops"] == 16 * 2
    out, c = _run("GlobalAveragePooling2D", {"keepdims": True}, [1, 7, 7, 5])
    assert out == [[1, 1, 1, 5]] and c["flops"] == 245
    out, c = _run("GlobalMaxPooling1D", {}, [1, 9, 4])
    assert out == [[1, 4]] and c["flops"] == 36 - 4
    out, c = _run("BatchNormalization", {}, [1, 8, 8, 4], weights=[[4]] * 4)
    assert out == [[1, 8, 8, 4]] and c == {"macs": 0, "flops": 512}
    _, c = _run("LayerNormalization", {"axis": -1}, [1, 5, 8])
    assert c["flops"] == 9 * 40 + 4 * 5
    _, c = _run("LayerNormalization", {"axis": [-1], "scale": False, "center": False}, [1, 5, 8])
    assert c["flops"] == 6 * 40 + 5 * 5
    out, c = _run("Add", {}, [1, 4, 5], [1, 4, 5], [1, 1, 5])
    assert out == [[1, 4, 5]] and c["flops"] == 2 * 20
    _, c = _run("Average", {}, [1, 4, 5], [1, 4, 5])
    assert c["flops"] == 2 * 20
    out, c = _run("Concatenate", {"axis": 1}, [1, 4, 5], [1, 3, 5])
    assert out == [[1, 7, 5]] and c["flops"] == 0
    out, c = _run("Reshape", {"target_shape": [-1, 4]}, [1, 6, 2])
    assert out == [[1, 3, 4]] and c["flops"] == 0
    out, _ = _run("Reshape", {"target_shape": [-1, 4]}, [1, None, 2])
    assert out == [[1, None, 4]]
    out, c = _run("Embedding", {"output_dim": 4}, [1, 6])
    assert out == [[1, 6, 4]] and c["flops"] == 18
    out, c = _run("Activation", {"activation": "keras.activations.hard_sigmoid"}, [2, 5])
    assert c["flops"] == 30
    out, c = _run("ReLU", {"max_value": 6.0}, [2, 5])
    assert c["flops"] == 10


def test_recurrent_layers_by_hand():
    # LSTM, 5 steps, D=3, U=4: MACs 4U(D+U) = 112 per step; element-wise 4U + 4U bias + 3U sigmoid + 2U tanh
    # + 4U = 17U = 68 per step
    out, c = _run("LSTM", {"units": 4, "return_sequences": True}, [1, 5, 3])
    assert out == [[1, 5, 4]] and c == {"macs": 5 * 112, "flops": 5 * (224 + 68)}
    # GRU (reset_after): MACs 3U(D+U) = 84; element-wise 6U + 2U + 2U + U + U + U + 4U = 17U
    out, c = _run("GRU", {"units": 4, "return_state": True}, [1, 5, 3])
    assert out == [[1, 4], [1, 4]] and c == {"macs": 5 * 84, "flops": 5 * (168 + 68)}
    _, c = _run("SimpleRNN", {"units": 4, "activation": "relu"}, [1, 5, 3])
    assert c == {"macs": 5 * 28, "flops": 5 * (56 + 12)}
    lstm = {"class_name": "LSTM", "config": {"units": 4, "return_sequences": True}}
    out, c = _run("Bidirectional", {"layer": lstm, "merge_mode": "concat"}, [1, 5, 3])
    assert out == [[1, 5, 8]] and c == {"macs": 2 * 5 * 112, "flops": 2 * 5 * (224 + 68)}
    out, c = _run("Bidirectional", {"layer": lstm, "merge_mode": "ave"}, [1, 5, 3])
    assert out == [[1, 5, 4]] and c["flops"] == 2 * 5 * (224 + 68) + 2 * 20
    with pytest.raises(Unknown):  # unknown batch: no figure, never 0
        _run("LSTM", {"units": 4}, [None, 5, 3])


def test_attention_einsum_time_distributed_by_hand():
    # self-attention, T = S = 5, D = 8, 2 heads of size 4: projections 3 x 5 x 8 x 8 + output 5 x 8 x 8
    out, c = _run("MultiHeadAttention", {"num_heads": 2, "key_dim": 4}, [1, 5, 8], [1, 5, 8])
    proj, att = 4 * 5 * 8 * 8, 2 * 5 * 5 * (4 + 4)
    assert out == [[1, 5, 8]] and c["macs"] == proj + att
    assert c["flops"] == 2 * (proj + att) + 4 * 40 + 50 + 5 * 50  # biases, scaling and softmax of 50 scores
    out, _ = _run("MultiHeadAttention", {"num_heads": 3, "key_dim": 4, "output_shape": 5}, [1, 5, 8], [1, 7, 6])
    assert out == [[1, 5, 5]]
    out, c = _run("EinsumDense", {"equation": "abc,cd->abd", "output_shape": [None, 4], "bias_axes": "d"},
                  [1, 5, 6])
    assert out == [[1, 5, 4]] and c == {"macs": 120, "flops": 240 + 20}
    dense = {"class_name": "Dense", "config": {"units": 3, "activation": "relu"}}
    out, c = _run("TimeDistributed", {"layer": dense}, [2, 5, 6])
    assert out == [[2, 5, 3]] and c == {"macs": 180, "flops": 360 + 30 + 30}


def test_unknowns_have_reasons():
    for op, attrs, shape in (("Lambda", {"function": "<code>"}, [1, 3]),
                             ("Activation", {"activation": "my_custom_act"}, [1, 3]),
                             ("Conv2D", {"filters": 2, "kernel_size": 3}, [1, None, 8, 3])):
        ctx, info = _ctx(op, attrs, shape, out=[[1, 3]] if op != "Conv2D" else None)
        with pytest.raises(Unknown) as e:
            info.cost(ctx)
        assert str(e.value)
    with pytest.raises(Unknown, match="code is not run"):
        lookup("Lambda", "keras").shape(_ctx("Lambda", {}, [1, 3], out=[None])[0])
