"""The report path never imports tensorflow (importing it costs seconds)."""
import subprocess
import sys

from hostile import evil_graphdef

PROBE = """
import sys, runpy
sys.argv = ["graphreport", "report", sys.argv[1], "-o", sys.argv[2], "--format", sys.argv[3]]
from graphreport.cli import main
code = main()
bad = sorted(m for m in sys.modules if m == "tensorflow" or m.startswith(("tensorflow.", "keras", "tf_keras")))
print("IMPORTED:" + ",".join(bad))
sys.exit(code)
"""


def _probe(model, out, fmt):
    p = subprocess.run([sys.executable, "-c", PROBE, str(model), str(out), fmt], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip().splitlines()[-1]


def test_graphdef_report_does_not_import_tensorflow(tmp_path, samples_dir):
    models = [samples_dir / "tiny_mobilenet.pb", samples_dir / "tiny_mobilenet.pbtxt",
              samples_dir / "tf1_training.pb"]
    for model in models:
        for fmt in ("html", "json", "md"):
            assert _probe(model, tmp_path / f"r.{fmt}", fmt) == "IMPORTED:", (model, fmt)


def test_tflite_report_does_not_import_tensorflow(tmp_path, samples_dir):
    for name in ("tiny_mobilenet_float.tflite", "tiny_mobilenet_int8.tflite"):
        assert _probe(samples_dir / name, tmp_path / "r.html", "html") == "IMPORTED:"
