"""Keras reader (.keras, legacy .h5 from Keras 3 and Keras 2 layouts): per-layer and total parameters equal
Keras' count_params(), output shapes equal Keras' layer.output.shape, Lambda code never runs, the report path
never imports TensorFlow or Keras, hostile files exit 2 with one line.

Keras models are built in this process (Keras is the reference); graphreport reads them in-process or through
the CLI in a subprocess."""
from __future__ import annotations

import base64
import importlib.metadata
import io
import json
import marshal
import os
import struct
import uuid
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, SAMPLES, report_json, run_cli, tf_imported_by
from graphreport.analysis.summary import summarize
from graphreport.readers import keras as kreader
from graphreport.readers.detect import load

MANIFEST = json.loads((SAMPLES / "manifest.json").read_text())
KERAS_SAMPLES = [e for e in MANIFEST if e["format"] == "keras" and (SAMPLES / e["file"]).exists()]
KERAS = next((d.version for d in importlib.metadata.distributions(name="keras")), None)  # None: not installed
CACHE = ROOT / ".cache" / "keras_models" / str(KERAS)


def _keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    return keras


# ----------------------------------------------------------------------------------------------------------
# A model with many layer kinds, built and saved once per session
# ----------------------------------------------------------------------------------------------------------

def _zoo(keras):
    L = keras.layers
    keras.utils.set_random_seed(0)
    img = keras.Input((20, 20, 3), name="img")
    x = L.Rescaling(1 / 255.0, name="rescale")(img)
    a = L.Conv2D(4, 3, strides=2, padding="valid", name="conv_valid_s2")(x)
    b = L.Conv2D(4, 3, dilation_rate=2, padding="valid", name="conv_dilated")(x)
    b = L.ZeroPadding2D(((1, 2), (3, 4)), name="zpad")(b)
    b = L.Cropping2D(((1, 0), (2, 1)), name="crop")(b)
    c = L.DepthwiseConv2D(3, depth_multiplier=2, strides=2, padding="same", name="dw_s2_dm2")(x)
    c = L.SeparableConv2D(4, 3, padding="same", name="sep")(c)
    c = L.BatchNormalization(center=False, name="bn_nocenter")(c)
    d = L.MaxPooling2D(3, strides=2, padding="same", name="maxpool_same")(x)
    d = L.Conv2D(4, 1, name="pw")(d)
    ab = L.Add(name="add")([a, L.Resizing(9, 9, name="resize")(c)])
    ab = L.Multiply(name="mul")([ab, L.AveragePooling2D(1, name="avg1")(ab)])
    t = L.Conv2DTranspose(3, 3, strides=2, padding="same", name="deconv_same")(ab)
    t2 = L.Conv2DTranspose(3, 3, strides=2, padding="valid", output_padding=1, name="deconv_outpad")(ab)
    u = L.UpSampling2D((2, 3), name="up")(ab)
    cat = L.Concatenate(name="cat")([L.GlobalAveragePooling2D(name="gap")(t), L.GlobalMaxPooling2D(name="gmp")(t2),
                                     L.Flatten(name="flat")(L.AveragePooling2D(9, name="avg9")(u)),
                                     L.GlobalAveragePooling2D(name="gap_b")(b)])
    cat = L.Dense(12, name="dense12")(cat)
    cat = L.LayerNormalization(name="ln")(cat)
    cat = L.LeakyReLU(name="lrelu")(cat)
    r = L.Reshape((-1, 4), name="reshape")(cat)
    r = L.Permute((2, 1), name="permute")(r)
    r = L.Dense(5, activation="tanh", name="dense_3d")(r)
    r = L.Flatten(name="flat2")(r)
    r = L.RepeatVector(2, name="repeat")(r)
    r = L.TimeDistributed(L.Dense(3), name="td")(r)
    r = L.Flatten(name="flat3")(r)
    keep = L.GlobalMaxPooling2D(keepdims=True, name="gmp_keep")(d)
    keep = L.Flatten(name="flat_keep")(keep)
    cf = L.Conv2D(2, 3, data_format="channels_first", name="conv_cf")(L.Permute((3, 1, 2), name="to_cf")(x))
    cf = L.MaxPooling2D(2, data_format="channels_first", name="pool_cf")(cf)
    cf = L.GlobalAveragePooling2D(data_format="channels_first", name="gap_cf")(cf)

    seq = keras.Input((10, 3), name="seq")
    s = L.Conv1D(4, 3, strides=2, padding="causal", name="conv1d_causal")(seq)
    s = L.MaxPooling1D(2, name="pool1d")(s)
    s = L.UpSampling1D(3, name="up1d")(s)
    s = L.Cropping1D((1, 2), name="crop1d")(s)
    s = L.ZeroPadding1D(2, name="pad1d")(s)
    s = L.Bidirectional(L.LSTM(3, return_sequences=True), name="bilstm")(s)
    s = L.GRU(5, name="gru")(s)

    tok = keras.Input((7,), dtype="int32", name="tok")
    e = L.Embedding(50, 8, name="emb")(tok)
    e = L.LSTM(6, return_sequences=True, name="lstm")(e)
    e = L.SimpleRNN(4, name="rnn")(e)

    shared = L.Dense(6, name="shared")
    sub_in = keras.Input((6,), name="sub_in")
    sub = keras.Model(sub_in, L.Dense(4, name="sub_dense")(L.BatchNormalization(name="sub_bn")(sub_in)),
                      name="subnet")
    sq = keras.Sequential([keras.Input((4,)), L.Dense(3, name="sq_dense"), L.ReLU(name="sq_relu")], name="seqnet")
    h1 = sq(sub(shared(keep)))
    h2 = sub(shared(L.Dense(4, name="to4")(e)))
    merged = L.Concatenate(name="merged")([r, cf, s, h1, h2, L.Softmax(name="sm")(L.Dense(3, name="d3")(cat))])
    merged = L.Dropout(0.1, name="drop")(merged)
    merged = L.Activation("relu", name="act")(merged)
    out = L.Dense(2, name="out")(merged)
    return keras.Model([img, seq, tok], [out, cat], name="zoo")


@pytest.fixture(scope="module")
def zoo(tmp_path_factory, tf):
    keras = _keras()
    keras.backend.clear_session()
    m = _zoo(keras)
    d = tmp_path_factory.mktemp("zoo")
    m.save(d / "zoo.keras")
    m.save(d / "zoo.h5")
    return m, d


def _flat_layers(keras, model, prefix=""):
    """(graphreport node name, layer) for every non-model layer, nested models flattened."""
    out = []
    for layer in model.layers:
        if isinstance(layer, (keras.Model,)):
            out += _flat_layers(keras, layer, prefix + layer.name + "/")
        elif type(layer).__name__ != "InputLayer" or not prefix:
            out.append((prefix + layer.name, layer))
    return out


def _shape(s):
    return None if s is None else [None if d is None else int(d) for d in s]


def _check_against_keras(model, km, shapes=True):
    keras = _keras()
    g = model.main
    lp = model.details["layer_params"]
    assert summarize(model).params == km.count_params()
    assert model.details["params"]["total"] == km.count_params()
    assert model.details["params"]["trainable"] == sum(int(np.prod(w.shape)) for w in km.trainable_weights)
    assert model.details["params"]["non_trainable"] == sum(int(np.prod(w.shape)) for w in km.non_trainable_weights)
    for name, layer in _flat_layers(keras, km):
        node = g.node(name)
        assert node is not None, name
        assert node.op == type(layer).__name__, name
        got = lp.get(name, {"trainable": 0, "non_trainable": 0})
        assert got["trainable"] + got["non_trainable"] == layer.count_params(), name
        assert got["trainable"] == sum(int(np.prod(w.shape)) for w in layer.trainable_weights), name
        if shapes and not isinstance(layer.output, (list, tuple)) and not isinstance(layer, keras.Model):
            assert g.tensors[f"{name}:0"].shape == _shape(layer.output.shape), name
    assert [g.tensors[t].shape for t in g.outputs] == [_shape(t.shape) for t in km.outputs]
    assert [g.tensors[t].shape for t in g.inputs] == [_shape(t.shape) for t in km.inputs]


@pytest.mark.parametrize("ext", ["keras", "h5"])
def test_zoo_params_and_shapes(zoo, ext):
    km, d = zoo
    model = kreader.read(str(d / f"zoo.{ext}"))
    assert model.format == "keras"
    assert not model.warnings, model.warnings
    _check_against_keras(model, km)
    assert "shape_rule_disagreements" not in model.details, model.details.get("shape_rule_disagreements")


@pytest.mark.parametrize("ext", ["keras", "h5"])
def test_zoo_shape_rules_alone(zoo, ext, monkeypatch):
    """Without the shapes Keras 3 records in the config, the rules alone give Keras' shapes."""
    km, d = zoo
    monkeypatch.setattr(kreader, "USE_RECORDED_SHAPES", False)
    model = kreader.read(str(d / f"zoo.{ext}"))
    _check_against_keras(model, km)


@pytest.mark.parametrize("ext", ["keras", "h5"])
def test_zoo_cost_is_known(zoo, ext):
    """Every layer of the zoo has a cost rule (ops/keras_layers.py, keras_rnn.py): no figure is unknown."""
    km, d = zoo
    r = report_json(d / f"zoo.{ext}", "--input-shape", "img=1,20,20,3", "--input-shape", "seq=1,10,3",
                    "--input-shape", "tok=1,7")
    t = r["totals"]
    assert t["unknown"] == {} and t["macs"] > 0 and t["flops"] > 2 * t["macs"], t["unknown"]
    assert not r["cost"]["unknown"], r["cost"]["unknown"][:3]


def test_zoo_report_declares_inputs_and_outputs(zoo):
    km, d = zoo
    r = report_json(d / "zoo.keras")
    assert [i["name"] for i in r["inputs"]] == ["img", "seq", "tok"]
    assert [i["shape"] for i in r["inputs"]] == [[None, 20, 20, 3], [None, 10, 3], [None, 7]]
    assert r["inputs"][2]["dtype"] == "int32"
    assert [o["name"] for o in r["outputs"]] == ["out", "lrelu"]
    assert r["totals"]["params"] == km.count_params()
    node = next(n for n in r["nodes"] if n["name"] == "subnet#1/sub_dense")  # second call of a nested model
    assert node["inputs"][0] == "subnet#1/sub_bn"


def test_shared_layer_weights_are_counted_once(zoo):
    km, d = zoo
    model = kreader.read(str(d / "zoo.keras"))
    g = model.main
    assert g.node("shared") is not None and g.node("shared#1") is not None
    assert "shared/kernel" in g.node("shared").inputs and "shared/kernel" in g.node("shared#1").inputs
    bn = g.node("bn_nocenter")
    assert [i for i in bn.inputs if "/" in i] == ["bn_nocenter/gamma", "bn_nocenter/moving_mean",
                                                   "bn_nocenter/moving_variance"]
    assert model.details["layer_params"]["bn_nocenter"] == {"trainable": 4, "non_trainable": 8}


# ----------------------------------------------------------------------------------------------------------
# keras.applications MobileNetV2, plain and nested in a Sequential (cached under .cache/)
# ----------------------------------------------------------------------------------------------------------

def _cached_models() -> dict:
    facts_path = CACHE / "facts.json"
    names = ["mobilenetv2.keras", "mobilenetv2.h5", "nested_mnv2.keras", "nested_mnv2.h5"]
    if facts_path.exists() and all((CACHE / n).exists() for n in names):
        return json.loads(facts_path.read_text())
    keras = _keras()
    CACHE.mkdir(parents=True, exist_ok=True)
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    m = keras.applications.MobileNetV2(weights=None)
    base = keras.applications.MobileNetV2(weights=None, include_top=False, alpha=0.35, input_shape=(96, 96, 3))
    nested = keras.Sequential([keras.Input((96, 96, 3)), base, keras.layers.GlobalAveragePooling2D(),
                               keras.layers.Dense(5)], name="nested_mnv2")
    facts = {}
    for stem, km in (("mobilenetv2", m), ("nested_mnv2", nested)):
        for ext in ("keras", "h5"):
            tmp = CACHE / f".{stem}.tmp.{ext}"
            km.save(tmp)
            os.replace(tmp, CACHE / f"{stem}.{ext}")
        flat = {}
        for name, layer in _flat_layers(keras, km):
            flat[name] = {"class": type(layer).__name__, "params": int(layer.count_params()),
                          "trainable": int(sum(np.prod(w.shape) for w in layer.trainable_weights)),
                          "shape": _shape(layer.output.shape)}
        facts[stem] = {"count_params": int(km.count_params()),
                       "trainable": int(sum(np.prod(w.shape) for w in km.trainable_weights)),
                       "inputs": [_shape(t.shape) for t in km.inputs],
                       "outputs": [_shape(t.shape) for t in km.outputs], "layers": flat}
    facts_path.write_text(json.dumps(facts))
    return facts


@pytest.fixture(scope="module")
def applications(tf_reference):
    return _cached_models()


@pytest.mark.parametrize("stem", ["mobilenetv2", "nested_mnv2"])
@pytest.mark.parametrize("ext", ["keras", "h5"])
def test_applications(applications, stem, ext):
    f = applications[stem]
    model = kreader.read(str(CACHE / f"{stem}.{ext}"))
    g = model.main
    assert not model.warnings, model.warnings
    assert summarize(model).params == f["count_params"]
    assert model.details["params"]["trainable"] == f["trainable"]
    assert [g.tensors[t].shape for t in g.inputs] == f["inputs"]
    assert [g.tensors[t].shape for t in g.outputs] == f["outputs"]
    lp = model.details["layer_params"]
    for name, lf in f["layers"].items():
        node = g.node(name)
        assert node is not None and node.op == lf["class"], name
        got = lp.get(name, {"trainable": 0, "non_trainable": 0})
        assert (got["trainable"] + got["non_trainable"], got["trainable"]) == (lf["params"], lf["trainable"]), name
        assert g.tensors[f"{name}:0"].shape == lf["shape"], name


def test_mobilenetv2_report_cli(applications):
    f = applications["mobilenetv2"]
    r = report_json(CACHE / "mobilenetv2.h5")
    assert r["format"] == "keras"
    assert r["totals"]["params"] == f["count_params"]
    assert r["inputs"][0]["shape"] == f["inputs"][0] and r["outputs"][0]["shape"] == f["outputs"][0]


# ----------------------------------------------------------------------------------------------------------
# Bundled samples (manifest written by make_keras_tfjs_samples.py from Keras)
# ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("entry", KERAS_SAMPLES, ids=[e["file"] for e in KERAS_SAMPLES])
def test_sample_matches_manifest(entry):
    r = report_json(SAMPLES / entry["file"])
    assert r["format"] == "keras"
    assert r["inputs"] == entry["inputs"]
    assert r["outputs"] == entry["outputs"]
    assert r["totals"]["params"] == entry["params"]
    assert r["totals"]["nodes"] == entry["node_count"]
    assert r["op_counts"] == entry["op_counts"]
    model = load(str(SAMPLES / entry["file"]))
    assert model.details["params"]["trainable"] == entry["trainable_params"]
    assert model.details["params"]["non_trainable"] == entry["non_trainable_params"]
    lp = model.details["layer_params"]
    for name, n in entry["layer_params"].items():
        got = lp.get(name, {"trainable": 0, "non_trainable": 0})
        assert got["trainable"] + got["non_trainable"] == n, name
    for name, shape in entry["layer_output_shapes"].items():
        assert model.main.tensors[f"{name}:0"].shape == shape, name
    if "warning" in entry:
        assert entry["warning"] in r["warnings"]
    else:
        assert r["warnings"] == [] or all("cost" in w or "shape" in w for w in r["warnings"]), r["warnings"]


def test_keras2_sample_is_read_as_keras2():
    model = load(str(SAMPLES / "keras2_tiny.h5"))
    assert model.details["writer"] == "Keras 2" and model.details["keras_version"] == "2.15.0"
    g = model.main
    assert g.node("conv2d").inputs == ["input_1:0", "conv2d/kernel", "conv2d/bias"]
    assert g.node("depthwise_conv2d").inputs[1] == "depthwise_conv2d/depthwise_kernel"
    assert g.node("add").inputs == ["re_lu:0", "depthwise_conv2d:0"]
    assert model.details["layer_params"]["batch_normalization"] == {"trainable": 16, "non_trainable": 16}


def test_sample_lambda_never_runs():
    pwned = "/tmp/graphreport-pwned"
    before = os.stat(pwned).st_mtime_ns if os.path.exists(pwned) else None
    for f in ("keras_lambda.keras", "keras_lambda.h5"):
        r = report_json(SAMPLES / f)
        assert "Lambda layer 'evil' holds Python code; graphreport never runs it" in r["warnings"]
        node = next(n for n in r["nodes"] if n["name"] == "evil")
        assert node["op"] == "Lambda" and "never run" in node["attrs"]["function"]
        assert "4wIA" not in json.dumps(r)  # the marshalled code is not copied into the report
    after = os.stat(pwned).st_mtime_ns if os.path.exists(pwned) else None
    assert before == after


# ----------------------------------------------------------------------------------------------------------
# Lambda layers: built here with a unique marker path per test
# ----------------------------------------------------------------------------------------------------------

def _lambda_model(keras, marker: str):
    keras.backend.clear_session()
    inp = keras.Input((3,), name="x")
    lam = keras.layers.Lambda(lambda t, p=marker: (open(p, "w").write("pwned"), t)[1], output_shape=(3,),
                              name="evil_lambda")
    act = keras.layers.Activation(lambda t, p=marker: (open(p, "w").write("pwned"), t)[1], name="evil_act")
    return keras.Model(inp, keras.layers.Dense(2, name="d")(act(lam(inp))))


@pytest.mark.requires_tf
@pytest.mark.parametrize("ext", ["keras", "h5"])
def test_lambda_code_never_runs(tmp_path, ext):
    keras = _keras()
    marker = str(tmp_path / f"pwned-{uuid.uuid4().hex}")
    m = _lambda_model(keras, marker)
    path = tmp_path / f"lam.{ext}"
    m.save(path)
    if os.path.exists(marker):  # building may run an activation once; only the report matters
        os.unlink(marker)
    p = run_cli("report", path, "--format", "json", "-o", "-")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert not os.path.exists(marker)
    assert "Lambda layer 'evil_lambda' holds Python code; graphreport never runs it" in r["warnings"]
    assert any("evil_act" in w and "lambda" in w for w in r["warnings"])
    assert r["totals"]["params"] == m.count_params()
    assert r["outputs"][0]["shape"] == [None, 2]
    p = run_cli("report", path, "-o", tmp_path / "r.html")
    assert p.returncode == 0, p.stderr
    assert not os.path.exists(marker)


def _k2_h5(path: Path, config: dict, weights: dict, h5py):
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.15.0"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(config).encode()
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = [k.encode() for k in weights]
        for lname, ws in weights.items():
            g = mw.create_group(lname)
            g.attrs["weight_names"] = [w.encode() for w, _ in ws]
            for w, v in ws:
                g.create_dataset(w, data=v)


def test_keras2_lambda_and_custom_layer(tmp_path):
    import h5py

    marker = str(tmp_path / f"pwned-{uuid.uuid4().hex}")
    code = compile(f"lambda x: (open({marker!r}, 'w').write('pwned'), x)[1]", "<lambda>", "eval")
    blob = base64.b64encode(marshal.dumps(code.co_consts[0] if code.co_consts else code)).decode()
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4], "dtype": "float32",
                                                "name": "dense_input"}},
        {"class_name": "Dense", "config": {"name": "dense", "units": 3, "activation": "relu", "dtype": "float32"}},
        {"class_name": "Lambda", "config": {"name": "lambda", "function": [blob, None, None],
                                            "function_type": "lambda", "module": "__main__",
                                            "output_shape": None, "arguments": {}}},
        {"class_name": "MyCustomLayer", "config": {"name": "custom", "units": 2}},
    ]}, "keras_version": "2.15.0", "backend": "tensorflow"}
    path = tmp_path / "k2lambda.h5"
    _k2_h5(path, config, {"dense": [("dense/kernel:0", np.zeros((4, 3), np.float32)),
                                    ("dense/bias:0", np.zeros(3, np.float32))],
                          "lambda": [], "custom": [("custom/w:0", np.zeros((3, 2), np.float32))]}, h5py)
    r = report_json(path)
    assert not os.path.exists(marker)
    assert "Lambda layer 'lambda' holds Python code; graphreport never runs it" in r["warnings"]
    assert any("custom layer 'custom'" in w and "MyCustomLayer" in w for w in r["warnings"])
    assert r["totals"]["params"] == 12 + 3 + 6  # the custom layer's weights count too
    assert r["inputs"] == [{"name": "dense_input", "dtype": "float32", "shape": [None, 4]}]
    assert [n["op"] for n in r["nodes"]] == ["InputLayer", "Dense", "Lambda", "MyCustomLayer"]
    assert blob[:20] not in json.dumps(r)


def test_h5_links_are_never_followed(tmp_path):
    """An external link in model_weights (to another file) is listed as missing, never opened."""
    import h5py

    config = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "Dense", "config": {"name": "dense", "units": 2, "batch_input_shape": [None, 3]}}]}}
    path = tmp_path / "links.h5"
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(config)
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = [b"dense"]
        g = mw.create_group("dense")
        g.attrs["weight_names"] = [b"dense/kernel:0", b"dense/bias:0"]
        g["dense/kernel:0"] = h5py.ExternalLink("/etc/passwd", "/x")
        g["dense/bias:0"] = h5py.SoftLink("/model_weights/dense")
    r = report_json(path)
    assert any("missing" in w for w in r["warnings"])
    assert r["totals"]["params"] == 0
    assert r["outputs"][0]["shape"] == [None, 2]


# ----------------------------------------------------------------------------------------------------------
# The report path imports neither TensorFlow nor Keras
# ----------------------------------------------------------------------------------------------------------

def test_report_does_not_import_tensorflow_or_keras(tmp_path):
    runs = [("report", SAMPLES / name, "-o", tmp_path / f"{name}.{fmt}", "--format", fmt)
            for name, fmt in (("keras_tiny.keras", "html"), ("keras_tiny.h5", "json"), ("keras2_tiny.h5", "md"),
                              ("keras_lambda.keras", "json"))]
    assert tf_imported_by(*runs) == ""


# ----------------------------------------------------------------------------------------------------------
# Hostile and damaged files: exit 2, one line on stderr, no traceback
# ----------------------------------------------------------------------------------------------------------

def _zip(members: dict, compress=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compress) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def _patch_sizes(data: bytes, name: bytes, size: int) -> bytes:
    """Set the declared uncompressed size of a member in its local header and the central directory."""
    b = bytearray(data)
    i = b.find(b"PK\x03\x04")
    while i >= 0:
        n, = struct.unpack("<H", b[i + 26:i + 28])
        if bytes(b[i + 30:i + 30 + n]) == name:
            b[i + 22:i + 26] = struct.pack("<I", size)
        i = b.find(b"PK\x03\x04", i + 4)
    i = b.find(b"PK\x01\x02")
    while i >= 0:
        n, = struct.unpack("<H", b[i + 28:i + 30])
        if bytes(b[i + 46:i + 46 + n]) == name:
            b[i + 24:i + 28] = struct.pack("<I", size)
        i = b.find(b"PK\x01\x02", i + 4)
    return bytes(b)


GOOD_CONFIG = json.dumps({"class_name": "Sequential", "config": {"name": "s", "layers": [
    {"class_name": "InputLayer", "config": {"batch_shape": [None, 3], "name": "x"}},
    {"class_name": "Dense", "config": {"name": "d", "units": 2}}]}})
META = json.dumps({"keras_version": "3.15.1"})


def _hostile_cases() -> dict:
    keras_h5 = (SAMPLES / "keras_tiny.h5").read_bytes()
    cases = {
        "truncated.h5": keras_h5[: len(keras_h5) // 2],
        "header_only.h5": keras_h5[:96],
        "hdf5_magic_only.h5": b"\x89HDF\r\n\x1a\n" + b"\x00" * 40,
        "huge_declared_member.keras": _patch_sizes(_zip({"config.json": GOOD_CONFIG, "metadata.json": META}),
                                                   b"config.json", 0xFFFFFFF0),
        "stored_member_lies.keras": _patch_sizes(_zip({"config.json": GOOD_CONFIG, "metadata.json": META},
                                                      zipfile.ZIP_STORED), b"config.json", 0x7FFFFFFF),
        "zip_bomb_config.keras": _zip({"config.json": b" " * (70 * 1024 * 1024), "metadata.json": META}),
        "config_not_json.keras": _zip({"config.json": b"{this is not json", "metadata.json": META}),
        "config_not_utf8.keras": _zip({"config.json": b"\xff\xfe\x00garbage", "metadata.json": META}),
        "config_deeply_nested.keras": _zip({"config.json": b"[" * 200_000, "metadata.json": META}),
        "config_not_a_model.keras": _zip({"config.json": b'{"hello": 1}', "metadata.json": META}),
        "no_config.keras": _zip({"metadata.json": META}),
        "weights_garbage.keras": _zip({"config.json": GOOD_CONFIG, "metadata.json": META,
                                       "model.weights.h5": b"\x89HDF\r\n\x1a\n" + os.urandom(200)}),
        "too_many_layers.keras": _zip({"config.json": json.dumps({"class_name": "Sequential", "config": {
            "name": "s", "layers": [{"class_name": "ReLU", "config": {}}] * 100_001}}), "metadata.json": META}),
        "not_a_zip.keras": b"PK\x03\x04" + os.urandom(100),
    }
    return cases


HOSTILE = _hostile_cases()


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_keras_file_exit_2(tmp_path, case):
    path = tmp_path / case
    path.write_bytes(HOSTILE[case])
    p = run_cli("report", path, "--format", "json", "-o", tmp_path / "out.json")
    assert p.returncode == 2, (p.returncode, p.stderr[-2000:])
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("graphreport: error: "), p.stderr[-2000:]
    assert "Traceback" not in p.stderr
    assert not (tmp_path / "out.json").exists()


def test_h5_without_model_config(tmp_path):
    import h5py

    path = tmp_path / "weights_only.h5"
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [b"dense"]
        f.create_group("dense").attrs["weight_names"] = []
    p = run_cli("report", path, "--format", "json", "-o", "-")
    assert p.returncode == 2 and "weights only" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    path2 = tmp_path / "bad_config.h5"
    with h5py.File(path2, "w") as f:
        f.attrs["model_config"] = "{not json"
    p = run_cli("report", path2, "--format", "json", "-o", "-")
    assert p.returncode == 2 and "not valid JSON" in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_unzipped_keras_folder(tmp_path):
    with zipfile.ZipFile(SAMPLES / "keras_tiny.keras") as z:
        z.extractall(tmp_path / "unzipped")
    r = report_json(tmp_path / "unzipped")
    entry = next(e for e in MANIFEST if e["file"] == "keras_tiny.keras")
    assert r["totals"]["params"] == entry["params"] and r["outputs"] == entry["outputs"]


def test_compressed_weights_member(tmp_path):
    """A .keras re-zipped with deflate (weights not stored) is read through a bounded temporary copy."""
    src = zipfile.ZipFile(SAMPLES / "keras_tiny.keras")
    path = tmp_path / "deflated.keras"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            z.writestr(info.filename, src.read(info.filename))
    entry = next(e for e in MANIFEST if e["file"] == "keras_tiny.keras")
    assert report_json(path)["totals"]["params"] == entry["params"]


def test_keras2_nested_model_node_indices(tmp_path):
    """Keras 2 counts a nested model's own input->output node as its node 0: the first outer call is node 1."""
    import h5py

    def dense(name, units, src):
        return {"class_name": "Dense", "config": {"name": name, "units": units, "dtype": "float32"},
                "name": name, "inbound_nodes": [[[src, 0, 0, {}]]]}

    inner = {"name": "model", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4], "name": "input_1"},
         "name": "input_1", "inbound_nodes": []}, dense("dense", 3, "input_1")],
        "input_layers": [["input_1", 0, 0]], "output_layers": [["dense", 0, 0]]}
    config = {"class_name": "Functional", "config": {"name": "model_1", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4], "name": "a"}, "name": "a",
         "inbound_nodes": []},
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4], "name": "b"}, "name": "b",
         "inbound_nodes": []},
        {"class_name": "Functional", "config": inner, "name": "model",
         "inbound_nodes": [[["a", 0, 0, {}]], [["b", 0, 0, {}]]]},
        {"class_name": "Concatenate", "config": {"name": "cat", "axis": -1}, "name": "cat",
         "inbound_nodes": [[["model", 1, 0, {}], ["model", 2, 0, {}]]]},
        dense("dense_1", 2, "cat")],
        "input_layers": [["a", 0, 0], ["b", 0, 0]], "output_layers": [["dense_1", 0, 0]]},
        "keras_version": "2.15.0", "backend": "tensorflow"}
    path = tmp_path / "k2nested.h5"
    _k2_h5(path, config, {"a": [], "b": [],
                          "model": [("dense/kernel:0", np.zeros((4, 3), np.float32)),
                                    ("dense/bias:0", np.zeros(3, np.float32))],
                          "cat": [],
                          "dense_1": [("dense_1/kernel:0", np.zeros((6, 2), np.float32)),
                                      ("dense_1/bias:0", np.zeros(2, np.float32))]}, h5py)
    r = report_json(path)
    assert r["warnings"] == []
    assert [n["name"] for n in r["nodes"]] == ["a", "b", "model/dense", "model#1/dense", "cat", "dense_1"]
    cat = next(n for n in r["nodes"] if n["name"] == "cat")
    # node shapes are those the figures use: batch 1 when the report assumes it for the unknown batch
    batch = 1 if r["totals"].get("batch_assumed") else None
    assert cat["inputs"] == ["model/dense", "model#1/dense"] and cat["outputs"][0]["shape"] == [batch, 6]
    assert r["totals"]["params"] == 4 * 3 + 3 + 6 * 2 + 2
    assert r["totals"]["macs"] == 2 * (4 * 3) + 6 * 2  # two calls of the nested Dense(3), then Dense(2)
    assert r["outputs"] == [{"name": "dense_1", "dtype": "float32", "shape": [None, 2]}]


def test_repeated_warnings_are_capped(tmp_path):
    layers = [{"class_name": "InputLayer", "config": {"batch_shape": [None, 3], "name": "x"}}]
    layers += [{"class_name": "Thing", "module": "my_pkg.layers", "registered_name": "my_pkg>Thing",
                "config": {"name": f"thing_{i}"}} for i in range(50)]
    path = tmp_path / "custom.keras"
    path.write_bytes(_zip({"config.json": json.dumps({"class_name": "Sequential", "config": {"name": "s",
                                                                                           "layers": layers}}),
                           "metadata.json": META}))
    r = report_json(path)
    custom = [w for w in r["warnings"] if w.startswith("custom layer")]
    assert len(custom) == 20 and "my_pkg.layers" in custom[0]
    assert any("30 more warnings" in w for w in r["warnings"])
    assert r["totals"]["nodes"] == 51
