"""The same network saved the usual ways reports the same figures.

MobileNet and MobileNetV2 (keras.applications, weights=None, built offline by refmodels.py) frozen with batch 1
are the reference: their MACs/FLOPs are checked against tf.compat.v1.profiler and the papers in
test_cost.py / test_refmodels_io.py. Here the unknown-batch frozen GraphDef and the SavedModel written by
Keras' `model.export` (TF functions behind StatefulPartitionedCall, variables in the checkpoint) must give
MACs within 0.5% and FLOPs within 2% of that reference (the issue's tolerance: function-call plumbing and
how Keras lowers batch norm differ between the two graphs, the arithmetic does not), with batch 1 assumed
and said, and params equal to Keras' count_params().
"""
import os
from pathlib import Path

import pytest

import refmodels
from conftest import report_json

pytestmark = pytest.mark.requires_tf

MODELS = ["MobileNet", "MobileNetV2"]


def _savedmodel(name: str) -> Path:
    """keras.applications.<name>(weights=None) exported as a SavedModel (cached beside the frozen graphs)."""
    out = refmodels.cache_dir() / f"{name}_export"
    if (out / "saved_model.pb").exists():
        return out
    model = refmodels._keras_model(name)
    tmp = Path(str(out) + f".tmp{os.getpid()}")
    model.export(str(tmp), verbose=False)
    os.replace(tmp, out)
    return out


@pytest.fixture(scope="module", params=MODELS)
def reference(request):
    name = request.param
    pb = refmodels.frozen_graphdef(name)  # batch 1
    r = report_json(pb)
    assert r["totals"]["cost_complete"] and r["totals"]["batch_assumed"] == {}
    return name, r, refmodels.facts(pb)


def _close(a, b, rel):
    return abs(a - b) <= rel * b


def test_dynamic_batch_frozen_graph(reference):
    name, ref, facts = reference
    r = report_json(refmodels.frozen_graphdef(name, batch=None))
    t = r["totals"]
    assert r["inputs"][0]["shape"][0] is None  # the I/O table keeps the declared (unknown) batch
    assert list(t["batch_assumed"]) == ["x"] and t["batch_assumed"]["x"][0] == 1
    assert t["macs"] == ref["totals"]["macs"], (name, t)  # same graph, same arithmetic: exact
    assert _close(t["flops"], ref["totals"]["flops"], 0.02)
    assert t["params"] == facts["count_params"]


def test_savedmodel_export(reference):
    name, ref, facts = reference
    r = report_json(_savedmodel(name))
    t = r["totals"]
    assert r["format"] == "savedmodel" and r["inputs"][0]["shape"][0] is None
    assert len(t["batch_assumed"]) == 1
    assert t["macs"] is not None and _close(t["macs"], ref["totals"]["macs"], 0.005), (name, t, ref["totals"])
    assert _close(t["flops"], ref["totals"]["flops"], 0.02), (name, t["flops"], ref["totals"]["flops"])
    # one params figure in every section, equal to Keras' count_params (the variables, moving stats included)
    assert t["params"] == r["cost"]["totals"]["params"] == facts["count_params"]
    assert sum(n.get("params") or 0 for n in r["nodes"]) == t["params"]
