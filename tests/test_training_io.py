"""Suggested inputs and outputs of TF1 training graphs, however the loss is built.

Each graph is built here with TensorFlow (tf.compat.v1 graph mode, see training_graphs.py): the test knows
which tensors it made the logits, and the suggestion must be exactly those, with TensorFlow's static dtype and
shape, for the GraphDef and for the MetaGraph + checkpoint. The matrix: every tf.nn / tf.compat.v1.losses loss
and a hand-written MSE, at root scope and inside a `loss` scope, with and without an Identity on the logits;
two-headed models; batch norm under a v1 cond (Switch/Merge) and a v2 cond (If) on is_training with
slim-style InceptionV3 scopes and dropout; Adam, summaries and a saver everywhere.
"""
from __future__ import annotations

import os

import pytest

import training_graphs as T
from conftest import report_json
from work import calls

from graphreport.analysis import io_suggest, shapes
from graphreport.model import Graph, Model, Node, Tensor
from graphreport.readers.detect import load

MATRIX = [T.Spec(loss=loss, loss_scope=scope, identity=ident)
          for loss in T.LOSSES for scope in (False, True) for ident in (False, True)]
MATRIX += [T.Spec(loss=loss, heads=2, identity=ident, loss_scope=scope)
           for loss, ident, scope in (("nn_softmax", False, False), ("losses_sparse_softmax", True, True),
                                      ("nn_sigmoid", False, True), ("losses_huber", True, False),
                                      ("hand_mse", False, False))]
MATRIX += [T.Spec(loss=loss, cond=cond, dropout=drop, slim=True, loss_scope=scope)
           for cond in ("v1", "v2")
           for loss, drop, scope in (("nn_softmax", "keep_prob", False),  # the issue's graph (with cond v2)
                                     ("losses_sigmoid", "rate", True), ("hand_mse", "keep_prob", False),
                                     ("losses_softmax", "keep_prob", True))]
MATRIX += [T.Spec(loss="nn_sparse_softmax", cond="v2", dropout="keep_prob", identity=True, heads=2)]


@pytest.fixture(scope="module")
def built(tmp_path_factory, tf):
    """spec id -> (Built, {"pb": path, "prefix": checkpoint prefix, ...}), built once per module."""
    root = tmp_path_factory.mktemp("training")
    cache = {}

    def get(spec):
        if spec.id not in cache:
            b = T.build(tf, spec)
            cache[spec.id] = (b, T.train_and_save(tf, b, root / spec.id, steps=1))
        return cache[spec.id]

    return get


def _expected_roles(b: T.Built) -> dict:
    roles = {y.op.name: "label" for y in b.labels}
    if b.is_training is not None:
        roles["is_training"] = "training_switch"
    if b.keep_prob is not None:
        roles[b.keep_prob.op.name] = "dropout_rate" if b.spec.dropout == "rate" else "dropout_keep_prob"
    return roles


def _tf_shape(t):
    return t.shape.as_list() if t.shape.rank is not None else None


@pytest.mark.parametrize("source", ["graphdef", "checkpoint"])
@pytest.mark.parametrize("spec", MATRIX, ids=[s.id for s in MATRIX])
def test_suggested_outputs_are_the_logits(built, spec, source):
    b, files = built(spec)
    path = files["pb"] if source == "graphdef" else str(files["prefix"]) + ".meta"
    model = load(str(path))
    shapes.infer_shapes(model)  # as the report does before suggesting
    s = io_suggest.suggest(model)
    assert [o.name for o in s.outputs] == b.logits_nodes
    # dtype and shape as TensorFlow states them for the logits tensors. A GraphDef of resource variables
    # gives no variable shapes to graphreport (ReadVariableOp's shape rule says unknown), so there every dim it
    # knows must equal TensorFlow's; with the checkpoint's variable shapes it knows them all.
    assert [o.dtype for o in s.outputs] == [t.dtype.name for t in b.logits]
    for o, t in zip(s.outputs, b.logits):
        want = _tf_shape(t)
        if source == "checkpoint" or spec.cond == "v1":  # v1: ref variables, whose shape the graph states
            assert o.shape == want
        else:
            assert o.shape is not None and len(o.shape) == len(want)
            assert all(a is None or a == w for a, w in zip(o.shape, want)), (o.shape, want)
    assert [i.name for i in s.inputs] == ["input"]
    assert s.inputs[0].shape == _tf_shape(b.x)
    assert {x.name: x.role for x in s.ignored_inputs} == _expected_roles(b)
    values = {x.name: x.suggested_value for x in s.ignored_inputs}
    if b.is_training is not None:
        assert values["is_training"] is False
    if b.keep_prob is not None:
        assert values[b.keep_prob.op.name] == (0.0 if spec.dropout == "rate" else 1.0)
    assert not any(o.name.startswith(("softmax_cross_entropy", "logistic_loss", "loss/")) for o in s.outputs)


def test_the_issue_graph_in_the_json_report(built):
    """The issue's graph (slim scopes, v2 cond batch norm, keep_prob dropout, softmax cross-entropy at root
    scope, Adam, summaries, saver) through the CLI: outputs is the logits, never the loss's Reshape/Slice."""
    b, files = built(T.Spec(loss="nn_softmax", cond="v2", dropout="keep_prob", slim=True))
    for path in (files["pb"], str(files["prefix"]) + ".meta"):
        r = report_json(path, "--no-diagram")
        assert [(o["name"], o["dtype"]) for o in r["outputs"]] == [("InceptionV3/Logits/SpatialSqueeze", "float32")]
        if str(path).endswith(".meta"):
            assert r["outputs"][0]["shape"] == [None, 5]  # TF: [None, 5]
        assert sorted((x["name"], x["role"]) for x in r["ignored_inputs"]) == [
            ("is_training", "training_switch"), ("keep_prob", "dropout_keep_prob"), ("labels", "label")]


def test_a_model_scope_holding_a_hand_written_loss_is_not_a_loss_function():
    """`model/sub` (label-dependent) shares the scope `model` with the network: walking back from it inside
    `model` meets weighted ops and the data input, so `model` is not a loss function's scope and the
    output stays `model/logits`."""
    g = Graph("main")

    def add(name, op, inputs=(), is_const=False):
        n = Node(name=name, op=op, inputs=[f"{i}:0" for i in inputs], outputs=[f"{name}:0"], is_const=is_const)
        g.nodes.append(n)
        g.tensors[f"{name}:0"] = Tensor(f"{name}:0", dtype="float32", shape=[None, 4], producer=name)
        return n

    add("input", "Placeholder")
    add("labels", "Placeholder")
    add("model/w", "Const", is_const=True)
    add("model/MatMul", "MatMul", ["input", "model/w"])
    add("model/logits", "Relu", ["model/MatMul"])
    add("model/sub", "Sub", ["model/logits", "labels"])
    add("model/Square", "Square", ["model/sub"])
    add("model/Mean", "Mean", ["model/Square"])
    s = io_suggest.suggest_graph(g)
    assert [o.name for o in s.outputs] == ["model/logits"]
    assert [(x.name, x.role) for x in s.ignored_inputs] == [("labels", "label")]


@pytest.mark.slow
def test_suggestion_is_linear_in_graph_size():
    """A deep training graph whose every layer leaves a dead-end side output (as batch norm's unused batch
    statistics do): a walk over ancestors per candidate would be quadratic (minutes at this size); one pass
    over the graph does work proportional to the graph."""
    def make(layers):
        g = Graph("main")

        def add(name, op, inputs=()):
            g.nodes.append(Node(name=name, op=op, inputs=[f"{i}:0" for i in inputs], outputs=[f"{name}:0"]))
            g.tensors[f"{name}:0"] = Tensor(f"{name}:0", dtype="float32", shape=[None, 4], producer=name)

        add("input", "Placeholder")
        add("labels", "Placeholder")
        prev = "input"
        for k in range(layers):
            add(f"net/block_{k}/Relu", "Relu", [prev])
            add(f"net/block_{k}/unused_stat", "Mean", [f"net/block_{k}/Relu"])
            prev = f"net/block_{k}/Relu"
        add("net/logits", "Identity", [prev])
        add("softmax_cross_entropy_with_logits/Reshape", "Reshape", ["net/logits"])
        add("softmax_cross_entropy_with_logits", "SoftmaxCrossEntropyWithLogits",
            ["softmax_cross_entropy_with_logits/Reshape", "labels"])
        add("Mean", "Mean", ["softmax_cross_entropy_with_logits"])
        return Model(format="graphdef", path="x.pb", file_size=0, graphs=[g])

    work = {}
    for layers in (5_000, 20_000):
        s, work[layers] = calls(io_suggest.suggest, make(layers))
        assert [o.name for o in s.outputs] == ["net/logits"]
    # 4x the nodes: linear work grows ~4x, a walk over ancestors per candidate ~16x (counted calls, not time)
    assert work[20_000] <= 4 * 1.5 * work[5_000], work


@pytest.mark.skipif(not os.path.exists(os.path.join(os.path.dirname(__file__), "..", "sample_models",
                                                    "tf1_training.pb")), reason="samples not generated")
def test_bundled_training_sample_unchanged(manifest):
    """The sample whose loss is built one particular way still reports what its manifest (from TF) says."""
    from conftest import SAMPLES

    for entry in manifest:
        if entry["file"] in ("tf1_training.pb", "tf1_training/model.ckpt.meta"):
            s = io_suggest.suggest(load(str(SAMPLES / entry["file"])))
            assert [o.name for o in s.outputs] == [o["name"] for o in entry["outputs"]]
            assert [i.name for i in s.inputs] == [i["name"] for i in entry["inputs"]]
