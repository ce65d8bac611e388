"""TF.js reader: graph and layers models (model.json + shards) against the facts make_keras_tfjs_samples.py read
from TensorFlow/Keras; quantized weights; shard checks; paths that leave the model folder; no TensorFlow import.
"""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from conftest import SAMPLES, report_json, run_cli, tf_imported_by
from graphreport.analysis.summary import summarize
from graphreport.readers import tfjs
from graphreport.readers.detect import load

MANIFEST = {e["file"]: e for e in json.loads((SAMPLES / "manifest.json").read_text())}
GRAPH = MANIFEST["tfjs_graph"]
LAYERS = MANIFEST["tfjs_layers"]


def _copy(tmp_path, name="tfjs_graph"):
    dst = tmp_path / name
    shutil.copytree(SAMPLES / name, dst)
    return dst


def _edit(folder, fn):
    mj = folder / "model.json"
    data = json.loads(mj.read_text())
    fn(data)
    mj.write_text(json.dumps(data))


# ----------------------------------------------------------------------------------------------------------
# graph model
# ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["tfjs_graph", "tfjs_graph/model.json"])
def test_graph_model_matches_manifest(target):
    r = report_json(SAMPLES / target)
    assert r["format"] == "tfjs"
    assert r["format_version"] == "graph-model"
    assert r["inputs"] == GRAPH["inputs"]
    assert r["outputs"] == GRAPH["outputs"]
    assert r["totals"]["nodes"] == GRAPH["node_count"]
    assert r["op_counts"] == GRAPH["op_counts"]
    assert r["totals"]["params"] == GRAPH["params"]
    assert r["totals"]["weight_bytes"] == GRAPH["weight_bytes"]
    assert r["warnings"] == [] or all("shape" in w for w in r["warnings"]), r["warnings"]


def test_graph_model_weights_and_quantization():
    m = tfjs.read(str(SAMPLES / "tfjs_graph"))
    g = m.main
    (qname, qtype), = GRAPH["quantized_weights"].items()
    t = g.tensors[qname + ":0"]
    assert t.dtype == "float32" and t.quantization is not None and len(t.quantization.scale) == 1
    assert t.const.nbytes == int(np.prod(t.shape))  # stored as uint8: one byte per value
    assert m.details["quantized_weights"] == {"uint8": 1}
    assert m.details["weights"] == GRAPH["weights"]
    # every constant a node reads resolves to a manifest-backed tensor
    for node in g.nodes:
        for i in node.inputs:
            assert i in g.tensors, (node.name, i)
    # the dequantized kernel equals the Keras weights (keras_tiny.h5 holds the same model) within a step
    import h5py

    value = t.const.value()
    with h5py.File(SAMPLES / "keras_tiny.h5", "r") as f:
        ref = f["model_weights/pointwise/pointwise/kernel"][()]
    assert value.shape == ref.shape
    assert np.max(np.abs(value - ref)) <= t.quantization.scale[0] * 0.5 + 1e-6
    pad = next(tt for name, tt in g.tensors.items() if name.endswith("pad_1/Const:0"))
    assert pad.const.value().tolist() == [[0, 0], [0, 1], [0, 1], [0, 0]]


def test_graph_model_without_const_nodes(tmp_path):
    """Old converters dropped the Const nodes from the topology: they are re-created from the manifest."""
    folder = _copy(tmp_path)
    _edit(folder, lambda d: d["modelTopology"].__setitem__(
        "node", [n for n in d["modelTopology"]["node"] if n["op"] != "Const"]))
    r = report_json(folder)
    assert r["totals"]["params"] == GRAPH["params"]
    assert r["outputs"] == GRAPH["outputs"] and r["inputs"] == GRAPH["inputs"]
    assert r["op_counts"]["Const"] == GRAPH["weights"]


def test_graph_model_signature():
    m = load(str(SAMPLES / "tfjs_graph"))
    sig = m.signatures[0]
    assert [t.name for t in sig.inputs.values()] == [i["name"] + ":0" for i in GRAPH["inputs"]]
    assert [t.shape for t in sig.outputs.values()] == [o["shape"] for o in GRAPH["outputs"]]


# ----------------------------------------------------------------------------------------------------------
# layers model
# ----------------------------------------------------------------------------------------------------------

def test_layers_model_matches_manifest():
    r = report_json(SAMPLES / "tfjs_layers")
    assert r["format"] == "tfjs" and r["format_version"] == "layers-model"
    assert r["inputs"] == LAYERS["inputs"]
    assert r["outputs"] == LAYERS["outputs"]
    assert r["totals"]["params"] == LAYERS["params"]
    assert r["op_counts"] == LAYERS["op_counts"]
    m = load(str(SAMPLES / "tfjs_layers" / "model.json"))
    assert summarize(m).params == LAYERS["params"]
    assert m.details["params"]["trainable"] == LAYERS["trainable_params"]
    assert m.details["params"]["non_trainable"] == LAYERS["non_trainable_params"]
    for name, n in LAYERS["layer_params"].items():
        got = m.details["layer_params"].get(name, {"trainable": 0, "non_trainable": 0})
        assert got["trainable"] + got["non_trainable"] == n, name
    for name, shape in LAYERS["layer_output_shapes"].items():
        assert m.main.tensors[f"{name}:0"].shape == shape, name
    q = m.main.tensors["dense/kernel"]
    assert q.quantization is not None and q.const.nbytes == int(np.prod(q.shape))


def test_layers_and_h5_agree():
    a = report_json(SAMPLES / "tfjs_layers")
    b = report_json(SAMPLES / "keras2_tiny.h5")
    assert a["totals"]["params"] == b["totals"]["params"]
    assert [n["name"] for n in a["nodes"]] == [n["name"] for n in b["nodes"]]
    assert [n["outputs"] for n in a["nodes"]] == [n["outputs"] for n in b["nodes"]]


# ----------------------------------------------------------------------------------------------------------
# shards and paths
# ----------------------------------------------------------------------------------------------------------

def test_shard_size_mismatch_is_a_warning(tmp_path):
    folder = _copy(tmp_path)
    shard = folder / "group1-shard1of1.bin"
    shard.write_bytes(shard.read_bytes()[:-10])
    r = report_json(folder)
    assert any("the shards hold" in w for w in r["warnings"]), r["warnings"]
    m = tfjs.read(str(folder))
    # the last weights cannot be read past the end of the file: no value, no crash
    last = json.loads((folder / "model.json").read_text())["weightsManifest"][0]["weights"][-1]["name"]
    assert m.main.tensors[last + ":0"].const.value() is None


def test_missing_shard_is_a_warning(tmp_path):
    folder = _copy(tmp_path)
    (folder / "group1-shard1of1.bin").unlink()
    r = report_json(folder)
    assert any("missing" in w for w in r["warnings"]), r["warnings"]
    assert r["totals"]["params"] == GRAPH["params"]


@pytest.mark.parametrize("bad", ["../../etc/passwd", "/etc/passwd", "sub/../../outside.bin", "..\\..\\x.bin",
                                 "C:/Windows/x.bin"])
def test_shard_path_outside_folder_exit_2(tmp_path, bad):
    folder = _copy(tmp_path)
    _edit(folder, lambda d: d["weightsManifest"][0].__setitem__("paths", [bad]))
    for target in (folder, folder / "model.json"):
        p = run_cli("report", target, "--format", "json", "-o", "-")
        assert p.returncode == 2, p.stderr
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and "outside the model folder" in lines[0], p.stderr


def test_shard_symlink_outside_folder_exit_2(tmp_path):
    folder = _copy(tmp_path)
    (tmp_path / "secret.bin").write_bytes(b"\x00" * 4096)
    (folder / "group1-shard1of1.bin").unlink()
    os.symlink(tmp_path / "secret.bin", folder / "group1-shard1of1.bin")
    p = run_cli("report", folder, "--format", "json", "-o", "-")
    assert p.returncode == 2 and "outside the model folder" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def _hostile_json() -> dict:
    good = json.loads((SAMPLES / "tfjs_graph" / "model.json").read_text())
    cases = {
        "not_json": b"{\"modelTopology\": [1, 2,",
        "not_object": b"[1, 2, 3]",
        "topology_not_object": json.dumps({"format": "graph-model", "modelTopology": 5}).encode(),
        "weights_only": json.dumps({"weightsManifest": []}).encode(),
        "bad_manifest_shape": json.dumps({**good, "weightsManifest": [
            {"paths": ["group1-shard1of1.bin"], "weights": [{"name": "w", "shape": "abc", "dtype": "float32"}]}]}
                                         ).encode(),
        "bad_manifest_type": json.dumps({**good, "weightsManifest": {"paths": []}}).encode(),
        "bad_node": json.dumps({**good, "modelTopology": {"node": [{"name": "x"}]}}).encode(),
        "bad_attr": json.dumps({**good, "modelTopology": {"node": [
            {"name": "x", "op": "Placeholder", "attr": {"shape": {"shape": {"dim": [{"size": "abc"}]}}}}]}}).encode(),
        "unknown_format": json.dumps({**good, "format": "onnx-model"}).encode(),
        "deep": b"{\"modelTopology\": " + b"[" * 100_000,
    }
    return cases


HOSTILE = _hostile_json()


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_model_json_exit_2(tmp_path, case):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model.json").write_bytes(HOSTILE[case])
    for target in (folder, folder / "model.json"):
        p = run_cli("report", target, "--format", "json", "-o", tmp_path / "out.json")
        assert p.returncode == 2, (case, p.returncode, p.stderr[-2000:])
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("graphreport: error: "), p.stderr[-2000:]
        assert not (tmp_path / "out.json").exists()


def test_bare_keras_config_json(tmp_path):
    """model.to_json() output (a Keras config without weights) is read as a Keras architecture."""
    cfg = json.loads((SAMPLES / "tfjs_layers" / "model.json").read_text())["modelTopology"]["model_config"]
    path = tmp_path / "arch.json"
    path.write_text(json.dumps(cfg))
    r = report_json(path)
    assert r["format"] == "keras" and r["outputs"] == LAYERS["outputs"]
    assert any("without weights" in w for w in r["warnings"])


# ----------------------------------------------------------------------------------------------------------

def test_report_does_not_import_tensorflow(tmp_path):
    runs = [("report", SAMPLES / name, "-o", tmp_path / f"r.{fmt}", "--format", fmt)
            for name, fmt in (("tfjs_graph", "html"), ("tfjs_layers/model.json", "json"))]
    assert tf_imported_by(*runs) == ""
