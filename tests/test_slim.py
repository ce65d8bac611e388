"""readers/slim.py: big Const weights cut out of a binary GraphDef before protobuf parses it."""
from __future__ import annotations

import struct

import pytest

from graphreport.readers import graphdef, slim, tfproto


def _graph(sizes=(70_000, 10, 200_000), extra=None) -> tfproto.GraphDef:
    """Consts of `sizes` bytes of float32 content each, and an op using them (attrs of every kind)."""
    g = tfproto.GraphDef()
    for k, nbytes in enumerate(sizes):
        n = g.node.add(name=f"w{k}", op="Const")
        n.attr["dtype"].type = 1
        t = n.attr["value"].tensor
        t.dtype = 1
        t.tensor_shape.dim.add(size=nbytes // 4)
        t.tensor_content = struct.pack("<f", 0.5 + k) * (nbytes // 4)
        n.attr["_class"].list.s.append(b"loc:@x")
    op = g.node.add(name="add", op="AddN", input=[f"w{k}" for k in range(len(sizes))], device="/cpu:0")
    op.attr["N"].i = len(sizes)
    op.attr["T"].type = 1
    if extra:
        extra(g)
    g.versions.producer = 1234
    return g


def _parsed(data) -> tfproto.GraphDef:
    g = tfproto.GraphDef()
    g.ParseFromString(bytes(data))
    return g


def test_big_contents_are_cut_and_everything_else_kept():
    g = _graph()
    data = g.SerializeToString()
    out, cut = slim.slim_graphdef(data)
    assert cut == {0: 70_000 // 4 * 4, 2: 200_000}  # the 10-byte tensor is kept
    assert len(out) < len(data) - 270_000
    expected = _graph()
    for k in cut:
        expected.node[k].attr["value"].tensor.ClearField("tensor_content")
    assert _parsed(out) == expected


def test_nothing_to_cut_gives_the_same_buffer():
    data = _graph(sizes=(10, 20)).SerializeToString()
    out, cut = slim.slim_graphdef(data)
    assert out is data and cut == {}


@pytest.mark.parametrize("how", ["two value entries", "content twice", "tensor twice"])
def test_a_node_protobuf_would_merge_is_left_as_it_is(how):
    t = _graph(sizes=(100_000,)).node[0].attr["value"].tensor.SerializeToString()
    if how == "content twice":
        t += _rec(4, b"\x00" * 80_000)  # protobuf keeps the last
    attr = _rec(8, t) + (_rec(8, t) if how == "tensor twice" else b"")  # protobuf merges the two
    entry = _rec(5, _rec(1, b"value") + _rec(2, attr))
    body = _rec(1, b"w0") + _rec(2, b"Const") + entry + (entry if how == "two value entries" else b"")
    data = _rec(1, body)
    assert len(_parsed(data).node) == 1
    out, cut = slim.slim_graphdef(data)
    assert out is data and cut == {}


@pytest.mark.parametrize("cut_at", [1, 7, 100, 70_000, -3])
def test_a_damaged_file_goes_to_protobuf_whole(cut_at):
    data = _graph().SerializeToString()[:cut_at]
    out, cut = slim.slim_graphdef(data)
    assert out is data and cut == {}


def test_not_a_graphdef_goes_to_protobuf_whole():
    for data in (b"\xff" * 100, b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", bytes(range(256)) * 300):
        out, cut = slim.slim_graphdef(data)
        assert out is data and cut == {}


def test_cut_is_far_above_the_biggest_value_ever_loaded():
    # a constant's value is loaded (for shape arithmetic) up to MAX_SMALL_CONST elements of at most 8 bytes
    assert slim.CUT_BYTES > graphdef.MAX_SMALL_CONST * 8


def test_the_reader_gives_the_same_model_with_or_without_the_cut(tmp_path, monkeypatch):
    path = tmp_path / "g.pb"
    path.write_bytes(_graph(sizes=(400_000, 40, 800_000)).SerializeToString())
    monkeypatch.setattr(graphdef, "SLIM_ABOVE", 0)
    cut = graphdef.read_file(str(path))
    monkeypatch.setattr(graphdef, "SLIM_ABOVE", 1 << 40)
    whole = graphdef.read_file(str(path))

    def consts(m):
        return {t.name: (t.dtype, t.shape, t.const.nbytes, t.const.loader is None)
                for t in m.main.tensors.values() if t.const is not None}
    assert consts(cut) == consts(whole) == {
        "w0:0": ("float32", [100_000], 400_000, True), "w1:0": ("float32", [10], 40, False),
        "w2:0": ("float32", [200_000], 800_000, True)}
    assert cut.main.tensors["w1:0"].const.value().items == [1.5] * 10


def _rec(field: int, body: bytes) -> bytes:
    return tfproto.record(field, body)
