"""A time bound for a whole command, proportional to the input's real content, that holds even when a C
library never returns.

Some damaged files make a C library loop while holding the GIL (seen: libhdf5 reading a fuzzed `.h5`), so
neither a Python alarm nor a watchdog thread can stop them. `run_guarded` runs the command in a forked child
and waits for it: when the budget is spent it kills the child and every process the child started (a folder's
pool workers, Graphviz runs), removes the child's temporary output files
and prints graphreport's one-line error (exit code 2); when a library crashes the child (a signal), that is
a damaged file too (exit code 2). Outputs are written atomically by the child, so nothing partial is left.

The budget has two phases, told apart by one-line messages the child sends on a pipe:
- reading: until a reader has returned its model, READ_BASE_SECONDS plus READ_SECONDS_PER_MB per MB of the input
  on disk (a folder: its files; a checkpoint prefix or .meta: the files of the prefix) and of content a reader
  produced from it (`note_bytes`: a zip member's decompressed bytes). The per-MB figure is sized for the slowest
  reader per byte (text GraphDef, ~1.3 s of CPU per MB here); a hang in a small file ends in seconds.
- the rest (analyses, rendering, writing): once the command has read its models (`note_read`: nodes and
  tensors of each), REST_BASE_SECONDS plus REST_SECONDS_PER_ITEM per node and per tensor read, plus
  REST_SECONDS_PER_GB per GB on disk (figures that touch weights' bytes), counted from then: the unused
  reading budget is dropped. A command reading several models (diff) gets each one's rest as it is read;
  one whose number of reads is unknown (a folder of models) keeps the sum of both phases.
Nothing in a file's numbers (declared counts, sizes, offsets) enters the budget: only bytes present and the
nodes and tensors a reader actually built.

GRAPHREPORT_TIME_LIMIT (seconds) replaces the budget by one flat limit; 0 runs the command in-process,
unguarded. GRAPHREPORT_TIME_SCALE multiplies every budget (tests use 0.1 to end hangs sooner; a slow machine
may want 2).
"""
from __future__ import annotations

import gc
import os
import select
import signal
import sys
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Optional, Union

READ_BASE_SECONDS = 5.0  # the child's imports and a small file: ~0.3 s here (h5py's import the most)
READ_SECONDS_PER_MB = 6.0  # text GraphDef ~1.3 s of CPU per MB, binary ~0.6, Keras config JSON ~0.2, TFLite less
REST_BASE_SECONDS = 30.0  # covers Graphviz's own time limit (render/svg.py DOT_TIMEOUT_S, 20 s)
REST_SECONDS_PER_ITEM = 0.0005  # per node and per tensor: a 200k-node GraphDef's rest takes ~20 s here (bench/)
REST_SECONDS_PER_GB = 120.0
ENV_LIMIT = "GRAPHREPORT_TIME_LIMIT"
ENV_SCALE = "GRAPHREPORT_TIME_SCALE"
MAX_FILES = 10_000  # files of a folder (or a checkpoint prefix's siblings) measured
from .fileio import TEMP_PREFIX  # write_atomic's temporary files: .graphreport-<pid>-XXXX.tmp


def _folder_size(path: str) -> int:
    total, seen = 0, 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            seen += 1
            if seen > MAX_FILES:
                return total
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


def _prefix_size(path: str) -> int:
    """A path that does not exist may be a checkpoint prefix (model.ckpt): its files model.ckpt.*."""
    folder, stem = os.path.split(os.path.abspath(path))
    total = 0
    try:
        with os.scandir(folder) as it:
            for i, e in enumerate(it):
                if i >= MAX_FILES:
                    break
                if e.name.startswith(stem + ".") and e.is_file():
                    total += e.stat().st_size
    except OSError:
        return 0
    return total


def _size(path: str) -> int:
    try:
        if os.path.isdir(path):
            return _folder_size(path)
        if not os.path.exists(path):
            return _prefix_size(path)
        if path.endswith(".meta"):  # a checkpoint's graph: its .index is read too
            return _prefix_size(path[:-len(".meta")])
        return os.path.getsize(path)
    except OSError:
        return 0


def _env_float(name: str) -> Optional[float]:
    try:
        return float(os.environ[name])
    except (KeyError, ValueError):
        return None


@dataclass(frozen=True)
class Budget:
    """Seconds a guarded command may take, by phase (see the module's docstring)."""
    size: int  # bytes of the inputs on disk
    reads: Optional[int] = None  # models the command reads (report 1, diff 2); None: not known beforehand
    scale: float = 1.0

    def reading(self, extra_bytes: int = 0) -> float:
        return self.scale * (READ_BASE_SECONDS + READ_SECONDS_PER_MB * (self.size + extra_bytes) / 1e6)

    def more_bytes(self, n: int) -> float:
        return self.scale * READ_SECONDS_PER_MB * n / 1e6

    def rest(self, nodes: int, tensors: int) -> float:
        """The rest's budget for one model read."""
        return self.scale * (REST_BASE_SECONDS + REST_SECONDS_PER_ITEM * (nodes + tensors))

    def bytes_term(self) -> float:
        return self.scale * REST_SECONDS_PER_GB * self.size / 1e9


def budget(*paths: str, reads: Optional[int] = None) -> Union[Budget, float]:
    """The budget of a command on these inputs: a Budget, or GRAPHREPORT_TIME_LIMIT's flat seconds when set.
    `reads`: how many models the command reads (None when unknown: a folder of models)."""
    flat = _env_float(ENV_LIMIT)
    if flat is not None:
        return flat
    scale = _env_float(ENV_SCALE)
    return Budget(sum(_size(p) for p in paths), reads, scale if scale is not None and scale > 0 else 1.0)


# --- the child's side: one line per event on a pipe to the guarding parent (nothing when unguarded) ---

_notify_fd = -1  # in a guarded child: the write end of the pipe to the parent


def _send(line: str) -> None:
    if _notify_fd < 0:
        return
    try:
        os.write(_notify_fd, (line + "\n").encode())  # one short write: atomic on a pipe, even from pool workers
    except OSError:
        pass


def note_read(model) -> None:
    """A reader has returned `model`: the rest of the command gets a budget for its nodes and tensors."""
    if _notify_fd < 0:
        return
    graphs = getattr(model, "graphs", ())
    _send(f"read {sum(len(g.nodes) for g in graphs)} {sum(len(g.tensors) for g in graphs)}")


def note_bytes(n: int) -> None:
    """A reader produced n bytes of content beyond the file's own (a zip member decompressed): more reading
    time, in proportion."""
    if n > 0:
        _send(f"bytes {int(n)}")


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


class _Clock:
    """The parent's deadline, moved by the child's messages (see the module's docstring)."""

    def __init__(self, b: Union[Budget, float], start: float):
        self.b = b if isinstance(b, Budget) else None
        self.start = start
        self.flat = None if self.b is not None else float(b)
        self.deadline = start + (self.flat if self.b is None else self.b.reading() + self.b.bytes_term())
        self.extra = 0  # bytes a reader produced beyond the inputs' own
        self.reads = self.nodes = self.tensors = 0
        self.rest = 0.0  # sum of the rests of the models read

    def done_reading(self) -> bool:
        return self.b is not None and self.b.reads is not None and self.reads >= self.b.reads

    def message(self, line: str, now: float) -> None:
        if self.b is None:
            return
        words = line.split()
        try:
            nums = [int(w) for w in words[1:]]
        except ValueError:
            return
        if words[:1] == ["bytes"] and len(nums) == 1 and nums[0] > 0:
            self.extra += nums[0]
            self.deadline += self.b.more_bytes(nums[0])
        elif words[:1] == ["read"] and len(nums) == 2 and min(nums) >= 0:
            self.reads += 1
            self.nodes += nums[0]
            self.tensors += nums[1]
            r = self.b.rest(*nums)
            self.rest += r
            self.deadline += r
            if self.done_reading():  # from now on, only the rest's budget: what reading left unused is dropped
                self.deadline = min(self.deadline, now + self.rest + self.b.bytes_term())

    def why(self, now: float) -> str:
        took = f"gave up after {now - self.start:.3g} s"
        if self.b is None:
            return f"{took} ({ENV_LIMIT}={self.flat:g})"
        if self.reads == 0:
            mb = (self.b.size + self.extra) / 1e6
            return (f"{took} reading it (a budget of {READ_BASE_SECONDS * self.b.scale:g} s plus "
                    f"{READ_SECONDS_PER_MB * self.b.scale:g} s per MB, {mb:.3g} MB)")
        return f"{took}, having read {self.nodes} nodes and {self.tensors} tensors"


def run_guarded(fn: Callable[[], int], seconds: Union[Budget, float], what: str,
                out_folders: Iterable[str] = ()) -> int:
    """fn() in a forked child under a time budget (a Budget, or flat seconds); its exit code, or 2 (time-out,
    crash)."""
    if not isinstance(seconds, Budget) and seconds <= 0 or not hasattr(os, "fork"):
        return fn()
    global _notify_fd
    sys.stdout.flush()
    sys.stderr.flush()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child does the work
        os.close(r)
        _notify_fd = w
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
    os.close(w)
    global parent_only_waited
    parent_only_waited = True
    clock = _Clock(seconds, time.monotonic())
    try:
        status = _wait(pid, clock, r)
        if status is None:
            _kill_tree(pid)
            _cleanup(pid, out_folders)
            _say(f"{what}: {clock.why(time.monotonic())}; the file is damaged or built to exhaust a reader"
                 + ("" if clock.flat is not None else f" ({ENV_LIMIT} sets a flat limit)"))
            return 2
    except KeyboardInterrupt:
        _kill_tree(pid)
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


def _descendants(root: int) -> list[int]:
    """The processes under `root` (Linux: /proc; [] elsewhere): a folder's pool workers, Graphviz runs."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    children: dict[int, list[int]] = {}
    for e in entries:
        fields = _stat(e) if e.isdigit() else None
        if fields:
            children.setdefault(int(fields[1]), []).append(int(e))
    out, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), ()):
            out.append(c)
            todo.append(c)
    return out


def _kill_tree(pid: int) -> None:
    """Kill the child and every process it started (a pool worker looping in libhdf5 would outlive it, adopted
    by init): each is stopped first, so that none forks or is orphaned while the tree is being found."""
    try:
        os.kill(pid, signal.SIGSTOP)
    except OSError:
        pass
    stopped: list[int] = []
    for _ in range(5):  # a process may have been forking when its parent stopped: look again until none is new
        new = [p for p in _descendants(pid) if p not in stopped]
        if not new:
            break
        for p in new:
            try:
                os.kill(p, signal.SIGSTOP)
            except OSError:
                pass
        stopped += new
    for p in [pid, *stopped]:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass
    os.waitpid(pid, 0)
    until = time.monotonic() + 2.0  # a killed process dies a moment later: gone (or a zombie) when this returns
    for p in stopped:
        while _running(p) and time.monotonic() < until:
            time.sleep(0.005)


def _stat(pid) -> Optional[list[bytes]]:
    """A process's /proc/PID/stat fields after "pid (comm)": state, ppid, ...; None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        fields = stat[stat.rindex(b")") + 2:].split()  # the command name may hold spaces and ")"
        int(fields[1])
        return fields
    except (OSError, ValueError, IndexError):
        return None


def _running(pid: int) -> bool:
    """Whether a process exists and is not a zombie (Linux /proc)."""
    fields = _stat(pid)
    return fields is not None and fields[0] != b"Z"


def _wait(pid: int, clock: _Clock, messages: int):
    """The child's wait status, or None once the clock's deadline has passed (the child still running). Woken
    the moment the child exits (a pidfd, Linux 5.3+; else by polling) or sends a message (read from the pipe
    `messages`, which this closes)."""
    fd = -1
    if hasattr(os, "pidfd_open"):
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            fd = -1
    pending = b""
    try:
        pause = 0.001
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return status
            now = time.monotonic()
            left = clock.deadline - now
            if left <= 0:
                return None
            watch = [f for f in (fd, messages) if f >= 0]
            ready = select.select(watch, [], [], left if fd >= 0 else min(pause, left))[0]
            if fd < 0:
                pause = min(pause * 2, 0.02)
            if messages in ready:
                chunk = os.read(messages, 4096)
                if not chunk:  # every writer closed it: no more messages
                    os.close(messages)
                    messages = -1
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    clock.message(line.decode("ascii", "replace"), time.monotonic())
    finally:
        if fd >= 0:
            os.close(fd)
        if messages >= 0:
            os.close(messages)
