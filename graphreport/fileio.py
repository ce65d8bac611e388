"""Atomic writes shared by every command (report, diff, folder mode, convert): a failure, a time-out or a kill
never leaves a partial output file. Temporary files are named .graphreport-<pid>-XXXX.tmp, so the CLI's guard
(watchdog.py) can remove those of a child it had to kill."""
from __future__ import annotations

import os
import tempfile
from typing import Iterable, Union

TEMP_PREFIX = ".graphreport-"


CHUNK_CHARS = 1 << 20


def write_atomic(path: str, text: Union[str, Iterable[str]]) -> None:
    """Write via a temporary file in the same folder, so a failure never leaves a partial file. `text` is a
    string or strings to write in turn (a report written as it is encoded); a long string is encoded a
    slice at a time, never into one more copy of its full size."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            if isinstance(text, str):
                for i in range(0, len(text), CHUNK_CHARS):
                    f.write(text[i:i + CHUNK_CHARS])
            else:
                for part in text:
                    f.write(part)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp made it private; a report is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
