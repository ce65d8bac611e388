"""Start-up costs paid once: the report template is compiled once and cached per user (safely), and rule
registration imports no numpy. Asserted on what happens (cache hits, modules imported), never on time."""
import os
import stat
import subprocess
import sys

import jinja2
import pytest

from conftest import SAMPLES
from graphreport.render import template_cache

RENDER = ("import sys; from graphreport.readers.detect import load; from graphreport.report import build_report; "
          "from graphreport.render.html import render_html, _env; "
          "text = render_html(build_report(load(sys.argv[1]), diagram=False)); "
          "open(sys.argv[2], 'w', encoding='utf-8').write(text); "
          "c = _env().bytecode_cache; print('none' if c is None else c.directory)")


def _render(tmp_path, out_name, **env_over):
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_CACHE_HOME", "GRAPHREPORT_NO_CACHE")}
    # a .tflite: a GraphDef's attributes come from protobuf maps, listed in another order from run to run
    env.update(env_over)
    out = tmp_path / out_name
    p = subprocess.run([sys.executable, "-c", RENDER, str(SAMPLES / "tiny_mobilenet_int8.tflite"), str(out)],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    return out.read_text(encoding="utf-8"), p.stdout.strip()


def _entries(d):
    return sorted(f for f in os.listdir(d) if f.endswith(".j2c"))


def test_template_is_compiled_once_and_reused(tmp_path):
    xdg = tmp_path / "xdg"
    first, where = _render(tmp_path, "a.html", XDG_CACHE_HOME=str(xdg))
    assert where.startswith(str(xdg / "graphreport")), where
    (entry,) = _entries(where)
    assert stat.S_IMODE(os.stat(xdg / "graphreport").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(where).st_mode) == 0o700
    mtime = os.stat(os.path.join(where, entry)).st_mtime_ns
    second, _ = _render(tmp_path, "b.html", XDG_CACHE_HOME=str(xdg))
    assert os.stat(os.path.join(where, entry)).st_mtime_ns == mtime  # loaded, not written again
    uncached, none = _render(tmp_path, "c.html", XDG_CACHE_HOME=str(xdg), GRAPHREPORT_NO_CACHE="1")
    assert none == "none"
    assert first == second == uncached  # same bytes, compiled or loaded from the cache


def test_the_cache_hit_is_counted(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("GRAPHREPORT_NO_CACHE", raising=False)
    from graphreport.render.html import _env

    a = _env()
    a.get_template("report.html.j2")
    assert (a.bytecode_cache.loaded, a.bytecode_cache.stored) == (0, 1)
    b = _env()
    b.get_template("report.html.j2")
    assert (b.bytecode_cache.loaded, b.bytecode_cache.stored) == (1, 0)


@pytest.mark.slow
def test_damaged_entries_are_compiled_again(tmp_path):
    xdg = tmp_path / "xdg"
    good, where = _render(tmp_path, "a.html", XDG_CACHE_HOME=str(xdg))
    (entry,) = _entries(where)
    path = os.path.join(where, entry)
    original = open(path, "rb").read()
    for damage in (b"", b"garbage", original[:40], original[:len(original) // 2], b"j2" + b"\xff" * 64):
        with open(path, "wb") as f:
            f.write(damage)
        again, _ = _render(tmp_path, "b.html", XDG_CACHE_HOME=str(xdg))
        assert again == good
        assert open(path, "rb").read() == original  # rewritten whole


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX only")
def test_a_folder_others_can_write_is_never_used(tmp_path):
    xdg = tmp_path / "xdg"
    (xdg / "graphreport").mkdir(parents=True)
    os.chmod(xdg / "graphreport", 0o777)  # anyone could plant compiled code here: no cache at all
    _, where = _render(tmp_path, "a.html", XDG_CACHE_HOME=str(xdg))
    assert where == "none"
    assert os.listdir(xdg / "graphreport") == []


def test_no_usable_cache_folder_still_renders(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    good, _ = _render(tmp_path, "a.html", XDG_CACHE_HOME=str(tmp_path / "xdg"))
    text, where = _render(tmp_path, "b.html", XDG_CACHE_HOME=str(blocker))
    assert where == "none" and text == good
    text, where = _render(tmp_path, "c.html", XDG_CACHE_HOME="relative/path", HOME="relative")
    assert where == "none" and text == good


def test_key_covers_source_and_options(tmp_path):
    """An edited template or other Environment options never reuse code compiled for the old ones."""
    sources = {"t": "a {{ x }}"}

    def env(options):
        cache = template_cache.TemplateCache(str(tmp_path), options)
        return jinja2.Environment(loader=jinja2.FunctionLoader(lambda n: sources[n]), bytecode_cache=cache,
                                  autoescape=options == "escape")

    assert env("escape").get_template("t").render(x="<") == "a &lt;"
    sources["t"] = "b {{ x }}"
    e = env("escape")
    assert e.get_template("t").render(x="<") == "b &lt;" and e.bytecode_cache.loaded == 0
    e = env("raw")
    assert e.get_template("t").render(x="<") == "b <" and e.bytecode_cache.loaded == 0
    e = env("escape")
    assert e.get_template("t").render(x="<") == "b &lt;" and e.bytecode_cache.loaded == 1


def test_rule_registration_imports_no_numpy():
    """Registering every rule family costs no numpy import (about 0.1 s); numpy comes when a rule first
    computes a value, and then the rules compute the same values as before."""
    code = ("import sys; from graphreport.ops import registry; registry.coverage(); "
            "assert 'numpy' not in sys.modules, 'numpy imported by registration'; "
            "from graphreport.ops.registry import Ctx, lookup; import numpy as np; "
            "ctx = Ctx('Prod', {}, in_shapes=[[3], [1]], in_dtypes=['int32', 'int32'], out_shapes=[[]], "
            "values=lambda i: [np.array([2, 3, 4], np.int32), np.array([0], np.int32)][i]); "
            "(v,) = lookup('Prod').value(ctx); assert v.tolist() == 24 and v.dtype == np.int32, v; "
            "ctx = Ctx('Rsqrt', {}, in_shapes=[[2]], in_dtypes=['float32'], out_shapes=[[2]], "
            "out_dtypes=['float32'], values=lambda i: np.array([4.0, 16.0], np.float32)); "
            "(v,) = lookup('Rsqrt').value(ctx); assert v.tolist() == [0.5, 0.25], v; "
            "ctx = Ctx('Maximum', {}, in_shapes=[[2], [2]], in_dtypes=['int32'] * 2, out_shapes=[[2]], "
            "values=lambda i: np.array([[1, 5], [3, 2]][i], np.int32)); "
            "(v,) = lookup('Maximum').value(ctx); assert v.tolist() == [3, 5], v; print('ok')")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr


def test_a_tflite_report_imports_neither_numpy_nor_protobuf(tmp_path):
    """A .tflite whose analyses need no constant value (here: dense layers with weights in a sparse file)
    reports without importing numpy at all, nor protobuf (the GraphDef, SavedModel and checkpoint readers)."""
    from test_big_files import sparse_dense_tflite

    model = tmp_path / "m.tflite"
    sparse_dense_tflite(model, [64, 32, 16])
    code = ("import sys; from graphreport.cli import main; rc = main(['report', sys.argv[1], '-o', sys.argv[2]]); "
            "print(rc, 'numpy' in sys.modules, 'google.protobuf' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", code, str(model), str(tmp_path / "r.html")], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split()[-3:] == ["0", "False", "False"], p.stdout
