"""A time bound for a whole command, proportional to the input's size, that holds even when a C library
never returns.

Some damaged files make a C library loop while holding the GIL (seen: libhdf5 reading a variable-length
string attribute whose global-heap entry a fuzzer had overwritten), so neither a Python alarm nor a watchdog
thread can stop them. `run_guarded` runs the command in a forked child and waits for it: when the budget is
spent it kills the child, removes the child's temporary output files and prints graphreport's one-line error
(exit code 2); when a library crashes the child (a signal), that is a damaged file too (exit code 2). Outputs
are written atomically by the child, so nothing partial is left behind.

GRAPHREPORT_TIME_LIMIT (seconds) overrides the budget; 0 runs the command in-process, unguarded.
"""
from __future__ import annotations

import gc
import os
import select
import signal
import sys
import time
from typing import Callable, Iterable

BASE_SECONDS = 120.0  # a 100k-node GraphDef reports in well under a minute here (bench/)
SECONDS_PER_GB = 120.0
from .fileio import TEMP_PREFIX  # write_atomic's temporary files: .graphreport-<pid>-XXXX.tmp


def _size(path: str) -> int:
    try:
        if os.path.isdir(path):
            total, seen = 0, 0
            for root, _dirs, files in os.walk(path):
                for f in files:
                    seen += 1
                    if seen > 10_000:
                        return total
                    try:
                        total += os.path.getsize(os.path.join(root, f))
                    except OSError:
                        pass
            return total
        return os.path.getsize(path)
    except OSError:
        return 0


def budget(*paths: str) -> float:
    """Seconds a command on these inputs may take: a base plus time proportional to their size on disk."""
    env = os.environ.get("GRAPHREPORT_TIME_LIMIT")
    if env:
        try:
            return float(env)
        except ValueError:
            pass
    return BASE_SECONDS + SECONDS_PER_GB * sum(_size(p) for p in paths) / 1e9


def _say(msg: str) -> None:
    sys.stderr.write(f"graphreport: error: {' '.join(msg.split())}\n")
    sys.stderr.flush()


def _cleanup(pid: int, folders: Iterable[str]) -> None:
    import glob

    for folder in folders:
        for p in glob.glob(os.path.join(glob.escape(folder), f"{TEMP_PREFIX}{pid}-*.tmp")):
            try:
                os.unlink(p)
            except OSError:
                pass


parent_only_waited = False  # set in the parent of a guarded run: it has nothing of its own to tidy up at exit


def run_guarded(fn: Callable[[], int], seconds: float, what: str, out_folders: Iterable[str] = ()) -> int:
    """fn() in a forked child under a time limit; its exit code, or 2 (time-out, crash)."""
    if seconds <= 0 or not hasattr(os, "fork"):
        return fn()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child does the work
        # a short-lived process that builds big object graphs and frees them all at once (os._exit below):
        # the cyclic collector, run every 700 allocations by default, cost about 0.04 s of a 0.5 s report
        # while finding next to nothing. It still runs, rarely: a loop making cyclic garbage stays bounded.
        gc.set_threshold(100_000, 20, 100)
        # numpy, imported when a shape rule needs a constant's value, loads OpenBLAS, which starts a thread
        # pool per core: graphreport only does arithmetic on tiny arrays, and one thread saves ~0.03 s of CPU
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        code = 1
        try:
            code = fn()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException:  # noqa: BLE001 - fn reports its own errors; this is a last resort
            import traceback

            traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code if isinstance(code, int) else 1)
    global parent_only_waited
    parent_only_waited = True
    deadline = time.monotonic() + seconds
    try:
        status = _wait(pid, deadline)
        if status is None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            _cleanup(pid, out_folders)
            _say(f"{what}: gave up after {seconds:g} s; the file is damaged or built to exhaust a reader "
                 "(GRAPHREPORT_TIME_LIMIT sets the limit)")
            return 2
    except KeyboardInterrupt:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        _cleanup(pid, out_folders)
        sys.stderr.write("graphreport: interrupted\n")
        return 130
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    sig = os.WTERMSIG(status)
    _cleanup(pid, out_folders)
    try:
        name = signal.Signals(sig).name
    except ValueError:
        name = str(sig)
    _say(f"{what}: a reader library crashed on this file ({name}); the file is damaged or hostile")
    return 2


def _wait(pid: int, deadline: float):
    """The child's wait status, or None once the deadline has passed (the child still running). Woken the
    moment the child exits (a pidfd, Linux 5.3+), else by polling."""
    fd = -1
    if hasattr(os, "pidfd_open"):
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            fd = -1
    try:
        pause = 0.001
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return status
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if fd >= 0:
                select.select([fd], [], [], left)
            else:
                time.sleep(min(pause, left))
                pause = min(pause * 2, 0.02)
    finally:
        if fd >= 0:
            os.close(fd)
