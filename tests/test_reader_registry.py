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


def test_no_format_name_tests_outside_the_readers():
    """What a format does differently is a capability its reader sets on the model (Model.stores_shapes,
    declares_io, lists_tensors, has_architecture, variables_freeze_on_conversion, legacy_placeholder_shapes,
    execution_order_is_file_order; Graph.dialect, consts_are_weights, fused_names): the analyses and renderers
    never test a format's name. The readers, the converter (which picks its route by the source's format) and
    the conversion commands' table (analysis/commands.BY_FORMAT) are where format names belong."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "graphreport"
    names = "tflite|keras|savedmodel|tfjs|graphdef|checkpoint|metagraph|h5"
    test = re.compile(rf"\.format\s*(==|!=|in\b|not in\b)|\b(fmt|model_format)\s*(==|!=|in|not in)\s*\(?\s*\"({names})\""
                      r"|model_type|\"weights-manifest\"")
    found = []
    for p in sorted(root.rglob("*.py")):
        rel = p.relative_to(root).as_posix()
        if rel.startswith(("readers/", "convert/")):
            continue
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            if test.search(line):
                found.append(f"{rel}:{i}: {line.strip()}")
    for p in sorted((root / "templates").glob("*.j2")):  # the page's words come from render/html.page_words
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"\bformat\s*(==|!=)", line):
                found.append(f"templates/{p.name}:{i}: {line.strip()[:100]}")
    assert not found, "\n".join(found)
