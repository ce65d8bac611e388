"""tools/check_opdata.py: the protobuf field table (readers/tfproto.py), the TFLite field ids (readers/tflite.py)
and opdata/tflite_builtin_ops.json agree with the installed TensorFlow's descriptors and TFLite schema, and the
checker does catch a wrong entry. Needs TensorFlow (run under the TF lock)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.requires_tf
CHECKER = Path(__file__).resolve().parent.parent / "tools" / "check_opdata.py"


@pytest.fixture(scope="module")
def checker(tf):
    spec = importlib.util.spec_from_file_location("check_opdata", CHECKER)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_tables_agree_with_tensorflow(checker, capsys):
    assert checker.main() == 0, capsys.readouterr().out
    assert capsys.readouterr().out.startswith("ok: ")


def test_checker_catches_a_wrong_tflite_field_id(checker, monkeypatch):
    from tensorflow.lite.python import schema_py_generated as schema

    from graphreport.readers import tflite

    monkeypatch.setattr(tflite, "T_TYPE", tflite.T_TYPE + 1)
    problems = []
    checker.check_tflite_fields(schema, problems)
    assert problems == [f"tflite T_TYPE = {tflite.T_TYPE}, the schema's Tensor.Type is field {tflite.T_TYPE - 1}"]


def test_checker_catches_a_wrong_dtype(checker, monkeypatch, tf):
    from graphreport.readers import tfproto

    monkeypatch.setitem(tfproto.DATA_TYPES, "DT_HALF", 18)
    monkeypatch.setitem(tfproto.DTYPE_NAMES, 19, "half")
    problems = []
    checker.check_tfproto(tf, problems)
    assert "tfproto DataType DT_HALF = 18, TensorFlow says 19" in problems
    assert "tfproto DTYPE_NAMES[19] = 'half', tf.dtypes.as_dtype(19).name = 'float16'" in problems
