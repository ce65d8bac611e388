"""Each bundled sample reports what its manifest (written by make_samples.py from TensorFlow) says,
and its JSON report matches the snapshot (update with `pytest --snapshot-update` after a deliberate change)."""
import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from conftest import SAMPLES, report_json

import json

MANIFEST = json.loads((SAMPLES / "manifest.json").read_text())
REPORTABLE = [e for e in MANIFEST if (SAMPLES / e["file"]).exists()]


def _ids(entries):
    return [e["file"] for e in entries]


@pytest.fixture(scope="module")
def reports():
    return {}


def _report(reports, entry):
    if entry["file"] not in reports:
        reports[entry["file"]] = report_json(SAMPLES / entry["file"])
    return reports[entry["file"]]


@pytest.mark.parametrize("entry", REPORTABLE, ids=_ids(REPORTABLE))
def test_inputs_outputs_match_manifest(reports, entry):
    r = _report(reports, entry)
    assert r["format"] == entry["format"]
    assert r["inputs"] == entry["inputs"]
    assert r["outputs"] == entry["outputs"]
    got_roles = sorted((x["name"], x["role"]) for x in r["ignored_inputs"])
    assert got_roles == sorted((x["name"], x["role"]) for x in entry.get("ignored_inputs", []))


@pytest.mark.parametrize("entry", REPORTABLE, ids=_ids(REPORTABLE))
def test_counts_match_manifest(reports, entry):
    r = _report(reports, entry)
    if "node_count" in entry:
        assert r["totals"]["nodes"] == entry["node_count"]
    if "op_counts" in entry:
        assert r["op_counts"] == entry["op_counts"]
    if "params" in entry:
        assert r["totals"]["params"] == entry["params"]  # Keras count_params() / the variables, from TF


@pytest.mark.parametrize("entry", REPORTABLE, ids=_ids(REPORTABLE))
def test_json_snapshot(reports, entry, snapshot):
    r = dict(_report(reports, entry))
    r.pop("generator")  # carries the version
    assert r == snapshot(extension_class=JSONSnapshotExtension)


def test_pbtxt_and_pb_report_the_same():
    a = report_json(SAMPLES / "tiny_mobilenet.pb")
    b = report_json(SAMPLES / "tiny_mobilenet.pbtxt")
    for key in ("inputs", "outputs", "op_counts", "totals", "nodes"):
        assert a[key] == b[key], key


def test_markdown_summary(tmp_path):
    from conftest import run_cli
    p = run_cli("report", SAMPLES / "tf1_training.pb", "--format", "md", "-o", "-")
    assert p.returncode == 0, p.stderr
    assert "| input | `input` |" in p.stdout
    assert "| output | `logits` |" in p.stdout
    assert "set apart (dropout_keep_prob) | `keep_prob`" in p.stdout


def test_input_shape_flag_fixes_unknown_dims():
    # the manifest's shapes come from TensorFlow: [None, 28, 28, 1] -> [None, 10]; fixing the batch to 1
    # must give the same shapes with 1 in place of None
    entry = next(e for e in MANIFEST if e["file"] == "tf1_training.pb")
    r = report_json(SAMPLES / "tf1_training.pb", "--input-shape", "input=1,28,28,1")
    assert r["inputs"][0]["shape"] == [1] + entry["inputs"][0]["shape"][1:]
    assert r["outputs"][0]["shape"] == [1] + entry["outputs"][0]["shape"][1:]
    # a training graph: some ops' cost is unknown (training-mode batch norm, label-shaped ops), so the total
    # is null with its reason, and the known part is given apart - never 0
    t = r["totals"]
    assert t["macs"] is None and t["at_least"]["macs"] > 0 and "unknown cost" in t["unknown"]["macs"]


def test_bad_input_shape_flag_is_a_usage_error():
    from conftest import run_cli
    for arg in ("nope=1,2", "input=1,x", "input"):
        p = run_cli("report", SAMPLES / "tf1_training.pb", "--format", "json", "-o", "-", "--input-shape", arg)
        assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, p.stderr
