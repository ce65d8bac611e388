"""Write the Keras and TF.js sample models and merge their entries into manifest.json.

Run by hand (TensorFlow + Keras 3 needed; tensorflowjs is NOT needed and not used):

    flock /tmp/graphreport-tf.lock nice .venv/bin/python sample_models/make_keras_tfjs_samples.py

Files (see README.md, section "Keras and TF.js samples"):

- keras_tiny.keras, keras_tiny.h5: a small Keras 3 functional model, saved by Keras 3 (.keras zip and legacy
  HDF5).
- keras2_tiny.h5: a Keras 2 (tf.keras 2.15) legacy HDF5 file, WRITTEN BY HAND with h5py in the Keras 2 layout
  (tf_keras is not installed here); the script checks it by loading it with Keras 3's legacy HDF5 loader and
  takes every manifest fact from that loaded model.
- keras_lambda.keras, keras_lambda.h5: a model with a Lambda layer whose code would write
  /tmp/graphreport-pwned if it ever ran.
- tfjs_graph/: a TF.js graph model (model.json + group1-shard1of1.bin) written by this script in the converter's
  format from the frozen GraphDef of keras_tiny (GraphDef -> protobuf JSON via json_format.MessageToDict, Const
  values moved to the weights manifest, one weight uint8-quantized).
- tfjs_layers/: a TF.js layers model (format "layers-model") from the Keras 2 config and weights of
  keras2_tiny.h5, one weight uint8-quantized.

manifest.json: this script owns the entries whose "file" it writes and replaces only those; the other entries
(written by other scripts) are kept as they are. Every fact is read back from Keras / TensorFlow.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.get_logger().setLevel("ERROR")
import keras  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from keras import layers  # noqa: E402
from tensorflow.core.protobuf import meta_graph_pb2  # noqa: E402
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2  # noqa: E402

HERE = Path(__file__).resolve().parent
SEED = 0
PWNED = "/tmp/graphreport-pwned"
OWNED = ["keras_tiny.keras", "keras_tiny.h5", "keras2_tiny.h5", "keras_lambda.keras", "keras_lambda.h5",
         "tfjs_graph", "tfjs_layers"]


def write_atomic(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def shape_list(shape) -> list | None:
    if shape is None:
        return None
    return [None if d is None or int(d) < 0 else int(d) for d in shape]


# ----------------------------------------------------------------------------------------------------------
# Keras facts (read from the Keras model object)
# ----------------------------------------------------------------------------------------------------------

def keras_facts(model, file: str, fmt: str = "keras") -> dict:
    cfg = model.get_config()
    in_names = [r[0] for r in _refs(cfg.get("input_layers"))] or [model.layers[0].name]
    out_names = [r[0] for r in _refs(cfg.get("output_layers"))] or [model.layers[-1].name]
    layer_counts = Counter(type(layer).__name__.removesuffix("Compat") for layer in model.layers)
    if isinstance(model, keras.Sequential):  # model.layers leaves out the InputLayer
        layer_counts["InputLayer"] += 1
    return {
        "file": file, "format": fmt,
        "inputs": [{"name": n, "dtype": t.dtype if isinstance(t.dtype, str) else str(t.dtype),
                    "shape": shape_list(t.shape)} for n, t in zip(in_names, model.inputs)],
        "outputs": [{"name": n, "dtype": t.dtype if isinstance(t.dtype, str) else str(t.dtype),
                     "shape": shape_list(t.shape)} for n, t in zip(out_names, model.outputs)],
        "ignored_inputs": [],
        "node_count": sum(layer_counts.values()),
        "op_counts": dict(layer_counts.most_common()),
        "params": int(model.count_params()),
        "trainable_params": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
        "non_trainable_params": int(sum(np.prod(w.shape) for w in model.non_trainable_weights)),
        "layer_params": {layer.name: int(layer.count_params()) for layer in model.layers},
        "layer_output_shapes": {layer.name: shape_list(layer.output.shape) for layer in model.layers
                                if not isinstance(layer.output, (list, tuple))},
        "keras_version": keras.__version__,
    }


def _refs(x) -> list:
    if isinstance(x, (list, tuple)) and len(x) == 3 and isinstance(x[0], str):
        return [x]
    if isinstance(x, dict):
        return [r for v in x.values() for r in _refs(v)]
    if isinstance(x, (list, tuple)):
        return [r for v in x for r in _refs(v)]
    return []


# ----------------------------------------------------------------------------------------------------------
# Keras 3 samples
# ----------------------------------------------------------------------------------------------------------

def tiny_model():
    keras.backend.clear_session()
    keras.utils.set_random_seed(SEED)
    inp = keras.Input((16, 16, 3), name="image")
    x = layers.Rescaling(1 / 127.5, offset=-1, name="rescale")(inp)
    x = layers.ZeroPadding2D(((0, 1), (0, 1)), name="pad")(x)
    x = layers.Conv2D(8, 3, strides=2, padding="valid", use_bias=False, name="conv1")(x)
    x = layers.BatchNormalization(name="conv1_bn")(x)
    x = layers.ReLU(6.0, name="conv1_relu")(x)
    y = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw")(x)
    y = layers.BatchNormalization(name="dw_bn")(y)
    y = layers.ReLU(6.0, name="dw_relu")(y)
    x = layers.Add(name="add")([x, y])
    a = layers.MaxPooling2D(2, name="pool_max")(x)
    b = layers.AveragePooling2D(2, name="pool_avg")(x)
    x = layers.Concatenate(name="concat")([a, b])
    x = layers.Conv2D(16, 1, activation="relu", name="pointwise")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(0.2, name="dropout")(x)
    out = layers.Dense(10, activation="softmax", name="probs")(x)
    return keras.Model(inp, out, name="keras_tiny")


def lambda_model():
    keras.backend.clear_session()
    keras.utils.set_random_seed(SEED)
    inp = keras.Input((4,), name="x")
    # If this code ever ran it would create /tmp/graphreport-pwned. output_shape is given so that building the
    # model does not call it either.
    evil = layers.Lambda(lambda t, p=PWNED: (open(p, "w").write("pwned"), t)[1], output_shape=(4,), name="evil")
    out = layers.Dense(2, name="dense")(evil(inp))
    return keras.Model(inp, out, name="lambda_model")


# ----------------------------------------------------------------------------------------------------------
# Keras 2 legacy HDF5, written by hand in the tf.keras 2.15 layout
# ----------------------------------------------------------------------------------------------------------

def _k2_layer(cls, name, config, inbound):
    return {"class_name": cls, "config": {"name": name, "trainable": True, "dtype": "float32", **config},
            "name": name, "inbound_nodes": [[[n, 0, 0, {}] for n in inbound]] if inbound else []}


GLOROT = {"class_name": "GlorotUniform", "config": {"seed": None}}
ZEROS = {"class_name": "Zeros", "config": {}}
ONES = {"class_name": "Ones", "config": {}}


def keras2_config() -> dict:
    conv = dict(kernel_initializer=GLOROT, bias_initializer=ZEROS, kernel_regularizer=None, bias_regularizer=None,
                activity_regularizer=None, kernel_constraint=None, bias_constraint=None)
    bn = dict(axis=[3], momentum=0.99, epsilon=0.001, center=True, scale=True, beta_initializer=ZEROS,
              gamma_initializer=ONES, moving_mean_initializer=ZEROS, moving_variance_initializer=ONES,
              beta_regularizer=None, gamma_regularizer=None, beta_constraint=None, gamma_constraint=None)
    layers_ = [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 12, 12, 3], "dtype": "float32",
                                                "sparse": False, "ragged": False, "name": "input_1"},
         "name": "input_1", "inbound_nodes": []},
        _k2_layer("Conv2D", "conv2d", dict(filters=8, kernel_size=[3, 3], strides=[2, 2], padding="same",
                                           data_format="channels_last", dilation_rate=[1, 1], groups=1,
                                           activation="linear", use_bias=True, **conv), ["input_1"]),
        _k2_layer("BatchNormalization", "batch_normalization", bn, ["conv2d"]),
        _k2_layer("ReLU", "re_lu", dict(max_value=6.0, negative_slope=0.0, threshold=0.0),
                  ["batch_normalization"]),
        _k2_layer("DepthwiseConv2D", "depthwise_conv2d",
                  dict(kernel_size=[3, 3], strides=[1, 1], padding="same", data_format="channels_last",
                       dilation_rate=[1, 1], groups=1, activation="linear", use_bias=True, depth_multiplier=1,
                       bias_initializer=ZEROS, bias_regularizer=None, activity_regularizer=None,
                       bias_constraint=None, depthwise_initializer=GLOROT, depthwise_regularizer=None,
                       depthwise_constraint=None), ["re_lu"]),
        _k2_layer("Add", "add", {}, ["re_lu", "depthwise_conv2d"]),
        _k2_layer("GlobalAveragePooling2D", "global_average_pooling2d",
                  dict(data_format="channels_last", keepdims=False), ["add"]),
        _k2_layer("Dense", "dense", dict(units=5, activation="softmax", use_bias=True, **conv),
                  ["global_average_pooling2d"]),
    ]
    return {"class_name": "Functional",
            "config": {"name": "model", "trainable": True, "layers": layers_,
                       "input_layers": [["input_1", 0, 0]], "output_layers": [["dense", 0, 0]]},
            "keras_version": "2.15.0", "backend": "tensorflow"}


def keras2_weights() -> dict[str, list[tuple[str, np.ndarray]]]:
    rng = np.random.RandomState(SEED)

    def r(*shape):
        return rng.uniform(-0.5, 0.5, shape).astype(np.float32)

    return {
        "input_1": [],
        "conv2d": [("conv2d/kernel:0", r(3, 3, 3, 8)), ("conv2d/bias:0", r(8))],
        "batch_normalization": [("batch_normalization/gamma:0", 1 + r(8)), ("batch_normalization/beta:0", r(8)),
                                ("batch_normalization/moving_mean:0", r(8)),
                                ("batch_normalization/moving_variance:0", 1 + r(8))],
        "re_lu": [],
        "depthwise_conv2d": [("depthwise_conv2d/depthwise_kernel:0", r(3, 3, 8, 1)),
                             ("depthwise_conv2d/bias:0", r(8))],
        "add": [],
        "global_average_pooling2d": [],
        "dense": [("dense/kernel:0", r(8, 5)), ("dense/bias:0", r(5))],
    }


class DepthwiseConv2DCompat(layers.DepthwiseConv2D):
    def __init__(self, groups=None, **kwargs):
        super().__init__(**kwargs)


def write_keras2_h5(path: Path) -> None:
    """What tf.keras 2.15's model.save('x.h5') writes (legacy HDF5): root attrs keras_version, backend,
    model_config (JSON, bytes); group model_weights with attrs layer_names / backend / keras_version and one
    group per layer (attr weight_names) holding datasets at '<layer>/<var>:0'."""
    cfg = keras2_config()
    weights = keras2_weights()
    tmp = path.with_suffix(".tmp.h5")
    with h5py.File(tmp, "w") as f:
        f.attrs["keras_version"] = b"2.15.0"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(cfg).encode("utf-8")
        mw = f.create_group("model_weights")
        names = [layer["config"]["name"] for layer in cfg["config"]["layers"]]
        mw.attrs["layer_names"] = [n.encode("utf-8") for n in names]
        mw.attrs["backend"] = b"tensorflow"
        mw.attrs["keras_version"] = b"2.15.0"
        for n in names:
            g = mw.create_group(n)
            g.attrs["weight_names"] = [w.encode("utf-8") for w, _ in weights[n]]
            for wname, value in weights[n]:
                g.create_dataset(wname, data=value)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------------------------------------
# TF.js (written in the converter's format; tensorflowjs not used)
# ----------------------------------------------------------------------------------------------------------

def quantize_uint8(data: np.ndarray) -> tuple[np.ndarray, dict]:
    """tensorflowjs.quantization.quantize_weights for uint8: affine, range nudged so that 0 is exact."""
    mn, mx = float(min(data.min(), 0.0)), float(max(data.max(), 0.0))
    scale = (mx - mn) / 255 if mx > mn else 1.0
    nudged_min = round(mn / scale) * scale
    q = np.clip(np.round((data - nudged_min) / scale), 0, 255).astype(np.uint8)
    return q, {"min": nudged_min, "scale": scale, "dtype": "uint8", "original_dtype": "float32"}


def write_weights(folder: Path, entries: list[tuple[str, np.ndarray]], quantize: set[str]) -> list:
    """One weight group in one shard, like tensorflowjs.write_weights with a large shard size."""
    blob, manifest = bytearray(), []
    for name, value in entries:
        if value.dtype == np.float64:
            value = value.astype(np.float32)
        if value.dtype == np.int64:
            value = value.astype(np.int32)
        item = {"name": name, "shape": list(value.shape), "dtype": value.dtype.name}
        if name in quantize:
            value, meta = quantize_uint8(value)
            item["quantization"] = {"dtype": "uint8", **meta}
        blob += value.tobytes()
        manifest.append(item)
    write_atomic(folder / "group1-shard1of1.bin", bytes(blob))
    return [{"paths": ["group1-shard1of1.bin"], "weights": manifest}]


def write_tfjs_graph(model, folder: Path) -> dict:
    fn = tf.function(lambda x: model(x, training=False))
    cf = fn.get_concrete_function(tf.TensorSpec([None, 16, 16, 3], tf.float32, name="input"))
    frozen = convert_variables_to_constants_v2(cf)
    gd = frozen.graph.as_graph_def()
    consts = []
    for node in gd.node:
        if node.op == "Const":
            value = tf.make_ndarray(node.attr["value"].tensor)
            consts.append((node.name, value))
            t = node.attr["value"].tensor
            for f in ("tensor_content", "float_val", "int_val", "int64_val", "bool_val", "double_val", "half_val",
                      "string_val"):
                t.ClearField(f)
    # quantize the largest float weight that is still small enough to be loaded as a value
    small = [(n, v) for n, v in consts if v.dtype == np.float32 and 64 <= v.size <= 4096]
    qname = max(small, key=lambda nv: nv[1].size)[0]
    manifest = write_weights(folder, consts, {qname})
    sig = meta_graph_pb2.SignatureDef()
    for t in frozen.inputs:
        sig.inputs[t.name].name = t.name
        sig.inputs[t.name].dtype = t.dtype.as_datatype_enum
        sig.inputs[t.name].tensor_shape.CopyFrom(t.shape.as_proto())
    for t in frozen.outputs:
        sig.outputs[t.name].name = t.name
        sig.outputs[t.name].dtype = t.dtype.as_datatype_enum
        sig.outputs[t.name].tensor_shape.CopyFrom(t.shape.as_proto())
    model_json = {"format": "graph-model", "generatedBy": tf.__version__,
                  "convertedBy": "graphreport make_keras_tfjs_samples.py (TensorFlow.js converter format)",
                  "signature": json_format.MessageToDict(sig), "modelTopology": json_format.MessageToDict(gd),
                  "weightsManifest": manifest}
    write_atomic(folder / "model.json", json.dumps(model_json))
    return {
        "file": folder.name, "format": "tfjs",
        "inputs": [{"name": t.name[:-2], "dtype": t.dtype.name, "shape": shape_list(t.shape.as_list())}
                   for t in frozen.inputs],
        "outputs": [{"name": t.name[:-2], "dtype": t.dtype.name, "shape": shape_list(t.shape.as_list())}
                    for t in frozen.outputs],
        "ignored_inputs": [],
        "node_count": len(gd.node),
        "op_counts": dict(Counter(n.op for n in gd.node).most_common()),
        # elements of the non-scalar float constants (a frozen graph's weights; the float scalars the trace adds,
        # batch-norm epsilons and the Rescaling factors, are hyper-parameters): equals count_params here
        "params": int(sum(v.size for _, v in consts if v.dtype.kind == "f" and v.ndim > 0)),
        "keras_count_params": int(model.count_params()),
        "weights": len(consts),
        "quantized_weights": {qname: "uint8"},
        # stored bytes of those float constants (the uint8-quantized one takes one byte per value)
        "weight_bytes": sum(int(v.nbytes) if n != qname else int(v.size) for n, v in consts
                            if v.dtype.kind == "f" and v.ndim > 0),
    }


def write_tfjs_layers(folder: Path, loaded) -> dict:
    cfg = keras2_config()
    weights = keras2_weights()
    entries = [(w[:-2], v) for n in weights for w, v in weights[n]]
    qname = "dense/kernel"
    manifest = write_weights(folder, entries, {qname})
    model_json = {"format": "layers-model", "generatedBy": "keras v2.15.0",
                  "convertedBy": "graphreport make_keras_tfjs_samples.py (TensorFlow.js converter format)",
                  "modelTopology": {"keras_version": "2.15.0", "backend": "tensorflow", "model_config": cfg},
                  "weightsManifest": manifest}
    write_atomic(folder / "model.json", json.dumps(model_json))
    facts = keras_facts(loaded, folder.name, "tfjs")
    facts["quantized_weights"] = {qname: "uint8"}
    return facts


# ----------------------------------------------------------------------------------------------------------

def merge_manifest(entries: list[dict]) -> None:
    path = HERE / "manifest.json"
    current = json.loads(path.read_text()) if path.exists() else []
    mine = {e["file"]: e for e in entries}
    out, seen = [], set()
    for e in current:
        if e.get("file") in mine:
            out.append(mine[e["file"]])
            seen.add(e["file"])
        else:
            out.append(e)
    out += [e for e in entries if e["file"] not in seen]
    write_atomic(path, json.dumps(out, indent=1) + "\n")


def main() -> None:
    pwned_before = os.path.exists(PWNED)
    entries = []

    m = tiny_model()
    m.save(HERE / "keras_tiny.keras")
    m.save(HERE / "keras_tiny.h5")
    entries.append(keras_facts(m, "keras_tiny.keras"))
    entries.append(keras_facts(m, "keras_tiny.h5"))

    k2 = HERE / "keras2_tiny.h5"
    write_keras2_h5(k2)
    keras.backend.clear_session()
    # Keras 3's legacy HDF5 loader reads it, once told to accept the `groups` key that tf.keras 2.x wrote into
    # every DepthwiseConv2D config (a known Keras 3 incompatibility of real Keras 2 files)
    loaded = keras.models.load_model(k2, compile=False, custom_objects={"DepthwiseConv2D": DepthwiseConv2DCompat})
    for layer, (lname, ws) in zip(loaded.layers, keras2_weights().items()):
        assert layer.name == lname, (layer.name, lname)
        got = [np.asarray(w) for w in layer.get_weights()]
        assert len(got) == len(ws) and all(np.array_equal(a, b) for a, (_, b) in zip(got, ws)), lname
    e = keras_facts(loaded, "keras2_tiny.h5")
    e["keras_version"] = "2.15.0 (hand-written layout; facts from Keras " + keras.__version__ + ")"
    entries.append(e)

    lm = lambda_model()
    lm.save(HERE / "keras_lambda.keras")
    lm.save(HERE / "keras_lambda.h5")
    assert os.path.exists(PWNED) == pwned_before, "building the Lambda sample ran its code"
    for f in ("keras_lambda.keras", "keras_lambda.h5"):
        e = keras_facts(lm, f)
        e["warning"] = "Lambda layer 'evil' holds Python code; graphreport never runs it"
        e["must_not_create"] = PWNED
        entries.append(e)

    entries.append(write_tfjs_graph(m, HERE / "tfjs_graph"))
    entries.append(write_tfjs_layers(HERE / "tfjs_layers", loaded))
    assert sorted(e["file"] for e in entries) == sorted(OWNED), sorted(e["file"] for e in entries)
    merge_manifest(entries)
    for e in entries:
        ins = [(i["name"], i["shape"]) for i in e["inputs"]]
        outs = [(o["name"], o["shape"]) for o in e["outputs"]]
        print(f"{e['file']:22} {e['format']:6} params={e['params']} inputs={ins} outputs={outs}")


if __name__ == "__main__":
    sys.exit(main())
