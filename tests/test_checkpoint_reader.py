"""Checkpoint .index reader (compared with tf.train.list_variables), damaged and hostile .index files, and
the TF1 checkpoint reader (meta graph + index): every way of naming it, the input/output suggestion, the
freeze_graph command (run for real), and directories that hold no model."""
import json
import os
import random
import shlex
import shutil
import struct
import subprocess
import sys

import numpy as np
import pytest

from conftest import SAMPLES, import_tf as _tf, report_json, run_cli, tf_imported_by
from work import calls
from graphreport.errors import BadModelError
from graphreport.readers import checkpoint_index as ci
from graphreport.readers import detect, tfproto



def work_bound(data: bytes) -> int:
    """Calls allowed to read or refuse an index: a fixed part plus a few per byte (today at most ~170 calls on
    the small cases, ~0.4 per byte on 60,000 growing keys). A loop over a count the file claims (2**31
    entries) or keys rebuilt from scratch per entry take thousands of times more."""
    return 5_000 + 10 * len(data)

TF1 = SAMPLES / "tf1_training"
INDEX = TF1 / "model.ckpt.index"
MANIFEST = {e["file"]: e for e in json.loads((SAMPLES / "manifest.json").read_text())}
CKPT_ENTRY = MANIFEST.get("tf1_training/model.ckpt.meta")

pytestmark = pytest.mark.skipif(not INDEX.exists(), reason="sample_models/tf1_training is missing")


def _tf_variables(prefix) -> dict:
    """name -> (shape, dtype) as TensorFlow lists them."""
    tf = _tf()
    reader = tf.train.load_checkpoint(str(prefix))
    dtypes = reader.get_variable_to_dtype_map()
    return {n: (list(s), dtypes[n].name) for n, s in tf.train.list_variables(str(prefix))}


# ------------------------------------------------------------------------------------------------------
# the index reader against TensorFlow
@pytest.mark.requires_tf
def test_tf1_index_matches_tensorflow():
    ck = ci.read_index(str(INDEX))
    theirs = _tf_variables(TF1 / "model.ckpt")
    mine = {k: (e.shape, e.dtype) for k, e in ck.entries.items()}
    assert mine == theirs
    assert ck.num_shards == 1 and ck.endianness == "little"
    assert ck.header["num_shards"] == 1
    for v in ck.variables.values():
        assert v.nbytes == int(np.prod(v.shape, dtype=np.int64)) * np.dtype(v.dtype).itemsize


def test_tf1_index_matches_manifest_without_tensorflow():
    ck = ci.read_index(str(INDEX))
    want = {v["name"]: (v["shape"], v["dtype"]) for v in CKPT_ENTRY["variables"]}
    assert {k: (v.shape, v.dtype) for k, v in ck.variables.items()} == want
    assert sum(int(np.prod(v.shape)) for v in ck.variables.values()) == CKPT_ENTRY["checkpoint_elements"]


def test_prefix_is_accepted():
    assert ci.read_index(str(TF1 / "model.ckpt")).variables.keys() == ci.read_index(str(INDEX)).variables.keys()


@pytest.mark.requires_tf
@pytest.mark.parametrize("sample", ["keras_savedmodel", "tf1_savedmodel"])
def test_savedmodel_indexes_match_tensorflow(sample):
    prefix = SAMPLES / sample / "variables" / "variables"
    if not prefix.with_suffix(".index").exists():
        pytest.skip(f"{sample} missing (run sample_models/make_format_samples.py)")
    ck = ci.read_index(str(prefix) + ".index")
    assert {k: (e.shape, e.dtype) for k, e in ck.entries.items()} == _tf_variables(prefix)


@pytest.fixture(scope="module")
def big_tf2_checkpoint(tmp_path_factory, tf):
    """A TF2 object checkpoint with many variables of many dtypes: its index spans several data blocks."""
    rng = random.Random(0)
    dtypes = [tf.float32, tf.float16, tf.bfloat16, tf.float64, tf.int8, tf.uint8, tf.int32, tf.int64, tf.bool,
              tf.complex64, tf.string]
    variables = {}
    for i in range(2500):
        dt = dtypes[i % len(dtypes)]
        shape = [rng.randint(1, 3) for _ in range(rng.randint(0, 3))]
        name = f"v{i:04d}_" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(60))
        if dt == tf.string:
            value = tf.fill(shape, "x" * rng.randint(0, 5))
        else:
            value = tf.cast(tf.ones(shape), dt)
        variables[name] = tf.Variable(value)
    prefix = str(tmp_path_factory.mktemp("tf2ckpt") / "ckpt")
    path = tf.train.Checkpoint(**variables).write(prefix)
    return path


def test_multi_block_tf2_index_matches_tensorflow(big_tf2_checkpoint):
    data = open(big_tf2_checkpoint + ".index", "rb").read()
    stats = {}
    ci.parse_table(data, "x", stats)
    assert stats["data_blocks"] > 1 and stats["checksums_verified"]
    ck = ci.read_index(big_tf2_checkpoint + ".index")
    assert {k: (e.shape, e.dtype) for k, e in ck.entries.items()} == _tf_variables(big_tf2_checkpoint)
    assert ci.OBJECT_GRAPH_KEY in ck.entries and ci.OBJECT_GRAPH_KEY not in ck.variables
    data_size = os.path.getsize(ck.data_files()[0])
    assert all(0 <= e.offset and e.offset + e.size <= data_size for e in ck.entries.values())


def test_match():
    assert ci.match(str(INDEX))
    assert not ci.match(str(TF1 / "model.ckpt.meta"))
    assert not ci.match(str(SAMPLES / "tiny_mobilenet.pb"))


# ------------------------------------------------------------------------------------------------------
# damaged and hostile files
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _mask(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _block(entries, restarts_override=None) -> bytes:
    body = bytearray()
    restarts = []
    for key, value in entries:
        restarts.append(len(body))
        body += _varint(0) + _varint(len(key)) + _varint(len(value)) + key + value
    restarts = restarts if restarts_override is None else restarts_override
    for r in restarts:
        body += struct.pack("<I", r)
    body += struct.pack("<I", len(restarts) if restarts_override is None else len(restarts_override))
    return bytes(body)


def _trailer(body: bytes, kind: int = 0) -> bytes:
    return bytes([kind]) + struct.pack("<I", _mask(ci.crc32c(bytes([kind]), ci.crc32c(body))))


def _table(entries, per_block=2, handles=None, magic=ci.MAGIC, index_handle=None) -> bytes:
    """A table in the documented layout, written by the test (not by TensorFlow)."""
    out = bytearray()
    index_entries = []
    for i in range(0, len(entries), per_block):
        chunk = entries[i:i + per_block]
        body = _block(chunk)
        index_entries.append((chunk[-1][0], _varint(len(out)) + _varint(len(body))))
        out += body + _trailer(body)
    if handles is not None:
        index_entries = handles
    meta = _block([])
    meta_off = len(out)
    out += meta + _trailer(meta)
    index = _block(index_entries)
    idx_off = len(out)
    out += index + _trailer(index)
    footer = _varint(meta_off) + _varint(len(meta))
    footer += index_handle if index_handle is not None else _varint(idx_off) + _varint(len(index))
    footer += b"\0" * (40 - len(footer)) + struct.pack("<Q", magic)
    return bytes(out + footer)


def _bundle(n=5) -> list:
    header = tfproto.BundleHeaderProto(num_shards=1)
    entries = [(b"", header.SerializeToString())]
    for i in range(n):
        e = tfproto.BundleEntryProto(dtype=1, offset=16 * i, size=16)
        e.shape.dim.add(size=4)
        entries.append((f"var{i}".encode(), e.SerializeToString()))
    return entries


def _expect_bad(data: bytes, *words):
    err, work = calls(ci.read_index_bytes, data, "bad.index")
    assert isinstance(err, BadModelError), err
    msg = str(err)
    assert "\n" not in msg and msg.startswith("bad.index: ")
    for w in words:
        assert w in msg, msg
    assert work < work_bound(data), work  # refused without a loop over a length the file claims
    return msg


def test_handmade_table_reads():
    ck = ci.read_index_bytes(_table(_bundle(7), per_block=3), "ok.index")
    assert sorted(ck.variables) == [f"var{i}" for i in range(7)]
    assert ck.variables["var3"].shape == [4] and ck.variables["var3"].nbytes == 16


def test_truncated_files():
    data = INDEX.read_bytes()
    for n in sorted({0, 1, 8, 47, 48, 49, len(data) // 3, len(data) // 2, len(data) - 49, len(data) - 48,
                     len(data) - 9, len(data) - 1}):
        _expect_bad(data[:n])
    _expect_bad(data[:20], "shorter than a table footer")


def test_bad_magic():
    data = bytearray(INDEX.read_bytes())
    data[-1] ^= 0xFF
    _expect_bad(bytes(data), "magic number")
    _expect_bad(_table(_bundle(), magic=0x1234), "magic number")


def test_handles_outside_the_file():
    entries = _bundle()
    _expect_bad(_table(entries, index_handle=_varint(10**9) + _varint(10)), "outside the file")
    _expect_bad(_table(entries, index_handle=_varint(0) + _varint(10**12)), "outside the file")
    _expect_bad(_table(entries, index_handle=_varint(2**64 - 1) + _varint(2**64 - 1)), "outside the file")
    _expect_bad(_table(entries, handles=[(b"z", _varint(5) + _varint(10**8))]), "outside the file")
    _expect_bad(_table(entries, index_handle=b"\xff" * 20), "varint")


def test_overlapping_and_repeated_blocks():
    entries = _bundle(4)
    body_len = len(_block(entries))
    same = _varint(0) + _varint(body_len)
    _expect_bad(_table(entries, per_block=5, handles=[(b"a", same), (b"b", same)]), "overlaps")


def test_bad_checksum_and_compression():
    data = bytearray(INDEX.read_bytes())
    data[3] ^= 0x01  # inside the first data block
    _expect_bad(bytes(data), "checksum")
    entries = _bundle()
    raw = bytearray(_table(entries, per_block=10))
    body_len = len(_block(entries))
    raw[body_len] = 1  # the first block's compression byte: snappy
    _expect_bad(bytes(raw), "snappy-compressed", "uncompressed")
    raw[body_len] = 9
    _expect_bad(bytes(raw), "compression type 9")


def test_damaged_blocks():
    entries = _bundle()
    # a restart count larger than the block
    body = _block(entries, restarts_override=[0] * 3)
    body = body[:-4] + struct.pack("<I", 0xFFFFFFFF)
    raw = body + _trailer(body)
    meta = _block([])
    index = _block([(b"z", _varint(0) + _varint(len(body)))])
    data = raw + meta + _trailer(meta) + index + _trailer(index)
    footer = _varint(len(raw)) + _varint(len(meta)) + _varint(len(raw) + len(meta) + 5) + _varint(len(index))
    data += footer + b"\0" * (40 - len(footer)) + struct.pack("<Q", ci.MAGIC)
    _expect_bad(data, "restart points")
    # an entry whose value runs past the block
    bad_entry = _varint(0) + _varint(3) + _varint(10**6) + b"abc"
    body = bad_entry + struct.pack("<I", 0) + struct.pack("<I", 1)
    raw = body + _trailer(body)
    index = _block([(b"z", _varint(0) + _varint(len(body)))])
    data = raw + meta + _trailer(meta) + index + _trailer(index)
    footer = _varint(len(raw)) + _varint(len(meta)) + _varint(len(raw) + len(meta) + 5) + _varint(len(index))
    data += footer + b"\0" * (40 - len(footer)) + struct.pack("<Q", ci.MAGIC)
    _expect_bad(data, "runs past")


def test_bad_entries():
    _expect_bad(_table(_bundle()[1:]), "no bundle header")
    entries = _bundle()
    entries[2] = (entries[2][0], b"\xff\xff\xff")
    _expect_bad(_table(entries), "does not parse")
    entries = _bundle()
    e = tfproto.BundleEntryProto(dtype=1, shard_id=7, size=4)
    entries[1] = (entries[1][0], e.SerializeToString())
    _expect_bad(_table(entries), "shard 7")
    entries = _bundle(3)
    entries[1], entries[2] = entries[2], entries[1]
    _expect_bad(_table(entries, per_block=10), "out of order")


def test_fuzzed_index_raises_only_bad_model_error():
    """Random byte damage (with block checksums recomputed half of the time, so the parser sees it)."""
    base = _table(_bundle(12), per_block=4)
    real = INDEX.read_bytes()
    rng = random.Random(1)
    for i in range(400):
        data = bytearray(real if i % 2 else base)
        for _ in range(rng.randint(1, 6)):
            pos = rng.randrange(len(data))
            data[pos] = rng.randrange(256)
        ck, work = calls(ci.read_index_bytes, bytes(data), "fuzz.index")
        assert work < work_bound(data), work
        if isinstance(ck, BadModelError):
            assert "\n" not in str(ck)
            continue
        assert isinstance(ck.variables, dict), ck


def test_read_index_file_errors(tmp_path):
    with pytest.raises(BadModelError, match="cannot read"):
        ci.read_index(str(tmp_path / "nothing.index"))
    (tmp_path / "empty.index").write_bytes(b"")
    with pytest.raises(BadModelError, match="footer"):
        ci.read_index(str(tmp_path / "empty.index"))


# ------------------------------------------------------------------------------------------------------
# the TF1 checkpoint: meta graph + index
NAMINGS = ["model.ckpt", "model.ckpt.meta", "model.ckpt.index", "model.ckpt.data-00000-of-00001", "checkpoint", "."]


@pytest.mark.parametrize("name", NAMINGS)
def test_every_naming_reads_the_same_checkpoint(name):
    m = detect.load(str(TF1 / name) if name != "." else str(TF1))
    assert m.format == "checkpoint"
    assert os.path.basename(m.path) == "model.ckpt.meta"
    assert m.details["checkpoint_prefix"].endswith("model.ckpt")
    assert len(m.main.nodes) == CKPT_ENTRY["node_count"]
    assert {v.name: (v.shape, v.dtype) for v in m.variables} == \
        {v["name"]: (v["shape"], v["dtype"]) for v in CKPT_ENTRY["variables"]}
    want_files = sorted(os.path.basename(f) for f in CKPT_ENTRY["checkpoint_files"])
    assert sorted(m.details["checkpoint_files"]) == want_files


@pytest.fixture(scope="module")
def ckpt_report():
    return report_json(TF1 / "model.ckpt.meta")


def test_checkpoint_suggestion(ckpt_report):
    r = ckpt_report
    assert r["format"] == "checkpoint"
    assert r["inputs"] == CKPT_ENTRY["inputs"]
    assert r["outputs"] == CKPT_ENTRY["outputs"]
    assert sorted((x["name"], x["role"]) for x in r["ignored_inputs"]) == \
        sorted((x["name"], x["role"]) for x in CKPT_ENTRY["ignored_inputs"])
    for cat in ("saver", "optimizer", "summary"):
        assert r["set_apart"].get(cat, 0) > 0, cat
    from graphreport.analysis.io_suggest import categorize
    m = detect.load(str(TF1))
    for o in r["outputs"]:
        assert categorize(m.main.node(o["name"])) is None
    assert r["totals"]["params"] == pytest.approx(CKPT_ENTRY["params"], rel=0.005)
    assert r["has_variables"] is True


@pytest.mark.requires_tf
def test_checkpoint_freeze_command_works(ckpt_report, tmp_path):
    """The printed freeze_graph command, run as printed in a copy of the checkpoint folder."""
    cmd = next(c for c in ckpt_report["commands"] if "freeze_graph" in c["code"])
    code = cmd["code"]
    assert "--input_meta_graph=model.ckpt.meta" in code and "--input_checkpoint=model.ckpt" in code
    assert "--output_node_names=logits" in code
    _tf()
    work = tmp_path / "ckpt"
    shutil.copytree(TF1, work)
    argv = shlex.split(code.replace("\\\n", " "))
    assert argv[0] == "python"
    p = subprocess.run([sys.executable] + argv[1:], cwd=work, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    out = next(a.split("=", 1)[1] for a in argv if a.startswith("--output_graph="))
    gd = tfproto.GraphDef()
    gd.ParseFromString((work / out).read_bytes())
    names = {n.name for n in gd.node}
    assert "logits" in names and "input" in names
    assert not any(n.op in ("VariableV2", "SaveV2", "ApplyAdam") for n in gd.node)
    # and the frozen graph reports the same inputs and outputs
    r = report_json(work / out)
    assert r["inputs"] == ckpt_report["inputs"] and r["outputs"] == ckpt_report["outputs"]


def test_index_without_meta_is_explained(tmp_path):
    shutil.copy(INDEX, tmp_path / "model.ckpt.index")
    with pytest.raises(BadModelError, match=r"no model\.ckpt\.meta beside it"):
        detect.load(str(tmp_path / "model.ckpt.index"))
    with pytest.raises(BadModelError, match=r"\.meta"):
        detect.load(str(tmp_path))


def test_meta_without_index_warns(tmp_path):
    shutil.copy(TF1 / "model.ckpt.meta", tmp_path / "model.ckpt.meta")
    m = detect.load(str(tmp_path / "model.ckpt.meta"))
    assert not m.variables and any("model.ckpt.index is missing" in w for w in m.warnings)


def test_damaged_meta_is_bad_model(tmp_path):
    (tmp_path / "model.ckpt.meta").write_bytes((TF1 / "model.ckpt.meta").read_bytes()[:1000])
    shutil.copy(INDEX, tmp_path / "model.ckpt.index")
    with pytest.raises(BadModelError, match="MetaGraphDef"):
        detect.load(str(tmp_path / "model.ckpt"))


def test_state_file_with_absolute_foreign_path(tmp_path):
    for f in TF1.iterdir():
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "checkpoint").write_text('model_checkpoint_path: "/somewhere/else/model.ckpt"\n'
                                         'all_model_checkpoint_paths: "/somewhere/else/model.ckpt"\n')
    m = detect.load(str(tmp_path))
    assert m.details["checkpoint_prefix"] == str(tmp_path / "model.ckpt")


# ------------------------------------------------------------------------------------------------------
# directories
def test_directories_without_a_model(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BadModelError, match="empty directory"):
        detect.load(str(empty))
    partial = tmp_path / "partial"
    (partial / "variables").mkdir(parents=True)
    with pytest.raises(BadModelError, match="no saved_model.pb"):
        detect.load(str(partial))
    files = tmp_path / "files"
    files.mkdir()
    (files / "net.pb").write_bytes(b"x")
    (files / "notes.txt").write_text("x")
    with pytest.raises(BadModelError, match="net.pb"):
        detect.load(str(files))
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.txt").write_text("x")
    with pytest.raises(BadModelError, match="a.txt") as ei:
        detect.load(str(other))
    assert "\n" not in str(ei.value)


def test_directory_with_savedmodels_in_subfolders(tmp_path):
    if not (SAMPLES / "tf1_savedmodel").exists():
        pytest.skip("tf1_savedmodel missing")
    shutil.copytree(SAMPLES / "tf1_savedmodel", tmp_path / "1")
    with pytest.raises(BadModelError, match="1/"):
        detect.load(str(tmp_path))
    assert detect.load(str(tmp_path / "1")).format == "savedmodel"


def test_tfjs_folder_is_dispatched_or_explained(tmp_path):
    (tmp_path / "model.json").write_text("{}")
    try:
        detect.load(str(tmp_path))
    except BadModelError as e:
        assert "\n" not in str(e)
    if (SAMPLES / "tfjs_graph" / "model.json").exists():
        assert detect.load(str(SAMPLES / "tfjs_graph")).format == "tfjs"


def test_cli_exit_code_for_a_folder_without_model(tmp_path):
    p = run_cli("report", tmp_path, "--format", "json", "-o", "-")
    assert p.returncode == 2
    assert "empty directory" in p.stderr and "Traceback" not in p.stderr


def test_reports_do_not_import_tensorflow(tmp_path):
    models = ["tf1_training", "tf1_training/model.ckpt.index", "keras_savedmodel", "tf1_savedmodel"]
    runs = [("report", SAMPLES / m, "-o", tmp_path / f"r{i}.html", "--format", "html")
            for i, m in enumerate(models) if (SAMPLES / m).exists()]
    assert tf_imported_by(*runs) == ""


def _single_block_table(body: bytes) -> bytes:
    raw = body + _trailer(body)
    meta = _block([])
    index = _block([(b"z", _varint(0) + _varint(len(body)))])
    data = raw + meta + _trailer(meta) + index + _trailer(index)
    footer = _varint(len(raw)) + _varint(len(meta)) + _varint(len(raw) + len(meta) + 5) + _varint(len(index))
    return data + footer + b"\0" * (40 - len(footer)) + struct.pack("<Q", ci.MAGIC)


def test_growing_keys_are_bounded():
    """Each entry shares its whole previous key and adds one byte: keys would grow quadratically."""
    header = tfproto.BundleHeaderProto(num_shards=1).SerializeToString()
    body = bytearray(_varint(0) + _varint(0) + _varint(len(header)) + header)
    for i in range(1, 60_000):
        body += _varint(i - 1) + _varint(1) + _varint(0) + b"a"
    body += struct.pack("<I", 0) + struct.pack("<I", 1)
    _expect_bad(_single_block_table(bytes(body)), "expand to far more bytes")
    # one very long key
    body = bytearray(_varint(0) + _varint(0) + _varint(len(header)) + header)
    body += _varint(0) + _varint(20_000) + _varint(0) + b"k" * 20_000
    body += struct.pack("<I", 0) + struct.pack("<I", 1)
    _expect_bad(_single_block_table(bytes(body)), "longer than")
