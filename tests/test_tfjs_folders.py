"""TF.js files found by content (issue 9, item 8), without TensorFlow and without the third-party cache:
a folder whose JSON is not called model.json, a folder with several models, a weights manifest without
topology (face-api style, a bare list or an object with weightsManifest only), JSON that is neither, and a
binary GraphDef whose first bytes look like JSON.

The expected figures come from the files the tests write (element counts and byte sizes of the weights).
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from conftest import SAMPLES, report_json, run_cli
from graphreport.readers import tfjs, tfproto
from graphreport.readers.detect import load, looks_like_json


def _renamed(tmp_path, name="movenet-lightning.json"):
    """The sample graph model in a folder whose JSON has another name."""
    dst = tmp_path / "model"
    shutil.copytree(SAMPLES / "tfjs_graph", dst)
    (dst / "model.json").rename(dst / name)
    return dst


def test_folder_with_any_json_name(tmp_path):
    folder = _renamed(tmp_path)
    (folder / "package.json").write_text(json.dumps({"name": "x", "version": "1.0.0"}))  # not a model
    (folder / "labels.json").write_text(json.dumps(["cat", "dog"]))  # a list, but not a weights manifest
    reference = report_json(SAMPLES / "tfjs_graph")
    for target in (folder, folder / "movenet-lightning.json"):
        r = report_json(target)
        assert r["format"] == "tfjs" and r["format_version"] == "graph-model"
        assert r["totals"] == reference["totals"] and r["inputs"] == reference["inputs"]


def test_folder_with_several_models_names_them(tmp_path):
    folder = _renamed(tmp_path, "a.json")
    shutil.copy(folder / "a.json", folder / "b.json")
    p = run_cli("report", folder, "--format", "json", "-o", tmp_path / "out.json")
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "several TF.js models (a.json, b.json)" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.json").exists()
    assert report_json(folder / "b.json")["format"] == "tfjs"  # naming one works


def test_folder_without_a_model_says_what_it_holds(tmp_path):
    (tmp_path / "package.json").write_text("{}")
    p = run_cli("report", tmp_path, "-o", tmp_path / "out.html")
    assert p.returncode == 2 and "TF.js model (a .json file with modelTopology)" in p.stderr


WEIGHTS = [  # name, shape, dtype, quantization
    ("conv0/filters", [3, 3, 3, 8], "float32", {"dtype": "uint8", "scale": 0.01, "min": -1.0}),
    ("conv0/bias", [8], "float32", None),
    ("fc/weights", [8, 4], "float32", {"dtype": "float16"}),
    ("fc/bias", [4], "float32", None),
]
STORED = {"uint8": 1, "float16": 2, None: 4}


def _manifest(folder, wrap=False, split=1):
    """A face-api style manifest: weights concatenated into `split` shards."""
    folder.mkdir(exist_ok=True)
    blob = b""
    entries = []
    rng = np.random.default_rng(0)
    for name, shape, dtype, q in WEIGHTS:
        n = int(np.prod(shape))
        size = STORED[q["dtype"] if q else None]
        blob += rng.integers(0, 255, n * size, dtype=np.uint8).tobytes()
        entries.append({"name": name, "shape": shape, "dtype": dtype, **({"quantization": q} if q else {})})
    cut = [len(blob) * i // split for i in range(split + 1)]
    paths = []
    for i in range(split):
        p = f"weights-shard{i + 1}"
        (folder / p).write_bytes(blob[cut[i]:cut[i + 1]])
        paths.append(p)
    manifest = [{"weights": entries, "paths": paths}]
    name = "tiny_model-weights_manifest.json"
    (folder / name).write_text(json.dumps({"weightsManifest": manifest} if wrap else manifest, indent=2))
    return folder / name, len(blob)


@pytest.mark.parametrize("wrap", [False, True], ids=["bare-list", "object-without-topology"])
@pytest.mark.parametrize("by_folder", [False, True], ids=["file", "folder"])
def test_weights_manifest_is_reported_as_such(tmp_path, wrap, by_folder):
    path, nbytes = _manifest(tmp_path / "m", wrap=wrap, split=2)
    r = report_json(path.parent if by_folder else path)
    assert r["format"] == "tfjs" and r["format_version"] == "weights-manifest"
    assert any(w.startswith("TF.js weights manifest without topology: the architecture lives in JavaScript code")
               for w in r["warnings"])
    assert not any("GraphDef" in w or "wire format" in w for w in r["warnings"])
    # no architecture, no verdict: said as such, not "no outputs found"
    assert r["compatibility"]["verdict"].startswith("Not judged: the file holds weights but no architecture")
    assert not any("no output could be suggested" in w for w in r["warnings"])
    assert [(n["name"], n["attrs"]["shape"], n["attrs"]["dtype"]) for n in r["nodes"]] == \
        [(name, shape, dtype) for name, shape, dtype, _ in WEIGHTS]
    counts = [int(np.prod(shape)) for _, shape, _, _ in WEIGHTS]
    assert [n["params"] for n in r["nodes"]] == counts
    t = r["totals"]
    assert t["params"] == sum(counts) == 216 + 8 + 32 + 4
    assert t["weight_bytes"] == nbytes == 216 * 1 + 8 * 4 + 32 * 2 + 4 * 4  # stored sizes
    assert t["macs"] is None and t["flops"] is None and t["activation_bytes_peak"] is None
    assert r["inputs"] == [] and r["outputs"] == []


def test_weights_manifest_values_load(tmp_path):
    """The weights dequantize like TF.js does (uint8: q * scale + min; float16 widened)."""
    path, _ = _manifest(tmp_path / "m")
    model = load(str(path))
    g = model.main
    raw = (tmp_path / "m" / "weights-shard1").read_bytes()
    filt = g.tensors["conv0/filters:0"].const.value()
    expect = np.frombuffer(raw[:216], np.uint8).astype(np.float32) * np.float32(0.01) + np.float32(-1.0)
    np.testing.assert_array_equal(filt.reshape(-1), expect)
    fc = g.tensors["fc/weights:0"].const.value()
    np.testing.assert_array_equal(fc.reshape(-1), np.frombuffer(raw[248:312], "<f2").astype(np.float32))


def test_weights_manifest_missing_shard_is_a_warning(tmp_path):
    path, _ = _manifest(tmp_path / "m")
    (tmp_path / "m" / "weights-shard1").unlink()
    r = report_json(path)
    assert any("missing" in w for w in r["warnings"]) and r["totals"]["params"] == 260


@pytest.mark.parametrize("content", ['["cat", "dog"]', "[]", '[{"weights": []}]', '{"weightsManifest": []}'])
def test_json_that_is_no_model_exit_2(tmp_path, content):
    p = tmp_path / "x.json"
    p.write_text(content)
    r = run_cli("report", p, "-o", tmp_path / "out.html")
    assert r.returncode == 2 and "Traceback" not in r.stderr and "GraphDef" not in r.stderr, r.stderr


def test_classify():
    assert tfjs.classify({"modelTopology": {"node": []}}) == "model"
    assert tfjs.classify({"weightsManifest": [{"paths": [], "weights": []}]}) == "weights-manifest"
    assert tfjs.classify([{"paths": ["a.bin"], "weights": [{"name": "w", "shape": [1]}]}]) == "weights-manifest"
    assert tfjs.classify([{"paths": ["a.bin"], "weights": []}]) is None
    assert tfjs.classify(["a"]) is None and tfjs.classify({"name": "pkg"}) is None


def test_binary_graphdef_that_starts_like_json_is_still_a_graphdef(tmp_path):
    """A first node of 123 bytes serializes as '\\n{\\n...': JSON's '{' after whitespace. The GraphDef reader
    must still get it."""
    gd = tfproto.GraphDef()
    node = gd.node.add()
    node.op = "Placeholder"
    node.attr["dtype"].type = 1
    node.name = "x"
    pad = 123 - node.ByteSize()
    node.name = "x" * (1 + pad)
    assert node.ByteSize() == 123
    data = gd.SerializeToString()
    assert data[:2] == b"\n{" and not looks_like_json(data[:64])
    (tmp_path / "g.pb").write_bytes(data)
    model = load(str(tmp_path / "g.pb"))
    assert model.format == "graphdef" and model.main.nodes[0].op == "Placeholder"
    assert looks_like_json(b'  {"format": "graph-model"') and looks_like_json(b'[\n  {\n "weights"')
    assert not looks_like_json(b"[ext] { }")


@pytest.mark.parametrize("where", ["attr", "name", "op", "signature"])
def test_lone_surrogate_anywhere_is_bad_input(tmp_path, where):
    """Issue 13: a lone UTF-16 surrogate in a node attr made protobuf's json_format raise SystemError (exit 1,
    'internal error'); in any field it is bad input: exit 2, one line, no output file."""
    from conftest import run_cli

    node = {"name": "x", "op": "Placeholder", "attr": {}}
    sig = {}
    bad = "\udcff"
    if where == "attr":
        node["attr"] = {"value": bad}
    elif where == "signature":
        sig = {"inputs": {bad: {"name": "x:0"}}}
    else:
        node[where] = bad
    doc = {"format": "graph-model", "modelTopology": {"node": [node], "versions": {"producer": 1}},
           "weightsManifest": [], "signature": sig}
    (tmp_path / "model.json").write_text(json.dumps(doc), encoding="ascii")  # "\udcff" as an escape
    out = tmp_path / "r.html"
    p = run_cli("report", tmp_path / "model.json", "-o", out)
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert not out.exists()
