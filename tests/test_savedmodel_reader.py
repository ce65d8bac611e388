"""SavedModel reader, compared with TensorFlow: signatures (tf.saved_model.load), variables
(tf.train.list_variables), parameters (Keras count_params), shapes; function calls expanded in place; TF1
SavedModels (builder and simple_save); control-flow functions; damaged files; the conversion commands."""
import json
import os
import shlex
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from conftest import SAMPLES, import_tf as _tf, report_json
from work import calls
from graphreport.errors import BadModelError
from graphreport.model import num_elements
from graphreport.readers import detect, savedmodel

# calls allowed per node of the expansion budget on a hostile function library: expansion stops at the budget,
# with tens of calls per node made (today about 90 on the exponential case, the reading of the file included);
# 2**40 expansions would be beyond any count
EXPANSION_WORK_PER_NODE = 500

MANIFEST = {e["file"]: e for e in json.loads((SAMPLES / "manifest.json").read_text())}
KERAS_SM = SAMPLES / "keras_savedmodel"
TF1_SM = SAMPLES / "tf1_savedmodel"
need_samples = pytest.mark.skipif(not (KERAS_SM.exists() and TF1_SM.exists()),
                                  reason="run sample_models/make_format_samples.py")


def _shape(s):
    return None if s.rank is None else s.as_list()


def _tf_signatures(path) -> dict:
    """signature -> {"inputs": {key: (dtype, shape)}, "outputs": {...}} as tf.saved_model.load gives them."""
    tf = _tf()
    loaded = tf.saved_model.load(str(path))
    out = {}
    for name, fn in loaded.signatures.items():
        ins = fn.structured_input_signature[1]
        outs = fn.structured_outputs
        out[name] = {"inputs": {k: (v.dtype.name, _shape(v.shape)) for k, v in ins.items()},
                     "outputs": {k: (v.dtype.name, _shape(v.shape)) for k, v in outs.items()}}
    return out


def _mine(model) -> dict:
    return {s.name: {"inputs": {k: (t.dtype, t.shape) for k, t in s.inputs.items()},
                     "outputs": {k: (t.dtype, t.shape) for k, t in s.outputs.items()}} for s in model.signatures}


def _used_params(model) -> int:
    return sum(u["elements"] or 0 for u in model.details["variables_used"]
               if u["dtype"] in ("float32", "float16", "float64", "bfloat16"))


# ------------------------------------------------------------------------------------------------------
# the bundled samples
@need_samples
@pytest.mark.requires_tf
@pytest.mark.parametrize("sample", ["keras_savedmodel", "tf1_savedmodel"])
def test_signatures_match_tensorflow(sample):
    m = savedmodel.read(str(SAMPLES / sample))
    assert _mine(m) == _tf_signatures(SAMPLES / sample)


@need_samples
@pytest.mark.parametrize("sample", ["keras_savedmodel", "tf1_savedmodel"])
def test_report_matches_manifest(sample):
    entry = MANIFEST[sample]
    r = report_json(SAMPLES / sample)
    assert r["format"] == "savedmodel"
    assert r["inputs"] == entry["inputs"]
    assert r["outputs"] == entry["outputs"]
    assert r["ignored_inputs"] == entry["ignored_inputs"] == []
    want = entry["signature"]
    sig = next(s for s in r["signatures"] if s["name"] == want["name"])
    for kind in ("inputs", "outputs"):
        assert [(x["key"], x["name"], x["dtype"], x["shape"]) for x in sig[kind]] == \
            [(x["key"], x["tensor"], x["dtype"], x["shape"]) for x in want[kind]]
    assert sig["method"] == want["method"]
    # params: the summary also counts scalar float constants (batch-norm epsilon) as weights
    assert r["totals"]["params"] == pytest.approx(entry["params"], rel=0.005)
    m = detect.load(str(SAMPLES / sample))
    assert _used_params(m) == entry["params"]
    assert sorted(v.name for v in m.variables) == sorted(v["name"] for v in entry["variables"]
                                                         if v["name"] != "_CHECKPOINTABLE_OBJECT_GRAPH")
    assert m.details["tags"] == entry["tags"]
    assert sorted(x["signatures"] for x in m.details["meta_graphs"])[0] == entry["signatures"]


@need_samples
def test_keras_sample_functions_are_expanded():
    m = savedmodel.read(str(KERAS_SM))
    g = m.main
    ops = Counter(n.op for n in g.nodes)
    assert ops["Conv2D"] == 1 and ops["DepthwiseConv2dNative"] == 1 and ops["MatMul"] == 1
    assert ops["StatefulPartitionedCall"] == 0  # every call was expanded
    conv = next(n for n in g.nodes if n.op == "Conv2D")
    assert conv.function and conv.function.startswith("__inference")
    assert conv.name.startswith("StatefulPartitionedCall_1/StatefulPartitionedCall/")
    assert conv.inputs[0] == "serving_default_input:0"  # the function argument, rewired to the call's input
    # the call site keeps the signature's tensor name, as an IdentityN of the function's return value
    site = g.node("StatefulPartitionedCall_1")
    assert site.op == "IdentityN" and site.calls and g.tensors["StatefulPartitionedCall_1:0"].shape == [None, 10]
    # variables: read through the captured handles, with the checkpoint's shapes
    reads = [n for n in g.nodes if n.op == "ReadVariableOp"]
    assert reads and all(g.tensors[n.outputs[0]].shape is not None for n in reads)
    assert all(u["key"] and u["key"].endswith("/.ATTRIBUTES/VARIABLE_VALUE") for u in m.details["variables_used"])
    # the Keras 3 export holds three handles per variable; the serving signature uses one of each
    assert m.details["graph_def_nodes"] > len(g.nodes)
    assert ops["VarHandleOp"] == 9


@need_samples
def test_variables_used_match_the_checkpoint():
    for sample in ("keras_savedmodel", "tf1_savedmodel"):
        m = savedmodel.read(str(SAMPLES / sample))
        by_name = {v.name: v for v in m.variables}
        for u in m.details["variables_used"]:
            v = by_name[u["key"]]
            assert (u["shape"], u["dtype"], u["nbytes"]) == (v.shape, v.dtype, v.nbytes)


@need_samples
def test_saved_model_pb_named_directly():
    a = detect.load(str(KERAS_SM / "saved_model.pb"))
    b = detect.load(str(KERAS_SM))
    assert a.format == b.format == "savedmodel" and len(a.main.nodes) == len(b.main.nodes)


@need_samples
def test_savedmodel_commands():
    r = report_json(KERAS_SM)
    codes = "\n".join(c["code"] for c in r["commands"])
    assert "tflite_convert" in codes and "--saved_model_dir=keras_savedmodel" in codes
    assert "tensorflowjs_converter --input_format=tf_saved_model" in codes
    assert "--signature_name=serving_default" in codes
    assert "from_saved_model('keras_savedmodel', signature_keys=['serving_default'])" in codes


@need_samples
@pytest.mark.requires_tf
@pytest.mark.parametrize("sample", ["keras_savedmodel", "tf1_savedmodel"])
def test_tflite_convert_command_works(sample, tmp_path):
    """The printed tflite_convert command, run as printed, converts the SavedModel."""
    _tf()
    r = report_json(SAMPLES / sample)
    code = next(c["code"] for c in r["commands"] if c["code"].startswith("tflite_convert"))
    argv = shlex.split(code.replace("\\\n", " "))
    shutil.copytree(SAMPLES / sample, tmp_path / sample)
    exe = Path(sys.executable).parent / "tflite_convert"
    p = subprocess.run([str(exe)] + argv[1:], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    out = next(a.split("=", 1)[1] for a in argv if a.startswith("--output_file="))
    tfl = report_json(tmp_path / out)
    assert [x["shape"] for x in tfl["inputs"]] == [x["shape"] for x in r["inputs"]]
    assert sorted(x["shape"][-1] for x in tfl["outputs"]) == sorted(x["shape"][-1] for x in r["outputs"])


# ------------------------------------------------------------------------------------------------------
# TF1-style SavedModels made here: simple_save with reference (VariableV2) variables
@pytest.fixture(scope="module")
def simple_save_model(tmp_path_factory, tf):
    path = tmp_path_factory.mktemp("simple") / "sm"
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 6], name="features")
        w = tf.compat.v1.Variable(tf.ones([6, 3]), name="w", use_resource=False)
        b = tf.compat.v1.Variable(tf.zeros([3]), name="b", use_resource=False)
        y = tf.nn.relu(tf.matmul(x, w) + b, name="scores")
        with tf.compat.v1.Session(graph=g) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            tf.compat.v1.saved_model.simple_save(sess, str(path), inputs={"features": x}, outputs={"scores": y})
    return path


def test_simple_save_reads(simple_save_model):
    m = detect.load(str(simple_save_model))
    assert m.format == "savedmodel"
    assert _mine(m) == _tf_signatures(simple_save_model)
    ops = Counter(n.op for n in m.main.nodes)
    assert ops["VariableV2"] == 2 and ops["MatMul"] == 1 and ops["Relu"] == 1
    assert _used_params(m) == 6 * 3 + 3
    assert {u["key"] for u in m.details["variables_used"]} == {"w", "b"}
    r = report_json(simple_save_model)
    assert r["inputs"] == [{"name": "features", "dtype": "float32", "shape": [None, 6]}]
    assert r["outputs"] == [{"name": "scores", "dtype": "float32", "shape": [None, 3]}]
    assert r["totals"]["params"] == 21


# ------------------------------------------------------------------------------------------------------
# a TF2 module with control flow: If / While bodies become function graphs
@pytest.fixture(scope="module")
def control_flow_model(tmp_path_factory, tf):

    class M(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(tf.ones([4, 4]))

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
        def __call__(self, x):
            y = tf.cond(tf.reduce_sum(x) > 0, lambda: tf.matmul(x, self.w), lambda: x * 2.0)
            i = tf.constant(0)
            _, y = tf.while_loop(lambda i, y: i < 3, lambda i, y: (i + 1, tf.nn.relu(y) + 1.0), [i, y])
            return {"y": y}

    m = M()
    path = tmp_path_factory.mktemp("cf") / "sm"
    tf.saved_model.save(m, str(path), signatures=m.__call__)
    return path


def test_control_flow_functions_become_graphs(control_flow_model):
    m = detect.load(str(control_flow_model))
    assert _mine(m) == _tf_signatures(control_flow_model)
    ops = Counter(n.op for n in m.main.nodes)
    assert ops["StatefulPartitionedCall"] == 0
    assert any(op in ops for op in ("If", "StatelessIf")) and any(op in ops for op in ("While", "StatelessWhile"))
    fgraphs = [g for g in m.graphs if g.kind == "function"]
    assert len(fgraphs) >= 4  # two branches, cond and body
    for g in fgraphs:
        assert g.inputs and g.outputs
        assert all(g.tensor(t) is not None for t in g.outputs)
    r = report_json(control_flow_model)
    assert r["inputs"] == [{"name": "serving_default_x", "dtype": "float32", "shape": [None, 4]}]
    assert r["outputs"][0]["shape"] == [None, 4]
    assert _used_params(m) == 16
    assert [u["key"] for u in m.details["variables_used"]] == ["w/.ATTRIBUTES/VARIABLE_VALUE"]


# ------------------------------------------------------------------------------------------------------
# keras.applications MobileNetV2 (weights=None), exported; cached like refmodels
def _mobilenet_savedmodel() -> Path:
    import refmodels

    tf = _tf()
    d = refmodels.cache_dir() / "MobileNetV2_savedmodel"
    side = Path(str(d) + ".json")
    if d.exists() and side.exists():
        return d
    import keras

    model = refmodels._keras_model("MobileNetV2")
    tmp = Path(str(d) + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.export(str(tmp), format="tf_saved_model", verbose=False)
    kinds = Counter(type(layer).__name__ for layer in model.layers)
    info = {"count_params": int(model.count_params()), "input_shape": list(model.input_shape),
            "output_shape": list(model.output_shape), "conv2d_layers": kinds["Conv2D"],
            "depthwise_layers": kinds["DepthwiseConv2D"], "dense_layers": kinds["Dense"],
            "tf_version": tf.__version__, "keras_version": keras.__version__}
    shutil.rmtree(d, ignore_errors=True)
    os.replace(tmp, d)
    side.write_text(json.dumps(info, indent=1) + "\n")
    return d


@pytest.fixture(scope="module")
def mobilenet(tf):
    d = _mobilenet_savedmodel()
    return d, json.loads(Path(str(d) + ".json").read_text())


def test_mobilenet_v2_savedmodel(mobilenet):
    path, facts = mobilenet
    m = detect.load(str(path))
    assert _used_params(m) == facts["count_params"]
    ops = Counter(n.op for n in m.main.nodes)
    assert ops["Conv2D"] == facts["conv2d_layers"]
    assert ops["DepthwiseConv2dNative"] == facts["depthwise_layers"]
    assert ops["MatMul"] == facts["dense_layers"]
    assert all(n.function for n in m.main.nodes if n.op in ("Conv2D", "DepthwiseConv2dNative"))
    assert not m.warnings
    r = report_json(path)
    assert r["totals"]["params"] == pytest.approx(facts["count_params"], rel=0.005)
    assert [x["shape"] for x in r["inputs"]] == [facts["input_shape"]]
    assert [x["shape"] for x in r["outputs"]] == [facts["output_shape"]]
    assert r["inputs"][0]["dtype"] == r["outputs"][0]["dtype"] == "float32"


def test_mobilenet_v2_shapes_and_cost_see_through_calls(mobilenet):
    path, facts = mobilenet
    name = report_json(path)["inputs"][0]["name"]
    s = facts["input_shape"][1]
    r = report_json(path, "--input-shape", f"{name}=1,{s},{s},3")
    assert r["totals"]["cost_complete"] is True
    # MobileNetV2 1.0 / 224: about 300 M multiply-accumulates; FLOPs as TF's profiler counts them on the
    # frozen GraphDef of the same Keras model (refmodels), and as graphreport counts them there
    assert 2.9e8 < r["totals"]["macs"] < 3.1e8
    import refmodels
    pb = refmodels.frozen_graphdef("MobileNetV2")
    assert r["totals"]["flops"] == pytest.approx(refmodels.facts(pb)["flops"], rel=0.02)
    frozen = report_json(pb)
    assert r["totals"]["macs"] == frozen["totals"]["macs"]
    m = detect.load(str(path))
    from graphreport.analysis.shapes import infer_shapes
    infer_shapes(m, {name: [1, s, s, 3]})
    convs = [n for n in m.main.nodes if n.op == "Conv2D"]
    assert all(num_elements(m.main.tensors[n.outputs[0]].shape) for n in convs)
    assert m.main.tensors[m.main.outputs[0]].shape == [1, facts["output_shape"][1]]


# ------------------------------------------------------------------------------------------------------
# damaged SavedModels
@need_samples
def test_damaged_saved_model_pb(tmp_path):
    shutil.copytree(TF1_SM, tmp_path / "sm")
    pb = tmp_path / "sm" / "saved_model.pb"
    data = pb.read_bytes()
    pb.write_bytes(data[: len(data) // 2])
    with pytest.raises(BadModelError, match="not a SavedModel") as ei:
        detect.load(str(tmp_path / "sm"))
    assert "\n" not in str(ei.value)
    pb.write_bytes(b"")
    with pytest.raises(BadModelError):
        detect.load(str(tmp_path / "sm"))
    pb.write_bytes(b"\x08\x01")  # schema version only, no meta graph
    with pytest.raises(BadModelError, match="no meta graph"):
        detect.load(str(tmp_path / "sm"))


@need_samples
def test_damaged_variables_index(tmp_path):
    shutil.copytree(KERAS_SM, tmp_path / "sm")
    idx = tmp_path / "sm" / "variables" / "variables.index"
    idx.write_bytes(idx.read_bytes()[:-3])
    with pytest.raises(BadModelError, match="checkpoint index"):
        detect.load(str(tmp_path / "sm"))
    shutil.rmtree(tmp_path / "sm" / "variables")
    m = detect.load(str(tmp_path / "sm"))
    assert any("variables.index is missing" in w for w in m.warnings)


def _function_library_savedmodel(fdefs, call_func):
    """A hand-made SavedModel whose graph calls `call_func` (for hostile function libraries)."""
    from graphreport.readers import tfproto

    sm = tfproto.SavedModel(saved_model_schema_version=1)
    mg = sm.meta_graphs.add()
    mg.meta_info_def.tags.append("serve")
    gd = mg.graph_def
    x = gd.node.add(name="x", op="Placeholder")
    x.attr["dtype"].type = 1
    call = gd.node.add(name="call", op="StatefulPartitionedCall", input=["x"])
    call.attr["f"].func.name = call_func
    call.attr["Tout"].list.type.append(1)
    for f in fdefs:
        gd.library.function.add().CopyFrom(f)
    sig = mg.signature_def["serving_default"]
    sig.inputs["x"].name = "x:0"
    sig.outputs["y"].name = "call:0"
    return sm


def _fdef(name, calls=(), body_op="Relu"):
    from graphreport.readers import tfproto

    f = tfproto.FunctionDef()
    f.signature.name = name
    f.signature.input_arg.add(name="a", type=1)
    f.signature.output_arg.add(name="out", type=1)
    prev = "a"
    for i, callee in enumerate(calls):
        n = f.node_def.add(name=f"c{i}", op="StatefulPartitionedCall", input=[prev])
        n.attr["f"].func.name = callee
        n.attr["Tout"].list.type.append(1)
        prev = f"c{i}:output:0"
    n = f.node_def.add(name="r", op=body_op, input=[prev])
    f.ret["out"] = "r:activations:0" if body_op == "Relu" else "r:y:0"
    return f


@pytest.mark.slow
def test_hostile_function_libraries(tmp_path, monkeypatch):
    # a small file's expansion budget, lowered from 50,000 nodes so that the counted (profiled) runs stay cheap:
    # what is tested is that expansion stops at the budget, whatever it is
    from graphreport.readers import inline

    budget = 2_000
    monkeypatch.setattr(inline, "MIN_EXPANSION_BUDGET", budget)
    cases = {
        "recursive": ([_fdef("f", calls=["f"])], "f"),
        "mutual": ([_fdef("f", calls=["g"]), _fdef("g", calls=["f"])], "f"),
        # each level calls the next twice: 2**40 nodes if nothing stopped it
        "exponential": ([_fdef(f"f{i}", calls=[f"f{i + 1}", f"f{i + 1}"]) for i in range(40)] + [_fdef("f40")],
                        "f0"),
        "missing": ([_fdef("f", calls=["nowhere"])], "f"),
    }
    for name, (fdefs, entry) in cases.items():
        d = tmp_path / name
        d.mkdir()
        (d / "saved_model.pb").write_bytes(_function_library_savedmodel(fdefs, entry).SerializeToString())
        m, work = calls(detect.load, str(d))
        assert work < EXPANSION_WORK_PER_NODE * budget, (name, work)  # stopped early: not 2**40 expansions
        assert m.main.node("call") is not None
        assert len(m.main.nodes) <= budget + 10
        if name != "missing":
            assert m.details.get("calls_not_expanded"), name
    # the plain case: a call expanded, the Relu's named output argument mapped to output 0
    d = tmp_path / "plain"
    d.mkdir()
    (d / "saved_model.pb").write_bytes(_function_library_savedmodel([_fdef("f")], "f").SerializeToString())
    m = detect.load(str(d))
    assert m.main.node("call").inputs == ["call/r:0"] and m.main.node("call/r").inputs == ["x:0"]


def _check_wiring(m):
    """Every input of every node names a tensor of its graph; names are unique."""
    for g in m.graphs:
        names = [n.name for n in g.nodes]
        assert len(names) == len(set(names)), g.name
        for n in g.nodes:
            for t in n.inputs:
                assert t in g.tensors, (g.name, n.name, t)
            for c in n.control_inputs:
                assert g.node(c) is not None, (g.name, n.name, c)


@need_samples
def test_graph_wiring_of_samples(control_flow_model, simple_save_model, mobilenet):
    for path in (KERAS_SM, TF1_SM, control_flow_model, simple_save_model, mobilenet[0]):
        _check_wiring(detect.load(str(path)))


def test_object_graph_paths_are_bounded():
    from graphreport.readers import tfproto

    og = tfproto.SavedObjectGraph()
    for i in range(100_000):  # a chain: every object a variable holding the next
        n = og.nodes.add()
        if i + 1 < 100_000:
            n.children.add(node_id=i + 1, local_name="a/b.c")
        n.variable.dtype = 1
    keys, work = calls(savedmodel.object_checkpoint_keys, og)
    assert work < 20 * len(og.nodes), work  # one visit per object, not one path walk per object
    assert len(keys) == savedmodel.MAX_OBJECT_DEPTH
    assert keys[1] == "a.Sb..c/.ATTRIBUTES/VARIABLE_VALUE"  # TF's escaping of "/" and "."
