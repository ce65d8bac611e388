"""TFLite compatibility analysis (graphreport.analysis.compat) against the real converter.

The agreement test builds the small graphs of compat_cases.py, writes each as a frozen GraphDef .pb, reads it
back with graphreport's own reader (as a user's file would be read), runs check_compat, and compares the
verdicts with what tf.compat.v1.lite.TFLiteConverter does to the same .pb (builtins only; with
SELECT_TF_OPS; full int8). Converter outcomes are cached under .cache/compat/tf-<version>/.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from graphreport.analysis import compat
from graphreport.model import Graph, Model, Node, Quantization, Tensor
from graphreport.readers import graphdef

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

AGREEMENT_MIN = 0.95


def _read(path: Path) -> Model:
    return graphdef.read(str(path), path.read_bytes())


# ----------------------------------------------------------------------------------------------------------
# Agreement with the converter
# ----------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def verdicts(tmp_path_factory, tf):
    import compat_cases

    t0 = time.time()
    out_dir = tmp_path_factory.mktemp("compat_graphs")
    rows = []
    for case in compat_cases.cases():
        pb, outs = compat_cases.build(case)
        path = out_dir / f"{case.name}.pb"
        path.write_bytes(pb)
        truth = compat_cases.converter_truth(pb, str(path), case, outs)
        report = compat.check_compat(_read(path), outputs=outs)
        rows.append((case, truth, report))
    print(f"\n{len(rows)} graphs built, converted (or taken from the cache) and checked in {time.time() - t0:.1f} s")
    return rows


def _mine(report) -> dict:
    return {"builtins_only": report.builtins_only, "no_unsupported": not report.unsupported,
            "int8_full": report.int8_full}


def test_verdicts_agree_with_the_converter(verdicts):
    keys = ("builtins_only", "no_unsupported", "int8_full")
    agree, lines = 0, []
    per_key = {k: 0 for k in keys}
    for case, truth, report in verdicts:
        mine = _mine(report)
        diff = [k for k in keys if mine[k] != truth[k]]
        for k in keys:
            per_key[k] += mine[k] == truth[k]
        if diff:
            detail = {m: (r["ops"] if r["ok"] else r["error"][:160]) for m, r in truth["detail"].items()}
            lines.append(f"  {case.name} [{case.kind}]: " + "; ".join(
                f"{k} report={mine[k]} converter={truth[k]}" for k in diff)
                + f"\n      report: {report.verdict}\n      converter: {json.dumps(detail)[:600]}")
        else:
            agree += 1
    n = len(verdicts)
    print(f"\nagreement: {agree} of {n} graphs agree on all three verdicts "
          + ", ".join(f"{k} {per_key[k]}/{n}" for k in keys))
    if lines:
        print("disagreements:\n" + "\n".join(lines))
    assert n >= 30
    assert agree >= AGREEMENT_MIN * n, f"only {agree} of {n} agree:\n" + "\n".join(lines)


def test_cases_cover_every_kind(verdicts):
    kinds = {case.kind for case, _, _ in verdicts}
    assert {"builtin", "flex", "unsupported", "int8", "attr", "dtype", "graph"} <= kinds
    truths = [t for _, t, _ in verdicts]
    assert sum(t["builtins_only"] for t in truths) >= 10
    assert sum(not t["builtins_only"] and t["no_unsupported"] for t in truths) >= 8  # Flex only
    assert sum(not t["no_unsupported"] for t in truths) >= 4
    assert sum(t["builtins_only"] and not t["int8_full"] for t in truths) >= 6


def _by_name(verdicts, name):
    for case, truth, report in verdicts:
        if case.name == name:
            return truth, report
    raise KeyError(name)


def test_per_node_reasons_and_fixes(verdicts):
    _, rep = _by_name(verdicts, "erf_add")
    (erf,) = [n for n in rep.nodes.values() if n.op == "Erf"]
    assert erf.tflite == "flex" and erf.int8 == "blocker" and "SELECT_TF_OPS" in erf.fix
    _, rep = _by_name(verdicts, "acos")
    acos = [n for n in rep.nodes.values() if n.op == "Acos"][0]
    assert acos.tflite == "unsupported" and "custom op" in acos.fix
    _, rep = _by_name(verdicts, "conv_relu")
    conv = [n for n in rep.nodes.values() if n.op == "Conv2D"][0]
    assert conv.tflite == "builtin:CONV_2D" and conv.int8 == "ok"
    _, rep = _by_name(verdicts, "conv_nchw")
    conv = [n for n in rep.nodes.values() if n.op == "Conv2D"][0]
    assert "TRANSPOSE" in conv.tflite and "NCHW" in conv.reason
    _, rep = _by_name(verdicts, "gelu_exact")
    assert rep.builtins_only and any(n.tflite == "builtin:GELU" for n in rep.nodes.values())
    _, rep = _by_name(verdicts, "constant_subgraph_erf")
    assert rep.builtins_only and all(n.tflite == "folded" for n in rep.nodes.values() if n.op == "Erf")


def test_graph_level_warnings(verdicts):
    def warns(name):
        return " | ".join(_by_name(verdicts, name)[1].warnings)
    assert "not frozen" in warns("unfrozen_variable")
    assert "quantization-aware" in warns("fake_quant_conv")
    assert "TF1 control flow" in warns("v1_cond")
    assert "unknown batch" in warns("conv_dynamic_batch")
    assert "dropout" in warns("dropout_training")
    assert "string" in warns("string_hash")


def test_report_json_shape(verdicts):
    _, rep = _by_name(verdicts, "conv_sin")
    d = rep.to_dict()
    assert list(d) == ["tf_version_basis", "builtins_only", "needs_flex", "unsupported", "int8_full",
                       "int8_blockers", "warnings", "verdict", "quantization_type"]
    assert d["builtins_only"] is True and d["int8_full"] is False and d["int8_blockers"] == ["Sin"]
    assert d["tf_version_basis"] == compat.load_table()["tf_version_basis"]
    assert d["verdict"].endswith(".") and "Sin" in d["verdict"]
    json.dumps(d)
    nodes = rep.nodes_dict()
    assert nodes["Sin"] == {"op": "Sin", "tflite": "builtin:SIN", "int8": "float", "reason": nodes["Sin"]["reason"]}
    assert all(set(v) >= {"tflite", "int8", "reason"} for v in nodes.values())
    json.dumps(rep.details_dict())


# ----------------------------------------------------------------------------------------------------------
# Keras applications, frozen
# ----------------------------------------------------------------------------------------------------------

def _frozen_app(name: str) -> bytes:
    try:
        import refmodels  # another helper's module, when present
        if hasattr(refmodels, "frozen_graphdef"):
            got = refmodels.frozen_graphdef(name)
            if isinstance(got, (str, os.PathLike)):
                return Path(got).read_bytes()
            if isinstance(got, bytes):
                return got
            return got.SerializeToString()
    except ImportError:
        pass
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    cache = ROOT / ".cache" / "compat" / f"tf-{tf.__version__}" / f"frozen-{name}.pb"
    if cache.exists():
        return cache.read_bytes()
    import keras

    model = getattr(keras.applications, name)(weights=None)
    fn = tf.function(lambda x: model(x, training=False))
    cf = fn.get_concrete_function(tf.TensorSpec([1, 224, 224, 3], tf.float32))
    data = convert_variables_to_constants_v2(cf).graph.as_graph_def().SerializeToString()
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(data)
    return data


@pytest.mark.requires_tf
@pytest.mark.parametrize("name", ["MobileNetV2", "ResNet50", "EfficientNetB0"])
def test_keras_applications_are_builtins_only(name, tmp_path):
    path = tmp_path / f"{name}.pb"
    path.write_bytes(_frozen_app(name))
    rep = compat.check_compat(_read(path))
    bad = {k: v.to_dict() for k, v in rep.nodes.items() if v.tflite in ("flex", "unsupported")}
    assert rep.outputs, "no output found"
    assert rep.builtins_only, (rep.verdict, list(bad.items())[:5])
    assert not rep.needs_flex and not rep.unsupported
    assert any(n.tflite == "builtin:CONV_2D" for n in rep.nodes.values())


# ----------------------------------------------------------------------------------------------------------
# Without tensorflow: training graphs, Keras layers, TFLite sources (hand-made graph models)
# ----------------------------------------------------------------------------------------------------------

def _tf_graph(nodes: list[tuple], consts=()) -> Model:
    """(name, op, [inputs], attrs) tuples -> a GraphDef-like Model."""
    g = Graph("main")
    for name in consts:
        g.nodes.append(Node(name, "Const", outputs=[f"{name}:0"], is_const=True))
        from graphreport.model import ConstData
        g.tensors[f"{name}:0"] = Tensor(f"{name}:0", "float32", [3, 3, 3, 8], producer=name,
                                        const=ConstData(nbytes=864))
    for name, op, inputs, attrs in nodes:
        n = Node(name, op, inputs=[i if ":" in i else f"{i}:0" for i in inputs], outputs=[f"{name}:0"],
                 attrs=attrs)
        g.nodes.append(n)
        g.tensors[f"{name}:0"] = Tensor(f"{name}:0", attrs.get("T", attrs.get("dtype", "float32")),
                                        attrs.get("shape"), producer=name)
    return Model(format="graphdef", path="x.pb", file_size=0, graphs=[g])


def test_training_graph_counts_only_the_inference_path():
    f = {"T": "float32"}
    m = _tf_graph([
        ("x", "Placeholder", [], {"dtype": "float32", "shape": [None, 8, 8, 3]}),
        ("labels", "Placeholder", [], {"dtype": "float32", "shape": [None, 8]}),
        ("conv", "Conv2D", ["x", "w"], {**f, "data_format": "NHWC"}),
        ("logits", "Relu", ["conv"], f),
        ("loss/xent", "SoftmaxCrossEntropyWithLogits", ["logits", "labels"], f),
        ("gradients/xent_grad", "Mul", ["loss/xent"], f),
        ("Adam/update_w", "ResourceApplyAdam", ["gradients/xent_grad"], f),
        ("save/SaveV2", "SaveV2", [], {}),
        ("summaries/loss", "ScalarSummary", ["loss/xent"], {}),
        ("init", "NoOp", [], {}),
    ], consts=["w"])
    m.main.node("logits").control_inputs.append("init")  # a control dependency on a NoOp: dropped
    rep = compat.check_compat(m)
    assert rep.outputs == ["logits"]
    assert rep.builtins_only and rep.int8_full, rep.verdict
    assert set(rep.nodes) - {"init"} == {"x", "conv", "logits"}
    assert "init" not in rep.nodes or rep.nodes["init"].tflite == "removed"
    assert {"optimizer", "saver", "summary", "gradients"} <= set(rep.set_apart)
    assert "ResourceApplyAdam" in rep.set_apart["optimizer"]
    assert any("unknown batch" in w for w in rep.warnings)
    # user-given outputs win over the suggestion
    rep2 = compat.check_compat(m, outputs=["conv:0"])
    assert rep2.outputs == ["conv"] and "logits" not in rep2.nodes


def test_ops_nobody_probed_fall_back_to_the_allowlist():
    m = _tf_graph([
        ("x", "Placeholder", [], {"dtype": "float32", "shape": [1, 4]}),
        ("a", "AdjustHue", ["x", "x"], {"T": "float32"}),
        ("b", "MyCustomOp", ["a"], {"T": "float32"}),
    ])
    rep = compat.check_compat(m, outputs=["b"])
    assert rep.needs_flex == ["AdjustHue"] and rep.unsupported == ["MyCustomOp"]
    assert rep.unknown_ops == ["MyCustomOp"] and "judged by name" in rep.nodes["b"].reason
    assert not rep.builtins_only and not rep.int8_full
    assert rep.verdict.startswith("Will not convert")


def test_keras_layers_use_the_layer_table():
    table = compat.load_table().get("keras_layers", {})
    if "Conv2D" not in table:
        pytest.skip("table generated without --keras")
    g = Graph("main", dialect="keras")  # as the Keras reader makes it: layers are the nodes
    for name, op, attrs in [("input_1", "InputLayer", {}), ("conv", "Conv2D", {}), ("act", "Activation",
                            {"activation": "gelu"}), ("fancy", "MyLayer", {})]:
        g.nodes.append(Node(name, op, attrs=attrs))
    rep = compat.check_compat(Model(format="keras", path="m.keras", file_size=0, graphs=[g]))
    assert rep.nodes["conv"].tflite.startswith("builtin:") and "CONV_2D" in rep.nodes["conv"].tflite
    assert rep.nodes["act"].tflite == "builtin:GELU"
    assert rep.nodes["fancy"].tflite == "unknown" and rep.unknown_ops == ["MyLayer"]


def _tflite_model(spec: list[tuple], tensors: dict, subgraphs=0) -> Model:
    g = Graph("main", kind="subgraph", dialect="tflite")
    for name, (dtype, const, q) in tensors.items():
        from graphreport.model import ConstData
        g.tensors[name] = Tensor(name, dtype, [1, 4], const=ConstData(16) if const else None,
                                 quantization=Quantization(scale=[0.1], zero_point=[0]) if q else None)
    for i, (op, ins, outs, custom) in enumerate(spec):
        g.nodes.append(Node(f"{i}:{op}", op, inputs=ins, outputs=outs, custom=custom))
    g.inputs, g.outputs = [spec[0][1][0]], [spec[-1][2][0]]
    graphs = [g] + [Graph(f"sub{k}", kind="subgraph", dialect="tflite") for k in range(subgraphs)]
    return Model(format="tflite", path="m.tflite", file_size=0, graphs=graphs, execution_order_is_file_order=True)


def test_tflite_quantization_types_and_ops():
    f32 = {"in": ("float32", False, False), "w": ("float32", True, False), "out": ("float32", False, False)}
    m = _tflite_model([("FULLY_CONNECTED", ["in", "w"], ["out"], False)], f32)
    r = compat.check_compat(m)
    # a float file is judged as it would be produced as full int8: FULLY_CONNECTED has an int8 kernel (the
    # probed table: MatMul -> FULLY_CONNECTED, int8 ok), so nothing blocks
    assert r.quantization_type == "float32" and r.builtins_only and r.int8_full and r.int8_blockers == []
    assert r.nodes_dict()["0:FULLY_CONNECTED"]["tflite"] == "builtin:FULLY_CONNECTED"
    assert r.nodes_dict()["0:FULLY_CONNECTED"]["int8"] == "ok"

    dyn = {"in": ("float32", False, False), "w": ("int8", True, True), "out": ("float32", False, False)}
    r = compat.check_compat(_tflite_model([("FULLY_CONNECTED", ["in", "w"], ["out"], False)], dyn))
    assert r.quantization_type == "dynamic_range" and r.int8_blockers == [] and r.int8_full

    # SIN has no int8 kernel in the probed table (Sin -> SIN stays float): named, once, in the verdict
    f32s = dict(f32, s=("float32", False, False), s2=("float32", False, False))
    r = compat.check_compat(_tflite_model([("FULLY_CONNECTED", ["in", "w"], ["s"], False),
                                           ("SIN", ["s"], ["s2"], False), ("SIN", ["s2"], ["out"], False)], f32s))
    assert r.int8_blockers == ["SIN"] and not r.int8_full
    assert "SIN would stay float" in r.verdict and "FULLY_CONNECTED" not in r.verdict
    # a builtin the table never produced is not judged (neither blocker nor ok)
    r = compat.check_compat(_tflite_model([("FULLY_CONNECTED", ["in", "w"], ["s"], False),
                                           ("HARD_SWISH", ["s"], ["out"], False)], f32s))
    assert r.int8_blockers == [] and not r.int8_full and "not judged for HARD_SWISH" in r.verdict

    full = {"in": ("float32", False, False), "q": ("int8", False, True), "w": ("int8", True, True),
            "b": ("int32", True, True), "y": ("int8", False, True), "out": ("float32", False, False)}
    r = compat.check_compat(_tflite_model([("QUANTIZE", ["in"], ["q"], False),
                                           ("CONV_2D", ["q", "w", "b"], ["y"], False),
                                           ("DEQUANTIZE", ["y"], ["out"], False)], full))
    assert r.quantization_type == "full_int8" and r.int8_full and r.builtins_only, r.verdict

    mixed = dict(full, z=("float32", False, False), z2=("float32", False, False))
    r = compat.check_compat(_tflite_model([("QUANTIZE", ["in"], ["q"], False),
                                           ("CONV_2D", ["q", "w", "b"], ["y"], False),
                                           ("DEQUANTIZE", ["y"], ["z"], False),
                                           ("SIN", ["z"], ["z2"], False),
                                           ("FlexErf", ["z2"], ["out"], True),
                                           ("MyPostProcess", ["out"], ["out"], True)], mixed))
    assert r.quantization_type == "mixed" and r.needs_flex == ["Erf"]
    assert r.unsupported == ["MyPostProcess"] and r.custom_ops == ["MyPostProcess"]
    assert not r.builtins_only and "SIN" in r.int8_blockers
    assert any("Flex" in w for w in r.warnings) and any("custom ops" in w for w in r.warnings)

    i16 = {"in": ("int16", False, True), "w": ("int8", True, True), "out": ("int16", False, True)}
    r = compat.check_compat(_tflite_model([("FULLY_CONNECTED", ["in", "w"], ["out"], False)], i16))
    assert r.quantization_type == "int16x8" and r.int8_full

    f16 = {"in": ("float32", False, False), "w16": ("float16", True, False), "w": ("float32", False, False),
           "out": ("float32", False, False)}
    r = compat.check_compat(_tflite_model([("DEQUANTIZE", ["w16"], ["w"], False),
                                           ("FULLY_CONNECTED", ["in", "w"], ["out"], False),
                                           ("WHILE", ["out"], ["out"], False),
                                           ("VAR_HANDLE", [], ["out"], False)], f16))
    assert r.quantization_type == "float16_weights"
    assert any("control-flow" in w for w in r.warnings) and any("resource variables" in w for w in r.warnings)


def test_real_tflite_files_when_the_reader_exists(tmp_path):
    tflite_reader = pytest.importorskip("graphreport.readers.tflite")
    samples = ROOT / "sample_models"
    for name, qtype in (("tiny_mobilenet_float.tflite", "float32"), ("tiny_mobilenet_int8.tflite", "full_int8")):
        if (samples / name).exists():
            data = (samples / name).read_bytes()
            r = compat.check_compat(tflite_reader.read(str(samples / name), data))
            assert r.quantization_type == qtype and r.builtins_only, (name, r.to_dict())
            # the float file's ops all have int8 kernels: the int8 sample is the same model through the
            # real converter with full-int8 quantization (sample_models/make_samples.py)
            assert r.int8_full and r.int8_blockers == []


def test_real_tflite_files_from_the_converter(tmp_path, tf):
    import compat_cases
    import numpy as np

    from graphreport.readers import tflite as tflite_reader

    case = next(c for c in compat_cases.cases() if c.name == "conv_sin")
    pb, outs = compat_cases.build(case)
    path = tmp_path / "m.pb"
    path.write_bytes(pb)
    results = {}
    for mode in ("float", "int8"):
        conv = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(str(path), ["in0"], outs)
        if mode == "int8":
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.representative_dataset = lambda: ([np.random.rand(1, 16, 16, 3).astype(np.float32)]
                                                   for _ in range(2))
        data = conv.convert()
        p = tmp_path / f"m_{mode}.tflite"
        p.write_bytes(data)
        results[mode] = compat.check_compat(tflite_reader.read(str(p), data))
    assert results["float"].quantization_type == "float32" and results["float"].builtins_only
    assert results["int8"].quantization_type == "mixed" and "SIN" in results["int8"].int8_blockers


def test_compat_never_imports_tensorflow(tmp_path):
    probe = (
        "import sys\n"
        "from graphreport.analysis import compat\n"
        "from graphreport.model import Graph, Model, Node\n"
        "g = Graph('main'); g.nodes.append(Node('x', 'Placeholder', outputs=['x:0']))\n"
        "g.nodes.append(Node('y', 'Erf', inputs=['x:0'], outputs=['y:0']))\n"
        "r = compat.check_compat(Model('graphdef', 'm.pb', 0, [g]), outputs=['y'])\n"
        "assert r.needs_flex == ['Erf'], r.to_dict()\n"
        "bad = [m for m in sys.modules if m == 'tensorflow' or m.startswith(('tensorflow.', 'keras'))]\n"
        "print('IMPORTED:' + ','.join(bad))\n"
    )
    p = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == "IMPORTED:"


def test_table_is_stamped_and_consistent():
    t = compat.load_table()
    assert t["tf_version_basis"] and t["generated_by"] == "tools/gen_tflite_compat.py"
    assert len(t["ops"]) >= 200 and len(t["flex_allowlist"]) >= 500
    for op, e in t["ops"].items():
        assert e.get("status") in ("builtin", "flex", "unsupported"), op
        assert e.get("int8") in ("ok", "float", "blocker"), op
        if e["status"] != "builtin":
            assert e["int8"] == "blocker", op
