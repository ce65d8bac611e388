"""The diagram: constants folded, capped, time-limited, and only the inference subgraph of training graphs."""
import re

from conftest import SAMPLES
from graphreport.readers.detect import load
from graphreport.render import svg
from graphreport.report import build_report


def test_constants_are_folded_and_boxes_match_op_nodes():
    model = load(str(SAMPLES / "tiny_mobilenet.pb"))
    src, ids, cut, folded = svg.build_dot(model)
    g = model.main
    # TensorFlow's Const nodes (and Identity reads of them) never get a box
    assert not any(g.node(name).is_const for name in ids)
    drawn = len(ids)
    assert drawn + folded + sum(1 for n in g.nodes if n.is_const or n.op == "NoOp") == len(g.nodes)
    assert cut == 0 and folded > 0  # batch-norm arithmetic on constants is folded


def test_cap_is_reported():
    rep = build_report(load(str(SAMPLES / "tiny_mobilenet.pb")), diagram=False)
    out, note, ids = svg.render_diagram(rep.model, max_nodes=3)
    assert out is not None and len(ids) == 3
    assert len(re.findall(r'class="node"', out)) == 3
    assert "the first 3 are drawn" in note


def test_timeout_gives_a_note_not_a_hang(monkeypatch):
    monkeypatch.setattr(svg, "DOT_TIMEOUT_S", 0.0001)
    out, note, ids = svg.render_diagram(load(str(SAMPLES / "tiny_mobilenet.pb")))
    assert out is None and ids == {}
    assert "longer than" in note and "no diagram" in note


def test_training_graph_draws_inference_subgraph_only():
    rep = build_report(load(str(SAMPLES / "tf1_training.pb")))
    names = set(rep.diagram_ids)
    assert "logits" in names and "input" in names
    assert not any(n.startswith(("gradients/", "save/", "Adam")) for n in names)
    assert "Only the inference subgraph" in rep.diagram_note
