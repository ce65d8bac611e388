"""Find the reader for a path and read it: the rows of registry.py, in order, by magic bytes, names and
content; a folder without a model is described in one line."""
from __future__ import annotations

import os

from ..errors import BadModelError
from ..model import Model
from ..watchdog import note_read
from .files import MAX_FILE_BYTES, looks_like_json, read_bytes, read_head  # noqa: F401  (used from here)
from .registry import find, suffixes

MODEL_SUFFIXES = suffixes(whole_names=False)  # file-name endings of the formats read
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
        os.path.isfile(os.path.join(path, n, f)) for f in suffixes(whole_names=True))]
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
    """A folder: a SavedModel, a TF1 checkpoint folder, a TF.js model folder or an unzipped .keras archive."""
    reader = find(path, b"", is_dir=True)
    if reader is None:
        raise BadModelError(_describe_directory(path), path)
    model = reader.load(path)
    note_read(model)  # under the CLI's guard: the rest of the command gets a budget for what was read
    return model


def load(path: str) -> Model:
    """Read any supported model file (or SavedModel / checkpoint / TF.js folder) into the graph model."""
    if os.path.isdir(path):
        return load_directory(path)
    exists = os.path.exists(path)
    head = read_head(path) if exists else b""  # a missing path may still name a checkpoint by its prefix
    reader = find(path, head)
    if reader is None:
        raise BadModelError("no such file" if not exists else "not a file graphreport reads", path)
    model = reader.load(path)
    note_read(model)
    return model
