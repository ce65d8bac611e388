"""readers/tfproto.py: TensorFlow's messages from our field table, made with protobuf's upb backend directly
(not through descriptor_pool / message_factory, which import protobuf's pure-Python implementation too), and
the same through the public factory (GRAPHREPORT_PROTOBUF_FACTORY=1, and for other backends)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from graphreport.readers import tfproto

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_models"


def _table(name: str) -> dict:
    """{field: (number, label)} of a message as the table declares it (maps are repeated entries)."""
    return {spec[0]: (spec[1], "repeated" if len(spec) > 3 or spec[2].startswith("map:") else "optional")
            for spec in tfproto.MESSAGES[name]}


@pytest.mark.parametrize("name", sorted(tfproto.MESSAGES))
def test_every_message_has_the_tables_fields(name):
    d = tfproto.message_class(name).DESCRIPTOR
    assert d.full_name == f"{tfproto.PACKAGE}.{name}"
    assert {f.name: (f.number, "repeated" if f.is_repeated else "optional") for f in d.fields} == _table(name)


def test_the_descriptor_is_the_one_protobuf_builds():
    # the file written by hand (wire format) parses as the FileDescriptorProto protobuf's own classes read
    from google.protobuf import descriptor_pb2

    fd = descriptor_pb2.FileDescriptorProto.FromString(tfproto.file_descriptor())
    assert fd.package == tfproto.PACKAGE and fd.syntax == "proto3"
    assert {m.name for m in fd.message_type} == {n for n in tfproto.MESSAGES if "." not in n}
    node = next(m for m in fd.message_type if m.name == "NodeDef")
    attr = next(f for f in node.field if f.name == "attr")
    entry = next(m for m in node.nested_type if m.name == "AttrEntry")
    assert attr.type_name == ".graphreport.tf.NodeDef.AttrEntry" and entry.options.map_entry
    assert {v.name: v.number for v in fd.enum_type[0].value}["DT_FLOAT_REF"] == 101


def test_a_graphdef_round_trips():
    g = tfproto.GraphDef()
    n = g.node.add(name="c", op="Const")
    n.attr["value"].tensor.tensor_shape.dim.add(size=3)
    n.attr["value"].tensor.float_val.extend([1.0, 2.0])
    n.attr["dtype"].type = 1
    back = tfproto.GraphDef.FromString(g.SerializeToString())
    assert back == g and back.node[0].attr["value"].WhichOneof("value") == "tensor"


REPORT = """
import json, sys
from graphreport.cli import main
code = main(["report", sys.argv[1], "--format", "json", "-o", sys.argv[2]])
print(json.dumps({"code": code, "pure_python_loaded": "google.protobuf.internal.python_message" in sys.modules,
                  "upb": type(__import__("graphreport.readers.tfproto").readers.tfproto.GraphDef).__module__}))
"""


@pytest.mark.parametrize("sample", ["tiny_mobilenet.pb", "tf1_training.pb", "keras_savedmodel", "tf1_training"])
def test_both_ways_of_making_the_classes_read_the_same(sample, tmp_path):
    outs = []
    for factory in ("", "1"):
        env = {k: v for k, v in os.environ.items() if k != "GRAPHREPORT_PROTOBUF_FACTORY"}
        if factory:
            env["GRAPHREPORT_PROTOBUF_FACTORY"] = factory
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        env["GRAPHREPORT_TIME_LIMIT"] = "0"  # the report in this process, not the guard's forked child
        out = tmp_path / f"r{factory}.json"
        p = subprocess.run([sys.executable, "-c", REPORT, str(SAMPLES / sample), str(out)], capture_output=True,
                           text=True, env=env, timeout=120)
        assert p.returncode == 0, p.stderr
        info = json.loads(p.stdout.splitlines()[-1])
        assert info["code"] == 0
        # the direct way loads none of protobuf's pure-Python implementation; the factory does
        assert info["pure_python_loaded"] is bool(factory)
        data = json.loads(out.read_text())
        data.pop("build_s", None)
        outs.append(data)
    assert outs[0] == outs[1]
