"""Suggested converter inputs/outputs of real frozen graphs and their .tflite files are exactly what
TensorFlow says they are (the frozen concrete function's inputs/outputs; the interpreter's details)."""
import pytest

import refmodels
from conftest import report_json

pytestmark = pytest.mark.requires_tf

MODELS = ["MobileNet", "MobileNetV2", "ResNet50", "InceptionV3", "EfficientNetB0"]


# the unknown-batch variant is built for MobileNetV2 only (keeps the suite short)
@pytest.mark.parametrize("name,batch", [(m, 1) for m in MODELS] + [("MobileNetV2", None)])
def test_frozen_graph_io(name, batch):
    path = refmodels.frozen_graphdef(name, batch=batch)
    facts = refmodels.facts(path)
    r = report_json(path, "--no-diagram")
    assert r["inputs"] == facts["inputs"]
    assert r["outputs"] == facts["outputs"]
    assert r["ignored_inputs"] == []
    # count_params() from Keras; EfficientNet's Normalization layer adds a 1-element int64 sample counter
    # that Keras counts and the frozen graph does not use, hence 1e-6 rather than equality
    assert r["totals"]["params"] == pytest.approx(facts["count_params"], rel=1e-6)


@pytest.mark.parametrize("name", MODELS)
def test_tflite_io(name):
    path = refmodels.tflite_model(name)
    facts = refmodels.facts(path)
    r = report_json(path, "--no-diagram")
    assert [x["name"] for x in r["inputs"]] == [x["name"] for x in facts["inputs"]]
    assert [x["name"] for x in r["outputs"]] == [x["name"] for x in facts["outputs"]]
    assert [x["shape"] for x in r["inputs"]] == [x["shape"] for x in facts["inputs"]]
