"""`graphreport diff` and folder mode ship in the wheel: the diff package, its templates and the index page
are in it, and a diff renders from an unpacked copy away from the source tree."""
import os
import subprocess
import sys
import zipfile

import pytest

from conftest import SAMPLES

pytestmark = pytest.mark.slow  # builds the wheel (conftest.unpacked_wheel), runs it away from the source tree


def test_diff_renders_from_installed_wheel(tmp_path, unpacked_wheel):
    whl, site = unpacked_wheel
    names = zipfile.ZipFile(whl).namelist()
    for f in ("graphreport/diff/__init__.py", "graphreport/diff/matching.py", "graphreport/diff/compare.py",
              "graphreport/diff/gates.py", "graphreport/batch.py", "graphreport/render/diff_html.py",
              "graphreport/templates/diff.html.j2", "graphreport/templates/diff.css",
              "graphreport/templates/diff.js", "graphreport/templates/index.html.j2"):
        assert f in names, f
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(site), XDG_CACHE_HOME=str(tmp_path / "xdg"))
    out = tmp_path / "d.html"
    code = ("import sys, graphreport; assert graphreport.__file__.startswith(sys.argv[1]); "
            "from graphreport.cli import main; sys.exit(main(['diff', sys.argv[2], sys.argv[3], '-o', sys.argv[4]]))")
    p = subprocess.run([sys.executable, "-s", "-c", code, str(site), str(SAMPLES / "tiny_mobilenet.pb"),
                        str(SAMPLES / "tiny_mobilenet_float.tflite"), str(out)],
                       capture_output=True, text=True, cwd=str(tmp_path), env=env)
    assert p.returncode == 0, p.stderr
    assert 'id="matched-table"' in out.read_text()
