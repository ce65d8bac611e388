"""Find the reader for a path: by content first (magic bytes, a successful parse), extension second."""
from __future__ import annotations

import os
import re

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


_JSON_START = re.compile(rb"[ \t\r\n]*(\{[ \t\r\n]*(\"|\}|$)|\[[ \t\r\n]*([{\[\]\"0-9-]|$))")
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def looks_like_json(head: bytes) -> bool:
    """A JSON object or array (a TF.js model.json, a weights manifest). A binary GraphDef can begin with the
    same bytes ('\\n{' is a first node of 123 bytes) but carries protobuf tags (0x12, ...) that JSON text
    never holds unescaped."""
    return bool(_JSON_START.match(head)) and not _CONTROL.search(head)


def sniff(path: str, head: bytes) -> str:
    """Name of the format a file's first bytes say it is (or 'graphdef' as the protobuf fallback)."""
    from . import graphdef

    if head[4:8] == b"TFL3":
        return "tflite"
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "keras_h5"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if looks_like_json(head):
        return "json"
    if graphdef.looks_like_text(head):
        return "graphdef"
    return "graphdef"


MODEL_SUFFIXES = (".pb", ".pbtxt", ".tflite", ".h5", ".hdf5", ".keras", ".onnx", ".meta")
MAX_LISTED = 10_000  # directory entries looked at when saying what a folder holds


def _describe_directory(path: str) -> str:
    """What a folder without a recognisable model holds, in one line."""
    names: list[str] = []
    try:
        with os.scandir(path) as it:
            for i, e in enumerate(it):
                if i >= MAX_LISTED:
                    break
                names.append(e.name + ("/" if e.is_dir() else ""))
    except OSError as e:
        return f"is a directory that cannot be listed ({e.strerror or e})"
    names.sort()
    if not names:
        return "is an empty directory: expected a SavedModel (saved_model.pb), a TF1 checkpoint (.meta + .index) " \
               "or a TF.js model (a .json file with modelTopology, and its weight shards)"
    found = []
    if "variables/" in names:
        found.append("a variables/ folder but no saved_model.pb (an incomplete SavedModel?)")
    indexes = [n for n in names if n.endswith(".index")]
    if indexes:
        found.append(f"checkpoint variables ({indexes[0]}) but no .meta graph: a TF2 checkpoint stores variables "
                     "only; export a SavedModel to report on it")
    nested = [n for n in names if n.endswith("/") and any(
        os.path.isfile(os.path.join(path, n, f)) for f in ("saved_model.pb", "saved_model.pbtxt", "model.json"))]
    if nested:
        found.append("models in subfolders: " + ", ".join(nested[:5]) + " (name one)")
    files = [n for n in names if n.endswith(MODEL_SUFFIXES)]
    if files:
        found.append("model files: " + ", ".join(files[:5]) + " (name the file)")
    if not found:
        shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
        found.append(f"no model: {shown}")
    return ("is a directory without a SavedModel (saved_model.pb), TF1 checkpoint (.meta, checkpoint) or TF.js "
            "model (a .json file with modelTopology); it holds " + "; ".join(found))


def load_directory(path: str) -> Model:
    """A folder: a SavedModel, a TF1 checkpoint folder or a TF.js model folder."""
    from . import metagraph, savedmodel

    if savedmodel.match(path):
        return savedmodel.read(path)
    if metagraph.match_directory(path):
        return metagraph.read(path)
    from . import tfjs

    model_json = tfjs.find_in_folder(path)  # model.json, or the one JSON file that is a TF.js model by content
    if model_json is not None:
        return tfjs.read(model_json)
    if os.path.isfile(os.path.join(path, "config.json")) and os.path.isfile(os.path.join(path, "metadata.json")):
        from . import keras  # an unzipped .keras archive
        return keras.read(path)
    raise BadModelError(_describe_directory(path), path)


def _starts_like_tflite(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(8)[4:8] == b"TFL3"  # as sniff() says, without importing the GraphDef reader
    except OSError:
        return False  # said below, with the reason


def load(path: str) -> Model:
    """Read any supported model file (or SavedModel / checkpoint / TF.js folder) into the graph model."""
    if os.path.isdir(path):
        return load_directory(path)
    if _starts_like_tflite(path):  # mapped and read in place; before importing the protobuf readers (~40 ms)
        from . import tflite
        return tflite.read_file(path)
    from . import metagraph, savedmodel

    if savedmodel.match(path):  # saved_model.pb named directly
        return savedmodel.read(os.path.dirname(path) or ".")
    if metagraph.match(path):  # .meta, .index, .data-*, `checkpoint`, or a prefix naming them
        return metagraph.read(path)
    if not os.path.exists(path):
        raise BadModelError("no such file", path)
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError as e:
        raise BadModelError(f"cannot read the file ({e.strerror or e})", path) from None
    if sniff(path, head) in ("keras_h5", "zip"):  # read in place (HDF5, zip members), never whole into memory
        from . import keras
        return keras.read(path)
    if head and sniff(path, head) == "json":  # TF.js model.json, a weights manifest, or a bare Keras config
        from . import tfjs
        return tfjs.read(path)
    if head and sniff(path, head) == "graphdef":
        from . import graphdef
        graphdef.check_size(path, os.path.getsize(path))  # over protobuf's limit: say so before reading it
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
