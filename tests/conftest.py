import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_models"
sys.path.insert(0, str(Path(__file__).resolve().parent))

# TensorFlow and the tests that need it. A test needs TensorFlow when it imports it in this process, builds
# models with it (tests/refmodels.py, compat_cases.py, training_graphs.py), reads what those wrote to .cache,
# or runs a subprocess that imports it (convert, TF-side reference scripts). Such a test is marked
# `requires_tf`: by `pytestmark = pytest.mark.requires_tf` in its module, by `@pytest.mark.requires_tf`, or
# by asking for the `tf` or `tf_reference` fixture, directly or through another fixture (marked below).
# `make test-fast` runs `-m "not requires_tf"` in a venv without TensorFlow (`make test` runs everything;
# `slow` marks sweeps, Chromium, wheel builds, the network, for `-m "not slow"`). The hooks below keep the TF
# marks honest, in every run:
# - collecting the tests never imports TensorFlow (a module imports it inside the tests that need it);
# - a test not marked requires_tf that imports TensorFlow in this process fails;
# - a test that skips because TensorFlow is missing fails instead: nothing is skipped for lack of it.
TF_MODULES = ("tensorflow", "keras", "tf_keras")
TF_MISSING = "could not import 'tensorflow'"  # pytest.importorskip's reason


def _tf_loaded() -> list[str]:
    """The TensorFlow / Keras modules imported in this process, top-level packages (tensorflow) first."""
    loaded = [m for m in sys.modules if m.split(".", 1)[0] in TF_MODULES]
    return sorted(loaded, key=lambda m: (m.count("."), m != "tensorflow", m))


def import_tf():
    """TensorFlow, imported now with its logging quiet; without it installed the test fails (never skips)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow
    except ImportError as e:
        pytest.fail(f"this test needs TensorFlow, which is not installed ({e}); it must be marked requires_tf "
                    "(`make test-fast` deselects those)", pytrace=False)
    tensorflow.get_logger().setLevel("ERROR")
    return tensorflow


class _LazyTF:
    """`from conftest import lazy_tf as tf` in a module whose helpers use `tf` (module marked requires_tf):
    TensorFlow is imported at the first read of a public attribute, inside a test, never at collection (which
    looks for pytest's private and dunder attributes on every module global)."""

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(import_tf(), name)


lazy_tf = _LazyTF()


@pytest.fixture(scope="session")
def tf():
    """The tensorflow module, imported on first use. Tests that ask for it are marked requires_tf."""
    return import_tf()


@pytest.fixture(scope="session")
def tf_reference():
    """For tests and fixtures whose truth TensorFlow computes out of this process (a subprocess, or files it
    built under .cache): marks them requires_tf like `tf`, fails without TensorFlow, imports nothing here."""
    if importlib.util.find_spec("tensorflow") is None:
        import_tf()


def run_cli(*args, cwd=None, env=None, process=False):
    """Run `graphreport ...`; returns a CompletedProcess (text). In this process (graphreport.cli.main with
    stdout / stderr captured, see run_cli_here) unless process=True or env sets GRAPHREPORT_TIME_LIMIT: then
    `python -m graphreport` in a subprocess, for what only a process shows (the guard's forked child and its time
    limit, a C library's crash, start-up, imports, os._exit)."""
    if process or "GRAPHREPORT_TIME_LIMIT" in (os.environ if env is None else env):
        return run_cli_process(*args, cwd=cwd, env=env)
    return run_cli_here(*args, cwd=cwd, env=env)


def run_cli_process(*args, cwd=None, env=None):
    """`python -m graphreport ...` in a subprocess."""
    return subprocess.run([sys.executable, "-m", "graphreport", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


# Python's own warning filters (python -W unset), which the CLI's process has and pytest's do not
_PROCESS_WARNING_FILTERS = (("default", DeprecationWarning, "__main__"), ("ignore", DeprecationWarning, ""),
                            ("ignore", PendingDeprecationWarning, ""), ("ignore", ImportWarning, ""),
                            ("ignore", ResourceWarning, ""))


def run_cli_here(*args, cwd=None, env=None):
    """graphreport.cli.main(args) in this process, as `python -m graphreport` would run it but without the
    interpreter's start-up and imports (about 0.4 s a run): stdout and stderr captured, SystemExit (argparse)
    turned into the exit code, env and cwd applied for the run and restored after, Python's default warning
    filters (a warning goes to the captured stderr, as in the process), and the cyclic collector's thresholds of
    the guard's child (graphreport/watchdog.py; about 15 % of a small report's time). The guard's forked child is
    left out (GRAPHREPORT_TIME_LIMIT=0: the command runs here, unguarded): tests of the guard use
    run_cli_process."""
    import contextlib
    import gc
    import io
    import warnings

    from graphreport import cli

    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    saved_env, saved_cwd, saved_gc = dict(os.environ), os.getcwd(), gc.get_threshold()
    try:
        gc.set_threshold(100_000, 20, 100)
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
        os.environ["GRAPHREPORT_TIME_LIMIT"] = "0"
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
            warnings.resetwarnings()
            for action, category, module in _PROCESS_WARNING_FILTERS:
                warnings.filterwarnings(action, category=category, module=module)
            try:
                code = cli.main(argv)
            except SystemExit as e:  # argparse: --help, --version, a usage error
                if e.code is None or isinstance(e.code, int):
                    code = e.code or 0
                else:
                    print(e.code, file=sys.stderr)
                    code = 1
            except Exception:  # noqa: BLE001 - --debug lets an error out: the process prints it and exits 1
                import traceback

                traceback.print_exc()
                code = 1
    finally:
        gc.set_threshold(*saved_gc)
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return subprocess.CompletedProcess(["graphreport", *argv], code, out.getvalue(), err.getvalue())


_TF_PROBE = """
import json, sys
from graphreport.cli import main
for argv in json.loads(sys.argv[1]):
    code = main(argv)
    if code != 0:
        sys.exit(code)
print("IMPORTED:" + ",".join(sorted(m for m in sys.modules if m.split(".", 1)[0] in %r)))
""" % (TF_MODULES,)


def tf_imported_by(*commands) -> str:
    """Run graphreport commands (argument lists) one after the other in one fresh process and return what
    TensorFlow / Keras modules they imported ("" when none). GRAPHREPORT_TIME_LIMIT=0: the work runs in that
    process itself, not in the guard's forked child, whose imports the process would not see."""
    cmds = [[str(a) for a in c] for c in commands]
    p = subprocess.run([sys.executable, "-c", _TF_PROBE, json.dumps(cmds)], capture_output=True, text=True,
                       timeout=300, env={**os.environ, "GRAPHREPORT_TIME_LIMIT": "0"})
    assert p.returncode == 0, p.stderr
    last = p.stdout.strip().splitlines()[-1]
    assert last.startswith("IMPORTED:"), p.stdout
    return last[len("IMPORTED:"):]


def report_json(model_path, *extra) -> dict:
    p = run_cli("report", model_path, "--format", "json", "-o", "-", *extra)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


@pytest.fixture(scope="session")
def manifest():
    return json.loads((SAMPLES / "manifest.json").read_text())


@pytest.fixture(scope="session")
def samples_dir():
    return SAMPLES


# ----------------------------------------------------------------------------------------------------------
# hooks for requires_tf
# ----------------------------------------------------------------------------------------------------------

@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Mark the users of the `tf` and `tf_reference` fixtures, before `-m` deselects (tryfirst)."""
    for item in items:
        if {"tf", "tf_reference"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.requires_tf)


def pytest_collection_finish(session):
    if _tf_loaded():
        raise pytest.UsageError("collecting the tests imported TensorFlow (" + ", ".join(_tf_loaded()[:3]) + "): "
                                "test modules import it inside the tests or fixtures that need it, which are "
                                "marked requires_tf")


_BEFORE = pytest.StashKey[bool]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    item.stash[_BEFORE] = bool(_tf_loaded())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    if rep.skipped and call.excinfo is not None and TF_MISSING in str(call.excinfo.value):
        rep.outcome = "failed"
        rep.longrepr = (f"{item.nodeid}: skipped because TensorFlow is not installed; tests that need it are marked "
                        "requires_tf and fail without it (`make test-fast` deselects them)")
    elif (rep.passed or rep.failed) and not item.get_closest_marker("requires_tf") \
            and not item.stash.get(_BEFORE, True) and _tf_loaded():
        rep.outcome = "failed"
        rep.longrepr = f"{item.nodeid} imported TensorFlow ({_tf_loaded()[0]}) but is not marked requires_tf"
        item.stash[_BEFORE] = True  # report it once (setup, call or teardown)
    return rep


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    """A module that skips itself at import for lack of TensorFlow fails instead."""
    rep = yield
    if rep.skipped and TF_MISSING in str(rep.longrepr):
        rep.outcome = "failed"
        rep.longrepr = (f"{collector.nodeid}: skipped itself because TensorFlow is not installed; import it inside "
                        "the tests that need it (marked requires_tf), never at module level")
    return rep
