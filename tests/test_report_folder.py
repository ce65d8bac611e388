"""`graphreport report DIR --out-dir OUT` on a copy of sample_models/ with one damaged file among them: every
model of the manifest is reported (HTML and JSON) with the figures of its own `report`, the damaged file is
listed with its error, and the index page and JSON list them all."""
import html
import json
import re
import shutil

import pytest

from conftest import SAMPLES, run_cli

pytestmark = pytest.mark.slow  # folder mode over every sample

MANIFEST = json.loads((SAMPLES / "manifest.json").read_text())


def test_folder_mode_on_sample_models_with_a_damaged_file(tmp_path):
    src = tmp_path / "models"
    shutil.copytree(SAMPLES, src)
    data = (SAMPLES / "tiny_mobilenet_float.tflite").read_bytes()
    (src / "nested").mkdir()
    (src / "nested" / "damaged.tflite").write_bytes(data[: len(data) // 3])  # cut short: its tables point outside
    out = tmp_path / "out"
    p = run_cli("report", src, "--out-dir", out, "--jobs", "2")
    assert p.returncode == 2, p.stderr  # one model could not be read; the others are written
    assert p.stdout.strip() == str(out / "index.html")
    err = [x for x in p.stderr.splitlines() if x.startswith("graphreport: error:")]
    assert len(err) == 1 and "damaged.tflite" in err[0]
    index = json.loads((out / "index.json").read_text())
    rows = {r["name"]: r for r in index["models"]}
    # the manifest's models, by the path a user would pass (a checkpoint by its .meta)
    want = {e["file"] if not e.get("checkpoint_prefix") else e["checkpoint_prefix"] + ".meta": e["format"]
            for e in MANIFEST}
    want = {("tfjs_graph/model.json" if k == "tfjs_graph" else "tfjs_layers/model.json" if k == "tfjs_layers" else k): v
            for k, v in want.items()}
    assert set(rows) == set(want) | {"nested/damaged.tflite"}, sorted(rows)
    assert index["reported"] == len(want) == 17 and index["failed"] == 1
    bad = rows["nested/damaged.tflite"]
    assert bad["error"] and bad["html"] is None and "TFLite" in bad["error"]
    for name, fmt in want.items():
        r = rows[name]
        assert r["error"] is None and r["format"] == fmt, r
        single = json.loads((out / r["json"]).read_text())  # the report written for it
        assert single["totals"]["params"] == r["params"] and single["totals"]["flops"] == r["flops"]
        assert single["compatibility"]["verdict"] == r["verdict"]
        assert (out / r["html"]).read_text().startswith("<!DOCTYPE html>")
    # the same figures as `graphreport report` on the original file
    for name in ("tiny_mobilenet.pb", "keras_tiny.keras", "tf1_training/model.ckpt.meta"):
        p = run_cli("report", SAMPLES / name, "--format", "json", "-o", "-")
        assert json.loads(p.stdout)["totals"]["params"] == rows[name]["params"]
    page = (out / "index.html").read_text()
    assert "script-src 'none'" in page and "<script>" not in page
    links = re.findall(r'href="\./([^"]+)"', page)
    assert len(links) == 2 * 17 and all((out / html.unescape(x)).exists() for x in links)
    assert "damaged.tflite" in page and "could not be read" in page


def test_folder_mode_needs_no_single_model_flags(tmp_path):
    p = run_cli("report", SAMPLES, "--out-dir", tmp_path / "o", "-o", tmp_path / "x.html")
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1
    p = run_cli("report", tmp_path / "missing", "--out-dir", tmp_path / "o")
    assert p.returncode == 2 and "no such file" in p.stderr
