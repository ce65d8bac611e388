"""The report path never imports tensorflow (importing it costs seconds)."""
from conftest import tf_imported_by


def test_graphdef_report_does_not_import_tensorflow(tmp_path, samples_dir):
    models = [samples_dir / "tiny_mobilenet.pb", samples_dir / "tiny_mobilenet.pbtxt",
              samples_dir / "tf1_training.pb"]
    runs = [("report", m, "-o", tmp_path / f"{m.name}.{fmt}", "--format", fmt)
            for m in models for fmt in ("html", "json", "md")]
    assert tf_imported_by(*runs) == ""


def test_tflite_report_does_not_import_tensorflow(tmp_path, samples_dir):
    runs = [("report", samples_dir / name, "-o", tmp_path / f"{name}.html", "--format", "html")
            for name in ("tiny_mobilenet_float.tflite", "tiny_mobilenet_int8.tflite")]
    assert tf_imported_by(*runs) == ""
