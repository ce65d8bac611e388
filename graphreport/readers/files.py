"""Reading model files: whole files under a size limit, the first bytes, and the magic numbers that say
which format a file is (used by the reader registry, registry.py, and by the readers that check them)."""
from __future__ import annotations

import os
import re

from ..errors import BadModelError, LimitError

MAX_FILE_BYTES = 4 * 1024**3  # a report reads at most this much of one file
HEAD_BYTES = 64  # how much of a file detection looks at

TFLITE_MAGIC = (4, b"TFL3")  # a FlatBuffer's file identifier: bytes 4..8
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"  # the HDF5 superblock signature (legacy Keras .h5)
ZIP_MAGIC = b"PK\x03\x04"  # a zip archive's first local file header (Keras v3 .keras)


def read_bytes(path: str) -> bytes:
    try:
        size = os.path.getsize(path)
        if size > MAX_FILE_BYTES:
            raise LimitError(f"file is {size} bytes; graphreport reads models up to {MAX_FILE_BYTES} bytes", path)
        with open(path, "rb") as f:
            return f.read()
    except IsADirectoryError:
        raise BadModelError("is a directory", path) from None
    except OSError as e:
        raise BadModelError(f"cannot read the file ({e.strerror or e})", path) from None


def map_bytes(path: str):
    """The whole file as a read-only buffer (an mmap; b"" when empty), with read_bytes' checks and errors.
    A parser copies what it keeps, so reading the file first would copy every weight twice: mapping saves
    that copy (60-90 ms of a 95 MB InceptionV3 GraphDef). The caller closes it (unmap)."""
    import mmap

    try:
        size = os.path.getsize(path)
        if size > MAX_FILE_BYTES:
            raise LimitError(f"file is {size} bytes; graphreport reads models up to {MAX_FILE_BYTES} bytes", path)
        with open(path, "rb") as f:
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
    except IsADirectoryError:
        raise BadModelError("is a directory", path) from None
    except (OSError, ValueError) as e:  # ValueError: the file became empty meanwhile
        raise BadModelError(f"cannot read the file ({getattr(e, 'strerror', None) or e})", path) from None


def unmap(data) -> None:
    """Close what map_bytes returned (a buffer still exported, e.g. by an exception's traceback, is left to
    the garbage collector)."""
    try:
        close = getattr(data, "close", None)
        if close:
            close()
    except BufferError:
        pass


def read_head(path: str, n: int = HEAD_BYTES) -> bytes:
    """The first `n` bytes of a file (fewer when it is shorter)."""
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError as e:
        raise BadModelError(f"cannot read the file ({e.strerror or e})", path) from None


_JSON_START = re.compile(rb"[ \t\r\n]*(\{[ \t\r\n]*(\"|\}|$)|\[[ \t\r\n]*([{\[\]\"0-9-]|$))")
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def looks_like_json(head: bytes) -> bool:
    """A JSON object or array (a TF.js model.json, a weights manifest). A binary GraphDef can begin with the
    same bytes ('\\n{' is a first node of 123 bytes) but carries protobuf tags (0x12, ...) that JSON text
    never holds unescaped."""
    return bool(_JSON_START.match(head)) and not _CONTROL.search(head)
