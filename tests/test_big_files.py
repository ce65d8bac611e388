"""Big files in little memory: a .tflite is mapped and read in place, its weights never touched; a GraphDef
over protobuf's 2 GiB limit is refused with one clear line before it is read.

The files are sparse (their weights are holes that read as zeros), so they cost no disk and build in a moment
with the flatbuffers builder (no TensorFlow). Reading a hole through a mapping still maps a page per 4 KiB,
so a reader that touched the weights would show it in its peak RSS: each check runs the whole CLI in a
child process and reads that child's own peak RSS (VmHWM), never a time.
"""
import json
import os
import subprocess
import sys

import flatbuffers
import pytest

from hostile import evil_graphdef

GIB = 1024**3
RSS_BOUND = 300 * 1024**2  # issue 10 / issue 13: a huge file reports within 300 MB

FLOAT32, FULLY_CONNECTED = 0, 9  # TFLite schema: TensorType.FLOAT32, BuiltinOperator.FULLY_CONNECTED


def _vector(b, items, prepend, size=4):
    b.StartVector(size, len(items), size)
    for x in reversed(items):
        prepend(x)
    return b.EndVector()


def sparse_dense_tflite(path, widths, data_at_end=True):
    """A chain of FULLY_CONNECTED layers (float32, batch 1) whose weights are stored after the flatbuffer
    (Buffer.offset / Buffer.size: the layout TensorFlow writes for models over 2 GB) in a sparse file.
    widths [w0, w1, ...] gives layer i the weights [w(i+1), w(i)]. Returns (file size, weight elements,
    MACs) as built."""
    layers = list(zip(widths[:-1], widths[1:]))
    sizes = [4 * n_in * n_out for n_in, n_out in layers]
    header = 1 << 20  # the flatbuffer comes first and is far smaller; the weights start at 1 MiB
    offsets, pos = [], header
    for size in sizes:
        offsets.append(pos)
        pos += size
    total = pos

    b = flatbuffers.Builder(4096)
    buffers = []
    for i in range(len(layers) + 1):  # buffer 0: the empty sentinel
        b.StartObject(3)
        if i:
            b.PrependUint64Slot(1, offsets[i - 1], 0)
            b.PrependUint64Slot(2, sizes[i - 1], 0)
        buffers.append(b.EndObject())
    tensors = []

    def tensor(name, shape, buffer):
        s, v = b.CreateString(name), _vector(b, shape, b.PrependInt32)
        b.StartObject(8)
        b.PrependUOffsetTRelativeSlot(0, v, 0)
        b.PrependInt8Slot(1, FLOAT32, 0)
        b.PrependUint32Slot(2, buffer, 0)
        b.PrependUOffsetTRelativeSlot(3, s, 0)
        tensors.append(b.EndObject())
        return len(tensors) - 1

    act = tensor("x", [1, widths[0]], 0)
    operators = []
    for i, (n_in, n_out) in enumerate(layers):
        w = tensor(f"dense_{i}/kernel", [n_out, n_in], i + 1)
        out = tensor(f"dense_{i}/out", [1, n_out], 0)
        vi, vo = _vector(b, [act, w, -1], b.PrependInt32), _vector(b, [out], b.PrependInt32)
        b.StartObject(5)
        b.PrependUint32Slot(0, 0, 0)
        b.PrependUOffsetTRelativeSlot(1, vi, 0)
        b.PrependUOffsetTRelativeSlot(2, vo, 0)
        operators.append(b.EndObject())
        act = out
    b.StartObject(4)
    b.PrependInt8Slot(0, FULLY_CONNECTED, 0)
    b.PrependInt32Slot(2, 1, 1)
    b.PrependInt32Slot(3, FULLY_CONNECTED, 0)
    code = b.EndObject()
    vt = _vector(b, tensors, b.PrependUOffsetTRelative)
    vops = _vector(b, operators, b.PrependUOffsetTRelative)
    vin, vout = _vector(b, [0], b.PrependInt32), _vector(b, [act], b.PrependInt32)
    b.StartObject(5)
    b.PrependUOffsetTRelativeSlot(0, vt, 0)
    b.PrependUOffsetTRelativeSlot(1, vin, 0)
    b.PrependUOffsetTRelativeSlot(2, vout, 0)
    b.PrependUOffsetTRelativeSlot(3, vops, 0)
    sg = b.EndObject()
    vsg = _vector(b, [sg], b.PrependUOffsetTRelative)
    vcodes = _vector(b, [code], b.PrependUOffsetTRelative)
    vbuf = _vector(b, buffers, b.PrependUOffsetTRelative)
    desc = b.CreateString("sparse test model")
    b.StartObject(8)
    b.PrependUint32Slot(0, 3, 0)
    b.PrependUOffsetTRelativeSlot(1, vcodes, 0)
    b.PrependUOffsetTRelativeSlot(2, vsg, 0)
    b.PrependUOffsetTRelativeSlot(3, desc, 0)
    b.PrependUOffsetTRelativeSlot(4, vbuf, 0)
    b.Finish(b.EndObject(), file_identifier=b"TFL3")
    flat = bytes(b.Output())
    assert len(flat) < header
    with open(path, "wb") as f:
        f.write(flat)
        if data_at_end:  # real bytes at the very end: the last weight buffer truly lies inside the file
            f.seek(total - 4096)
            f.write(b"\x01" * 4096)
        f.truncate(total)
    params = sum(n_in * n_out for n_in, n_out in layers)
    return total, params, params


def _sparse_or_skip(path, size):
    if os.stat(path).st_blocks * 512 > 64 * 1024**2:
        pytest.skip("this filesystem does not keep sparse files sparse")
    assert os.path.getsize(path) == size


MEASURED = """
import sys
from graphreport.cli import main
try:
    code = main(sys.argv[2:])
finally:
    with open("/proc/self/status") as f, open(sys.argv[1], "w") as out:
        out.write(next(line for line in f if line.startswith("VmHWM:")).split()[1])
sys.exit(code)
"""


def run_measured(*args):
    """`graphreport ...` (the CLI's main) in a child; (exit code, stdout, stderr, the child's peak RSS in bytes).
    The peak is the child's own high-water mark (VmHWM), read as it exits: ru_maxrss of a child forked from
    this process would start from this process's own peak (pytest with TensorFlow loaded)."""
    if not os.path.exists("/proc/self/status"):
        pytest.skip("needs /proc/self/status (Linux)")
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        peak = os.path.join(d, "peak")
        # GRAPHREPORT_TIME_LIMIT=0: the report runs in this process, not in the guard's forked child, whose
        # memory VmHWM here would not see
        p = subprocess.run([sys.executable, "-c", MEASURED, peak, *map(str, args)], capture_output=True,
                           text=True, timeout=300, env={**os.environ, "GRAPHREPORT_TIME_LIMIT": "0"})
        with open(peak) as f:
            return p.returncode, p.stdout, p.stderr, int(f.read()) * 1024


def test_2gib_buffer_inside_a_sparse_file_is_never_read(tmp_path):
    # issue 13: a buffer of 2 GiB whose declared offset and size are valid, in a file that really holds them
    model = tmp_path / "two_gib.tflite"
    size, params, macs = sparse_dense_tflite(model, [32768, 16384])  # 16384 x 32768 float32: 2 GiB
    _sparse_or_skip(model, size)
    assert size > 2 * GIB
    code, out, err, rss = run_measured("report", model, "--format", "json", "-o", "-")
    assert code == 0, err
    r = json.loads(out)
    assert r["totals"]["params"] == params == 2 * GIB // 4
    assert r["totals"]["macs"] == macs  # FULLY_CONNECTED: one MAC per weight at batch 1
    assert r["totals"]["weight_bytes"] == 2 * GIB
    (kernel,) = [t for t in r["tensors"] if t["name"] == "dense_0/kernel"]
    assert kernel["const_bytes"] == 2 * GIB
    assert rss < RSS_BOUND, f"peak RSS {rss / 1e6:.0f} MB: the weights were read"


def test_multi_gb_tflite_html_report_in_little_memory(tmp_path):
    # 6 GiB: larger than any whole-file read would allow (and than the 4 GiB a report reads of one file)
    model = tmp_path / "six_gib.tflite"
    size, params, _ = sparse_dense_tflite(model, [16384, 32768, 16384, 32768])
    _sparse_or_skip(model, size)
    assert size > 6 * GIB
    out = tmp_path / "r.html"
    code, _, err, rss = run_measured("report", model, "-o", out)
    assert code == 0, err
    html = out.read_text()
    assert f"{params:,}" in html and "<svg" in html
    assert rss < RSS_BOUND, f"peak RSS {rss / 1e6:.0f} MB: the weights were read"


def test_mapped_reader_touches_only_the_tables(tmp_path):
    """In process: after reading and analysing, the mapping of a 2 GiB-weight file has only a few pages
    resident (Rss of the mapping in /proc/self/smaps), and small constants still load through it."""
    if not os.path.exists("/proc/self/smaps"):
        pytest.skip("needs /proc/self/smaps (Linux)")
    model = tmp_path / "m.tflite"
    size, _, _ = sparse_dense_tflite(model, [32768, 16384])
    _sparse_or_skip(model, size)
    code = (
        "import sys; from graphreport.readers.detect import load; from graphreport.report import build_report\n"
        "m = load(sys.argv[1]); build_report(m, diagram=False)\n"
        "rss, inside, found = 0, False, 0\n"
        "for line in open('/proc/self/smaps'):\n"
        "    head = line.split()\n"
        "    if '-' in head[0] and len(head) >= 5 and ':' in head[3]:\n"
        "        inside = line.rstrip().endswith(sys.argv[1])\n"
        "        found += inside\n"
        "    elif inside and head[0] == 'Rss:':\n"
        "        rss += int(head[1]) * 1024\n"
        "print(found, rss)\n")
    p = subprocess.run([sys.executable, "-c", code, str(model)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    found, rss = map(int, p.stdout.split())
    assert found == 1, "the file is not mapped (read whole?)"  # mapped, and kept for the constants' loaders
    assert rss < 1024**2, f"{rss} bytes of the file resident"


def test_graphdef_over_protobufs_limit_is_refused_before_reading(tmp_path):
    model = tmp_path / "huge.pb"
    head = evil_graphdef()
    with open(model, "wb") as f:
        f.write(head)
        f.truncate(2 * GIB + 10)
    _sparse_or_skip(model, 2 * GIB + 10)
    out = tmp_path / "r.html"
    code, _, err, rss = run_measured("report", model, "-o", out)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("graphreport: error: ") and "Traceback" not in err
    assert "2 GiB limit" in lines[0] and str(model) in lines[0]
    assert not out.exists()
    assert rss < RSS_BOUND


def test_a_file_system_that_cannot_map_files_is_read_instead(tmp_path, monkeypatch):
    import mmap

    from graphreport.readers import tflite

    model = tmp_path / "small.tflite"
    sparse_dense_tflite(model, [64, 32, 16])
    mapped = tflite.read_file(str(model))

    def refuse(*args, **kwargs):
        raise OSError(19, "No such device")  # ENODEV: what mmap says on file systems without mapping

    monkeypatch.setattr(mmap, "mmap", refuse)
    read = tflite.read_file(str(model))
    assert [(n.name, n.op, n.inputs) for n in read.main.nodes] == [(n.name, n.op, n.inputs) for n in mapped.main.nodes]
    assert {k: t.const.nbytes for k, t in read.main.tensors.items() if t.const} == \
        {k: t.const.nbytes for k, t in mapped.main.tensors.items() if t.const} == \
        {"dense_0/kernel": 64 * 32 * 4, "dense_1/kernel": 32 * 16 * 4}


def aliased_tflite(path, copies=60_000, hole=0):
    """issue 13's aliasing attack: `copies` tensor entries all pointing at one tensor whose shape has `copies`
    dims (decoding it would mean copies^2 numbers), then a sparse hole of `hole` bytes."""
    b = flatbuffers.Builder(1024)
    shape = _vector(b, [1] * copies, b.PrependInt32)
    name = b.CreateString("t")
    b.StartObject(8)
    b.PrependUOffsetTRelativeSlot(0, shape, 0)
    b.PrependUOffsetTRelativeSlot(3, name, 0)
    tensor = b.EndObject()
    vt = _vector(b, [tensor] * copies, b.PrependUOffsetTRelative)
    b.StartObject(5)
    b.PrependUOffsetTRelativeSlot(0, vt, 0)
    sg = b.EndObject()
    vsg = _vector(b, [sg], b.PrependUOffsetTRelative)
    b.StartObject(8)
    b.PrependUint32Slot(0, 3, 0)
    b.PrependUOffsetTRelativeSlot(2, vsg, 0)
    b.Finish(b.EndObject(), file_identifier=b"TFL3")
    data = bytes(b.Output())
    with open(path, "wb") as f:
        f.write(data)
        f.truncate(len(data) + hole)
    return len(data)


@pytest.mark.parametrize("hole", [0, 3 * GIB])
def test_a_sparse_hole_buys_no_time_for_aliased_vectors(tmp_path, hole):
    """The work budget counts the bytes a file really holds: 240 KB of aliased tables followed by a 3 GiB hole
    are refused as quickly as without the hole (a budget from the file's size would allow 6 billion items)."""
    from graphreport.errors import BadModelError
    from graphreport.readers import tflite

    model = tmp_path / "aliased.tflite"
    aliased_tflite(model, hole=hole)
    if hole:
        _sparse_or_skip(model, os.path.getsize(model))
    with pytest.raises(BadModelError, match="overlapping"):
        tflite.read_file(str(model))
    code, _, err, rss = run_measured("report", model, "-o", tmp_path / "r.html")
    assert code == 2 and "overlapping" in err and len(err.strip().splitlines()) == 1, err
    assert rss < RSS_BOUND
