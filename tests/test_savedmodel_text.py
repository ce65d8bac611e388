"""SavedModels written as text (saved_model.pbtxt, TF1's SavedModelBuilder.save(as_text=True)): one reader
module (readers/savedmodel_text.py) plus one registry row, reported like the binary twin. The sample pair
tf1_savedmodel / tf1_savedmodel_text comes from sample_models/make_format_samples.py: the same seeded graph
and variables, saved once as binary and once as text; the manifest's facts come from TensorFlow."""
import json
import shutil

import pytest

from conftest import SAMPLES, report_json
from graphreport.errors import BadModelError
from graphreport.readers import registry
from graphreport.readers.detect import load

TEXT = SAMPLES / "tf1_savedmodel_text"
BINARY = SAMPLES / "tf1_savedmodel"
MANIFEST = {e["file"]: e for e in json.loads((SAMPLES / "manifest.json").read_text())}
pytestmark = pytest.mark.skipif(not (TEXT / "saved_model.pbtxt").exists(), reason="sample missing")


def test_the_text_twin_reports_like_the_binary():
    a, b = report_json(BINARY), report_json(TEXT)
    assert b["format"] == a["format"] == "savedmodel"
    differ = {k for k in a if a[k] != b[k]}
    assert differ == {"file", "file_size", "commands"}  # its name and size, and the commands naming it
    entry = MANIFEST["tf1_savedmodel_text"]  # what TensorFlow says of the text SavedModel
    assert b["inputs"] == entry["inputs"] and b["outputs"] == entry["outputs"]
    assert b["totals"]["params"] == entry["params"]


def test_a_text_savedmodel_is_found_by_its_own_row(tmp_path):
    assert registry.find(str(TEXT), b"", is_dir=True).module == "savedmodel_text"
    assert registry.find(str(BINARY), b"", is_dir=True).module == "savedmodel"
    named = load(str(TEXT / "saved_model.pbtxt"))  # the file named directly reports as its folder
    assert named.path == str(TEXT) and named.format == "savedmodel"
    both = tmp_path / "both"
    shutil.copytree(BINARY, both)
    shutil.copy(TEXT / "saved_model.pbtxt", both)
    assert registry.find(str(both), b"", is_dir=True).module == "savedmodel"  # binary first, as TF loads it


def test_damaged_text_is_one_line_error(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    text = (TEXT / "saved_model.pbtxt").read_text()
    (bad / "saved_model.pbtxt").write_text(text[: len(text) // 2])
    with pytest.raises(BadModelError, match="not a SavedModel") as e:
        load(str(bad))
    assert "\n" not in str(e.value)
    (bad / "saved_model.pbtxt").write_text("")
    with pytest.raises(BadModelError, match="no meta graph"):
        load(str(bad))
