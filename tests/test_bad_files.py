"""Bad input: one line on stderr, exit code 2, no traceback, no output file, no hang."""
import os
import random

import pytest

from conftest import run_cli
from graphreport.readers import tfproto
from hostile import evil_graphdef


def _other_protobuf() -> bytes:
    """A valid protobuf of another kind: a checkpoint BundleEntryProto."""
    e = tfproto.BundleEntryProto(dtype=1, shard_id=0, offset=12, size=400)
    e.shape.dim.add(size=10)
    return e.SerializeToString()


def _saved_model_like() -> bytes:
    sm = tfproto.SavedModel(saved_model_schema_version=1)
    sm.meta_graphs.add().meta_info_def.tags.append("serve")
    return sm.SerializeToString()


def _huge_output_index() -> bytes:
    g = tfproto.GraphDef()
    g.node.add(name="a", op="Placeholder")
    g.node.add(name="b", op="Identity", input=["a:999999999"])
    return g.SerializeToString()


def _shape_attr_not_a_shape(op: str) -> bytes:
    """Found by `make fuzz` (graphdef:tiny_mobilenet.pb): a Placeholder whose `shape` attr holds a string
    ('\\x08\\x03', a flipped AttrValue field) went into the shape analysis as dims: ValueError, exit 1."""
    g = tfproto.GraphDef()
    p = g.node.add(name="p", op=op)
    p.attr["dtype"].type = 1
    p.attr["shape"].s = b"\x08\x03"
    g.node.add(name="r", op="Relu", input=["p"])
    return g.SerializeToString()


rng = random.Random(1234)
CASES = {
    "empty": b"",
    "random": bytes(rng.getrandbits(8) for _ in range(4096)),
    "text": b"hello, this is not a model\n" * 10,
    "truncated_graphdef": evil_graphdef()[:37],
    "other_protobuf": _other_protobuf(),
    "savedmodel_proto": _saved_model_like(),
    "tflite_magic_only": b"\x10\x00\x00\x00TFL3" + b"\x00" * 8,
    "tflite_root_outside": b"\xff\xff\xff\x7fTFL3" + bytes(64),
    "huge_varint_length": b"\x0a\xff\xff\xff\xff\x0f" + b"\x00" * 10,
    "deep_nesting": b"\x0a\x7f" * 200,
    "pbtxt_garbage": b"node { name: 'a' op: \n",
    "html": b"<html><body>not a model</body></html>",
    "huge_output_index": _huge_output_index(),
    "placeholder_shape_attr_is_a_string": _shape_attr_not_a_shape("Placeholder"),
    "variable_shape_attr_is_a_string": _shape_attr_not_a_shape("VariableV2"),
}


# through `python -m graphreport` (the process boundary: exit status, the guard's forked child, stderr as
# written); the other cases run the CLI in this process (conftest.run_cli)
IN_A_PROCESS = {"random", "deep_nesting", "huge_output_index"}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_file_gives_one_line_and_exit_2(tmp_path, case):
    model = tmp_path / f"{case}.pb"
    model.write_bytes(CASES[case])
    out = tmp_path / "out.html"
    p = run_cli("report", model, "-o", out, process=case in IN_A_PROCESS)
    assert p.returncode == 2, (p.returncode, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("graphreport: error: ")
    assert str(model) in lines[0]
    assert "Traceback" not in p.stderr
    assert not out.exists()
    assert [f for f in os.listdir(tmp_path) if f.startswith(".graphreport-")] == []


def test_missing_file_and_directory(tmp_path):
    for target in (tmp_path / "nope.pb", tmp_path):
        p = run_cli("report", target, "-o", tmp_path / "x.html")
        assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, p.stderr
        assert not (tmp_path / "x.html").exists()


def test_unwritable_output_leaves_nothing(tmp_path):
    model = tmp_path / "ok.pb"
    model.write_bytes(evil_graphdef())
    p = run_cli("report", model, "-o", tmp_path / "missing-dir" / "r.html", process=True)
    assert p.returncode != 0 and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


# --- the CLI boundary: bad input is the readers' BadModelError (exit 2); anything else is a bug (exit 1) ---

def _reader_bug(path):
    raise ValueError("a reader bug, not a bad file")  # what a reader must never let out for bad input


@pytest.mark.parametrize("limit", ["0", "30"], ids=["in-process", "guarded"])
@pytest.mark.parametrize("command", ["report", "diff"])
def test_unexpected_exception_is_internal_error_exit_1(tmp_path, monkeypatch, capfd, limit, command):
    """A ValueError (or KeyError, IndexError...) out of a reader is not turned into "cannot read the model"
    (exit 2), which would hide the bug: it reaches the catch-all, exit 1, "internal error" and the --debug hint,
    on one line, with no output file - in-process and through the time guard's forked child."""
    from graphreport import cli
    from graphreport.readers import detect

    monkeypatch.setattr(detect, "load", _reader_bug)
    monkeypatch.setenv("GRAPHREPORT_TIME_LIMIT", limit)
    model = tmp_path / "m.pb"
    model.write_bytes(evil_graphdef())
    out = tmp_path / "r.html"
    args = ["report", str(model)] if command == "report" else ["diff", str(model), str(model)]
    assert cli.main(args + ["-o", str(out)]) == 1
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("graphreport: internal error: ValueError: a reader bug")
    assert "--debug" in err[0] and "cannot read the model" not in err[0]
    assert not out.exists()


def test_debug_shows_the_reader_bug(tmp_path, monkeypatch):
    from graphreport import cli
    from graphreport.readers import detect

    monkeypatch.setattr(detect, "load", _reader_bug)
    model = tmp_path / "m.pb"
    model.write_bytes(evil_graphdef())
    with pytest.raises(ValueError, match="a reader bug"):
        cli.main(["report", str(model), "-o", str(tmp_path / "r.html"), "--debug"])
