"""`graphreport convert CKPT` with no flags on TF1 training checkpoints whose batch norm sits under a cond on
`is_training` (TF1 Switch/Merge and TF2 If with branch functions) and whose dropout is fed by keep_prob or a
rate: each switch is bound to its inference value, the conds fold, the variables (also those read inside the
branch functions) are frozen, and the .tflite gives what TensorFlow gives in inference mode.

The reference is computed here, in the Session that trained the graph, feeding is_training=False and
keep_prob=1.0 (or rate 0.0) — not by graphreport. Tolerance: tests/test_convert.py's float32 ("none") row:
max abs error <= 1e-4 of the output's scale (max |reference|), cosine > 0.99999.
The report's printed commands for these checkpoints (freeze_graph, the Python converter snippet, graphreport
convert) are run as printed, and what they write is checked against the same reference.
"""
from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys

import numpy as np
import pytest

import training_graphs as T
from conftest import lazy_tf as tf, report_json

pytestmark = [pytest.mark.requires_tf,
              pytest.mark.filterwarnings("ignore::UserWarning:tensorflow.lite.python.interpreter")]

REL_MAX_ERROR, COSINE = 1e-4, 0.99999  # tests/test_convert.py TOLERANCE["none"]
INFERENCE_OPS = {"CONV_2D", "MEAN", "RESHAPE", "SQUEEZE", "FULLY_CONNECTED", "ADD", "MUL", "RELU"}

CASES = {
    # the graph: slim scopes, batch norm under a v2 cond (If), keep_prob dropout, softmax xent at root
    "cond_v2": T.Spec(loss="nn_softmax", cond="v2", dropout="keep_prob", slim=True),
    "cond_v1": T.Spec(loss="nn_softmax", cond="v1", dropout="keep_prob", slim=True),
    "cond_v2_rate_2heads": T.Spec(loss="losses_sparse_softmax", cond="v2", dropout="rate", heads=2, identity=True,
                                  loss_scope=True),
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpts")
    cache = {}

    def get(case):
        if case not in cache:
            b = T.build(tf, CASES[case], seed=3)
            cache[case] = (b, T.train_and_save(tf, b, root / case, steps=3, probe=4, seed=3))
        return cache[case]

    return get


def run(capfd, *args):
    from graphreport.cli import main

    code = main(["convert", *map(str, args)])
    out, err = capfd.readouterr()
    return code, out, err


def tflite_outputs(path, x: np.ndarray, names: list[str]) -> list[np.ndarray]:
    """Run the .tflite on each example (batch 1) -> outputs stacked over the batch, in `names` order."""
    it = tf.lite.Interpreter(model_path=str(path))
    it.allocate_tensors()
    (inp,) = it.get_input_details()
    outs = it.get_output_details()
    assert len(outs) == len(names), outs
    order = []
    for name in names:  # outputs are named after the graph's nodes
        match = [d for d in outs if d["name"] == name or d["name"].split(":")[0] == name]
        order.append(match[0] if len(match) == 1 else outs[len(order)])
    rows = [[] for _ in names]
    for k in range(x.shape[0]):
        it.set_tensor(inp["index"], x[k:k + 1])
        it.invoke()
        for r, d in zip(rows, order):
            r.append(it.get_tensor(d["index"])[0].copy())
    return [np.stack(r) for r in rows]


def assert_matches(got: list[np.ndarray], ref: list[np.ndarray]):
    assert len(got) == len(ref)
    for g, r in zip(got, ref):
        assert g.shape == r.shape, (g.shape, r.shape)
        scale = float(np.max(np.abs(r)))
        assert scale > 0
        assert float(np.max(np.abs(g - r))) <= REL_MAX_ERROR * scale, (g, r)
        cos = np.sum(g * r, -1) / (np.linalg.norm(g, axis=-1) * np.linalg.norm(r, axis=-1))
        assert float(np.min(cos)) > COSINE, cos


def tflite_ops(path) -> set[str]:
    from graphreport.readers import tflite as reader

    return {n.op for n in reader.read(str(path), path.read_bytes()).main.nodes}


@pytest.mark.parametrize("case", list(CASES))
def test_convert_checkpoint_with_no_flags_matches_tf_inference_mode(trained, tmp_path, capfd, case):
    b, files = trained(case)
    out, res = tmp_path / "m.tflite", tmp_path / "r.json"
    code, stdout, err = run(capfd, files["prefix"], "-o", out, "--json", res)
    assert code == 0, err
    r = json.loads(res.read_text())
    assert [o["name"] for o in r["outputs"]] == b.logits_nodes
    switch = b.keep_prob.op.name
    assert {s["name"]: s["value"] for s in r["switches"]} == {
        "is_training": False, switch: 0.0 if CASES[case].dropout == "rate" else 1.0}
    if CASES[case].cond == "v2":
        assert any("folded" in n and "If" in n for n in r["notes"]), r["notes"]
    else:
        assert any("Switch" in n for n in r["notes"]), r["notes"]
    assert any("dropout" in n for n in r["notes"]), r["notes"]
    # the converted model holds inference ops only: no control flow, no random op, no Flex
    ops = tflite_ops(out)
    assert ops <= INFERENCE_OPS, ops
    # graphreport's own verification, and ours against the Session's inference-mode outputs
    for row in r["verification"]:
        assert row["relative_max_error"] <= REL_MAX_ERROR and row["cosine"] > COSINE, row
    assert_matches(tflite_outputs(out, files["probe"], b.logits_nodes), files["reference"])


@pytest.mark.parametrize("case", ["cond_v2", "cond_v1"])
def test_frozen_graph_has_no_training_branch(trained, tmp_path, capfd, case):
    """--to frozen-pb: no cond, no variable, no dropout, no function library; it runs in TF with only the
    data input fed and gives the inference-mode outputs."""
    b, files = trained(case)
    out = tmp_path / "frozen.pb"
    code, _, err = run(capfd, files["prefix"], "--to", "frozen-pb", "-o", out)
    assert code == 0, err
    gd = tf.compat.v1.GraphDef()
    gd.ParseFromString(out.read_bytes())
    ops = {n.op for n in gd.node}
    assert not ops & {"If", "StatelessIf", "Switch", "Merge", "RandomUniform", "VarHandleOp", "ReadVariableOp",
                      "VariableV2", "PartitionedCall", "StatefulPartitionedCall", "OptionalNone"}, ops
    assert len(gd.library.function) == 0
    assert [n.name for n in gd.node if n.op == "Placeholder"] == ["input"]
    g = tf.Graph()
    with g.as_default():
        tf.compat.v1.import_graph_def(gd, name="")
    with tf.compat.v1.Session(graph=g) as sess:
        got = sess.run([f"{n}:0" for n in b.logits_nodes], {"input:0": files["probe"]})
    for a, ref in zip(got, files["reference"]):
        np.testing.assert_allclose(a, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", ["cond_v1", "cond_v2"])
def test_printed_commands_work(trained, tmp_path, case):
    """Every command the report prints for the checkpoint, run as printed in a copy of its folder (the
    TF.js ones only when `make setup-tfjs` was done): each .tflite it writes gives TF's inference outputs."""
    from graphreport.convert.tfjs import find_converter

    tfjs_converter = find_converter()
    b, files = trained(case)
    work = tmp_path / "ckpt"
    shutil.copytree(files["prefix"].parent, work)
    r = report_json(work / "model.ckpt.meta", "--no-diagram")
    cmds = r["commands"]
    assert not any(c["code"].startswith("tflite_convert") for c in cmds)  # it cannot feed is_training
    ran, written = [], []
    for c in cmds:
        code = c["code"]
        if c["language"] == "python":
            argv = [sys.executable, "-c", code]
        else:
            argv = shlex.split(code.replace("\\\n", " "))
            if argv[0] == "python":
                argv = [sys.executable] + argv[1:]
            elif argv[0] == "graphreport":
                if "--to" in argv and argv[argv.index("--to") + 1] == "tfjs" and tfjs_converter is None:
                    continue
                argv = [sys.executable, "-m", "graphreport"] + argv[1:]
            elif argv[0] == "tensorflowjs_converter":
                if tfjs_converter is None:
                    continue
                argv[0] = tfjs_converter
            else:
                pytest.fail(f"unexpected command {code}")
        p = subprocess.run(argv, cwd=work, capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, (c["title"], p.stderr[-3000:])
        ran.append(c["title"])
        tfl = work / "model.tflite"
        if tfl.exists():
            kept = work / f"out_{len(written)}.tflite"
            tfl.rename(kept)
            written.append((c["title"], kept))
    assert any("freeze_graph" in t for t in ran), ran
    # what freeze_graph wrote still holds is_training and the cond: graphreport convert takes it as it is
    frozen = next(a.split("=", 1)[1] for c in cmds if "freeze_graph" in c["code"]
                  for a in shlex.split(c["code"].replace("\\\n", " ")) if a.startswith("--output_graph="))
    p = subprocess.run([sys.executable, "-m", "graphreport", "convert", frozen, "-o", "frozen.tflite"], cwd=work,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    written.append(("graphreport convert of the freeze_graph output", work / "frozen.tflite"))
    assert len(written) >= 2, ran  # the Python converter snippet and graphreport convert
    for title, path in written:
        assert_matches(tflite_outputs(path, files["probe"], b.logits_nodes), files["reference"])
