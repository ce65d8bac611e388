"""Write the bundled sample models and manifest.json (what graphreport should report for each).

Run by hand after a deliberate change (TensorFlow needed):

    .venv/bin/python sample_models/make_samples.py      # or: make samples

Everything is seeded, so a rerun with the same TensorFlow version writes the same files. Every fact in
manifest.json is read back from TensorFlow at generation time (the GraphDef, the tf.Graph, the TFLite
Interpreter, the checkpoint reader), never typed by hand; only the choice of which placeholders are the data
inputs / outputs / set-apart inputs (and their roles) comes from this script, which built the graphs.
"""
from __future__ import annotations

import json
import os
import random
import sys
import tempfile
from collections import Counter
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.get_logger().setLevel("ERROR")  # the tf.compat.v1 calls below are deprecated on purpose
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2  # noqa: E402

HERE = Path(__file__).resolve().parent
SEED = 0


# ----------------------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------------------

def write_atomic(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o644 & ~umask)  # mkstemp makes 0600
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def shape_list(shape) -> list | None:
    """A TensorShape / list with -1 as a list with None for unknown dims (None for unknown rank)."""
    if isinstance(shape, tf.TensorShape):
        return None if shape.rank is None else shape.as_list()
    return [None if int(d) < 0 else int(d) for d in shape]


def strip0(name: str) -> str:
    return name[:-2] if name.endswith(":0") else name


def tensor_entry(t: tf.Tensor) -> dict:
    return {"name": strip0(t.name), "dtype": t.dtype.name, "shape": shape_list(t.shape)}


def graphdef_facts(gd: tf.compat.v1.GraphDef, inputs: list[str], outputs: list[str],
                   ignored: dict[str, str]) -> dict:
    """inputs/outputs/ignored_inputs (as the graph says after import), node_count and op_counts."""
    g = tf.Graph()
    with g.as_default():
        tf.graph_util.import_graph_def(gd, name="")
    names = {n.name for n in gd.node}
    missing = [n for n in inputs + outputs if n not in names]
    assert not missing, missing
    return {
        "inputs": [tensor_entry(g.get_tensor_by_name(n + ":0")) for n in inputs],
        "outputs": [tensor_entry(g.get_tensor_by_name(n + ":0")) for n in outputs],
        "ignored_inputs": [{"name": n, "role": r} for n, r in ignored.items() if n in names],
        "node_count": len(gd.node),
        "op_counts": dict(Counter(n.op for n in gd.node).most_common()),
    }


def write_graphdef(gd, stem: str, text_too: bool = False) -> list[str]:
    files = [stem + ".pb"]
    write_atomic(HERE / files[0], gd.SerializeToString(deterministic=True))
    if text_too:
        from google.protobuf import text_format
        files.append(stem + ".pbtxt")
        write_atomic(HERE / files[1], text_format.MessageToString(gd))
    return files


def tflite_facts(path: Path) -> dict:
    """From the TFLite Interpreter (and TF's flatbuffer schema for the constant tensors)."""
    content = path.read_bytes()
    it = tf.lite.Interpreter(model_content=content)

    def entry(d):
        return {"name": d["name"], "dtype": np.dtype(d["dtype"]).name, "shape": shape_list(d["shape_signature"])}

    ops = it._get_ops_details()  # noqa: SLF001 - the only per-operator listing the Interpreter offers
    return {
        "inputs": [entry(d) for d in it.get_input_details()],
        "outputs": [entry(d) for d in it.get_output_details()],
        "ignored_inputs": [],
        "node_count": len(ops),
        "op_counts": dict(Counter(o["op_name"] for o in ops).most_common()),
        "params": tflite_weight_elements(content),
    }


# graphreport's convention (README): parameters are the elements of constant weight tensors, floating-point
# and quantized; integer constants count only as the bias slot of these operators (quantized biases).
_INT_WEIGHT_SLOTS = {"CONV_2D": {2}, "DEPTHWISE_CONV_2D": {2}, "FULLY_CONNECTED": {2}, "TRANSPOSE_CONV": {3},
                     "CONV_3D": {2}}


def tflite_weight_elements(content: bytes) -> int:
    """Elements of the constant (buffer-backed) weight tensors of subgraph 0, read with TF's TFLite schema.

    A Keras model's count_params() does not apply to a .tflite file: the converter folds BatchNorm into the
    convolutions (gamma/beta/mean/variance disappear, a bias appears)."""
    from tensorflow.lite.python import schema_py_generated as schema

    m = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(content, 0))
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    sg = m.subgraphs[0]
    float_or_quant = {schema.TensorType.FLOAT32, schema.TensorType.FLOAT16, schema.TensorType.INT8,
                      schema.TensorType.UINT8, schema.TensorType.INT16}

    def is_const(ti):
        b = m.buffers[sg.tensors[ti].buffer]
        return b is not None and ((b.data is not None and len(b.data) > 0) or (b.size or 0) > 0)

    seen: set[int] = set()
    total = 0
    for op in sg.operators:
        code = m.operatorCodes[op.opcodeIndex]
        opname = names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM")
        for slot, ti in enumerate(op.inputs):
            if ti < 0 or ti in seen or not is_const(ti):
                continue
            t = sg.tensors[ti]
            if t.type in float_or_quant or slot in _INT_WEIGHT_SLOTS.get(opname, ()):
                seen.add(ti)
                total += int(np.prod(t.shape)) if t.shape is not None else 0
    return total


# ----------------------------------------------------------------------------------------------------------
# 1, 2: tiny MobileNet-style Keras model -> frozen GraphDef (.pb, .pbtxt), float and int8 TFLite
# ----------------------------------------------------------------------------------------------------------

def tiny_mobilenet():
    import keras
    from keras import layers as L

    keras.utils.set_random_seed(SEED)
    inp = keras.Input(shape=(32, 32, 3), batch_size=1, name="input")
    x = L.Conv2D(16, 3, strides=2, padding="same", use_bias=False, name="conv1")(inp)
    x = L.BatchNormalization(name="conv1_bn")(x)
    x = L.ReLU(6.0, name="conv1_relu")(x)
    x = L.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw1")(x)
    x = L.BatchNormalization(name="dw1_bn")(x)
    x = L.ReLU(6.0, name="dw1_relu")(x)
    x = L.Conv2D(32, 1, use_bias=False, name="pw1")(x)
    x = L.BatchNormalization(name="pw1_bn")(x)
    x = L.ReLU(6.0, name="pw1_relu")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    x = L.Dense(10, name="logits")(x)
    out = L.Softmax(name="probabilities")(x)
    model = keras.Model(inp, out, name="tiny_mobilenet")
    # BatchNorm statistics as if trained (seeded), so folding them is not a no-op
    rng = np.random.RandomState(SEED)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape).astype("float32"),
                               rng.normal(0, 0.1, beta.shape).astype("float32"),
                               rng.normal(0, 0.1, mean.shape).astype("float32"),
                               rng.uniform(0.5, 1.5, var.shape).astype("float32")])
    return model


def make_tiny_mobilenet() -> list[dict]:
    model = tiny_mobilenet()
    fn = tf.function(lambda input: model(input, training=False))
    cf = fn.get_concrete_function(tf.TensorSpec([1, 32, 32, 3], tf.float32, name="input"))
    frozen = convert_variables_to_constants_v2(cf)
    gd = frozen.graph.as_graph_def()
    inputs = [strip0(t.name) for t in frozen.inputs]
    outputs = [strip0(t.name) for t in frozen.outputs]
    facts = graphdef_facts(gd, inputs, outputs, {})
    facts["params"] = int(model.count_params())
    entries = [{"file": f, "format": "graphdef", **facts} for f in write_graphdef(gd, "tiny_mobilenet", True)]

    # float TFLite (from_keras_model: from the concrete function the converter would keep the resource
    # variables as VAR_HANDLE/READ_VARIABLE operators and int8 calibration fails)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    write_atomic(HERE / "tiny_mobilenet_float.tflite", conv.convert())

    # full-integer TFLite with a seeded random representative dataset
    rng = np.random.RandomState(SEED)
    calib = [rng.uniform(-1.0, 1.0, (1, 32, 32, 3)).astype("float32") for _ in range(16)]

    def representative():
        for c in calib:
            yield [c]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    write_atomic(HERE / "tiny_mobilenet_int8.tflite", conv.convert())

    for f in ("tiny_mobilenet_float.tflite", "tiny_mobilenet_int8.tflite"):
        e = {"file": f, "format": "tflite", **tflite_facts(HERE / f)}
        e["keras_count_params"] = int(model.count_params())
        entries.append(e)
    return entries


# ----------------------------------------------------------------------------------------------------------
# 3: TF1-style training graph (tf.compat.v1, graph mode) + checkpoint + frozen inference graph
# ----------------------------------------------------------------------------------------------------------

TF1_ROLES = {"labels": "label", "keep_prob": "dropout_keep_prob", "is_training": "training_switch"}


def _variable(name, shape, init, trainable=True):
    return tf.compat.v1.get_variable(name, shape, tf.float32, initializer=init, trainable=trainable,
                                     use_resource=False)  # VariableV2 (ref) variables, as TF1 made them


def _batch_norm(h, is_training, momentum=0.99, eps=1e-3):
    """tf.layers-style fused batch norm: tf.cond on is_training picks batch or moving statistics; the
    moving-average updates go to UPDATE_OPS (run with the train op), not into the inference path."""
    c = h.shape[-1]
    v1 = tf.compat.v1
    with v1.variable_scope("BatchNorm"):
        gamma = _variable("gamma", [c], v1.ones_initializer())
        beta = _variable("beta", [c], v1.zeros_initializer())
        moving_mean = _variable("moving_mean", [c], v1.zeros_initializer(), trainable=False)
        moving_var = _variable("moving_variance", [c], v1.ones_initializer(), trainable=False)

        def train():
            return v1.nn.fused_batch_norm(h, gamma, beta, epsilon=eps, is_training=True)

        def infer():
            return v1.nn.fused_batch_norm(h, gamma, beta, mean=moving_mean, variance=moving_var, epsilon=eps,
                                          is_training=False)

        y, mean, var = tf.cond(is_training, train, infer)
        for mv, stat in ((moving_mean, mean), (moving_var, var)):
            upd = v1.assign_sub(mv, (mv - stat) * (1.0 - momentum))
            v1.add_to_collection(v1.GraphKeys.UPDATE_OPS, upd)
        return y


def build_tf1_graph():
    v1 = tf.compat.v1
    v1.disable_control_flow_v2()  # Switch/Merge, as TF1 graphs have
    g = tf.Graph()
    with g.as_default():
        v1.set_random_seed(SEED)
        x = v1.placeholder(tf.float32, [None, 28, 28, 1], name="input")
        labels = v1.placeholder(tf.int64, [None], name="labels")
        keep_prob = v1.placeholder(tf.float32, [], name="keep_prob")
        is_training = v1.placeholder(tf.bool, [], name="is_training")
        global_step = v1.get_variable(  # what get_or_create_global_step makes, as a VariableV2
            "global_step", [], tf.int64, initializer=v1.zeros_initializer(), trainable=False, use_resource=False,
            collections=[v1.GraphKeys.GLOBAL_VARIABLES, v1.GraphKeys.GLOBAL_STEP])
        init = v1.truncated_normal_initializer(stddev=0.1, seed=SEED)

        with v1.variable_scope("conv1"):
            h = tf.nn.conv2d(x, _variable("weights", [5, 5, 1, 8], init), [1, 1, 1, 1], "SAME")
            h = tf.nn.relu(_batch_norm(h, is_training))
            h = tf.nn.max_pool2d(h, 2, 2, "SAME")  # 14x14x8
        with v1.variable_scope("conv2"):
            h = tf.nn.conv2d(h, _variable("weights", [3, 3, 8, 16], init), [1, 1, 1, 1], "SAME")
            h = tf.nn.relu(_batch_norm(h, is_training))
            h = tf.nn.max_pool2d(h, 2, 2, "SAME")  # 7x7x16
        with v1.variable_scope("fc1"):
            h = tf.reshape(h, [-1, 7 * 7 * 16])
            h = tf.nn.relu(tf.matmul(h, _variable("weights", [7 * 7 * 16, 16], init))
                           + _variable("biases", [16], v1.constant_initializer(0.1)))
            h = v1.nn.dropout(h, keep_prob=keep_prob, seed=SEED)
        with v1.variable_scope("fc2"):
            z = tf.matmul(h, _variable("weights", [16, 10], init))
            b = _variable("biases", [10], v1.constant_initializer(0.1))
        logits = tf.add(z, b, name="logits")
        model_vars = list(v1.global_variables())  # before the optimizer adds its slots

        with v1.name_scope("loss"):
            xent = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
            loss = tf.reduce_mean(xent, name="loss")
        with v1.name_scope("accuracy"):
            correct = tf.equal(tf.argmax(logits, 1), labels)
            accuracy = tf.reduce_mean(tf.cast(correct, tf.float32), name="accuracy")
        with tf.control_dependencies(v1.get_collection(v1.GraphKeys.UPDATE_OPS)):
            train_op = v1.train.AdamOptimizer(1e-3).minimize(loss, global_step=global_step, name="train_op")
        v1.summary.scalar("loss", loss)
        v1.summary.scalar("accuracy", accuracy)
        merged = v1.summary.merge_all()
        init_op = v1.global_variables_initializer()
        saver = v1.train.Saver(save_relative_paths=True)
    t = dict(x=x, labels=labels, keep_prob=keep_prob, is_training=is_training, logits=logits, loss=loss,
             accuracy=accuracy, train_op=train_op, merged=merged, init_op=init_op, saver=saver)
    return g, t, model_vars


def _deterministic_meta(path: Path) -> tf.compat.v1.MetaGraphDef:
    """Rewrite the Saver's .meta with sorted map entries: the cond contexts stored in its collections hold a
    map (external_values) that TF serializes in object-id order, so the file would change on every run."""
    from tensorflow.core.protobuf import control_flow_pb2

    meta = tf.compat.v1.MetaGraphDef()
    meta.ParseFromString(path.read_bytes())
    for key in ("cond_context", "while_context"):
        if key not in meta.collection_def:
            continue
        cls = control_flow_pb2.CondContextDef if key == "cond_context" else control_flow_pb2.WhileContextDef
        vals = meta.collection_def[key].bytes_list.value
        for i, raw in enumerate(vals):
            vals[i] = cls.FromString(raw).SerializeToString(deterministic=True)
    write_atomic(path, meta.SerializeToString(deterministic=True))
    return meta


def make_tf1_training() -> list[dict]:
    v1 = tf.compat.v1
    g, t, model_vars = build_tf1_graph()
    ckpt_dir = HERE / "tf1_training"
    ckpt_dir.mkdir(exist_ok=True)
    for p in ckpt_dir.iterdir():  # stale files from an earlier run
        if p.name == "checkpoint" or p.name.startswith("model.ckpt"):
            p.unlink()
    prefix = ckpt_dir / "model.ckpt"
    rng = np.random.RandomState(SEED)
    batches = [(rng.uniform(0, 1, (8, 28, 28, 1)).astype("float32"), rng.randint(0, 10, 8).astype("int64"))
               for _ in range(2)]
    probe = rng.uniform(0, 1, (3, 28, 28, 1)).astype("float32")
    config = v1.ConfigProto(intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)
    with v1.Session(graph=g, config=config) as sess:
        sess.run(t["init_op"])
        for xb, yb in batches:
            sess.run([t["train_op"], t["merged"], t["loss"], t["accuracy"]],
                     {t["x"]: xb, t["labels"]: yb, t["keep_prob"]: 0.5, t["is_training"]: True})
        saved = t["saver"].save(sess, str(prefix))
        assert Path(saved) == prefix, saved
        gd = g.as_graph_def()
        ref = sess.run(t["logits"], {t["x"]: probe, t["keep_prob"]: 1.0, t["is_training"]: False})
        frozen = v1.graph_util.convert_variables_to_constants(sess, gd, ["logits"])
        params = int(sum(np.prod(sess.run(tf.shape(v))) for v in model_vars if v.dtype.base_dtype.is_floating))
    frozen = v1.graph_util.remove_training_nodes(frozen, protected_nodes=["input", "logits"])

    # the frozen graph must compute what the session did
    fg = tf.Graph()
    with fg.as_default():
        tf.graph_util.import_graph_def(frozen, name="")
    with v1.Session(graph=fg) as s:
        got = s.run("logits:0", {"input:0": probe, "keep_prob:0": 1.0, "is_training:0": False})
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)

    entries = []
    for f in write_graphdef(gd, "tf1_training"):
        entries.append({"file": f, "format": "graphdef", **graphdef_facts(gd, ["input"], ["logits"], TF1_ROLES),
                        "params": params})
    for f in write_graphdef(frozen, "tf1_frozen"):
        entries.append({"file": f, "format": "graphdef",
                        **graphdef_facts(frozen, ["input"], ["logits"], TF1_ROLES), "params": params})

    # the checkpoint: its MetaGraphDef (.meta) plus what the checkpoint reader lists
    meta = _deterministic_meta(ckpt_dir / "model.ckpt.meta")
    variables = [{"name": n, "shape": s} for n, s in tf.train.list_variables(str(prefix))]
    reader = tf.train.load_checkpoint(str(prefix))
    dtypes = reader.get_variable_to_dtype_map()
    for v in variables:
        v["dtype"] = dtypes[v["name"]].name
    entries.append({
        "file": "tf1_training/model.ckpt.meta", "format": "checkpoint",
        "checkpoint_prefix": "tf1_training/model.ckpt",
        "checkpoint_files": sorted(p.relative_to(HERE).as_posix() for p in ckpt_dir.iterdir()
                                   if not p.name.startswith(".")),
        **graphdef_facts(meta.graph_def, ["input"], ["logits"], TF1_ROLES),
        "params": params,
        "variables": variables,
        "checkpoint_elements": int(sum(np.prod(v["shape"]) for v in variables)),
    })
    return entries


def main() -> None:
    random.seed(SEED)
    np.random.seed(SEED)
    tf.random.set_seed(SEED)
    entries = make_tiny_mobilenet() + make_tf1_training()
    # other scripts (make_format_samples.py, make_keras_tfjs_samples.py) own other entries: merge by file
    path = HERE / "manifest.json"
    ours = {e["file"] for e in entries}
    others = [e for e in json.loads(path.read_text())] if path.exists() else []
    merged = entries + [e for e in others if e["file"] not in ours]
    manifest = json.dumps(merged, indent=1) + "\n"
    write_atomic(HERE / "manifest.json", manifest)
    for e in entries:
        print(f"{e['file']:40s} {e['format']:10s} nodes={e['node_count']:4d} params={e['params']}",
              file=sys.stderr)


if __name__ == "__main__":
    main()
