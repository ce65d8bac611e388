"""Peak activation memory per subgraph (issue 9, item 8): a TFLite IF whose branch runs no operator (TensorFlow
writes `tf.cond(flag, f, lambda: x)` that way, and openWakeWord's models have one) crashed the estimate with an
IndexError. Each subgraph gets its own estimate; a subgraph without operators holds its input and output buffers.

The first tests build graphs by hand (no TensorFlow); the last one converts a tf.cond with TensorFlow and takes the
expected buffer sizes from TensorFlow's own flatbuffer reader.
"""
from __future__ import annotations

import json

import numpy as np

from conftest import run_cli
from graphreport.analysis.memory import peak_activation
from graphreport.model import ConstData, Graph, Node, Tensor


def _branch(with_op: bool) -> Graph:
    """An IF branch: inputs x [1, 8] and w [8, 8] (float32); returns x itself, or relu(x @ w)."""
    g = Graph(name="branch", kind="subgraph", dialect="tflite")
    g.tensors = {"x": Tensor("x", "float32", [1, 8]), "w": Tensor("w", "float32", [8, 8])}
    g.inputs = ["x", "w"]
    if with_op:
        g.tensors["y"] = Tensor("y", "float32", [1, 8], producer="fc")
        g.nodes = [Node("fc", "FULLY_CONNECTED", inputs=["x", "w"], outputs=["y"])]
        g.outputs = ["y"]
    else:
        g.outputs = ["x"]
    return g


def test_subgraph_without_operators():
    m = peak_activation(_branch(False))
    assert m.peak_bytes == 32 + 256 and m.at_node is None and m.complete
    assert "no operator runs" in m.order_used
    assert [b for b, _ in m.live_at_peak] == ["w", "x"]


def test_subgraph_with_an_operator():
    m = peak_activation(_branch(True))
    assert m.peak_bytes == 32 + 256 + 32 and m.at_node == "fc" and m.complete


def test_subgraph_without_operators_unknown_size():
    g = _branch(False)
    g.tensors["x"].shape = [None, 8]
    m = peak_activation(g)
    assert not m.complete and m.unknown_tensors == ["x"] and m.peak_bytes == 256  # a lower bound


def test_operators_that_describe_no_tensor_are_unknown_not_zero():
    """A TF.js weights manifest: Weight nodes read constants and produce nothing the file describes."""
    g = Graph(name="main", consts_are_weights=True)
    g.tensors["w:0"] = Tensor("w:0", "float32", [4], const=ConstData(nbytes=16))
    g.nodes = [Node("w", "Weight", inputs=["w:0"])]
    m = peak_activation(g)
    assert not m.complete and m.peak_bytes == 0
    g.nodes = []  # no operator at all: nothing is live, and that is known
    assert peak_activation(g).complete


def test_converted_cond_with_empty_branch(tmp_path, tf):
    from tensorflow.lite.tools import flatbuffer_utils

    w = tf.constant(np.arange(64, dtype=np.float32).reshape(8, 8) / 64)

    @tf.function(input_signature=[tf.TensorSpec([1, 8], tf.float32), tf.TensorSpec([], tf.bool)])
    def f(x, flag):
        return tf.cond(flag, lambda: tf.nn.relu(tf.matmul(x, w)), lambda: x)

    conv = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
    path = tmp_path / "cond.tflite"
    path.write_bytes(conv.convert())
    fb = flatbuffer_utils.read_model(str(path))
    empty = [sg for sg in fb.subgraphs if not sg.operators]
    assert len(fb.subgraphs) == 3 and len(empty) == 1  # what this test is about

    p = run_cli("report", path, "--format", "json", "-o", "-")
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    r = json.loads(p.stdout)
    per = r["cost"]["per_subgraph"]
    for sg in fb.subgraphs:
        name = sg.name.decode()
        held = sum(int(np.prod(sg.tensors[i].shape)) * {0: 4, 6: 1}[sg.tensors[i].type]  # FLOAT32, BOOL
                   for i in set(sg.inputs) | set(sg.outputs))
        if sg.operators:
            assert per[name]["activation_bytes_peak"] >= held
        else:
            assert per[name]["activation_bytes_peak"] == held == 32 + 256  # x [1, 8] and w [8, 8] float32
    # the interpreter runs both branches of the file that was reported
    it = tf.lite.Interpreter(model_path=str(path))
    it.allocate_tensors()
    x = np.ones((1, 8), np.float32)
    for flag, expect in ((False, x), (True, np.maximum(x @ w.numpy(), 0))):
        ins = {d["name"]: d["index"] for d in it.get_input_details()}
        for name, idx in ins.items():
            it.set_tensor(idx, x if "x" in name else np.array(flag))
        it.invoke()
        np.testing.assert_allclose(it.get_tensor(it.get_output_details()[0]["index"]), expect, rtol=1e-6)
