"""The TFLite reader agrees with TensorFlow's own interpreter, and refuses damaged files cleanly."""
import random

import numpy as np
import pytest
import tensorflow as tf

import refmodels
from conftest import SAMPLES
from graphreport.errors import BadModelError
from graphreport.readers import tflite

FILES = [SAMPLES / "tiny_mobilenet_float.tflite", SAMPLES / "tiny_mobilenet_int8.tflite"]


@pytest.fixture(scope="module", params=["float", "int8", "mobilenetv2"])
def model_file(request):
    if request.param == "mobilenetv2":
        return refmodels.tflite_model("MobileNetV2")
    return FILES[0] if request.param == "float" else FILES[1]


def _read(path):
    return tflite.read(str(path), path.read_bytes())


def test_tensors_match_interpreter(model_file):
    interp = tf.lite.Interpreter(model_path=str(model_file))
    details = sorted(interp.get_tensor_details(), key=lambda d: d["index"])
    g = _read(model_file).main
    tensors = list(g.tensors.values())
    assert len(tensors) == len(details)
    for t, d in zip(tensors, details):
        assert t.name.split("#")[0] == d["name"]
        assert t.dtype == np.dtype(d["dtype"]).name
        assert t.shape == list(d["shape"])
        if t.shape_signature is not None:
            assert t.shape_signature == [None if x < 0 else x for x in d["shape_signature"]]
        qp = d["quantization_parameters"]
        if len(qp["scales"]):
            assert t.quantization is not None
            np.testing.assert_allclose(t.quantization.scale, qp["scales"], rtol=1e-6)
            assert t.quantization.zero_point == list(qp["zero_points"])
            if len(qp["scales"]) > 1:
                assert t.quantization.axis == qp["quantized_dimension"]


def test_ops_and_io_match_interpreter(model_file):
    interp = tf.lite.Interpreter(model_path=str(model_file))
    model = _read(model_file)
    g = model.main
    ops = interp._get_ops_details()
    assert [n.op for n in g.nodes] == [o["op_name"] for o in ops]
    keys = list(g.tensors)
    for n, o in zip(g.nodes, ops):
        assert n.inputs == [keys[i] for i in o["inputs"] if i >= 0]
        assert n.outputs == [keys[i] for i in o["outputs"]]
    assert [g.tensors[k].name.split("#")[0] for k in g.inputs] == [d["name"] for d in interp.get_input_details()]
    assert [g.tensors[k].name.split("#")[0] for k in g.outputs] == [d["name"] for d in interp.get_output_details()]
    sigs = interp.get_signature_list()
    assert {s.name for s in model.signatures} == set(sigs)
    for s in model.signatures:
        assert sorted(s.inputs) == sorted(sigs[s.name]["inputs"])
        assert sorted(s.outputs) == sorted(sigs[s.name]["outputs"])


def test_weights_load_like_the_interpreter():
    path = FILES[1]
    interp = tf.lite.Interpreter(model_path=str(path))
    g = _read(path).main
    by_index = list(g.tensors.values())
    checked = 0
    for d in interp.get_tensor_details():
        t = by_index[d["index"]]
        if t.const is not None and t.const.loader is not None:
            np.testing.assert_array_equal(t.const.value(), interp.get_tensor(d["index"]))
            checked += 1
    assert checked >= 5


def test_conv_options_decoded():
    g = _read(FILES[0]).main
    conv = next(n for n in g.nodes if n.op == "CONV_2D")
    assert conv.attrs["padding"] in ("SAME", "VALID")
    assert conv.attrs["stride_w"] >= 1 and conv.attrs["dilation_w_factor"] == 1
    assert conv.attrs["fused_activation_function"] in ("RELU6", "RELU", "NONE")
    dw = next(n for n in g.nodes if n.op == "DEPTHWISE_CONV_2D")
    assert dw.attrs["depth_multiplier"] == 1


def test_trailing_bytes_still_read(tmp_path):
    data = FILES[0].read_bytes()
    junk = b"PK\x03\x04" + bytes(random.Random(0).getrandbits(8) for _ in range(10_000))
    a = tflite.read("a", data)
    b = tflite.read("b", data + junk)
    assert [n.op for n in a.main.nodes] == [n.op for n in b.main.nodes]
    assert list(a.main.tensors) == list(b.main.tensors)
    assert b.details["trailing_bytes"] >= len(junk)


@pytest.mark.parametrize("cut", [8, 16, 64, 200, 1000, 3000, -100])
def test_truncated_files_are_refused(cut):
    data = FILES[0].read_bytes()
    with pytest.raises(BadModelError):
        tflite.read("t", data[:cut])


def test_patched_offsets_are_refused():
    data = bytearray(FILES[0].read_bytes())
    rng = random.Random(7)
    refused = 0
    for _ in range(300):
        d = bytearray(data)
        pos = rng.randrange(0, min(len(d) - 4, 2000))
        d[pos:pos + 4] = rng.choice([b"\xff\xff\xff\x7f", b"\x00\x00\x00\x80", b"\xf0\xff\xff\xff"])
        try:
            tflite.read("p", bytes(d))
        except BadModelError:
            refused += 1
    assert refused > 10  # many patches hit offsets; none may raise anything but BadModelError


def test_random_body_is_refused():
    rng = random.Random(3)
    for _ in range(50):
        body = bytes(rng.getrandbits(8) for _ in range(512))
        with pytest.raises(BadModelError):
            tflite.read("r", body[:4] + b"TFL3" + body[8:])
