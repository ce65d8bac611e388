"""The TFLite reader agrees with tf.lite.Interpreter on models converted here, and refuses damaged files cleanly."""
import contextlib
import io
import os
import random
import struct
import subprocess
import sys
import zipfile

import flatbuffers
import numpy as np
import pytest

from conftest import SAMPLES
from work import calls
from graphreport.errors import BadModelError
from graphreport.readers import tflite


def work_bound(data: bytes) -> int:
    """Calls allowed to read or refuse a file: a fixed part plus a few per byte (today at most ~7 per byte, on
    the aliased-vectors case). Decoding a vector as long as a damaged length claims, or once per alias, takes
    thousands of times more."""
    return 5_000 + 20 * len(data)

MODELS = ["float", "int8", "signatures", "offsets", "sparse"]
# the damaged-file tests start from a float file the converter wrote (sample_models/make_samples.py): no TF here
FLOAT_SAMPLE = SAMPLES / "tiny_mobilenet_float.tflite"


def _keras_net():
    import keras
    from keras import layers as L

    keras.utils.set_random_seed(0)
    inp = keras.Input(shape=(16, 16, 3), batch_size=1, name="image")
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu6", name="conv")(inp)
    x = L.Add()([x, L.DepthwiseConv2D(3, padding="same", name="dw")(x)])
    x = L.MaxPooling2D(2)(x)
    x = L.Concatenate()([x, L.Conv2D(4, 1, name="pw")(x)])
    x = L.Reshape((4 * 4 * 12,))(x)
    out = L.Softmax(name="probs")(L.Dense(10, name="fc")(x))
    return keras.Model(inp, out)


def _tf_modules(tf):
    """The tf.Module classes converted below (defined here: this module imports TensorFlow only in its tests)."""

    class _TwoSignatures(tf.Module):
        """Subgraph 0 ("as_text"): IF and a Flex op; subgraph 1 ("scale"): WHILE, unknown batch."""

        @tf.function(input_signature=[tf.TensorSpec([4], tf.int32, name="ids"),
                                      tf.TensorSpec([], tf.bool, name="flag")])
        def as_text(self, ids, flag):
            r = tf.cond(flag, lambda: ids * 2, lambda: ids - 1)
            return {"text": tf.strings.as_string(r), "ids": r}

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
        def scale(self, x):
            _, v = tf.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, v * 2.0), [tf.constant(0), x])
            return {"angle": tf.math.atan2(v, x + 1.0), "total": tf.reduce_sum(v, axis=1)}

    class _SparseDense(tf.Module):
        """A matmul whose weights are 92% zeros: EXPERIMENTAL_SPARSITY stores them sparse, behind a DENSIFY op."""

        def __init__(self):
            w = np.zeros((16, 32), np.float32)
            w[::4, ::3] = np.arange(1, 45).reshape(4, 11)
            self.w = tf.Variable(w)

        @tf.function(input_signature=[tf.TensorSpec([1, 16], tf.float32, name="x")])
        def f(self, x):
            return {"y": tf.matmul(x, self.w)}

    return _TwoSignatures, _SparseDense


@pytest.fixture(scope="module")
def models(tmp_path_factory, tf):
    """Small .tflite files converted by this TensorFlow: float, full-int8, two signatures + Flex, float with
    its weights stored after the flatbuffer (the layout of models over 2 GB), sparse weights."""
    d = tmp_path_factory.mktemp("tflite")
    _TwoSignatures, _SparseDense = _tf_modules(tf)
    net = _keras_net()
    rng = np.random.RandomState(0)
    calibration = [rng.uniform(-1, 1, (1, 16, 16, 3)).astype("float32") for _ in range(4)]
    quant = tf.lite.TFLiteConverter.from_keras_model(net)
    quant.optimizations = [tf.lite.Optimize.DEFAULT]
    quant.representative_dataset = lambda: ([c] for c in calibration)
    quant.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    quant.inference_input_type = quant.inference_output_type = tf.int8
    module = _TwoSignatures()
    sigs = tf.lite.TFLiteConverter.from_concrete_functions(
        [module.as_text.get_concrete_function(), module.scale.get_concrete_function()], module)
    sigs.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    offsets = tf.lite.TFLiteConverter.from_keras_model(net)
    offsets._experimental_use_buffer_offset = True
    sparse_module = _SparseDense()
    sparse = tf.lite.TFLiteConverter.from_concrete_functions([sparse_module.f.get_concrete_function()],
                                                             sparse_module)
    sparse.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
    paths = {}
    for name, converter in (("float", tf.lite.TFLiteConverter.from_keras_model(net)), ("int8", quant),
                            ("signatures", sigs), ("offsets", offsets), ("sparse", sparse)):
        with contextlib.redirect_stdout(io.StringIO()):
            paths[name] = d / f"{name}.tflite"
            paths[name].write_bytes(converter.convert())
    return paths


def _read(path):
    return tflite.read(str(path), path.read_bytes())


def _interpreter(path):
    import tensorflow as tf

    return tf.lite.Interpreter(model_path=str(path))


@pytest.mark.parametrize("name", MODELS)
def test_tensors_match_interpreter(models, name):
    details = sorted(_interpreter(models[name]).get_tensor_details(), key=lambda d: d["index"])
    g = _read(models[name]).main
    assert len(g.tensors) == len(details)
    per_axis = 0
    for (key, t), d in zip(g.tensors.items(), details):
        assert t.name == key and (key == d["name"] or key.startswith(d["name"] + "#"))
        want = np.dtype(d["dtype"]).name
        assert t.dtype == {"bytes": "string", "object": "string"}.get(want, want)
        assert t.shape == list(d["shape"])
        signature = [None if x < 0 else x for x in d["shape_signature"]]
        assert t.shape_signature == signature or (t.shape_signature is None and signature == t.shape)
        qp = d["quantization_parameters"]
        if len(qp["scales"]):
            np.testing.assert_allclose(t.quantization.scale, qp["scales"], rtol=1e-7)
            assert t.quantization.zero_point == list(qp["zero_points"])
            if len(qp["scales"]) > 1:
                assert t.quantization.axis == qp["quantized_dimension"]
                per_axis += 1
            else:
                assert t.quantization.axis is None
        else:
            assert t.quantization is None or not t.quantization.scale
    if name == "int8":
        assert per_axis >= 3  # the conv, depthwise and dense weights (and their biases)


@pytest.mark.parametrize("name", MODELS)
def test_ops_match_interpreter(models, name):
    ops = _interpreter(models[name])._get_ops_details()
    g = _read(models[name]).main
    keys = list(g.tensors)
    assert [n.op for n in g.nodes] == [o["op_name"] for o in ops]
    for n, o in zip(g.nodes, ops):
        assert n.inputs == [keys[i] for i in o["inputs"] if i >= 0]
        assert n.outputs == [keys[i] for i in o["outputs"]]
        assert n.name == n.outputs[0]
        assert all(g.tensors[k].producer == n.name for k in n.outputs)
        assert n.op_version >= 1


@pytest.mark.parametrize("name", MODELS)
def test_io_and_signatures_match_interpreter(models, name):
    interp = _interpreter(models[name])
    model = _read(models[name])
    keys = list(model.main.tensors)
    assert model.main.inputs == [keys[d["index"]] for d in interp.get_input_details()]
    assert model.main.outputs == [keys[d["index"]] for d in interp.get_output_details()]
    full = interp._get_full_signature_list()
    assert {s.name: {"inputs": sorted(s.inputs), "outputs": sorted(s.outputs)} for s in model.signatures} == \
        {k: {"inputs": sorted(v["inputs"]), "outputs": sorted(v["outputs"])}
         for k, v in interp.get_signature_list().items()}
    for s in model.signatures:
        tensors = list(model.graphs[s.subgraph].tensors.values())
        for side in ("inputs", "outputs"):
            for key, t in getattr(s, side).items():
                assert tensors.index(t) == full[s.name][side][key]


@pytest.mark.parametrize("name", ["float", "int8", "offsets"])
def test_weights_load_like_the_interpreter(models, name):
    interp = _interpreter(models[name])
    tensors = list(_read(models[name]).main.tensors.values())
    checked = 0
    for d in interp.get_tensor_details():
        t = tensors[d["index"]]
        if t.const is not None:
            assert t.const.loader is not None
            expected = interp.get_tensor(d["index"])
            assert t.const.nbytes == expected.nbytes
            np.testing.assert_array_equal(t.const.value(), expected)
            checked += 1
    assert checked >= 6  # conv, depthwise, pointwise and dense weights and biases


def test_options_decoded(models):
    for name in ("float", "int8"):
        nodes = {}
        for n in _read(models[name]).main.nodes:
            nodes.setdefault(n.op, n)
        conv = nodes["CONV_2D"].attrs
        assert (conv["padding"], conv["stride_w"], conv["stride_h"]) == ("SAME", 2, 2)
        assert conv["fused_activation_function"] == "RELU6"
        assert (conv["dilation_w_factor"], conv["dilation_h_factor"]) == (1, 1)
        dw = nodes["DEPTHWISE_CONV_2D"].attrs
        assert (dw["depth_multiplier"], dw["padding"], dw["dilation_h_factor"]) == (1, "SAME", 1)
        fc = nodes["FULLY_CONNECTED"].attrs
        assert fc["weights_format"] == "DEFAULT" and fc["keep_num_dims"] is False
        pool = nodes["MAX_POOL_2D"].attrs
        assert (pool["filter_width"], pool["filter_height"], pool["padding"]) == (2, 2, "VALID")
        assert nodes["ADD"].attrs["fused_activation_function"] == "NONE"
        assert nodes["CONCATENATION"].attrs["axis"] in (3, -1)
        assert nodes["SOFTMAX"].attrs == {"beta": 1.0}
        assert nodes["RESHAPE"].attrs.get("new_shape") in (None, [1, 192])


def test_sparsity_matches_interpreter(models):
    details = _interpreter(models["sparse"]).get_tensor_details()
    tensors = list(_read(models["sparse"]).main.tensors.values())
    sparse = [d for d in details if d["sparsity_parameters"]]
    assert sparse
    for d in sparse:
        got, want = tensors[d["index"]].sparsity, d["sparsity_parameters"]
        assert got["traversal_order"] == list(want["traversal_order"])
        assert got["block_map"] == list(want["block_map"])
        assert got["dim_format"] == [["DENSE", "SPARSE_CSR"][m["format"]] for m in want["dim_metadata"]]
        assert [n for n, m in zip(got["dense_size"], want["dim_metadata"]) if m["format"] == 0] == \
            [m["dense_size"] for m in want["dim_metadata"] if m["format"] == 0]
        assert tensors[d["index"]].const.nbytes > 0 and tensors[d["index"]].const.loader is None


def test_subgraphs_calls_and_custom_ops(models):
    model = _read(models["signatures"])
    assert [g.kind for g in model.graphs] == ["main"] + ["subgraph"] * (len(model.graphs) - 1)
    assert len({g.name for g in model.graphs}) == len(model.graphs)
    nodes = [n for g in model.graphs for n in g.nodes]
    flex = next(n for n in nodes if n.op.startswith("Flex"))
    assert flex.op == "FlexAsString" and flex.custom and flex.attrs["custom_options_bytes"] > 0
    names = {g.name for g in model.graphs}
    branch = next(n for n in nodes if n.op == "IF")
    loop = next(n for n in nodes if n.op == "WHILE")
    assert len(branch.calls) == 2 and len(loop.calls) == 2 and set(branch.calls + loop.calls) <= names
    assert model.graphs[branch.attrs["then_subgraph_index"]].name == branch.calls[0]
    assert model.graphs[loop.attrs["body_subgraph_index"]].name == loop.calls[1]
    assert {s.name: s.subgraph for s in model.signatures} == {"as_text": 0, "scale": 1}


@pytest.mark.parametrize("name", MODELS)
def test_model_facts(models, name):
    data = models[name].read_bytes()
    model = tflite.read("m", data)
    assert model.format == "tflite" and model.file_size == len(data) and model.format_version == "3"
    assert model.producer == "MLIR Converted."
    assert model.metadata["min_runtime_version"]["value"][0].isdigit()
    assert model.details["trailing_bytes"] == 0
    if name == "offsets":  # weights after the flatbuffer, found through Buffer.offset / Buffer.size
        assert model.details["flatbuffer_size"] < len(data) - 4000
    else:
        assert model.details["flatbuffer_size"] == len(data)
    assert set(model.details["operator_codes"]) == {n.op for g in model.graphs for n in g.nodes}
    assert model.details["subgraphs"] == len(model.graphs) and not model.warnings


@pytest.mark.parametrize("name", MODELS)
def test_mapped_file_reads_like_its_bytes(models, name):
    """read_file (a read-only memory map, what the CLI uses) gives the model read(bytes) gives, values too."""
    a, b = _read(models[name]), tflite.read_file(str(models[name]))
    assert (a.file_size, a.details, a.metadata, a.warnings) == (b.file_size, b.details, b.metadata, b.warnings)
    for ga, gb in zip(a.graphs, b.graphs, strict=True):
        assert [(n.name, n.op, n.inputs, n.outputs, n.attrs) for n in ga.nodes] == \
            [(n.name, n.op, n.inputs, n.outputs, n.attrs) for n in gb.nodes]
        assert list(ga.tensors) == list(gb.tensors)
        for ta, tb in zip(ga.tensors.values(), gb.tensors.values()):
            assert (ta.dtype, ta.shape, ta.quantization, ta.sparsity) == (tb.dtype, tb.shape, tb.quantization,
                                                                          tb.sparsity)
            assert (ta.const is None) == (tb.const is None)
            if ta.const is not None:
                assert ta.const.nbytes == tb.const.nbytes
                va, vb = ta.const.value(), tb.const.value()
                assert (va is None) == (vb is None)
                if va is not None:
                    np.testing.assert_array_equal(va, vb)


def test_reader_does_not_import_tensorflow(models):
    probe = ("import sys; from graphreport.readers import tflite; p = sys.argv[1]; "
             "tflite.read(p, open(p, 'rb').read()); tflite.read_file(p); print('tensorflow' in sys.modules)")
    for name in MODELS:
        out = subprocess.run([sys.executable, "-c", probe, str(models[name])], capture_output=True, text=True,
                             timeout=120, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "False"


def test_appended_zip_still_reads(models):
    data = models["int8"].read_bytes()
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as z:
        z.writestr("labels.txt", "\n".join(f"label_{i}" for i in range(1200)))
    junk = archive.getvalue()
    assert len(junk) > 10_000
    a, b = tflite.read("a", data), tflite.read("b", data + junk)
    assert b.details["trailing_bytes"] == len(junk) and b.details["flatbuffer_size"] == len(data)
    assert [(n.name, n.op, n.inputs, n.outputs, n.attrs) for n in a.main.nodes] == \
        [(n.name, n.op, n.inputs, n.outputs, n.attrs) for n in b.main.nodes]
    assert [(t.name, t.dtype, t.shape, t.quantization) for t in a.main.tensors.values()] == \
        [(t.name, t.dtype, t.shape, t.quantization) for t in b.main.tensors.values()]


# ---------------------------------------------------------------------------------------------------------
# Hostile files: every damage is a BadModelError, raised quickly
# ---------------------------------------------------------------------------------------------------------

def _refused(data: bytes) -> str:
    err, work = calls(tflite.read, "bad.tflite", data)
    assert isinstance(err, BadModelError), err
    assert work < work_bound(data), work  # refused without a loop over a length the file claims
    assert "\n" not in str(err)
    return str(err)


def _target(data: bytes, table: int, field: int) -> int:
    """Where an offset field of a table points (plain flatbuffer arithmetic, independent of the reader)."""
    vtable = table - struct.unpack_from("<i", data, table)[0]
    slot = table + struct.unpack_from("<H", data, vtable + 4 + 2 * field)[0]
    return slot + struct.unpack_from("<I", data, slot)[0]


@pytest.mark.parametrize("fraction", [0.002, 0.01, 0.1, 0.3, 0.5, 0.8, 0.99])
def test_truncated_files_are_refused(fraction):
    data = FLOAT_SAMPLE.read_bytes()
    _refused(data[:max(8, int(len(data) * fraction))])


def test_random_bytes_after_the_header_are_refused():
    rng = random.Random(3)
    for size in [8, 12, 64, 512, 4096] * 20:
        body = bytes(rng.getrandbits(8) for _ in range(size))
        _refused(body[:4] + b"TFL3" + body[8:])


def test_root_outside_the_file_is_refused():
    data = bytearray(FLOAT_SAMPLE.read_bytes())
    for root in (len(data), len(data) - 2, 0xFFFFFFFF):
        data[0:4] = struct.pack("<I", root)
        assert "outside the file" in _refused(bytes(data))


def test_huge_vector_lengths_are_refused():
    data = FLOAT_SAMPLE.read_bytes()
    root = struct.unpack_from("<I", data, 0)[0]
    subgraphs = _target(data, root, 2)
    subgraph = subgraphs + 4 + struct.unpack_from("<I", data, subgraphs + 4)[0]
    tensors = _target(data, subgraph, 0)
    tensor0 = tensors + 4 + struct.unpack_from("<I", data, tensors + 4)[0]
    shape = _target(data, tensor0, 0)
    for where in (subgraphs, tensors, shape, _target(data, root, 4)):
        for count in (0x7FFFFFFF, 0xFFFFFFFF, len(data)):
            patched = bytearray(data)
            patched[where:where + 4] = struct.pack("<I", count)
            _refused(bytes(patched))


def test_random_patches_raise_only_bad_model_error(models):
    data = models["signatures"].read_bytes()
    rng = random.Random(7)
    refused = 0
    for _ in range(400):
        patched = bytearray(data)
        for _ in range(rng.choice([1, 1, 3])):
            pos = rng.randrange(0, len(data) - 4)
            patched[pos:pos + 4] = rng.choice([b"\xff\xff\xff\x7f", b"\x00\x00\x00\x80", b"\xf0\xff\xff\xff",
                                               b"\x00\x00", struct.pack("<I", rng.randrange(len(data)))])
        result, work = calls(tflite.read, "p", bytes(patched))
        assert work < work_bound(data), work
        if isinstance(result, Exception):
            assert isinstance(result, BadModelError), result
            refused += 1
    assert refused > 40, refused


# ---------------------------------------------------------------------------------------------------------
# Hand-built flatbuffers: naming rules, unknown codes, aliased vectors
# ---------------------------------------------------------------------------------------------------------

def _vector(b, items, prepend, size=4):
    b.StartVector(size, len(items), size)
    for x in reversed(items):
        prepend(x)
    return b.EndVector()


def _handmade(tensor_names, ops, opcodes, shared_shape=None, tensor_copies=1):
    """A TFLite model from field ids alone: one subgraph, ops as (opcode index, inputs, outputs, options type)."""
    b = flatbuffers.Builder(1024)
    shape = _vector(b, shared_shape or [1, 2], b.PrependInt32)
    tensors = []
    for name in tensor_names:
        s = b.CreateString(name)
        b.StartObject(8)
        b.PrependUOffsetTRelativeSlot(0, shape, 0)
        b.PrependUOffsetTRelativeSlot(3, s, 0)
        tensors.append(b.EndObject())
    operators = []
    for code, ins, outs, options_type in ops:
        vi, vo = _vector(b, ins, b.PrependInt32), _vector(b, outs, b.PrependInt32)
        b.StartObject(5)
        b.PrependUint32Slot(0, code, 0)
        b.PrependUOffsetTRelativeSlot(1, vi, 0)
        b.PrependUOffsetTRelativeSlot(2, vo, 0)
        b.PrependUint8Slot(3, options_type, 0)
        operators.append(b.EndObject())
    codes = []
    for builtin in opcodes:
        b.StartObject(4)
        b.PrependInt32Slot(3, builtin, 0)
        b.PrependInt32Slot(2, 1, 1)
        codes.append(b.EndObject())
    vt = _vector(b, tensors * tensor_copies, b.PrependUOffsetTRelative)
    vops = _vector(b, operators, b.PrependUOffsetTRelative)
    vin = _vector(b, [0], b.PrependInt32)
    b.StartObject(5)
    b.PrependUOffsetTRelativeSlot(0, vt, 0)
    b.PrependUOffsetTRelativeSlot(1, vin, 0)
    b.PrependUOffsetTRelativeSlot(3, vops, 0)
    sg = b.EndObject()
    b.StartObject(0)
    empty = b.EndObject()
    vsg = _vector(b, [sg], b.PrependUOffsetTRelative)
    vcodes = _vector(b, codes, b.PrependUOffsetTRelative)
    vbuf = _vector(b, [empty], b.PrependUOffsetTRelative)
    b.StartObject(8)
    b.PrependUint32Slot(0, 3, 0)
    b.PrependUOffsetTRelativeSlot(1, vcodes, 0)
    b.PrependUOffsetTRelativeSlot(2, vsg, 0)
    b.PrependUOffsetTRelativeSlot(4, vbuf, 0)
    b.Finish(b.EndObject(), file_identifier=b"TFL3")
    return bytes(b.Output())


def test_names_are_made_unique_and_unknown_codes_are_shown():
    # opcode 0: ADD with an options type this reader has no table for; opcode 1: a builtin code from the future
    data = _handmade(["", "a", "a", "a#2", "b"], [(0, [0, -1], [4], 250), (1, [4], [4], 0), (1, [1], [4], 0)],
                     [0, 250])
    model = tflite.read("h", data)
    g = model.main
    assert list(g.tensors) == ["#0", "a#1", "a#2#1", "a#2", "b"]
    assert [n.name for n in g.nodes] == ["b", "b#1", "b#2"]
    assert [n.op for n in g.nodes] == ["ADD", "BUILTIN_250", "BUILTIN_250"]
    assert g.nodes[0].inputs == ["#0"] and g.nodes[0].attrs == {"options": "BuiltinOptions_250 (not decoded)"}
    assert g.inputs == ["#0"] and g.tensors["b"].producer == "b#2"
    assert model.details["operator_codes"] == ["ADD", "BUILTIN_250"] and model.warnings


def test_inconsistent_indices_are_refused():
    assert "names tensor 9" in _refused(_handmade(["x", "y"], [(0, [9], [1], 0)], [0]))
    assert "operator code 4" in _refused(_handmade(["x", "y"], [(4, [0], [1], 0)], [0]))


def test_aliased_vectors_are_refused_quickly():
    # 60,000 tensor entries all pointing at one tensor whose shape has 60,000 dims: 240 KB that would
    # otherwise make the reader decode 3.6 billion numbers.
    data = _handmade(["t"], [], [0], shared_shape=[1] * 60_000, tensor_copies=60_000)
    assert len(data) < 600_000
    assert "overlapping" in _refused(data)
