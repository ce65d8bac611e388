"""The readers' registry (graphreport/readers/registry.py) is the one list of formats: every row names a
reader that exists, every sample is claimed by the row of its format, and a new row is all detect.py, the
reports' display names and convert's source detection need."""
import json
import sys
import types

import pytest

from conftest import SAMPLES
from graphreport.model import Graph, Model
from graphreport.readers import detect, registry
from graphreport.readers.files import read_head

MANIFEST = json.loads((SAMPLES / "manifest.json").read_text())


@pytest.mark.parametrize("row", registry.READERS, ids=[r.module for r in registry.READERS])
def test_every_row_names_a_reader(row):
    mod = row.reader()
    assert callable(getattr(mod, row.read))
    assert row.match is None or callable(getattr(mod, row.match))
    assert row.magic or row.match, "a row is found by its magic bytes or by its match function"
    assert registry.display_names()[row.name] == row.display


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_each_sample_is_claimed_by_its_formats_row(entry):
    path = SAMPLES / entry["file"]
    if not path.exists():
        pytest.skip("sample missing")
    row = registry.find(str(path), b"" if path.is_dir() else read_head(str(path)), is_dir=path.is_dir())
    assert row is not None and row.name == entry["format"]


def test_one_row_adds_a_format(tmp_path, monkeypatch):
    """A toy format: one module (here made in memory) and one row, put before the GraphDef fallback."""
    toy = types.ModuleType("graphreport.readers.toy")
    toy.match = lambda path, head: False
    toy.read = lambda path: Model(format="toy", path=path, file_size=0, graphs=[Graph("main")])
    monkeypatch.setitem(sys.modules, "graphreport.readers.toy", toy)
    row = registry.Reader("toy", "Toy model", "toy", magic=((0, b"TOY!"),), suffixes=(".toy",), match=None)
    monkeypatch.setattr(registry, "READERS", registry.READERS[:-1] + (row,) + registry.READERS[-1:])
    f = tmp_path / "m.bin"
    f.write_bytes(b"TOY!" + bytes(60))
    assert detect.load(str(f)).format == "toy"  # by its magic, whatever the name
    assert registry.display_names()["toy"] == "Toy model"
    assert ".toy" in registry.suffixes(whole_names=False)


def test_convert_detects_through_the_registry():
    from graphreport.convert.source import detect as source_detect

    text = SAMPLES / "tf1_savedmodel_text"
    if not text.exists():
        pytest.skip("sample missing")
    assert source_detect(str(text)) == ("savedmodel", str(text), "")
    assert source_detect(str(text / "saved_model.pbtxt")) == ("savedmodel", str(text), "")
