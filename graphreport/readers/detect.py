"""Find the reader for a path: by content first (magic bytes, a successful parse), extension second."""
from __future__ import annotations

import os

from ..errors import BadModelError, LimitError
from ..model import Model

MAX_FILE_BYTES = 4 * 1024**3  # a report reads at most this much of one file


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


def sniff(path: str, head: bytes) -> str:
    """Name of the format a file's first bytes say it is (or 'graphdef' as the protobuf fallback)."""
    from . import graphdef

    if head[4:8] == b"TFL3":
        return "tflite"
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "keras_h5"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    stripped = head.lstrip()
    if stripped.startswith(b"{"):
        return "json"
    if graphdef.looks_like_text(head):
        return "graphdef"
    return "graphdef"


def load(path: str) -> Model:
    """Read any supported model file into the format-neutral graph model."""
    if os.path.isdir(path):
        raise BadModelError("is a directory; graphreport reads a model file (.pb, .pbtxt, .tflite)", path)
    if not os.path.exists(path):
        raise BadModelError("no such file", path)
    data = read_bytes(path)
    if not data:
        raise BadModelError("the file is empty", path)
    kind = sniff(path, data[:64])
    if kind == "tflite":
        from . import tflite
        return tflite.read(path, data)
    if kind == "graphdef":
        from . import graphdef
        return graphdef.read(path, data)
    names = {"keras_h5": "a Keras HDF5 file", "zip": "a zip archive (Keras .keras?)", "json": "a JSON file"}
    raise BadModelError(f"is {names[kind]}; this version of graphreport reads GraphDef (.pb/.pbtxt) "
                        "and TFLite (.tflite) files", path)
