"""The CLI's time guard (graphreport/watchdog.py): a reading budget proportional to the input's bytes until the
child says it has read its models, then a budget proportional to the nodes and tensors read. The deadlines are
checked on the guard's own clock logic (no time involved); the forked runs assert what the guard did (exit code,
its one-line message), never how long anything took."""
import os
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from graphreport import watchdog
from graphreport.watchdog import Budget, _Clock

ROOT = Path(__file__).resolve().parent.parent
CRASHERS = ROOT / "tests" / "fuzz_crashers"
HANG = CRASHERS / "keras_keras2_h5-6ce29cb0280f.bin"  # libhdf5 loops holding the GIL (gdb: H5HG__cache_heap_deserialize)
CRASH = CRASHERS / "keras_h5-9f0f8c8ca0c3.bin"  # libhdf5 crashes (SIGSEGV) about 0.2 s into reading


def _model(nodes: int, tensors: int):
    return SimpleNamespace(graphs=[SimpleNamespace(nodes=[None] * nodes, tensors=dict.fromkeys(range(tensors)))])


# --- the clock: the deadline by phase -------------------------------------------------------------------------

def test_reading_budget_is_proportional_to_the_bytes():
    b = Budget(size=2_000_000, reads=1)
    c = _Clock(b, start=100.0)
    assert b.reading() == pytest.approx(watchdog.READ_BASE_SECONDS + 2 * watchdog.READ_SECONDS_PER_MB)
    assert c.deadline == pytest.approx(100.0 + b.reading() + b.bytes_term())
    c.message("bytes 3000000", now=101.0)  # a zip member decompressed to 3 MB more than it stored
    assert c.deadline == pytest.approx(100.0 + b.reading(extra_bytes=3_000_000) + b.bytes_term())
    assert "reading it" in c.why(now=110.0)


def test_after_the_read_the_budget_follows_the_graph_and_drops_the_reading_rest():
    b = Budget(size=50_000_000, reads=1)  # 50 MB: a reading budget of minutes
    c = _Clock(b, start=0.0)
    c.message("read 1000 1200", now=2.0)
    assert c.deadline == pytest.approx(2.0 + b.rest(1000, 1200) + b.bytes_term())
    assert b.rest(1000, 1200) == pytest.approx(watchdog.REST_BASE_SECONDS + 2200 * watchdog.REST_SECONDS_PER_ITEM)
    assert c.deadline < b.reading()  # what reading left unused is gone
    assert "1000 nodes and 1200 tensors" in c.why(now=40.0)
    big = _Clock(b, start=0.0)
    big.message("read 200000 200000", now=2.0)
    assert big.deadline - c.deadline == pytest.approx(397_800 * watchdog.REST_SECONDS_PER_ITEM)


def test_two_reads_diff_and_an_unknown_number_folder():
    b = Budget(size=1_000_000, reads=2)
    c = _Clock(b, start=0.0)
    first = c.deadline
    c.message("read 10 10", now=1.0)  # the old model read: its rest is added, the new one still to read
    assert c.deadline == pytest.approx(first + b.rest(10, 10))
    late = _Clock(b, start=0.0)
    late.message("read 10 10", now=1.0)
    c.message("read 20 20", now=5.0)  # the new model read at 5 s: from now on, both rests
    assert c.deadline == pytest.approx(5.0 + b.rest(10, 10) + b.rest(20, 20) + b.bytes_term())
    late.message("read 20 20", now=35.0)  # read late: the deadline never moves later than both phases' sum
    assert late.deadline == pytest.approx(first + b.rest(10, 10) + b.rest(20, 20))
    folder = _Clock(Budget(size=1_000_000, reads=None), start=0.0)
    start = folder.deadline
    for _ in range(3):
        folder.message("read 10 10", now=1.0)
    assert folder.deadline == pytest.approx(start + 3 * b.rest(10, 10))  # never replaced: models keep coming


def test_bad_messages_and_the_flat_limit_change_nothing():
    c = _Clock(Budget(size=0, reads=1), start=0.0)
    before = c.deadline
    for line in ("", "read", "read 1", "read x y", "read -5 3", "bytes -1", "bytes 1 2", "hello 1 2"):
        c.message(line, now=1.0)
    assert c.deadline == before and c.reads == 0
    flat = _Clock(7.0, start=0.0)
    flat.message("read 10 10", now=1.0)
    assert flat.deadline == 7.0 and "GRAPHREPORT_TIME_LIMIT=7" in flat.why(now=7.0)


def test_environment(monkeypatch, tmp_path):
    f = tmp_path / "m.pb"
    f.write_bytes(b"x" * 1000)
    monkeypatch.delenv(watchdog.ENV_LIMIT, raising=False)
    monkeypatch.setenv(watchdog.ENV_SCALE, "0.1")
    b = watchdog.budget(str(f), reads=1)
    assert isinstance(b, Budget) and b.size == 1000 and b.scale == 0.1
    assert b.reading() == pytest.approx(0.1 * (watchdog.READ_BASE_SECONDS + 0.001 * watchdog.READ_SECONDS_PER_MB))
    monkeypatch.setenv(watchdog.ENV_LIMIT, "12")
    assert watchdog.budget(str(f)) == 12.0  # the override wins
    # a checkpoint prefix names files that exist: model.ckpt.meta, model.ckpt.index
    monkeypatch.delenv(watchdog.ENV_LIMIT)
    (tmp_path / "model.ckpt.meta").write_bytes(b"m" * 300)
    (tmp_path / "model.ckpt.index").write_bytes(b"i" * 20)
    (tmp_path / "other.meta").write_bytes(b"o" * 5000)
    assert watchdog.budget(str(tmp_path / "model.ckpt")).size == 320
    assert watchdog.budget(str(tmp_path / "model.ckpt.meta")).size == 320  # the .index is read with it


# --- the messages: sent by the readers, only under the guard ---------------------------------------------------

def _collect(fn):
    r, w = os.pipe()
    saved = watchdog._notify_fd
    watchdog._notify_fd = w
    try:
        result = fn()
    finally:
        watchdog._notify_fd = saved
        os.close(w)
    with os.fdopen(r, "rb") as f:
        return result, f.read().decode().splitlines()


def test_a_reader_says_what_it_read():
    from graphreport.readers.detect import load

    model, lines = _collect(lambda: load(str(ROOT / "sample_models" / "tiny_mobilenet.pb")))
    nodes = sum(len(g.nodes) for g in model.graphs)
    tensors = sum(len(g.tensors) for g in model.graphs)
    assert nodes > 0 and lines == [f"read {nodes} {tensors}"]


def test_a_keras_archive_counts_what_it_decompressed(tmp_path):
    import zipfile

    from graphreport.readers.detect import load

    path = tmp_path / "deflated.keras"  # the sample's members, compressed (the sample stores them)
    with zipfile.ZipFile(ROOT / "sample_models" / "keras_tiny.keras") as zin, \
            zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info))
    _model_, lines = _collect(lambda: load(str(path)))
    with zipfile.ZipFile(path) as z:
        grown = sorted(i.file_size - i.compress_size for i in z.infolist())
    extra = sorted(int(x.split()[1]) for x in lines if x.startswith("bytes "))
    assert extra == [n for n in grown if n > 0] and len(extra) == 2, (lines, grown)  # config, weights (not metadata: 64 B)
    assert lines[-1].startswith("read ")


def test_no_message_when_unguarded():
    assert watchdog._notify_fd == -1
    watchdog.note_read(_model(3, 3))  # nothing to write to: a no-op
    watchdog.note_bytes(10)


# --- forked runs: what the guard does ------------------------------------------------------------------------

def _hang():
    while True:
        time.sleep(0.05)


def test_a_hang_while_reading_ends_by_the_reading_budget(capfd):
    code = watchdog.run_guarded(_hang, Budget(size=1000, reads=1, scale=0.05), "m.h5")
    err = capfd.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("graphreport: error: m.h5: gave up after") and "reading it" in err[0]


def test_a_hang_after_reading_ends_by_the_graphs_budget(capfd):
    def fn():
        watchdog.note_read(_model(40, 50))
        _hang()

    b = Budget(size=100_000_000, reads=1, scale=0.02)  # reading: 12 s; once read, 0.6 s plus 0.24 s for the bytes
    assert b.reading() > 10 and b.rest(40, 50) + b.bytes_term() < 1
    code = watchdog.run_guarded(fn, b, "m.pb")
    err = capfd.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "having read 40 nodes and 50 tensors" in err[0]


def test_the_rest_of_the_work_is_not_held_to_the_reading_budget(capfd):
    """Reading budget 0.5 s, the rest's 3 s: a command that read its model and then works for 1.5 s finishes."""
    def fn():
        watchdog.note_read(_model(10, 10))
        time.sleep(1.5)
        return 0

    b = Budget(size=0, reads=1, scale=0.1)
    assert b.reading() <= 0.5 and b.rest(10, 10) >= 3.0
    assert watchdog.run_guarded(fn, b, "m.pb") == 0
    assert capfd.readouterr().err == ""



@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="the process tree is read from /proc")
def test_what_the_child_started_goes_with_it(tmp_path, capfd):
    """A folder's pool worker looping in libhdf5 would outlive the child the guard kills: the guard kills the
    child's whole tree (here a grandchild and its own child)."""
    import subprocess
    import sys

    pids = tmp_path / "pids"

    def fn():
        worker = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time; "
                                   "p = subprocess.Popen(['sleep', '600']); print(p.pid, flush=True); time.sleep(600)"],
                                  stdout=subprocess.PIPE, text=True)
        pids.write_text(f"{worker.pid} {worker.stdout.readline().strip()}")
        _hang()

    assert watchdog.run_guarded(fn, Budget(size=0, reads=1, scale=0.4), "folder") == 2
    started = [int(p) for p in pids.read_text().split()]
    assert len(started) == 2 and not any(watchdog._running(p) for p in started), started
    assert "gave up after" in capfd.readouterr().err


# --- the CLI on the damaged files the fuzzer found, on the default budget ----------------------------------

def _report_on_the_default_budget(tmp_path, crasher: Path, out_name: str) -> str:
    """`python -m graphreport report` on a copy of the crasher, no guard variable set: its one stderr line, once
    the run has exited 2 and left nothing but the model in the folder."""
    from conftest import run_cli_process

    model = tmp_path / "m.h5"
    model.write_bytes(crasher.read_bytes())
    env = {k: v for k, v in os.environ.items() if k not in (watchdog.ENV_LIMIT, watchdog.ENV_SCALE)}
    p = run_cli_process("report", model, "-o", tmp_path / out_name, env=env)
    err = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(err) == 1, p.stderr
    assert [f.name for f in tmp_path.iterdir()] == ["m.h5"]
    return err[0]


def test_cli_a_libhdf5_hang_ends_by_the_default_reading_budget(tmp_path):
    """The default path (no environment variable): a 28 KB .h5 on which libhdf5 loops ends after the reading
    budget of a few seconds, not a flat two minutes."""
    err = _report_on_the_default_budget(tmp_path, HANG, "r.html")
    assert "reading it" in err and f"a budget of {watchdog.READ_BASE_SECONDS:g} s" in err


def test_cli_a_libhdf5_crash_is_a_damaged_file(tmp_path):
    err = _report_on_the_default_budget(tmp_path, CRASH, "r.json")
    assert "a reader library crashed on this file (SIGSEGV)" in err
