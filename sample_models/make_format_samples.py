"""Write the SavedModel samples and MERGE their entries into manifest.json (keyed by "file").

Run by hand after a deliberate change (TensorFlow needed):

    .venv/bin/python sample_models/make_format_samples.py

It writes
- ``keras_savedmodel/``: a tiny Keras 3 model (Conv2D + BatchNorm + ReLU6, DepthwiseConv2D, pooling, Dense
  with softmax) through ``model.export(..., format="tf_saved_model")``: a TF2 object-based SavedModel whose
  graph lives in its function library behind ``StatefulPartitionedCall``;
- ``tf1_savedmodel/``: a TF1-style SavedModel (``tf.compat.v1`` graph, resource variables,
  ``SavedModelBuilder`` with a ``predict`` signature ``serving_default``: input ``x``, outputs ``probs`` and
  ``logits``);
- ``tf1_savedmodel_text/``: the same model written as text (``builder.save(as_text=True)`` writes
  ``saved_model.pbtxt``), its binary twin's report expected.

``make_format_samples.py NAME ...`` makes only the named samples (e.g. ``tf1_savedmodel_text``).

Manifest entries (format ``savedmodel``, ``file`` = the directory): ``inputs`` / ``outputs`` as for the
other samples (the serving signature's graph tensors, ``name`` without ``:0``; dtype and shape from
``tf.saved_model.load``), ``signature`` (name, method, per key the tensor name, dtype, shape), ``tags``,
``signatures``, ``variables`` (``tf.train.list_variables`` with dtypes), ``checkpoint_elements``,
``graph_node_count`` / ``library_functions`` (of the whole MetaGraphDef, before graphreport prunes it to what
the serving signature needs), ``params`` (Keras ``count_params()``; TF1: elements of the global variables).

Entries of other files in manifest.json (written by make_samples.py) are kept as they are. Every fact
written to the manifest is read back from TensorFlow (``tf.saved_model.load``, the SavedModel protobuf,
``tf.train.list_variables``, Keras ``count_params``), never typed by hand.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.get_logger().setLevel("ERROR")  # the tf.compat.v1 calls below are deprecated on purpose

HERE = Path(__file__).resolve().parent
SEED = 0


def shape_list(shape) -> list | None:
    shape = tf.TensorShape(shape)
    return None if shape.rank is None else shape.as_list()


def replace_dir(tmp: Path, dest: Path) -> None:
    """Move a finished directory into place (the old one goes only once the new one is complete)."""
    old = dest.with_name("." + dest.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if dest.exists():
        dest.rename(old)
    tmp.rename(dest)
    if old.exists():
        shutil.rmtree(old)
    for root, dirs, files in os.walk(dest):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)


def savedmodel_facts(path: Path, signature: str = "serving_default") -> dict:
    """What TensorFlow says about a SavedModel: tags, signature keys, the serving signature's inputs and
    outputs (graph tensor names from the SignatureDef, key, dtype, shape), and the checkpoint's variables."""
    from tensorflow.core.protobuf import saved_model_pb2

    sm = saved_model_pb2.SavedModel()
    if (path / "saved_model.pb").exists():
        sm.ParseFromString((path / "saved_model.pb").read_bytes())
    else:  # written as text
        from google.protobuf import text_format

        text_format.Parse((path / "saved_model.pbtxt").read_text(encoding="utf-8"), sm)
    mg = sm.meta_graphs[0]
    sig_def = mg.signature_def[signature]
    loaded = tf.saved_model.load(str(path))
    fn = loaded.signatures[signature]
    in_specs = fn.structured_input_signature[1]
    out_specs = fn.structured_outputs

    def entry(info, spec):  # the graph tensor, named as the other samples' inputs/outputs (no ":0")
        name = info.name[:-2] if info.name.endswith(":0") else info.name
        return {"name": name, "dtype": spec.dtype.name, "shape": shape_list(spec.shape)}

    def sig_entry(key, info, spec):
        return {"key": key, "tensor": info.name, "dtype": spec.dtype.name, "shape": shape_list(spec.shape)}

    inputs = [entry(sig_def.inputs[k], in_specs[k]) for k in sorted(sig_def.inputs)]
    outputs = [entry(sig_def.outputs[k], out_specs[k]) for k in sorted(sig_def.outputs)]
    sig = {"name": signature, "method": sig_def.method_name,
           "inputs": [sig_entry(k, sig_def.inputs[k], in_specs[k]) for k in sorted(sig_def.inputs)],
           "outputs": [sig_entry(k, sig_def.outputs[k], out_specs[k]) for k in sorted(sig_def.outputs)]}
    ckpt = str(path / "variables" / "variables")
    reader = tf.train.load_checkpoint(ckpt)
    dtypes = reader.get_variable_to_dtype_map()
    variables = [{"name": n, "shape": list(s), "dtype": dtypes[n].name} for n, s in tf.train.list_variables(ckpt)]
    return {
        "tags": sorted(mg.meta_info_def.tags),
        "signatures": sorted(mg.signature_def),
        "inputs": inputs,
        "outputs": outputs,
        "ignored_inputs": [],
        "signature": sig,
        "variables": variables,
        "graph_node_count": len(mg.graph_def.node),
        "library_functions": len(mg.graph_def.library.function),
    }


def tiny_keras():
    import keras
    from keras import layers

    keras.utils.set_random_seed(SEED)
    inp = keras.Input((32, 32, 3), name="input")
    x = layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False, name="conv")(inp)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.ReLU(6.0, name="relu")(x)
    x = layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dense(10, activation="softmax", name="dense")(x)
    return keras.Model(inp, x, name="tiny")


def make_keras_savedmodel() -> dict:
    model = tiny_keras()
    dest = HERE / "keras_savedmodel"
    tmp = Path(tempfile.mkdtemp(dir=HERE, prefix=".keras_savedmodel."))
    shutil.rmtree(tmp)
    model.export(str(tmp), format="tf_saved_model", verbose=False)
    x = np.random.default_rng(SEED).random((2, 32, 32, 3), dtype=np.float32)
    want = model.predict(x, verbose=0)
    got = tf.saved_model.load(str(tmp)).signatures["serving_default"](input=tf.constant(x))
    assert np.allclose(list(got.values())[0].numpy(), want, atol=1e-5)
    replace_dir(tmp, dest)
    facts = savedmodel_facts(dest)
    return {"file": "keras_savedmodel", "format": "savedmodel", **facts, "params": int(model.count_params()),
            "keras_count_params": int(model.count_params()),
            "checkpoint_elements": int(sum(np.prod(v["shape"], dtype=np.int64) for v in facts["variables"]))}


def make_tf1_savedmodel(name: str = "tf1_savedmodel", as_text: bool = False) -> dict:
    dest = HERE / name
    tmp = Path(tempfile.mkdtemp(dir=HERE, prefix=f".{name}."))
    shutil.rmtree(tmp)
    g = tf.Graph()
    with g.as_default():
        tf.compat.v1.set_random_seed(SEED)
        x = tf.compat.v1.placeholder(tf.float32, [None, 8], name="x")
        with tf.compat.v1.variable_scope("dense"):
            w = tf.compat.v1.get_variable("kernel", [8, 4], initializer=tf.compat.v1.glorot_uniform_initializer(SEED))
            b = tf.compat.v1.get_variable("bias", [4], initializer=tf.compat.v1.zeros_initializer())
        logits = tf.nn.bias_add(tf.matmul(x, w), b, name="logits")
        probs = tf.nn.softmax(logits, name="probs")
        with tf.compat.v1.Session(graph=g) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            builder = tf.compat.v1.saved_model.Builder(str(tmp))
            sig = tf.compat.v1.saved_model.predict_signature_def({"x": x}, {"probs": probs, "logits": logits})
            builder.add_meta_graph_and_variables(sess, [tf.compat.v1.saved_model.tag_constants.SERVING],
                                                 signature_def_map={"serving_default": sig})
            builder.save(as_text=as_text)
            params = int(sum(np.prod(v.shape.as_list()) for v in tf.compat.v1.global_variables()))
    replace_dir(tmp, dest)
    facts = savedmodel_facts(dest)
    return {"file": name, "format": "savedmodel", **facts, "params": params,
            "checkpoint_elements": int(sum(np.prod(v["shape"], dtype=np.int64) for v in facts["variables"]))}


def merge_manifest(new: list[dict]) -> None:
    path = HERE / "manifest.json"
    entries = json.loads(path.read_text()) if path.exists() else []
    by_file = {e["file"]: i for i, e in enumerate(entries)}
    for e in new:
        if e["file"] in by_file:
            entries[by_file[e["file"]]] = e
        else:
            entries.append(e)
    fd, tmp = tempfile.mkstemp(dir=HERE, prefix=".manifest.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(entries, indent=1) + "\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def main() -> None:
    np.random.seed(SEED)
    tf.random.set_seed(SEED)
    makers = {"keras_savedmodel": make_keras_savedmodel, "tf1_savedmodel": make_tf1_savedmodel,
              "tf1_savedmodel_text": lambda: make_tf1_savedmodel("tf1_savedmodel_text", as_text=True)}
    wanted = sys.argv[1:] or list(makers)
    unknown = [w for w in wanted if w not in makers]
    if unknown:
        sys.exit(f"unknown sample(s) {', '.join(unknown)}; choose from {', '.join(makers)}")
    entries = [makers[w]() for w in wanted]
    merge_manifest(entries)
    for e in entries:
        print(f"{e['file']:24s} {e['format']:10s} params={e['params']} variables={len(e['variables'])}",
              file=sys.stderr)


if __name__ == "__main__":
    main()
