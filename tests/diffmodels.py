"""Model pairs for the `graphreport diff` tests, built by TensorFlow in the test process.

    import diffmodels
    info = diffmodels.build(path, [("conv", "c1", 16), ("gap", "gap"), ("dense", "head", 10)])
    # info = {"params": <sum of the tf.Variables' sizes>, "op_counts": <Counter of the GraphDef's node ops>}

Each spec is a tf.function over tf.Variables (seeded), frozen with convert_variables_to_constants_v2 (as
tests/refmodels.py freezes Keras models). Layers:
    ("conv", scope, filters[, stride])   Conv2D + BiasAdd + Relu (3x3, SAME)
    ("resize", scope, method, size)      tf.image.resize: bilinear -> ResizeBilinear, bicubic -> ResizeBicubic
    ("sin", scope)                       Sin
    ("features", scope)                  a second output: the feature map at this point
    ("gap", scope)                       Mean over height and width
    ("dense", scope, units)              MatMul + BiasAdd

mobilenet_v2_alpha(alpha) builds keras.applications.MobileNetV2(alpha=..., weights=None) as .keras (unknown
batch) into the refmodels cache, with its count_params and the tf.compat.v1.profiler FLOPs of the same model
frozen at batch 1 in a sidecar JSON.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
from collections import Counter
from pathlib import Path

import refmodels


def build(path, layers, input_shape=(1, 32, 32, 3), prefix=None, seed=0) -> dict:
    tf = refmodels._tf()  # noqa: SLF001 - the same quiet TensorFlow import
    import numpy as np
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    rng = np.random.RandomState(seed)
    variables = []

    def var(shape, name):
        v = tf.Variable(rng.normal(0, 0.1, shape).astype("float32"), name=name)
        variables.append(v)
        return v

    # variables first (their shapes follow the channel counts through the layers)
    plan, ch = [], input_shape[-1]
    for spec in layers:
        kind, scope = spec[0], spec[1]
        if kind == "conv":
            plan.append((spec, var((3, 3, ch, spec[2]), f"{scope}_kernel"), var((spec[2],), f"{scope}_bias")))
            ch = spec[2]
        elif kind == "dense":
            plan.append((spec, var((ch, spec[2]), f"{scope}_kernel"), var((spec[2],), f"{scope}_bias")))
            ch = spec[2]
        else:
            plan.append((spec, None, None))

    def body(x):
        outs = []
        for spec, w, b in plan:
            kind, scope = spec[0], spec[1]
            with tf.name_scope(scope):
                if kind == "conv":
                    stride = spec[3] if len(spec) > 3 else 1
                    x = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, w, stride, "SAME"), b))
                elif kind == "resize":
                    x = tf.image.resize(x, spec[3], method=spec[2])
                elif kind == "sin":
                    x = tf.sin(x)
                elif kind == "features":
                    outs.append(tf.identity(x, name="features"))
                elif kind == "gap":
                    x = tf.reduce_mean(x, axis=[1, 2])
                elif kind == "dense":
                    x = tf.nn.bias_add(tf.matmul(x, w), b)
        return (*outs, x) if outs else x

    def fn(x):
        if prefix:
            with tf.name_scope(prefix):
                return body(x)
        return body(x)

    cf = tf.function(fn).get_concrete_function(tf.TensorSpec(list(input_shape), tf.float32, name="x"))
    frozen = convert_variables_to_constants_v2(cf)
    gd = frozen.graph.as_graph_def()
    Path(path).write_bytes(gd.SerializeToString(deterministic=True))
    return {"params": int(sum(int(np.prod(v.shape)) for v in variables)),
            "variables": {v.name.split(":")[0]: list(v.shape) for v in variables},
            "op_counts": dict(Counter(n.op for n in gd.node))}


def mobilenet_v2_alpha(alpha: float) -> Path:
    """keras.applications.MobileNetV2(alpha) as .keras (cached) with {count_params, flops} in <file>.json."""
    tag = f"{alpha:.2f}".replace(".", "")
    path = refmodels.cache_dir() / f"MobileNetV2_a{tag}_keras.keras"
    side = Path(str(path) + ".json")
    if path.exists() and side.exists():
        return path
    refmodels._tf()  # noqa: SLF001
    import keras

    keras.backend.clear_session()
    keras.utils.set_random_seed(refmodels.SEED)
    model = keras.applications.MobileNetV2(alpha=alpha, weights=None, input_shape=(224, 224, 3),
                                           input_tensor=keras.Input(batch_shape=(None, 224, 224, 3), name="x"))
    tmp = path.with_name("." + path.name + f".{os.getpid()}.keras")
    with contextlib.redirect_stdout(io.StringIO()):
        model.save(tmp)
    pb = path.with_name(path.stem + "_b1.pb")
    refmodels.freeze_keras(model, pb)
    flops = refmodels.profiler_flops(pb)["flops"]
    os.replace(tmp, path)
    side.write_text(json.dumps({"alpha": alpha, "count_params": int(model.count_params()), "flops": flops}, indent=1))
    return path
