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
import tempfile
import threading
import time

PLUGINS = ("core", "dot_layout")  # what the svg and plain outputs of a dot layout need
_CONFIG_NAME = re.compile(r"config\d+[a-z]?")
_BLOCK = re.compile(r"(\S+)\s+(\S+)\s*\{")  # "<library> <plugin name> {" at the top level of a configuration

_lock = threading.Lock()
_state: dict = {}  # "exe": dot's path or None; "env": the environment dot runs with (None: as installed)


def find() -> str | None:
    """dot's path, or None when Graphviz is not installed."""
    with _lock:
        if "exe" not in _state:
            _state["exe"] = shutil.which("dot")
        return _state["exe"]


def installed_config(exe: str) -> str | None:
    """The plugin configuration of the Graphviz that `exe` belongs to, or None."""
    prefix = os.path.dirname(os.path.dirname(os.path.realpath(exe)))
    lib = os.path.join(prefix, "lib")
    dirs = [os.path.join(lib, "graphviz"), os.path.join(prefix, "lib64", "graphviz")]
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
        if "config" not in _state:
            _state["config"] = _config_text(exe)
        if _state["config"] is None:
            return None
        if _state.get("folder") is None:
            try:
                folder = tempfile.mkdtemp(prefix="graphreport-graphviz-")
                name, text = _state["config"]
                with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
                    f.write(text)
            except OSError:
                _state["config"] = None
                return None
            _state["folder"], _state["users"] = folder, 0
        _state["users"] += 1
        return {**os.environ, "GVBINDIR": _state["folder"]}


def _release(disable: bool = False) -> None:
    with _lock:
        if disable:
            _state["config"] = None
        _state["users"] -= 1
        if _state["users"] == 0:
            shutil.rmtree(_state.pop("folder"), ignore_errors=True)


def run(exe: str, src: str, timeout: float, fmt: str = "svg", limit_s: float | None = None):
    """dot's output in `fmt` for `src`, or None and why; `limit_s`: the limit to name in the message (the
    whole diagram's, of which `timeout` may be what is left)."""
    cmd, data, t0 = [exe, f"-T{fmt}"], src.encode("utf-8"), time.monotonic()
    env, proc = _acquire(exe), None
    try:
        try:
            proc = subprocess.run(cmd, input=data, capture_output=True, timeout=timeout, env=env)
        finally:
            if env is not None:
                _release(disable=proc is not None and proc.returncode != 0)
        if env is not None and proc.returncode != 0:  # a configuration this dot does not take: as installed
            proc = subprocess.run(cmd, input=data, capture_output=True,
                                  timeout=max(0.001, timeout - (time.monotonic() - t0)))
    except subprocess.TimeoutExpired:
        return None, f"Graphviz took longer than {timeout if limit_s is None else limit_s:.0f} s"
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()[:1]
        return None, f"Graphviz failed: {err[0] if err else 'unknown error'}"
    return proc.stdout.decode("utf-8", "replace"), ""
