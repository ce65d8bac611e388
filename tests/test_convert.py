"""`graphreport convert`: every source kind and --quantize mode converts, loads and runs in tf.lite.Interpreter,
and matches its source within stated tolerances; failures are explained and leave no output behind.

Tolerances (verification figures, on random inputs from the distribution the calibration used, or on the
representative data):
- none:    max abs error <= 1e-4 of the output's scale (max |reference|), cosine > 0.99999, top-1 agreement 100%
- float16: max abs error <= 1e-2 of the output's scale, cosine > 0.9999
- dynamic: max abs error <= 1e-1 of the output's scale, cosine > 0.99
- int8:    cosine > 0.99 and top-1 agreement >= 80% (observed: 0.9999+ and 100% on these models); for the
           trained Keras classifier, on held-out data, cosine > 0.95 and top-1 agreement >= 90%.
Most conversions run in-process (TensorFlow is imported once); a few run `python -m graphreport` to check exit
codes, a clean stdout, quiet CI logs and progress on a terminal.
"""
from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import warnings

import numpy as np
import pytest

from conftest import SAMPLES, lazy_tf as tf

pytestmark = [pytest.mark.requires_tf,
              pytest.mark.filterwarnings("ignore::UserWarning:tensorflow.lite.python.interpreter"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning:keras.src.backend.tensorflow.core")]

TF1_CKPT = SAMPLES / "tf1_training" / "model.ckpt"
TOLERANCE = {  # mode -> (max abs error relative to the output scale, cosine, top-1 agreement)
    "none": (1e-4, 0.99999, 1.0),
    "float16": (1e-2, 0.9999, 0.9),
    "dynamic": (1e-1, 0.99, 0.8),
    "int8": (None, 0.99, 0.8),
}
MODES = list(TOLERANCE)


def run(capfd, *args):
    """`graphreport convert ...` in this process -> (exit code, stdout, stderr)."""
    from graphreport.cli import main

    code = main(["convert", *map(str, args)])
    out, err = capfd.readouterr()
    return code, out, err


def cli(*args, cwd=None, **kw):
    env = {**os.environ, "PYTHONPATH": str(SAMPLES.parent)}
    return subprocess.run([sys.executable, "-m", "graphreport", "convert", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=300, **kw)


def interpreter_check(path, n_outputs, int8=False):
    """The written file loads and runs in tf.lite.Interpreter with the expected outputs."""
    it = tf.lite.Interpreter(model_path=str(path))
    it.allocate_tensors()
    for d in it.get_input_details():
        it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
    it.invoke()
    outs = it.get_output_details()
    assert len(outs) == n_outputs
    for d in outs:
        assert np.all(np.isfinite(it.get_tensor(d["index"]).astype(np.float64)))
    if int8:
        assert all(d["dtype"] == np.int8 for d in it.get_input_details() if d["dtype"] != np.int32)
        assert all(d["dtype"] == np.int8 for d in outs)
    return it


def check_figures(result, mode):
    rel, cos, top1 = TOLERANCE[mode]
    assert result["verification"], result
    for row in result["verification"]:
        assert row["finite"]
        if rel is not None:
            assert row["relative_max_error"] <= rel, row
        assert row["cosine"] > cos, row
        if row["top1_agreement"] is not None:
            assert row["top1_agreement"] >= top1, row


def no_leftovers(folder):
    return [p for p in os.listdir(folder) if p.startswith(".graphreport-")]


# ------------------------------------------------------------------------------------------------------------
# models made here
# ------------------------------------------------------------------------------------------------------------

def _write_graph(path, build):
    g = tf.Graph()
    with g.as_default():
        build(tf.compat.v1)
    path.write_bytes(g.as_graph_def().SerializeToString())
    return path


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    rng = np.random.RandomState(0)

    def flex(v1):  # Sinh has no TFLite builtin in TF 2.21; the Flex delegate runs it
        x = v1.placeholder(tf.float32, [None, 8], name="input")
        h = tf.raw_ops.Sinh(x=tf.matmul(x, tf.constant(rng.randn(8, 4).astype("float32"))), name="hyperbolic")
        tf.nn.softmax(h, name="probs")

    def dynamic_dims(v1):
        x = v1.placeholder(tf.float32, [None, None, None, 3], name="image")
        k = tf.constant(rng.randn(3, 3, 3, 4).astype("float32") * 0.3)
        h = tf.nn.relu(tf.nn.conv2d(x, k, 1, "SAME"))
        tf.reduce_mean(h, axis=[1, 2], name="features")

    return {"flex": _write_graph(d / "flex.pb", flex), "dynamic": _write_graph(d / "dynamic.pb", dynamic_dims),
            "dir": d}


@pytest.fixture(scope="module")
def trained_keras(tmp_path_factory):
    """A small Keras CNN trained for a few epochs on a separable synthetic task, and held-out data."""
    import keras
    from keras import layers as L

    d = tmp_path_factory.mktemp("keras")
    keras.utils.set_random_seed(1)
    rng = np.random.RandomState(1)

    def data(n):
        y = rng.randint(0, 4, n)
        x = rng.uniform(0, 0.4, (n, 16, 16, 3)).astype("float32")
        for k in range(n):  # class = which quadrant is bright
            r, c = divmod(int(y[k]), 2)
            x[k, r * 8:(r + 1) * 8, c * 8:(c + 1) * 8, :] += 0.6
        return x, y

    x, y = data(256)
    inp = keras.Input((16, 16, 3), name="image")
    h = L.Conv2D(8, 3, padding="same", activation="relu")(inp)
    h = L.BatchNormalization(momentum=0.8)(h)
    h = L.MaxPooling2D()(h)
    h = L.Conv2D(8, 3, padding="same", activation="relu")(h)
    h = L.MaxPooling2D(4)(h)
    h = L.Flatten()(h)
    out = L.Dense(4, activation="softmax", name="probs")(h)
    model = keras.Model(inp, out)
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    path = d / "trained.keras"
    model.save(path)
    xt, yt = data(64)
    np.save(d / "calib.npy", x[:100])
    np.save(d / "heldout.npy", xt)
    acc = float(np.mean(np.argmax(model.predict(xt, verbose=0), -1) == yt))
    return {"path": path, "calib": d / "calib.npy", "heldout": d / "heldout.npy", "accuracy": acc, "dir": d}


# ------------------------------------------------------------------------------------------------------------
# every mode, every source kind
# ------------------------------------------------------------------------------------------------------------

SOURCES = {  # id -> (path, outputs)
    "graphdef": (SAMPLES / "tiny_mobilenet.pb", 1),
    "checkpoint": (TF1_CKPT, 1),
    "keras": (SAMPLES / "keras_tiny.keras", 1),
    "savedmodel": (SAMPLES / "tf1_savedmodel", 2),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("source", list(SOURCES))
def test_converts_in_every_mode(tmp_path, capfd, source, mode):
    path, n_out = SOURCES[source]
    if not os.path.exists(str(path) + (".meta" if source == "checkpoint" else "")):
        pytest.skip(f"sample {path} not generated")
    out, res = tmp_path / "m.tflite", tmp_path / "r.json"
    code, stdout, err = run(capfd, path, "--quantize", mode, "-o", out, "--json", res)
    assert code == 0, err
    result = json.loads(res.read_text())
    assert result["status"] == "ok" and result["mode"] == mode and result["output"] == str(out)
    assert stdout.splitlines()[0] == str(out)
    assert result["sizes"]["output"] == out.stat().st_size and result["sizes"]["source"] > 0
    assert len(result["verification"]) == n_out and result["samples"] == 10
    check_figures(result, mode)
    interpreter_check(out, n_out, int8=mode == "int8")
    if mode == "int8":
        assert result["calibration"] == "random"
        assert "MEANINGLESS" in err  # the loud warning
    else:
        assert "warning" not in err
    assert not no_leftovers(tmp_path)


STAGE_LINE = r"[A-Z][\w .]*\.\.\. done \(\d+\.\d s\)"


def test_tf1_checkpoint_end_to_end_with_only_the_path(tmp_path):
    """The issue's command, as a user runs it: no flags but -o; not a TTY, so one line per stage on stderr and
    nothing else; with --quiet, nothing at all."""
    import re

    p = cli(TF1_CKPT, "--to", "tflite", "-o", "x.tflite", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    stages = p.stderr.splitlines()  # no TensorFlow/absl/converter chatter, no counters, no escape codes
    assert all(re.fullmatch(STAGE_LINE, x) for x in stages), p.stderr
    assert [x.split("...")[0] for x in stages] == ["Loading TensorFlow", "Freezing variables", "Converting",
                                                   "Verifying"]
    q = cli(TF1_CKPT, "--to", "tflite", "-o", "q.tflite", "--quiet", cwd=tmp_path)
    assert q.returncode == 0 and q.stderr == "", q.stderr
    assert q.stdout.replace("q.tflite", "x.tflite") == p.stdout
    lines = p.stdout.splitlines()
    assert lines[0] == "x.tflite"
    assert any("logits" in x and "cosine 1.000000" in x for x in lines), p.stdout
    interpreter_check(tmp_path / "x.tflite", 1)


def test_checkpoint_feeds_training_switches_and_drops_training_nodes(tmp_path, capfd):
    res = tmp_path / "r.json"
    code, _, err = run(capfd, TF1_CKPT, "-o", tmp_path / "x.tflite", "--json", res)
    assert code == 0, err
    r = json.loads(res.read_text())
    assert r["inputs"] == [{"name": "input", "dtype": "float32", "shape": [1, 28, 28, 1]}]
    assert [o["name"] for o in r["outputs"]] == ["logits"]
    assert {s["name"]: s["value"] for s in r["switches"]} == {"keep_prob": 1.0, "is_training": False}
    # the training-mode batch norm, the dropout's random op and the control flow are gone
    assert set(r["tflite_ops"]) <= {"CONV_2D", "MAX_POOL_2D", "FULLY_CONNECTED", "RESHAPE"}, r["tflite_ops"]


def test_frozen_pb_from_checkpoint(tmp_path, capfd):
    from graphreport.readers.detect import load

    frozen = tmp_path / "frozen.pb"
    code, stdout, err = run(capfd, TF1_CKPT, "--to", "frozen-pb", "-o", frozen)
    assert code == 0, err
    assert stdout.splitlines()[0] == str(frozen)
    g = load(str(frozen)).main
    ops = {n.op for n in g.nodes}
    assert not ops & {"VariableV2", "Assign", "RestoreV2", "SaveV2", "Switch", "Merge", "RandomUniform"}, ops
    assert [n.name for n in g.nodes if n.op == "Placeholder"] == ["input"]
    assert g.node("logits") is not None
    # the frozen graph computes what the checkpoint computes
    res = tmp_path / "r.json"
    code, _, err = run(capfd, frozen, "-o", tmp_path / "f.tflite", "--json", res)
    assert code == 0, err
    check_figures(json.loads(res.read_text()), "none")


def test_frozen_graph_with_switch_placeholders(tmp_path, capfd):
    """tf1_frozen.pb still holds keep_prob and is_training: they are fed, not asked for."""
    res = tmp_path / "r.json"
    code, _, err = run(capfd, SAMPLES / "tf1_frozen.pb", "-o", tmp_path / "x.tflite", "--json", res)
    assert code == 0, err
    r = json.loads(res.read_text())
    assert sorted(s["name"] for s in r["switches"]) == ["is_training", "keep_prob"]
    check_figures(r, "none")


# ------------------------------------------------------------------------------------------------------------
# Keras
# ------------------------------------------------------------------------------------------------------------

def test_trained_keras_to_full_int8_with_representative_data(tmp_path, capfd, trained_keras):
    assert trained_keras["accuracy"] > 0.8  # the float model learned the task
    out, res = tmp_path / "k.tflite", tmp_path / "r.json"
    code, _, err = run(capfd, trained_keras["path"], "--quantize", "int8", "--representative",
                       trained_keras["calib"], "-o", out, "--json", res)
    assert code == 0, err
    assert "MEANINGLESS" not in err
    r = json.loads(res.read_text())
    assert r["calibration"] == "representative" and r["calibration_samples"] == 100
    assert r["tflite_io_dtypes"] == {"inputs": ["int8"], "outputs": ["int8"]}
    interpreter_check(out, 1, int8=True)
    # full integer: every operator works on int8 tensors
    from graphreport.readers.detect import load

    m = load(str(out))
    assert m.main.nodes and all(
        any(m.main.tensors[t].dtype == "int8" for t in n.outputs) for n in m.main.nodes), \
        [(n.op, [m.main.tensors[t].dtype for t in n.outputs]) for n in m.main.nodes]
    # on held-out data: float conversion exact, int8 close
    res2 = tmp_path / "r2.json"
    code, _, err = run(capfd, trained_keras["path"], "--representative", trained_keras["heldout"], "--samples", "64",
                       "-o", tmp_path / "f.tflite", "--json", res2)
    assert code == 0, err
    check_figures(json.loads(res2.read_text()), "none")
    rows = _verify_file(out, trained_keras)
    assert rows["cosine"] > 0.95 and rows["top1_agreement"] >= 0.9, rows


def _verify_file(tflite_path, trained):
    """Held-out comparison of a converted file against the Keras model, done here independently."""
    import keras

    from graphreport.convert.verify import TFLiteRunner, compare
    from graphreport.convert.source import IOSpec

    model = keras.saving.load_model(trained["path"], compile=False)
    x = np.load(trained["heldout"])
    runner = TFLiteRunner(tf, tflite_path.read_bytes(), [IOSpec("image", "image", "float32", [1, 16, 16, 3])],
                          [IOSpec("probs", "probs", "float32", [1, 4])])
    got = [runner.run([x[k:k + 1]])[0] for k in range(len(x))]
    ref = [model(x[k:k + 1], training=False).numpy() for k in range(len(x))]
    return compare("probs", ref, got)


@pytest.mark.parametrize("name", ["keras_tiny.h5", "keras2_tiny.h5", "keras_savedmodel"])
def test_more_samples(tmp_path, capfd, name):
    """Keras 3 HDF5, a Keras 2 (tf.keras) HDF5 file, a SavedModel exported from Keras."""
    path = SAMPLES / name
    if not path.exists():
        pytest.skip("sample not generated")
    res = tmp_path / "r.json"
    code, _, err = run(capfd, path, "-o", tmp_path / "h.tflite", "--json", res)
    assert code == 0, err
    check_figures(json.loads(res.read_text()), "none")
    interpreter_check(tmp_path / "h.tflite", 1)


@pytest.mark.parametrize("kind", ["sample.keras", "sample.h5", "lambda_activation.keras", "lambda_layer.h5"])
def test_keras_python_code_is_refused_and_never_run(tmp_path, capfd, kind):
    import keras

    marker = tmp_path / "pwned"
    if kind.startswith("sample"):
        path = SAMPLES / ("keras_lambda" + os.path.splitext(kind)[1])
        if not path.exists():
            pytest.skip("sample not generated")
        marker = "/tmp/graphreport-pwned"  # what the sample's code would create (see its README)
    else:
        inp = keras.Input((4,), name="x")
        evil = lambda t, p=str(marker): (open(p, "w").write("pwned"), t)[1]  # noqa: E731
        layer = (keras.layers.Activation(evil) if kind.startswith("lambda_activation")
                 else keras.layers.Lambda(evil))
        path = tmp_path / kind
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Keras warns that the lambda will need safe_mode=False
            keras.Model(inp, layer(inp)).save(path)
        if marker.exists():
            marker.unlink()  # building the model ran it once, here in the test
    out = tmp_path / "l.tflite"
    code, stdout, err = run(capfd, path, "-o", out)
    assert code == 3, err
    assert "safe_mode" in err and "never" in err
    assert not out.exists() and stdout == ""
    assert not os.path.exists(marker)


# ------------------------------------------------------------------------------------------------------------
# Flex ops, shapes, bad input
# ------------------------------------------------------------------------------------------------------------

def test_flex_op_refused_then_converted_with_select_tf_ops(tmp_path, capfd, made):
    out, res = tmp_path / "f.tflite", tmp_path / "r.json"
    code, stdout, err = run(capfd, made["flex"], "-o", out, "--json", res)
    assert code == 3
    assert "Sinh" in err and "hyperbolic" in err and "--select-tf-ops" in err
    assert not out.exists() and not no_leftovers(tmp_path) and stdout == ""
    r = json.loads(res.read_text())
    assert r["status"] == "failed"
    assert r["problems"][0]["op"] == "Sinh" and r["problems"][0]["nodes"] == ["hyperbolic"]
    assert r["problems"][0]["code"] == "ERROR_NEEDS_FLEX_OPS"

    code, stdout, err = run(capfd, made["flex"], "-o", out, "--json", res, "--select-tf-ops")
    assert code == 0, err
    r = json.loads(res.read_text())
    assert r["flex_ops"] == ["FlexSinh"] and out.exists()
    # this tf.lite.Interpreter has no Flex delegate: verification is skipped, and says so
    assert r["verification"] is None and "Flex" in r["verification_skipped"]
    assert "verification skipped" in err


def test_unknown_dimensions_need_input_shape(tmp_path, capfd, made):
    out = tmp_path / "d.tflite"
    code, _, err = run(capfd, made["dynamic"], "-o", out)
    assert code == 2 and "--input-shape image=" in err and not out.exists()
    res = tmp_path / "r.json"
    code, _, err = run(capfd, made["dynamic"], "-o", out, "--input-shape", "image=1,12,10,3", "--json", res)
    assert code == 0, err
    r = json.loads(res.read_text())
    assert r["inputs"][0]["shape"] == [1, 12, 10, 3]
    check_figures(r, "none")
    it = interpreter_check(out, 1)
    assert list(it.get_input_details()[0]["shape"]) == [1, 12, 10, 3]


def test_explicit_inputs_and_outputs(tmp_path, capfd):
    res = tmp_path / "r.json"
    code, _, err = run(capfd, TF1_CKPT, "--inputs", "input", "--outputs", "fc1/Relu,logits",
                       "--input-shape", "input=2,28,28,1", "-o", tmp_path / "x.tflite", "--json", res)
    assert code == 0, err
    r = json.loads(res.read_text())
    assert [o["name"] for o in r["outputs"]] == ["fc1/Relu", "logits"]
    assert len(r["verification"]) == 2
    interpreter_check(tmp_path / "x.tflite", 2)


@pytest.mark.parametrize("args,words", [
    (["{samples}/tf1_training.pb"], ["variable", "checkpoint"]),
    (["{samples}/tiny_mobilenet.pb", "--outputs", "nope"], ["nope"]),
    (["{samples}/tiny_mobilenet.pb", "--input-shape", "input=1,2,3"], ["rank"]),
    (["{samples}/tiny_mobilenet.pb", "--input-shape", "bogus=1,2"], ["bogus", "not an input"]),
    (["{samples}/tiny_mobilenet_float.tflite"], ["already a TFLite model"]),
    (["{samples}/does_not_exist.pb"], ["no such file"]),
    (["{samples}/tiny_mobilenet.pb", "--to", "frozen-pb", "--quantize", "int8"], ["--quantize"]),
    (["{samples}/tiny_mobilenet.pb", "--representative", "{samples}/manifest.json"], ["--representative"]),
])
def test_bad_input_exit_2(tmp_path, capfd, args, words):
    args = [a.format(samples=SAMPLES) for a in args]
    code, stdout, err = run(capfd, *args, "-o", tmp_path / "x.tflite")
    assert code == 2, err
    for w in words:
        assert w in err, err
    assert stdout == "" and not (tmp_path / "x.tflite").exists()


STAND_IN_TFJS = """#!{python}
import json, os, sys
args = [a for a in sys.argv[1:] if not a.startswith("--")]
flags = [a for a in sys.argv[1:] if a.startswith("--")]
if os.environ.get("STAND_IN_REFUSE"):
    sys.exit("Traceback ...\\nValueError: Unsupported Ops in the model before optimization\\nIgamma, Lgamma")
os.makedirs(args[1])
open(os.path.join(args[1], "model.json"), "w").write(json.dumps({{"flags": flags, "input": os.path.basename(args[0])}}))
open(os.path.join(args[1], "group1-shard1of1.bin"), "wb").write(b"0" * 8)
"""


def _stand_in(tmp_path):
    exe = tmp_path / "bin" / "tensorflowjs_converter"
    exe.parent.mkdir()
    exe.write_text(STAND_IN_TFJS.format(python=sys.executable))
    exe.chmod(0o755)
    return exe


def test_tfjs_hand_off_to_the_converter(tmp_path, capfd):
    """The command line graphreport gives tensorflowjs_converter (frozen graph, output names, weight quantization,
    shard size) and the atomic folder swap, with a stand-in executable; tests/test_tfjs_convert.py runs the real
    converter and the TF.js runtime when `make setup-tfjs` was done."""
    exe = _stand_in(tmp_path)
    out = tmp_path / "web"
    out.mkdir()
    (out / "stale.bin").write_bytes(b"old")
    code, stdout, err = run(capfd, TF1_CKPT, "--to", "tfjs", "--quantize", "uint16", "--shard-size", "1MB",
                            "--tfjs-converter", exe, "--no-verify", "-o", out)
    assert code == 0, err
    assert sorted(os.listdir(out)) == ["group1-shard1of1.bin", "model.json"]  # replaced as a whole
    meta = json.loads((out / "model.json").read_text())
    assert "--output_node_names=logits" in meta["flags"] and "--quantize_uint16" in meta["flags"]
    assert "--input_format=tf_frozen_model" in meta["flags"]
    assert f"--weight_shard_size_bytes={1024 * 1024}" in meta["flags"]
    assert not no_leftovers(tmp_path)


def test_tfjs_refused_op_is_named(tmp_path, capfd, monkeypatch):
    exe = _stand_in(tmp_path)
    monkeypatch.setenv("STAND_IN_REFUSE", "1")
    res = tmp_path / "r.json"
    code, stdout, err = run(capfd, SAMPLES / "tiny_mobilenet.pb", "--to", "tfjs", "--tfjs-converter", exe,
                            "-o", tmp_path / "web", "--json", res)
    assert code == 3 and stdout == ""
    assert "refused 2 op(s): Igamma, Lgamma" in err and "op Igamma: TensorFlow.js has no kernel" in err
    assert [p["op"] for p in json.loads(res.read_text())["problems"]] == ["Igamma", "Lgamma"]
    assert not (tmp_path / "web").exists()


@pytest.mark.parametrize("how", ["option", "nothing"])
def test_tfjs_without_the_converter(tmp_path, capfd, monkeypatch, how):
    """No converter set up: one line naming `make setup-tfjs`, exit 2, nothing written, TensorFlow not loaded."""
    from graphreport.convert import tfjs

    monkeypatch.delenv(tfjs.ENV_CONVERTER, raising=False)
    if how == "option":
        args = ["--tfjs-converter", tmp_path / "nowhere"]
    else:
        monkeypatch.setattr(tfjs, "REPO_ROOT", str(tmp_path))
        monkeypatch.setenv("PATH", str(tmp_path))
        args = []
    code, stdout, err = run(capfd, SAMPLES / "tiny_mobilenet.pb", "--to", "tfjs", *args, "-o", tmp_path / "web")
    assert code == 2 and stdout == "" and "make setup-tfjs" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "web").exists()


def test_tfjs_outputs_take_the_source_names():
    """Frozen Keras/SavedModel outputs are Identity nodes; they are renamed after the model's outputs, and a node
    already holding such a name moves out of the way with every reference to it."""
    from graphreport.convert.tfjs import name_outputs

    gd = tf.compat.v1.GraphDef()
    for name, op, inputs in (("x", "Placeholder", []), ("probs", "Softmax", ["x"]), ("Identity", "Identity", ["probs"]),
                             ("Identity_1", "Identity", ["probs:0", "^probs"])):
        gd.node.add(name=name, op=op, input=inputs)
    new, outs = name_outputs(gd, ["Identity", "Identity_1"], ["probs", "box"])
    assert outs == ["probs", "box"]
    assert [(n.name, list(n.input)) for n in new.node] == [
        ("x", []), ("probs_0", ["x"]), ("probs", ["probs_0"]), ("box", ["probs_0:0", "^probs_0"])]
    assert [n.name for n in gd.node] == ["x", "probs", "Identity", "Identity_1"]  # the input is left as it was


def test_tfjs_quantize_modes_are_checked(tmp_path, capfd):
    code, _, err = run(capfd, SAMPLES / "tiny_mobilenet.pb", "--to", "tfjs", "--quantize", "int8", "-o",
                       tmp_path / "web")
    assert code == 2 and "uint8" in err
    code, _, err = run(capfd, SAMPLES / "tiny_mobilenet.pb", "--quantize", "uint8", "-o", tmp_path / "m.tflite")
    assert code == 2 and "TF.js weight quantization" in err


# ------------------------------------------------------------------------------------------------------------
# representative data
# ------------------------------------------------------------------------------------------------------------

def test_representative_npy_and_npz(tmp_path, capfd):
    rng = np.random.RandomState(3)
    npy = tmp_path / "rep.npy"
    np.save(npy, rng.uniform(0, 1, (20, 32, 32, 3)).astype("float32"))  # N x (shape without batch)
    res = tmp_path / "r.json"
    code, _, err = run(capfd, SAMPLES / "tiny_mobilenet.pb", "--quantize", "int8", "--representative", npy,
                       "--samples", "5", "-o", tmp_path / "a.tflite", "--json", res)
    assert code == 0, err
    r = json.loads(res.read_text())
    assert r["calibration"] == "representative" and r["calibration_samples"] == 20 and r["samples"] == 5
    assert r["verified_on"] == "5 representative samples"
    check_figures(r, "int8")

    npz = tmp_path / "rep.npz"
    np.savez(npz, x=rng.uniform(0, 1, (12, 1, 8)).astype("float32"))  # N x (full shape), keyed by input name
    code, _, err = run(capfd, SAMPLES / "tf1_savedmodel", "--quantize", "int8", "--representative", npz,
                       "-o", tmp_path / "b.tflite", "--json", res)
    assert code == 0, err
    assert json.loads(res.read_text())["calibration_samples"] == 12

    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((4, 7, 7), "float32"))
    code, _, err = run(capfd, SAMPLES / "tiny_mobilenet.pb", "--quantize", "int8", "--representative", bad,
                       "-o", tmp_path / "c.tflite")
    assert code == 2 and "does not fit input" in err and not (tmp_path / "c.tflite").exists()


def test_representative_image_folder(tmp_path, capfd, trained_keras):
    folder = tmp_path / "images"
    folder.mkdir()
    x = np.load(trained_keras["heldout"])[:6]
    for k, img in enumerate(x):  # 24x24 PNGs, resized to the model's 16x16
        big = tf.image.resize(img, [24, 24]).numpy()
        png = tf.io.encode_png(np.clip(big * 255, 0, 255).astype(np.uint8)).numpy()
        (folder / f"img{k}.png").write_bytes(png)
    (folder / "notes.txt").write_text("not an image")
    res = tmp_path / "r.json"
    code, _, err = run(capfd, trained_keras["path"], "--quantize", "int8", "--representative", folder,
                       "-o", tmp_path / "i.tflite", "--json", res)
    assert code == 0, err
    r = json.loads(res.read_text())
    assert r["calibration"] == "representative" and r["calibration_samples"] == 6
    assert r["verification"][0]["cosine"] > 0.95


# ------------------------------------------------------------------------------------------------------------
# report, progress, error parsing
# ------------------------------------------------------------------------------------------------------------

def test_report_of_the_converted_model(tmp_path, capfd):
    html, js = tmp_path / "r.html", tmp_path / "r.json"
    code, _, err = run(capfd, SAMPLES / "tiny_mobilenet.pb", "--quantize", "float16", "-o", tmp_path / "m.tflite",
                       "--report", html)
    assert code == 0, err
    text = html.read_text()
    assert 'id="verification"' in text and "tf.lite.Interpreter" in text and "float16" in text
    code, _, err = run(capfd, SAMPLES / "tiny_mobilenet.pb", "-o", tmp_path / "m.tflite", "--report", js)
    assert code == 0, err
    rep = json.loads(js.read_text())
    assert rep["format"] == "tflite"
    assert rep["verification"]["rows"][0]["output"] == "Identity"


def test_no_verify(tmp_path, capfd):
    res = tmp_path / "r.json"
    code, stdout, err = run(capfd, SAMPLES / "tiny_mobilenet.pb", "--no-verify", "-o", tmp_path / "m.tflite",
                            "--json", res)
    assert code == 0, err
    assert json.loads(res.read_text())["verification"] is None and "verification on" not in stdout


def on_a_terminal(args, cwd) -> tuple[int, str, str]:
    """`graphreport ARGS` with stderr on a pseudo-terminal -> (exit code, stdout, what the terminal got)."""
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(SAMPLES.parent)}
    p = subprocess.Popen([sys.executable, "-m", "graphreport", *map(str, args)],
                         stdout=subprocess.PIPE, stderr=slave, cwd=cwd, env=env)
    os.close(slave)
    chunks = []
    while True:
        r, _, _ = select.select([master], [], [], 120)
        if not r:
            break
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    out = p.communicate(timeout=120)[0].decode()
    os.close(master)
    return p.returncode, out, b"".join(chunks).decode("utf-8", "replace")


def test_progress_on_a_terminal(tmp_path):
    """stderr on a pseudo-terminal: progress lines; the result still goes to stdout."""
    code, out, tty = on_a_terminal(["convert", TF1_CKPT, "-o", "x.tflite"], tmp_path)
    assert code == 0, tty
    assert "Freezing variables... done" in tty and "Converting... done" in tty and "Verifying... done" in tty
    assert "Loading TensorFlow... done" in tty
    assert "| 10/10 [" in tty and "100%|" in tty  # the verification counter, tqdm style, updated in place
    assert "I0000" not in tty and "absl" not in tty  # TensorFlow's own logging stays silent
    assert out.splitlines()[0] == "x.tflite"


def test_console_quiet_without_a_terminal(capsys):
    from graphreport.convert.console import Console

    c = Console(progress=False)
    with c.step("Converting"):
        c.count("Calibrating", 1, 2)
    c.info("note")
    assert capsys.readouterr().err == ""
    c = Console(progress=True)
    with c.step("Converting"):
        pass
    assert "Converting... done" in capsys.readouterr().err
    c = Console(progress=True, quiet=True)
    with c.step("Converting"):
        c.count("Calibrating", 1, 2)
    assert capsys.readouterr().err == "" and [s["name"] for s in c.stages] == ["Converting"]


def test_json_records_stage_timings(tmp_path, capfd):
    """--json: every stage, in order, with a duration in seconds (a number >= 0; no bound on it)."""
    res = tmp_path / "r.json"
    code, _, err = run(capfd, SAMPLES / "tiny_mobilenet.pb", "-o", tmp_path / "m.tflite", "--json", res)
    assert code == 0, err
    stages = json.loads(res.read_text())["stages"]
    assert [s["name"] for s in stages] == ["Loading TensorFlow", "Preparing the graph", "Converting", "Verifying"]
    for s in stages:
        assert set(s) == {"name", "seconds"}
        assert isinstance(s["seconds"], (int, float)) and s["seconds"] >= 0


def test_converter_errors_in_plain_words():
    from graphreport.convert.diagnose import explain

    text = ("Could not translate MLIR to FlatBuffer.<unknown>:0: error: loc(fused[\"Sinh:\", \"import/weird\"]): "
            "'tf.Sinh' op is neither a custom op nor a flex op\n"
            "<unknown>:0: error: loc(fused[\"Acos:\", \"import/acos1\"]): 'tf.Acos' op is neither a custom op nor "
            "a flex op\nerror: failed while converting: 'main':\nTF Select ops: Sinh\nCustom ops: Acos\n")
    e = explain(RuntimeError(text))
    assert e.code == 3
    by_op = {p.op: p for p in e.problems}
    assert by_op["Sinh"].nodes == ["weird"] and "--select-tf-ops" in by_op["Sinh"].fix
    assert by_op["Acos"].code == "ERROR_NEEDS_CUSTOM_OPS" and "custom op" in by_op["Acos"].fix
    e = explain(RuntimeError("None is only supported in the 1st dimension. Tensor 'x' has invalid shape"))
    assert "--input-shape" in e.problems[0].fix
    e = explain(RuntimeError("Quantization not yet supported for op: 'tfl.foo'"), mode="int8")
    assert "--quantize dynamic" in e.problems[0].fix


def test_source_detection(tmp_path):
    from graphreport.convert.run import default_output
    from graphreport.convert.source import detect
    from graphreport.errors import BadModelError

    prefix = str(TF1_CKPT)
    for given in (prefix, prefix + ".meta", prefix + ".index", prefix + ".data-00000-of-00001",
                  str(TF1_CKPT.parent)):
        assert detect(given) == ("metagraph", prefix + ".meta", prefix), given
    assert detect(str(SAMPLES / "tiny_mobilenet.pb"))[0] == "graphdef"
    if (SAMPLES / "keras_tiny.keras").exists():
        assert detect(str(SAMPLES / "keras_tiny.keras"))[0] == "keras"
        assert detect(str(SAMPLES / "keras_tiny.h5"))[0] == "keras"
    if (SAMPLES / "tf1_savedmodel").exists():
        assert detect(str(SAMPLES / "tf1_savedmodel")) == ("savedmodel", str(SAMPLES / "tf1_savedmodel"), "")
    (tmp_path / "only.index").write_bytes(b"x")
    with pytest.raises(BadModelError, match="without its graph"):
        detect(str(tmp_path / "only"))
    assert default_output(prefix, "metagraph", "tflite") == "model.tflite"
    assert default_output(str(SAMPLES / "tf1_savedmodel"), "savedmodel", "frozen-pb") == "tf1_savedmodel_frozen.pb"
    assert default_output("a/b/net.keras", "keras", "tfjs") == "net_web_model"
