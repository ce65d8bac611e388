"""The templates ship inside the wheel: a report renders from an installed copy, away from the source tree;
`graphreport diff` and folder mode ship in it too (the diff package, its templates and the index page), and a
diff renders from the unpacked copy."""
import os
import subprocess
import sys
import zipfile

import pytest

from conftest import SAMPLES
from hostile import evil_graphdef

pytestmark = pytest.mark.slow  # builds the wheel, runs it away from the source tree

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def unpacked_wheel(tmp_path_factory):
    """(the wheel `pip wheel` builds from this tree, the folder it is unpacked into), built once for the tests
    below."""
    d = tmp_path_factory.mktemp("wheel")
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(d / "dist"), ROOT], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    (whl,) = (d / "dist").glob("graphreport-*.whl")
    zipfile.ZipFile(whl).extractall(d / "site")
    return whl, d / "site"


def test_report_renders_from_installed_wheel(tmp_path, unpacked_wheel):
    whl, site = unpacked_wheel
    names = zipfile.ZipFile(whl).namelist()
    for f in ("report.html.j2", "report.css", "report.js"):
        assert f"graphreport/templates/{f}" in names
    model = tmp_path / "m.pb"
    model.write_bytes(evil_graphdef())
    out = tmp_path / "r.html"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    code = ("import sys, graphreport, graphreport.templates as t; "
            "assert graphreport.__file__.startswith(sys.argv[1]), graphreport.__file__; "
            "assert str(t.__spec__.submodule_search_locations[0]).startswith(sys.argv[1]); "
            "from graphreport.cli import main; sys.exit(main(['report', sys.argv[2], '-o', sys.argv[3]]))")
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    env.pop("GRAPHREPORT_NO_CACHE", None)

    def run():
        # -s: no user site; PYTHONPATH puts the unpacked wheel first, and the asserts prove it was used
        p = subprocess.run([sys.executable, "-s", "-c", code, str(site), str(model), str(out)],
                           capture_output=True, text=True, cwd=str(tmp_path), env=env)
        assert p.returncode == 0, p.stderr
        assert "<svg" in out.read_text()

    run()
    # the template compiled on the first run is kept in the user's cache and loaded, not rewritten, after
    (entry,) = (tmp_path / "xdg" / "graphreport").glob("templates-*/*.j2c")
    mtime = entry.stat().st_mtime_ns
    run()
    assert entry.stat().st_mtime_ns == mtime
    (tmp_path / "no-cache").write_text("a file, not a folder")
    env["XDG_CACHE_HOME"] = str(tmp_path / "no-cache")  # no usable cache: compiled in memory, still renders
    run()


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
