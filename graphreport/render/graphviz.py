"""Running Graphviz's `dot`: where it is, and the plugins it runs with.

dot sizes every label by laying its text out with Pango, its text-layout plugin, in whatever font the
machine resolves "Helvetica" to (DejaVu Sans on this Debian machine). That makes a layout depend on the
fonts installed, and it is slow: loading Pango costs about 10 ms a process and each label a little more,
about 20 ms of the 50 ms dot took on the 140 ops of MediaPipe's pose model (Graphviz 2.43 here). Without a
text-layout plugin dot sizes text from its own table of Helvetica's character widths, the font the page
names first (report.css: Helvetica, Arial, Liberation Sans, all with the same widths). So dot runs with
GVBINDIR set to a plugin configuration that lists the two plugins used and no other: `core` (the svg and
plain outputs) and `dot_layout`, at their installed paths.

- The configuration is made from the installed one (the file `dot -c` writes beside the plugins, under
  dot's prefix: lib/graphviz, lib64/graphviz or lib/<platform>/graphviz), once per process, and written to
  a private temporary folder (mkdtemp's, mode 0700: dot loads the libraries a configuration names) that is
  removed as soon as no dot run uses it (a report forked by the CLI's guard ends without running atexit).
- When it cannot be made (no installed configuration found, one without those two plugins, GVBINDIR set by
  the user, no temporary folder) or dot fails with it, dot runs as installed: the same layout, measured
  with the machine's fonts.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

PLUGINS = ("core", "dot_layout")  # what the svg and plain outputs of a dot layout need
_CONFIG_NAME = re.compile(r"config\d+[a-z]?")
_BLOCK = re.compile(r"(\S+)\s+(\S+)\s*\{")  # "<library> <plugin name> {" at the top level of a configuration

_lock = threading.Lock()
_state: dict = {}  # "config": (dot's path, (file name, text) or None); "folder", "users": the one written


def find() -> str | None:
    """dot's path, or None when Graphviz is not installed."""
    return shutil.which("dot")


def installed_config(exe: str) -> str | None:
    """The plugin configuration of the Graphviz that `exe` belongs to, or None."""
    prefix = os.path.dirname(os.path.dirname(os.path.realpath(exe)))
    lib = os.path.join(prefix, "lib")
    dirs = [os.path.join(lib, "graphviz"), os.path.join(prefix, "lib64", "graphviz"),
            os.path.join(lib, getattr(sys.implementation, "_multiarch", "") or "-", "graphviz")]
    try:
        dirs += [os.path.join(lib, d, "graphviz") for d in sorted(os.listdir(lib))]
    except OSError:
        pass
    for d in dirs:
        try:
            names = sorted(n for n in os.listdir(d) if _CONFIG_NAME.fullmatch(n))
        except OSError:
            continue
        if names:
            return os.path.join(d, names[-1])
    return None


def plugin_config(text: str, libdir: str) -> str | None:
    """`text`, a plugin configuration, reduced to the blocks of PLUGINS with their libraries' paths made
    absolute (relative ones are under `libdir`); None when one of them is missing."""
    kept: dict[str, list[str]] = {}
    depth, block = 0, None
    for line in text.splitlines():
        stripped = line.strip()
        if depth == 0:
            block = None
            m = _BLOCK.match(stripped)
            if m and m.group(2) in PLUGINS and m.group(2) not in kept:
                path = m.group(1) if os.path.isabs(m.group(1)) else os.path.join(libdir, m.group(1))
                line = f"{path} {m.group(2)} {{{stripped[m.end():]}"
                block = kept[m.group(2)] = []
        if block is not None:
            block.append(line)
        if not stripped.startswith("#"):
            depth = max(0, depth + line.count("{") - line.count("}"))
    if len(kept) != len(PLUGINS):
        return None
    return "\n".join(line for name in PLUGINS for line in kept[name]) + "\n"


def _config_text(exe: str) -> tuple[str, str] | None:
    """(file name, text) of the configuration dot sizes text with its own table under (see above), or None."""
    if os.environ.get("GVBINDIR"):
        return None
    config = installed_config(exe)
    if config is None:
        return None
    try:
        with open(config, encoding="utf-8", errors="replace") as f:
            text = plugin_config(f.read(), os.path.dirname(config))
    except OSError:
        return None
    return None if text is None else (os.path.basename(config), text)


def _acquire(exe: str) -> dict | None:
    """The environment for one dot run (None: as installed); _release() when it has ended. The folder lives
    while runs use it: dot reads it at start-up, and a forked report exits without running atexit."""
    with _lock:
        if _state.get("config", (None,))[0] != exe:
            _state["config"] = exe, _config_text(exe)
        if _state["config"][1] is None:
            return None
        if _state.get("folder") is None:
            try:
                folder = tempfile.mkdtemp(prefix="graphreport-graphviz-")
                name, text = _state["config"][1]
                with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
                    f.write(text)
            except OSError:
                _state["config"] = exe, None
                return None
            _state["folder"], _state["users"] = folder, 0
        _state["users"] += 1
        return {**os.environ, "GVBINDIR": _state["folder"]}


def _release(disable: bool = False) -> None:
    with _lock:
        if disable:
            _state["config"] = _state["config"][0], None
        _state["users"] -= 1
        if _state["users"] == 0:
            shutil.rmtree(_state.pop("folder"), ignore_errors=True)


class Run:
    """dot on `src`, started now from the calling thread; result() waits for it: (its output in `fmt`, or None
    and why). Its input and output are unnamed files, not pipes, and a thread of its own waits for it in one
    blocking call, then closes the files and frees the configuration folder (even when nobody asks for the
    result): nothing of a run needs Python until dot has ended, so a thread busy beside it (the page being
    rendered) does not hold it back. A run that ends after `timeout` seconds counts as too long; result() kills
    one still going then. `limit_s`: the limit to name in the message (the whole diagram's, of which `timeout`
    may be what is left)."""

    def __init__(self, exe: str, src: str, fmt: str = "svg", timeout: float = 20, limit_s: float | None = None):
        self.cmd, self.data = [exe, f"-T{fmt}"], src.encode("utf-8")
        self.deadline, self.limit_s = time.monotonic() + timeout, timeout if limit_s is None else limit_s
        self.env = _acquire(exe)
        self.used_env, self.files, self.proc, self.killed, self.ended, self.outcome = \
            self.env is not None, [], None, False, None, (-1, b"", b"")
        self.started = threading.Event()
        # the thread starts before dot does: one started beside a running dot waited for a core, ~3 ms
        self.waiter = threading.Thread(target=self._wait, daemon=True)
        self.waiter.start()
        self.error = ""
        try:
            for _ in range(3):
                self.files.append(tempfile.TemporaryFile())
            stdin, out, err = self.files
            stdin.write(self.data)
            stdin.seek(0)
            self.proc = subprocess.Popen(self.cmd, stdin=stdin, stdout=out, stderr=err, env=self.env)
        except OSError as e:  # no temporary file (a read-only or full disk), dot gone or not executable
            self.error = f"Graphviz could not be started ({getattr(e, 'strerror', None) or e})"
        finally:
            self.started.set()  # with no process, the waiter just cleans up

    def _wait(self) -> None:
        self.started.wait()
        failed = False
        try:
            if self.proc is not None:
                code = self.proc.wait()
                self.ended = time.monotonic()
                failed = code != 0 and not self.killed
                self.files[1].seek(0)
                self.files[2].seek(0)
                self.outcome = code, self.files[1].read(), self.files[2].read()
        except BaseException as e:  # noqa: BLE001 - told by result()
            self.outcome = -1, b"", str(e).encode()
        finally:
            for f in self.files:
                f.close()
            if self.env is not None:  # a configuration dot does not take: it runs as installed from now on
                _release(disable=failed)

    def result(self) -> tuple[str | None, str]:
        if self.error:
            self.waiter.join()
            return None, self.error
        self.waiter.join(max(0.0, self.deadline - time.monotonic()))
        if self.waiter.is_alive():
            self.killed = True
            try:
                self.proc.kill()
            except OSError:
                pass
            self.waiter.join()
        code, out, err = self.outcome
        if self.killed or self.ended is not None and self.ended > self.deadline:
            code = None
        elif code and self.used_env:  # dot failed with our configuration: once more as installed
            try:
                proc = subprocess.run(self.cmd, input=self.data, capture_output=True,
                                      timeout=max(0.001, self.deadline - time.monotonic()))
                code, out, err = proc.returncode, proc.stdout, proc.stderr
            except subprocess.TimeoutExpired:
                code = None
        if code is None:
            return None, f"Graphviz took longer than {self.limit_s:.0f} s"
        if code != 0:
            first = err.decode("utf-8", "replace").strip().splitlines()[:1]
            return None, f"Graphviz failed: {first[0] if first else 'unknown error'}"
        return out.decode("utf-8", "replace"), ""


def run(exe: str, src: str, timeout: float, fmt: str = "svg", limit_s: float | None = None):
    """Run(...).result(): dot's output for `src`, or None and why."""
    return Run(exe, src, fmt, timeout, limit_s).result()
