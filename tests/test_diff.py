"""`graphreport diff OLD NEW` on model pairs built by TensorFlow in the test (tests/diffmodels.py), figures
checked against TensorFlow: the variables' sizes, the GraphDef's own op counts, Keras count_params,
tf.compat.v1.profiler FLOPs, and the TFLite converter's fused op names.

Run under `flock /tmp/tf.lock` (it imports TensorFlow)."""
import json
import shutil
from collections import Counter

import pytest

import diffmodels
import refmodels
from conftest import run_cli

pytestmark = pytest.mark.requires_tf

BASE = [("conv", "c1", 16), ("conv", "c2", 16), ("features", "feat"), ("gap", "gap"), ("dense", "head", 10)]


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    d = tmp_path_factory.mktemp("diffpairs")
    out = {}

    def make(key, layers, **kw):
        path = d / f"{key}.pb"
        out[key] = (path, diffmodels.build(path, layers, **kw))

    make("base", BASE)
    make("base_again", BASE)
    make("scope_a", BASE, prefix="model_a")
    make("scope_b", BASE, prefix="model_b")
    make("resized", BASE, input_shape=(1, 48, 48, 3))
    # one block added (c3) and a layer widened (c1: 16 -> 24 filters)
    make("grown", [("conv", "c1", 24), ("conv", "c2", 16), ("conv", "c3", 16), ("features", "feat"), ("gap", "gap"),
                   ("dense", "head", 10)])
    resize = [("conv", "c1", 8), ("resize", "up", "bilinear", (48, 48)), ("conv", "c2", 8), ("gap", "gap"),
              ("dense", "head", 10)]
    make("bilinear", resize)
    make("bicubic", [resize[0], ("resize", "up", "bicubic", (48, 48)), *resize[2:]])
    make("sin", [resize[0], ("sin", "wave"), *resize[1:]])
    return out


def diff_json(old, new, *extra):
    p = run_cli("diff", old, new, "--format", "json", "-o", "-", *extra)
    assert p.returncode in (0, 4), p.stderr
    return json.loads(p.stdout), p.returncode


def test_identical_models(pairs):
    (a, _), (b, _) = pairs["base"], pairs["base_again"]
    d, rc = diff_json(a, b, "--fail-on", "any")
    assert rc == 0
    assert d["schema_version"] == 1 and d["identical"] is True
    assert d["added"] == [] and d["removed"] == [] and d["changed"] == [] and d["op_delta"] == {}
    assert d["delta"] == {"nodes": 0, "params": 0, "weight_bytes": 0, "macs": 0, "flops": 0, "activation_bytes_peak": 0}
    assert all(s["status"] == "same" for s in d["scopes"]) and len(d["scopes"]) >= 4
    assert all(not x["breaking"] for x in d["io"]) and d["gates"] == [{"gate": "any", "tripped": False, "why": "no change"}]
    assert d["matching"]["by_how"]["name"] == d["matching"]["old_op_nodes"]


def test_same_graph_under_another_scope_prefix(pairs):
    (a, _), (b, _) = pairs["scope_a"], pairs["scope_b"]
    d, _ = diff_json(a, b)
    m = d["matching"]
    assert m["old_matched"] / m["old_op_nodes"] >= 0.95 and not d["added"] and not d["removed"]  # observed: 14/14
    # every node under the scope is a rename onto the same node under the other scope; the input x and the
    # function's outputs (Identity, Identity_1, NoOp) sit outside it and keep their names
    moved = [x for x in d["matched"] if x["old"].startswith("model_a/")]
    assert len(moved) == m["old_op_nodes"] - 4 == 10
    assert all(x["how"] == "renamed" and x["old"].replace("model_a/", "model_b/", 1) == x["new"] for x in moved)
    assert all(x["how"] == "name" for x in d["matched"] if x not in moved)
    assert m["prefixes"][0]["old"] == "model_a" and m["prefixes"][0]["new"] == "model_b"
    assert d["delta"]["params"] == 0 and d["delta"]["flops"] == 0 and d["changed"] == []
    assert all(s["status"] == "same" for s in d["scopes"])


def test_input_resized_is_breaking(pairs):
    (a, _), (b, _) = pairs["base"], pairs["resized"]
    d, _ = diff_json(a, b)
    io = {(x["kind"], x["name"]): x for x in d["io"]}
    assert io[("input", "x")]["breaking"] and io[("input", "x")]["new"]["shape"] == [1, 48, 48, 3]
    outs = [x for x in d["io"] if x["kind"] == "output"]
    feat = next(x for x in outs if x["old"]["shape"] == [1, 32, 32, 16])  # the feature map output
    logits = next(x for x in outs if x["old"]["shape"] == [1, 10])
    assert feat["breaking"] and feat["new"]["shape"] == [1, 48, 48, 16]
    assert not logits["breaking"] and logits["new"]["shape"] == [1, 10]
    assert run_cli("diff", a, b, "--fail-on", "io", "--format", "md", "-o", "-").returncode == 4
    assert run_cli("diff", a, b, "--fail-on", "flex", "--format", "md", "-o", "-").returncode == 0
    # the FLOPs grow with the pixels: 48*48 / 32*32 = 2.25x for the convolutions (params unchanged)
    assert d["delta"]["params"] == 0 and d["delta"]["flops"] > 0


def test_block_added_and_layer_widened(pairs):
    (a, ia), (b, ib) = pairs["base"], pairs["grown"]
    d, _ = diff_json(a, b)
    # op_delta: exactly the difference of TensorFlow's own GraphDef op counts, non-zero entries only
    want = {op: n for op, n in (Counter(ib["op_counts"]) - Counter(ia["op_counts"])).items() if n}
    want.update({op: -n for op, n in (Counter(ia["op_counts"]) - Counter(ib["op_counts"])).items() if n})
    assert d["op_delta"] == want
    assert {k: want[k] for k in ("Conv2D", "BiasAdd", "Relu")} == {"Conv2D": 1, "BiasAdd": 1, "Relu": 1}
    # params: the tf.Variables' sizes, new minus old (c3: 3*3*16*16+16; c1: 3*3*3*8+8 more; c2: 3*3*8*16 more)
    assert d["delta"]["params"] == ib["params"] - ia["params"] == 2320 + 224 + 1152
    status = {s["scope"]: s for s in d["scopes"]}
    assert status["c3"]["status"] == "added" and status["c3"]["params_delta"] == 3 * 3 * 16 * 16 + 16
    assert status["c1"]["status"] == "changed" and status["c1"]["params_delta"] == 3 * 3 * 3 * 8 + 8
    assert status["head"]["status"] == "same" and status["gap"]["status"] == "same"
    assert sorted(d["added"]) == ["c3/BiasAdd", "c3/Conv2D", "c3/Relu"] and d["removed"] == []
    changed = {c["new"]: c["what"] for c in d["changed"]}
    assert any("weight shapes [3, 3, 3, 16] → [3, 3, 3, 24]" in w for w in changed["c1/Conv2D"])


def test_bicubic_needs_flex_and_sin_blocks_int8(pairs):
    (a, _), (b, _), (s, _) = pairs["bilinear"], pairs["bicubic"], pairs["sin"]
    d, rc = diff_json(a, b, "--fail-on", "flex")
    assert rc == 4 and d["compat"]["new_flex"] == ["ResizeBicubic"]
    assert d["op_delta"] == {"ResizeBicubic": 1, "ResizeBilinear": -1}
    assert next(g for g in d["gates"] if g["gate"] == "flex")["tripped"]
    back, rc = diff_json(b, a, "--fail-on", "flex")  # the other way round: resolved, not a regression
    assert rc == 0 and back["compat"]["resolved"]["flex"] == ["ResizeBicubic"] and back["compat"]["new_flex"] == []
    d, rc = diff_json(a, s, "--fail-on", "int8,flex")
    assert "Sin" in d["compat"]["new_int8_blockers"] and d["compat"]["new_flex"] == []
    assert rc == 4 and [g["tripped"] for g in d["gates"]] == [True, False]
    assert d["added"] == ["wave/Sin"]


def test_mobilenet_v2_alpha_1_vs_075_keras():
    old, new = diffmodels.mobilenet_v2_alpha(1.0), diffmodels.mobilenet_v2_alpha(0.75)
    fo, fn = (json.loads((str(p) + ".json") and open(str(p) + ".json").read()) for p in (old, new))
    d, _ = diff_json(old, new)
    # params: Keras count_params difference (3,538,984 -> 2,663,064: -875,920)
    assert d["delta"]["params"] == fn["count_params"] - fo["count_params"]
    # FLOPs: within 3% of tf.compat.v1.profiler's difference on the same models frozen at batch 1
    ref = fn["flops"] - fo["flops"]
    assert abs(d["delta"]["flops"] - ref) <= 0.03 * abs(ref), (d["delta"]["flops"], ref)
    # topology matched: every layer by name, none added or removed; the widths changed
    m = d["matching"]
    assert m["old_matched"] == m["old_op_nodes"] == m["new_op_nodes"] == m["by_how"]["name"]
    assert d["added"] == [] and d["removed"] == [] and d["op_delta"] == {}
    assert len(d["changed"]) > 100 and all(x["breaking"] is False for x in d["io"])


def _names(lite_name: str, tf_name: str) -> bool:
    """The TFLite op's name lists the TF op (the converter may append a digit: 'convolution1')."""
    return any(c == tf_name or (c.startswith(tf_name) and c[len(tf_name):].isdigit()) for c in lite_name.split(";"))


def test_mobilenet_v2_frozen_pb_vs_its_tflite():
    pb, tfl = refmodels.frozen_graphdef("MobileNetV2"), refmodels.tflite_model("MobileNetV2")
    d, _ = diff_json(pb, tfl)
    assert d["matching"]["cross_format"] is True
    want = {"Conv2D": "CONV_2D", "DepthwiseConv2dNative": "DEPTHWISE_CONV_2D"}
    r = run_cli("report", pb, "--format", "json", "-o", "-")
    nodes = json.loads(r.stdout)["nodes"]
    old_convs = [n["name"] for n in nodes if n["op"] in want]
    good = {x["old"] for x in d["matched"]
            if x["old_op"] in want and x["new_op"] == want[x["old_op"]] and x["how"] == "cross-format"
            and _names(x["new"], x["old"])}
    assert len(old_convs) == 52  # 35 Conv2D + 17 DepthwiseConv2dNative (refmodels facts)
    assert len(good) / len(old_convs) >= 0.90, (len(good), len(old_convs))
    assert d["compat"]["new_flex"] == [] and d["delta"]["macs"] == 0  # the .tflite MACs equal the GraphDef's


def test_markdown_snapshot(pairs, snapshot):
    (a, _), (b, _) = pairs["base"], pairs["grown"]
    p = run_cli("diff", a, b, "--format", "md", "-o", "-", "--fail-on", "io,params:+5%")
    assert p.returncode == 4  # params 2,938 -> 6,634 (+125.8%)
    assert p.stdout == snapshot


def test_markdown_fits_a_comment_and_leads_with_what_matters(pairs):
    pb, tfl = refmodels.frozen_graphdef("MobileNetV2"), refmodels.tflite_model("MobileNetV2")
    p = run_cli("diff", pb, tfl, "--format", "md", "-o", "-")
    assert p.returncode == 0 and len(p.stdout) <= 65536
    (a, _), (b, _) = pairs["base"], pairs["resized"]
    md = run_cli("diff", a, b, "--format", "md", "-o", "-").stdout
    assert md.index("breaking") < md.index("#### Figures") < md.index("<details>")


def test_bad_input_and_bad_gate_exit_2(pairs, tmp_path):
    a, _ = pairs["base"]
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\x00\x00\x00\x00TFL3" + b"\xff" * 40)
    for args in ((a, bad), (a, tmp_path / "missing.pb"), (a, a, "--fail-on", "speed")):
        out = tmp_path / "out.html"
        p = run_cli("diff", *args, "-o", out)
        assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, p.stderr
        assert not out.exists()


def test_output_is_written_when_a_gate_trips(pairs, tmp_path):
    (a, _), (b, _) = pairs["base"], pairs["resized"]
    for fmt in ("html", "json", "md"):
        out = tmp_path / f"d.{fmt}"
        p = run_cli("diff", a, b, "-o", out, "--fail-on", "io")
        assert p.returncode == 4 and out.stat().st_size > 0
        assert "gate io tripped" in p.stderr


def test_diff_html_in_chromium(pairs, tmp_path):
    from test_browser import ARGS, CHROMIUM
    from playwright.sync_api import sync_playwright

    (a, _), (b, _) = pairs["base"], pairs["grown"]
    out = tmp_path / "diff.html"
    assert run_cli("diff", a, b, "-o", out).returncode == 0
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors, requests = [], []
        page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(out.as_uri())
        page.wait_for_load_state("load")
        assert errors == [] and requests == [out.as_uri()]
        assert page.locator("#io-table tbody tr").count() == 3
        assert page.locator("#scope-table tr.added").count() == 1
        assert page.locator("#added-table tbody tr").count() == 3
        total = page.locator("#matched-table tbody tr").count()
        assert total > 10
        page.fill("#node-filter", "c3/")
        assert page.locator("#added-table tbody tr:not([hidden])").count() == 3
        assert page.locator("#matched-table tbody tr:not([hidden])").count() == 0
        page.fill("#node-filter", "c1/conv2d")
        visible = page.locator("#changed-table tbody tr:not([hidden])")
        assert visible.count() == 1 and "24" in visible.inner_text()
        page.fill("#node-filter", "")
        assert page.locator("#matched-table tbody tr:not([hidden])").count() == total
        page.locator("input.scope-filter[value=same]").uncheck()
        assert page.locator("#scope-table tbody tr:not([hidden])").count() == \
            page.locator("#scope-table tbody tr:not(.same)").count()
        assert errors == []
        browser.close()


def test_folder_of_pairs_and_copy(pairs, tmp_path):
    """A copy of a model diffs as identical whatever its name."""
    a, _ = pairs["grown"]
    b = tmp_path / "renamed_copy.pb"
    shutil.copy(a, b)
    d, rc = diff_json(a, b, "--fail-on", "any,io,flex,unsupported,int8,params:+0%,flops:+0%,size:+0%")
    assert rc == 0 and d["identical"] and all(not g["tripped"] for g in d["gates"])
