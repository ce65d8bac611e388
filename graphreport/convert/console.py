"""Progress on a terminal, silence in CI logs, and TensorFlow kept quiet.

- Progress on stderr, three ways: on a terminal, pip/tqdm style (`Converting...` then `Converting... done
  (1.2 s)`, counters as `Verifying  40%|######        | 4/10 [1.3 s]` updated in place); when stderr is not a
  terminal (CI logs), one line per finished stage and no counters; with --quiet, nothing. Warnings are
  printed in every mode. Every stage's duration is kept (`Console.stages`) for the --json result.
- `quiet()` points file descriptors 1 and 2 at a temporary file while TensorFlow works: its C++ logging
  (absl/oneDNN banners, MLIR diagnostics), the converter's prints and the interpreter's "Created TensorFlow
  Lite XNNPACK delegate" all land there instead of on stdout or in the user's log. The captured text is kept
  (`Console.captured`) so that --debug can show it and error parsing can read it.
- `import_tensorflow()` sets TF_CPP_MIN_LOG_LEVEL before the first import and quiets Python-side loggers.
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import sys
import tempfile
import time
import warnings

from ..errors import UsageError


class Console:
    """`progress`: True = terminal style, False = silent, None = decide from stderr (terminal style on a TTY,
    one line per stage otherwise); `quiet` forces silence."""

    BAR = 24

    def __init__(self, debug: bool = False, progress: bool | None = None, quiet: bool = False):
        self.debug = debug
        try:
            tty = sys.stderr.isatty()
        except (AttributeError, ValueError):
            tty = False
        if quiet or progress is False:
            self.mode = "off"
        elif progress or tty:
            self.mode = "tty"
        else:
            self.mode = "lines"
        self.progress = self.mode == "tty"
        self.captured: list[str] = []
        self.stages: list[dict] = []  # [{"name": label, "seconds": duration}] in the order they ran
        self._saved_err_fd: int | None = None  # the real stderr while quiet() is active
        self._line_open = False
        self._count_t0: dict[str, float] = {}

    # -- output to the user -------------------------------------------------------------------------------
    def _write_err(self, text: str) -> None:
        if self._saved_err_fd is not None:
            os.write(self._saved_err_fd, text.encode("utf-8", "replace"))
        else:
            sys.stderr.write(text)
            sys.stderr.flush()

    def warn(self, message: str) -> None:
        """A warning the user must see (always printed, TTY or not)."""
        self._end_line()
        self._write_err(f"graphreport: warning: {message}\n")

    def info(self, message: str) -> None:
        """A note for terminals only."""
        if self.progress:
            self._end_line()
            self._write_err(f"{message}\n")

    def _end_line(self) -> None:
        if self._line_open:
            self._write_err("\n")
            self._line_open = False

    @contextlib.contextmanager
    def step(self, label: str):
        """`with console.step("Converting"):` prints `Converting...` then `Converting... done (1.2 s)` on a TTY,
        only the second line when stderr is not a terminal, and records the stage's duration either way."""
        t0 = time.monotonic()
        if self.progress:
            self._end_line()
            self._write_err(f"{label}...")
            self._line_open = True
        ok = False
        try:
            yield self
            ok = True
        finally:
            seconds = time.monotonic() - t0
            self.stages.append({"name": label, "seconds": round(seconds, 3), **({} if ok else {"failed": True})})
            self._count_t0.pop(label, None)
            if self.mode != "off":
                status = f"done ({seconds:.1f} s)" if ok else "failed"
                self._write_err(("\r\x1b[K" if self.progress else "") + f"{label}... {status}\n")
                self._line_open = False

    def count(self, label: str, i: int, n: int | None) -> None:
        """A counter on the current line, terminal only: `Calibrating  12%|###     | 8/64 [0.4 s]`."""
        if not self.progress:
            return
        t0 = self._count_t0.setdefault(label, time.monotonic())
        elapsed = f"[{time.monotonic() - t0:.1f} s]"
        if n:
            done = min(max(i, 0), n)
            fill = self.BAR * done // n
            bar = f"{100 * done // n:3d}%|{'#' * fill}{' ' * (self.BAR - fill)}| {i}/{n} {elapsed}"
        else:
            bar = f"{i} {elapsed}"
        self._write_err(f"\r\x1b[K{label} {bar}")
        self._line_open = True

    def stage_list(self) -> list[dict]:
        return [dict(s) for s in self.stages]

    # -- silencing TensorFlow ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def quiet(self):
        """Send fds 1 and 2 (C++ logs, converter prints) to a temporary file for the duration."""
        if self._saved_err_fd is not None:  # nested
            yield
            return
        sys.stdout.flush()
        sys.stderr.flush()
        tmp = tempfile.TemporaryFile(mode="w+b")
        saved_out, saved_err = os.dup(1), os.dup(2)
        self._saved_err_fd = saved_err
        try:
            os.dup2(tmp.fileno(), 1)
            os.dup2(tmp.fileno(), 2)
            with warnings.catch_warnings(), _python_stdio(tmp):
                warnings.simplefilter("ignore")
                yield
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            except Exception:
                pass
            os.dup2(saved_out, 1)
            os.dup2(saved_err, 2)
            os.close(saved_out)
            self._saved_err_fd = None
            os.close(saved_err)
            tmp.seek(0)
            text = tmp.read().decode("utf-8", "replace")
            tmp.close()
            if text:
                self.captured.append(text)
                if self.debug:
                    sys.stderr.write(text)
                    sys.stderr.flush()

    def captured_text(self) -> str:
        return "".join(self.captured)


@contextlib.contextmanager
def _python_stdio(tmp):
    """Python-level sys.stdout/sys.stderr that do not write to fd 1/2 (pytest's capture, for one) also go to
    the temporary file while quiet."""
    if sys.stdout is sys.__stdout__ and sys.stderr is sys.__stderr__:
        yield
        return
    sink = io.TextIOWrapper(os.fdopen(os.dup(tmp.fileno()), "wb"), encoding="utf-8", errors="replace",
                            write_through=True)
    old = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = sink
    try:
        yield
    finally:
        sys.stdout, sys.stderr = old
        sink.close()


_TF = None


def require_tensorflow() -> None:
    """Exit code 2 with a clear message when TensorFlow is not installed (the report path never needs it)."""
    if _TF is None and importlib.util.find_spec("tensorflow") is None:
        raise UsageError("`graphreport convert` needs TensorFlow: pip install 'graphreport[convert]' "
                         "(or tensorflow-cpu); reports work without it")


def import_tensorflow(console: Console):
    """Import TensorFlow once, with its C++ logging silenced and its import-time banners captured."""
    global _TF
    if _TF is not None:
        return _TF
    require_tensorflow()
    if not console.debug:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    with console.quiet():
        import tensorflow as tf  # noqa: WPS433 (lazy on purpose)

        level = "DEBUG" if console.debug else "ERROR"
        tf.get_logger().setLevel(level)
        try:
            from absl import logging as absl_logging

            absl_logging.set_verbosity(absl_logging.DEBUG if console.debug else absl_logging.ERROR)
        except ImportError:  # pragma: no cover - absl ships with TensorFlow
            pass
        tf.autograph.set_verbosity(0)
    _TF = tf
    return tf
