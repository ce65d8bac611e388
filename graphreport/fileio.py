"""Atomic writes shared by every command (report, diff, folder mode, convert): a failure, a time-out or a kill
never leaves a partial output file. Temporary files are named .graphreport-<pid>-XXXX.tmp, so the CLI's guard
(watchdog.py) can remove those of a child it had to kill."""
from __future__ import annotations

import os
import tempfile

TEMP_PREFIX = ".graphreport-"


def write_atomic(path: str, text: str) -> None:
    """Write via a temporary file in the same folder, so a failure never leaves a partial file."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp made it private; a report is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
