"""Reference models built from keras.applications (weights=None, offline) at test / bench time, cached.

    import refmodels                      # tests/ on sys.path
    pb = refmodels.frozen_graphdef("MobileNetV2")             # Path to a frozen GraphDef, batch 1
    pb = refmodels.frozen_graphdef("MobileNetV2", batch=None) # unknown batch
    facts = refmodels.facts(pb)                               # its sidecar JSON, as a dict
    tfl = refmodels.tflite_model("MobileNetV2")               # float .tflite
    tfl = refmodels.tflite_model("MobileNetV2", quantize="int8")
    kf = refmodels.keras_application("MobileNetV2", "keras")  # .keras or .h5 (unknown batch), count_params
    pb = refmodels.freeze_keras(model, path)                  # any Keras model -> frozen GraphDef, batch 1

    .venv/bin/python tests/refmodels.py MobileNetV2 [InceptionV3 ...] [--force]

Files go to <repo>/.cache/refmodels/<tf version>/ and are reused when present (written atomically: temp file +
rename, so concurrent builders at worst both build). Building imports TensorFlow in the calling process;
graphreport itself never does.

Each model file has a sidecar `<file>.json` of facts read from TensorFlow (never computed by graphreport):

- frozen GraphDef: `count_params` (Keras), `inputs` / `outputs` (`{name, dtype, shape}` from the frozen
  function's inputs/outputs, names without ":0"), `node_count`, `op_counts`, `tensor_shapes` (every output
  of every op as TF infers it when importing the GraphDef into a fresh tf.Graph, key "node:idx", unknown dims
  null, unknown rank null), `has_output_shapes_attr`, and for a fixed batch the tf.compat.v1.profiler
  float_operation FLOPs: `flops` (total), `flops_by_op_type`, `flops_by_node`.
- Keras file (`keras_application`): `count_params`, `inputs` / `outputs` shapes from Keras.
- TFLite: `count_params`, `inputs` / `outputs` from the Interpreter (shape from shape_signature, -1 -> null),
  `operator_count`, `op_counts`.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
SEED = 0
# input side per model; everything else in keras.applications defaults to 224
INPUT_SIZE = {"InceptionV3": 299, "Xception": 299, "InceptionResNetV2": 299, "NASNetLarge": 331,
              "EfficientNetB1": 240, "EfficientNetB2": 260, "EfficientNetB3": 300, "EfficientNetB4": 380,
              "EfficientNetB5": 456, "EfficientNetB6": 528, "EfficientNetB7": 600}


def _tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    return tf


def cache_dir() -> Path:
    d = ROOT / ".cache" / "refmodels" / _tf().__version__
    d.mkdir(parents=True, exist_ok=True)
    return d


def input_size(name: str) -> int:
    return INPUT_SIZE.get(name, 224)


def facts(model_path: os.PathLike | str) -> dict:
    """The sidecar JSON of a built model file."""
    return json.loads(Path(str(model_path) + ".json").read_text())


def _write_atomic(path: Path, data: bytes | str) -> None:
    if isinstance(data, str):
        data = data.encode("utf-8")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _shape(shape) -> Optional[list]:
    """TensorShape or list with -1 -> list with None for unknown dims; None for unknown rank."""
    tf = _tf()
    if isinstance(shape, tf.TensorShape):
        return None if shape.rank is None else shape.as_list()
    return [None if int(d) < 0 else int(d) for d in shape]


def _strip0(name: str) -> str:
    return name[:-2] if name.endswith(":0") else name


def _keras_model(name: str, batch: Optional[int] = None):
    """keras.applications.<name>(weights=None), seeded, with fresh Keras name counters (stable node names)."""
    _tf()
    import keras

    keras.backend.clear_session()
    keras.utils.set_random_seed(SEED)
    ctor = getattr(keras.applications, name, None)
    if ctor is None:
        raise ValueError(f"keras.applications has no model {name!r}")
    s = input_size(name)
    return ctor(weights=None, input_shape=(s, s, 3), input_tensor=keras.Input(batch_shape=(batch, s, s, 3), name="x"))


def _tag(batch: Optional[int]) -> str:
    return f"b{batch}" if batch is not None else "bNone"


# ----------------------------------------------------------------------------------------------------------
# frozen GraphDef
# ----------------------------------------------------------------------------------------------------------

def frozen_graphdef(name: str, batch: Optional[int] = 1, force: bool = False) -> Path:
    """Frozen GraphDef (.pb) of keras.applications.<name>(weights=None); batch fixed (e.g. 1) or None."""
    path = cache_dir() / f"{name}_{_tag(batch)}.pb"
    side = Path(str(path) + ".json")
    if path.exists() and side.exists() and not force:
        return path
    tf = _tf()
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    t0 = time.perf_counter()
    model = _keras_model(name)
    s = input_size(name)
    fn = tf.function(lambda x: model(x, training=False))
    cf = fn.get_concrete_function(tf.TensorSpec([batch, s, s, 3], tf.float32, name="x"))
    frozen = convert_variables_to_constants_v2(cf)
    gd = frozen.graph.as_graph_def()
    data = gd.SerializeToString(deterministic=True)
    t_build = time.perf_counter() - t0

    t1 = time.perf_counter()
    info = {
        "model": name, "tf_version": tf.__version__, "keras_version": _keras_version(),
        "batch": batch, "input_size": s, "file_bytes": len(data),
        "count_params": int(model.count_params()),
        "inputs": [_tensor_entry(t) for t in frozen.inputs],
        "outputs": [_tensor_entry(t) for t in frozen.outputs],
        "node_count": len(gd.node),
        "op_counts": dict(Counter(n.op for n in gd.node).most_common()),
        "function_library_size": len(gd.library.function),
        "has_output_shapes_attr": sum(1 for n in gd.node if "_output_shapes" in n.attr),
    }
    info.update(_graph_facts(gd, profile=batch is not None))
    info["build_seconds"] = round(t_build, 2)
    info["facts_seconds"] = round(time.perf_counter() - t1, 2)
    _write_atomic(side, json.dumps(info, indent=1) + "\n")
    _write_atomic(path, data)
    return path


def _keras_version() -> str:
    import keras

    return keras.__version__


def _tensor_entry(t) -> dict:
    return {"name": _strip0(t.name), "dtype": t.dtype.name, "shape": _shape(t.shape)}


def _graph_facts(gd, profile: bool) -> dict:
    """Shapes TF infers on import, and (fixed batch) the v1 profiler's float_operation FLOPs."""
    tf = _tf()
    g = tf.Graph()
    with g.as_default():
        tf.graph_util.import_graph_def(gd, name="")
    shapes = {}
    for op in g.get_operations():
        for i, t in enumerate(op.outputs):
            shapes[f"{op.name}:{i}"] = _shape(t.shape)
    out = {"tensor_shapes": shapes}
    if not profile:
        out.update(flops=None, flops_by_op_type=None, flops_by_node=None)
        return out
    from tensorflow.python.profiler.option_builder import ProfileOptionBuilder

    opts = ProfileOptionBuilder(ProfileOptionBuilder.float_operation()).with_empty_output().build()
    prof = tf.compat.v1.profiler.profile(g, options=opts)  # cmd="scope": a tree of name scopes
    by_node: dict[str, int] = {}

    def walk(p):
        if p.float_ops and p.name in names:
            by_node[p.name] = int(p.float_ops)
        for c in p.children:
            walk(c)

    names = {op.name for op in g.get_operations()}
    walk(prof)
    by_type: dict[str, int] = defaultdict(int)
    for n, f in by_node.items():
        by_type[g.get_operation_by_name(n).type] += f
    out["flops"] = int(prof.total_float_ops)
    out["flops_by_op_type"] = dict(sorted(by_type.items(), key=lambda kv: (-kv[1], kv[0])))
    out["flops_by_node"] = by_node
    assert sum(by_node.values()) == out["flops"], (sum(by_node.values()), out["flops"])
    return out


# ----------------------------------------------------------------------------------------------------------
# Keras files (.keras / .h5) and freezing any Keras model
# ----------------------------------------------------------------------------------------------------------

def keras_application(name: str, ext: str = "keras", force: bool = False) -> Path:
    """keras.applications.<name>(weights=None) saved by Keras as `.keras` or `.h5` (legacy HDF5), unknown batch:
    the same network (same seed, same layer names) as frozen_graphdef(name)."""
    if ext not in ("keras", "h5"):
        raise ValueError(f"ext must be 'keras' or 'h5', not {ext!r}")
    path = cache_dir() / f"{name}_keras.{ext}"
    side = Path(str(path) + ".json")
    if path.exists() and side.exists() and not force:
        return path
    _tf()
    model = _keras_model(name)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.stem + ".", suffix="." + ext)
    os.close(fd)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            model.save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    info = {"model": name, "keras_version": _keras_version(), "count_params": int(model.count_params()),
            "inputs": [_keras_shape(t.shape) for t in model.inputs],
            "outputs": [_keras_shape(t.shape) for t in model.outputs]}
    _write_atomic(side, json.dumps(info, indent=1) + "\n")
    return path


def _keras_shape(shape) -> list:
    return [None if d is None else int(d) for d in shape]


@contextlib.contextmanager
def einsum_as_matmul():
    """While tracing, tf.einsum builds TensorFlow's legacy einsum (reshape / transpose / MatMul / BatchMatMul)
    instead of the Einsum op, which tf.compat.v1.profiler has no FLOPs statistic for. Same arithmetic."""
    tf = _tf()
    from tensorflow.python.ops import special_math_ops

    orig = tf.einsum

    def einsum(equation, *inputs, **kwargs):
        kwargs.pop("optimize", None)
        return special_math_ops._einsum_v1(equation, *inputs, **kwargs)  # noqa: SLF001

    tf.einsum = einsum
    try:
        yield
    finally:
        tf.einsum = orig


def freeze_keras(model, path: os.PathLike | str, batch: int = 1, einsum_v1: bool = False) -> Path:
    """Any Keras model -> frozen GraphDef at `path`, every input's unknown batch fixed to `batch`, traced with
    training=False (tf.function + convert_variables_to_constants_v2, as frozen_graphdef). Not cached."""
    tf = _tf()
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    specs = [tf.TensorSpec([batch if d is None else d for d in t.shape], t.dtype, name=t.name.split(":")[0])
             for t in model.inputs]
    fn = tf.function(lambda *xs: model(list(xs) if len(xs) > 1 else xs[0], training=False))
    with einsum_as_matmul() if einsum_v1 else contextlib.nullcontext():
        cf = fn.get_concrete_function(*specs)
        frozen = convert_variables_to_constants_v2(cf)
    path = Path(path)
    _write_atomic(path, frozen.graph.as_graph_def().SerializeToString(deterministic=True))
    return path


def profiler_flops(pb: os.PathLike | str) -> dict:
    """tf.compat.v1.profiler float_operation of a GraphDef file: {"flops", "flops_by_op_type", ...}."""
    tf = _tf()
    gd = tf.compat.v1.GraphDef()
    gd.ParseFromString(Path(pb).read_bytes())
    return _graph_facts(gd, profile=True)


# ----------------------------------------------------------------------------------------------------------
# TFLite
# ----------------------------------------------------------------------------------------------------------

def tflite_model(name: str, quantize: Optional[str] = None, batch: Optional[int] = None,
                 force: bool = False) -> Path:
    """keras.applications.<name>(weights=None) through TFLiteConverter.from_keras_model.

    quantize: None (float32) or "int8" (full-integer: seeded random representative dataset,
    TFLITE_BUILTINS_INT8, int8 input and output). batch: None keeps Keras' unknown batch (shape_signature
    -1, shape 1); an int fixes it."""
    if quantize not in (None, "int8"):
        raise ValueError(f"quantize must be None or 'int8', not {quantize!r}")
    path = cache_dir() / f"{name}_{_tag(batch)}_{quantize or 'float'}.tflite"
    side = Path(str(path) + ".json")
    if path.exists() and side.exists() and not force:
        return path
    tf = _tf()
    import numpy as np

    t0 = time.perf_counter()
    model = _keras_model(name, batch)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantize == "int8":
        s = input_size(name)
        rng = np.random.RandomState(SEED)
        calib = [rng.uniform(-1.0, 1.0, (1, s, s, 3)).astype("float32") for _ in range(4)]

        def representative():
            for c in calib:
                yield [c]

        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    with contextlib.redirect_stdout(io.StringIO()):  # Keras' export lists every captured variable
        data = conv.convert()
    t_build = time.perf_counter() - t0

    it = tf.lite.Interpreter(model_content=data)

    def entry(d):
        return {"name": d["name"], "dtype": np.dtype(d["dtype"]).name, "shape": _shape(d["shape_signature"])}

    ops = it._get_ops_details()  # noqa: SLF001 - the Interpreter's only per-operator listing
    info = {
        "model": name, "tf_version": tf.__version__, "keras_version": _keras_version(), "batch": batch,
        "quantize": quantize, "input_size": input_size(name), "file_bytes": len(data),
        "count_params": int(model.count_params()),
        "inputs": [entry(d) for d in it.get_input_details()],
        "outputs": [entry(d) for d in it.get_output_details()],
        "operator_count": len(ops),
        "op_counts": dict(Counter(o["op_name"] for o in ops).most_common()),
        "build_seconds": round(t_build, 2),
    }
    del it
    _write_atomic(side, json.dumps(info, indent=1) + "\n")
    _write_atomic(path, data)
    return path


# ----------------------------------------------------------------------------------------------------------

def main(argv: list[str]) -> None:
    force = "--force" in argv
    names = [a for a in argv if not a.startswith("--")] or ["MobileNetV2"]
    for name in names:
        for batch in (1, None):
            t = time.perf_counter()
            p = frozen_graphdef(name, batch=batch, force=force)
            f = facts(p)
            print(f"{p}  ({os.path.getsize(p) / 1e6:.1f} MB, {time.perf_counter() - t:.1f} s)")
            print(f"  nodes={f['node_count']} params={f['count_params']} flops={f['flops']} "
                  f"inputs={[(i['name'], i['shape']) for i in f['inputs']]} "
                  f"outputs={[(o['name'], o['shape']) for o in f['outputs']]}")
        for q in (None, "int8"):
            t = time.perf_counter()
            p = tflite_model(name, quantize=q, force=force)
            f = facts(p)
            print(f"{p}  ({os.path.getsize(p) / 1e6:.1f} MB, {time.perf_counter() - t:.1f} s)")
            print(f"  operators={f['operator_count']} inputs={[(i['name'], i['dtype'], i['shape']) for i in f['inputs']]} "
                  f"outputs={[(o['name'], o['dtype'], o['shape']) for o in f['outputs']]}")


if __name__ == "__main__":
    main(sys.argv[1:])
