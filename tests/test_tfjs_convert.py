"""`graphreport convert --to tfjs` with the real tensorflowjs_converter (.venv-tfjs) and the real TF.js runtime
(@tensorflow/tfjs-core's CPU backend in Node, tools/tfjs): both come from `make setup-tfjs`; without it these
tests are skipped.

Each model converts to a TF.js graph model, runs in TF.js on the same random inputs as in TensorFlow, and reads
back with `graphreport report` with the source's inputs and outputs (names, dtypes, shapes; an unknown batch
dimension is converted as 1) and the same number of parameters (the models here have no BatchNorm, which the
converter would fold into the convolutions).
Tolerances (the issue's): float32 weights, max abs error <= 1e-4 of the output's scale (max |reference|);
uint8 weights, cosine similarity > 0.99.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import lazy_tf as tf
from conftest import report_json

from graphreport.convert.tfjs import find_converter  # noqa: E402
from graphreport.convert.tfjs_runtime import find_runtime  # noqa: E402

pytestmark = [pytest.mark.requires_tf, pytest.mark.skipif(
    find_converter() is None or find_runtime() is None,
    reason="the TF.js converter and runtime are not set up: run `make setup-tfjs` to enable these tests"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:keras.src.backend.tensorflow.core")]

HEADS = {"heatmap": 17, "offset_2": 34, "displacement_fwd_2": 32, "displacement_bwd_2": 32}  # PoseNet's heads


def posenet_like(path):
    """A frozen GraphDef shaped like PoseNet (MobileNet v1 body): an image input, a stride-8 feature map and
    PoseNet's four 1x1-conv heads (heatmap with its sigmoid, offsets, forward and backward displacements)."""
    v1 = tf.compat.v1
    rng = np.random.default_rng(0)
    g = tf.Graph()
    with g.as_default():
        x = v1.placeholder(tf.float32, [1, 65, 65, 3], name="image")

        def conv(x, k, cin, cout, stride, name, act=True, depthwise=False):
            if depthwise:
                w = tf.constant(rng.normal(0, 0.3, (k, k, cin, 1)).astype("float32"), name=f"{name}/weights")
                y = tf.nn.depthwise_conv2d(x, w, [1, stride, stride, 1], "SAME", name=f"{name}/conv")
            else:
                w = tf.constant(rng.normal(0, 0.3, (k, k, cin, cout)).astype("float32"), name=f"{name}/weights")
                y = tf.nn.conv2d(x, w, stride, "SAME", name=f"{name}/conv")
            b = tf.constant(rng.normal(0, 0.1, (cout,)).astype("float32"), name=f"{name}/biases")
            y = tf.nn.bias_add(y, b, name=name if not act else f"{name}/BiasAdd")
            return tf.nn.relu6(y, name=f"{name}/Relu6") if act else y

        y = conv(x, 3, 3, 8, 2, "Conv2d_0")
        y = conv(y, 3, 8, 8, 2, "Conv2d_1_depthwise", depthwise=True)
        y = conv(y, 1, 8, 16, 1, "Conv2d_1_pointwise")
        y = conv(y, 3, 16, 16, 2, "Conv2d_2_depthwise", depthwise=True)
        y = conv(y, 1, 16, 24, 1, "Conv2d_2_pointwise")
        for name, c in HEADS.items():
            h = conv(y, 1, 24, c, 1, name + ("_logits" if name == "heatmap" else ""), act=False)
            if name == "heatmap":
                tf.sigmoid(h, name="heatmap")
    path.write_bytes(g.as_graph_def().SerializeToString())
    return path


def keras_two_heads(path):
    """A small Keras model with two named outputs (class probabilities and a box), no BatchNorm."""
    L = tf.keras.layers
    inp = tf.keras.Input((24, 24, 3), name="image")
    y = L.Conv2D(8, 3, strides=2, activation="relu", name="conv1")(inp)
    y = L.DepthwiseConv2D(3, padding="same", activation="relu", name="dw")(y)
    y = L.Conv2D(16, 1, activation="relu", name="pw")(y)
    y = L.GlobalAveragePooling2D(name="gap")(y)
    probs = L.Dense(5, activation="softmax", name="probs")(y)
    box = L.Dense(4, name="box")(y)
    model = tf.keras.Model(inp, [probs, box], name="two_heads")
    rng = np.random.default_rng(1)
    model.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in model.get_weights()])
    model.save(path)
    return path


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    d = tmp_path_factory.mktemp("tfjs_sources")
    return {"posenet": posenet_like(d / "posenet_like.pb"), "keras": keras_two_heads(d / "two_heads.keras")}


def _io(entries, batch_one=False):
    out = []
    for e in entries:
        shape = list(e["shape"]) if e["shape"] is not None else None
        if batch_one and shape and shape[0] is None:
            shape[0] = 1
        out.append((e["name"], e["dtype"], shape))
    return out


@pytest.mark.parametrize("source", ["posenet", "keras"])
@pytest.mark.parametrize("mode", ["none", "uint8"])
def test_converts_runs_in_tfjs_and_reads_back(sources, tmp_path, capfd, source, mode):
    from graphreport.cli import main

    model = sources[source]
    out, res = tmp_path / "web", tmp_path / "r.json"
    code = main(["convert", str(model), "--to", "tfjs", "--quantize", mode, "-o", str(out), "--json", str(res)])
    stdout, err = capfd.readouterr()
    assert code == 0, err
    r = json.loads(res.read_text())
    assert r["status"] == "ok" and (out / "model.json").is_file() and r["files"] == sorted(p.name for p in out.iterdir())
    assert r["verified_in"].startswith("TF.js") and r["samples"] == 10 and r["verification_skipped"] is None
    heads = list(HEADS) if source == "posenet" else ["probs", "box"]
    assert [row["output"] for row in r["verification"]] == heads
    for row in r["verification"]:
        assert row["finite"]
        if mode == "none":
            assert row["relative_max_error"] <= 1e-4, row
        else:
            assert row["cosine"] > 0.99, row
    assert "source in TensorFlow vs TF.js" in stdout
    weights = json.loads((out / "model.json").read_text())["weightsManifest"]
    dtypes = {w.get("quantization", {}).get("dtype", w["dtype"]) for g in weights for w in g["weights"]
              if w["dtype"] == "float32"}  # the float weights (int32 shape constants are never quantized)
    assert dtypes == ({"float32"} if mode == "none" else {"uint8"})

    src, back = report_json(model, "--no-diagram"), report_json(out, "--no-diagram")
    assert back["format"] == "tfjs"
    assert _io(back["inputs"]) == _io(src["inputs"], batch_one=True)
    # model.json keeps the outputs in a signature map, by name: the same outputs, not in the source's order
    assert sorted((n, s) for n, _, s in _io(back["outputs"])) == sorted((n, s) for n, _, s in
                                                                         _io(src["outputs"], batch_one=True))
    assert sorted(o["name"] for o in back["outputs"]) == sorted(heads)
    assert back["totals"]["params"] == src["totals"]["params"]


def test_an_op_tfjs_lacks_is_named(tmp_path, capfd):
    """Lgamma has no TF.js kernel (the converter's op list, tensorflowjs/op_list/*.json, has none): the real
    converter refuses it and graphreport names it; exit 3 as for a refused TFLite conversion, nothing written."""
    from graphreport.cli import main

    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, 4], name="x")
        tf.identity(tf.math.lgamma(x + 1.0, name="lg") * 2.0, name="y")
    pb = tmp_path / "lgamma.pb"
    pb.write_bytes(g.as_graph_def().SerializeToString())
    res = tmp_path / "r.json"
    code = main(["convert", str(pb), "--to", "tfjs", "-o", str(tmp_path / "web"), "--json", str(res)])
    stdout, err = capfd.readouterr()
    assert code == 3 and stdout == "", err
    assert "refused 1 op(s): Lgamma" in err and "op Lgamma: TensorFlow.js has no kernel for it" in err
    assert [p["op"] for p in json.loads(res.read_text())["problems"]] == ["Lgamma"]
    assert not (tmp_path / "web").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["lgamma.pb", "r.json"]


def test_tfjs_progress_on_a_terminal(sources, tmp_path):
    """Under a pseudo-terminal: every stage of a TF.js conversion, and the TF.js verification counter."""
    from test_convert import on_a_terminal

    code, out, tty = on_a_terminal(["convert", sources["posenet"], "--to", "tfjs", "-o", "web"], tmp_path)
    assert code == 0, tty
    for stage in ("Loading TensorFlow", "Preparing the graph", "Converting to TensorFlow.js", "Verifying in TF.js"):
        assert f"{stage}... done (" in tty, tty
    assert "Verifying 100%|" in tty and "| 10/10 [" in tty
    assert "Hi, looks like you are running TensorFlow.js in Node.js" not in tty  # the runtime's chatter is kept
    assert out.splitlines()[0] == "web"
