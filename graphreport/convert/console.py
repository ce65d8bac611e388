"""Progress on a terminal, silence in CI logs, and TensorFlow kept quiet.

- Progress lines go to stderr only when stderr is a TTY.
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
    def __init__(self, debug: bool = False, progress: bool | None = None):
        self.debug = debug
        try:
            tty = sys.stderr.isatty()
        except (AttributeError, ValueError):
            tty = False
        self.progress = tty if progress is None else progress
        self.captured: list[str] = []
        self._saved_err_fd: int | None = None  # the real stderr while quiet() is active
        self._line_open = False

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
        """`with console.step("Converting"):` prints `Converting...` then `Converting... done (1.2 s)` on a TTY."""
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
            if self.progress:
                status = f"done ({time.monotonic() - t0:.1f} s)" if ok else "failed"
                self._write_err(f"\r\x1b[K{label}... {status}\n")
                self._line_open = False

    def count(self, label: str, i: int, n: int | None) -> None:
        """Update a counter on the current line (TTY only): `Calibrating... 12/100`."""
        if self.progress:
            total = f"/{n}" if n else ""
            self._write_err(f"\r\x1b[K{label}... {i}{total}")
            self._line_open = True

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
