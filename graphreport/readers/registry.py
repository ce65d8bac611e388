"""The one list of formats graphreport reads. Each row names a format, says how reports name it, which magic
bytes and file names are its own, and which reader module reads it; detect.py walks the rows in order, and
convert/source.py uses the same rows to say what a path is.

A reader module (readers/<module>.py) provides two functions, named by the row:
- ``match(path, head) -> bool``: whether `path` is a model of its format: a directory (``head == b""``) when
  the row reads folders; for a file (whose first bytes are `head`) or a name that does not exist (a
  checkpoint prefix), only when the row has neither magic bytes nor a sniff (those decide files alone).
  Cheap: names, a few bytes, a folder listing; never a parse.
- ``read(path) -> Model``: the model, or BadModelError / LimitError for a file it cannot read.
The module is imported only when a path is its format (or its `match` is asked), so that a TFLite report
never imports protobuf. Adding a format is one reader module plus one row here.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable, Optional

from ..model import Model
from .files import HDF5_MAGIC, TFLITE_MAGIC, ZIP_MAGIC, looks_like_json


@dataclass(frozen=True)
class Reader:
    name: str  # the format it reports (Model.format); two rows may share one (binary and text SavedModel)
    display: str  # how reports name the format
    module: str  # readers/<module>.py
    magic: tuple[tuple[int, bytes], ...] = ()  # (offset, bytes): any one present claims a file
    sniff: Optional[Callable[[bytes], bool]] = None  # a test of a file's first bytes (files.py), for text formats
    suffixes: tuple[str, ...] = ()  # file-name endings (".pb") or whole names ("saved_model.pb") it reads
    folders: bool = False  # its `match` is asked about directories too
    match: Optional[str] = "match"  # the module's match function; None: nothing but the magic bytes
    read: str = "read"  # the module's read function

    def reader(self):
        return importlib.import_module(f"{__package__}.{self.module}")

    def has_magic(self, head: bytes) -> bool:
        return any(head[at:at + len(m)] == m for at, m in self.magic)

    def claims(self, path: str, head: bytes, is_dir: bool = False) -> bool:
        """Whether this row's reader reads `path` (a directory when is_dir)."""
        if is_dir:
            return self.folders and bool(self.match) and bool(getattr(self.reader(), self.match)(path, b""))
        if self.magic or self.sniff:  # told by content, without importing the reader
            return self.has_magic(head) or bool(self.sniff and self.sniff(head))
        return bool(self.match) and bool(getattr(self.reader(), self.match)(path, head))

    def load(self, path: str) -> Model:
        return getattr(self.reader(), self.read)(path)


# In order: the first row that claims a path reads it. Magic bytes before names, names before content
# guesses; the GraphDef reader last, as the protobuf fallback for any other file.
READERS: tuple[Reader, ...] = (
    Reader("tflite", "TensorFlow Lite flatbuffer", "tflite", magic=(TFLITE_MAGIC,), suffixes=(".tflite",),
           match=None, read="read_file"),
    Reader("savedmodel", "TensorFlow SavedModel", "savedmodel", suffixes=("saved_model.pb",), folders=True),
    Reader("savedmodel", "TensorFlow SavedModel", "savedmodel_text", suffixes=("saved_model.pbtxt",),
           folders=True),
    Reader("checkpoint", "TensorFlow MetaGraph + checkpoint", "metagraph", suffixes=(".meta",), folders=True),
    Reader("tfjs", "TensorFlow.js model", "tfjs", sniff=looks_like_json, suffixes=("model.json",), folders=True,
           read="read_path"),
    Reader("keras", "Keras model", "keras", magic=((0, HDF5_MAGIC), (0, ZIP_MAGIC)),
           suffixes=(".keras", ".h5", ".hdf5"), folders=True),
    Reader("graphdef", "TensorFlow GraphDef", "graphdef", suffixes=(".pb", ".pbtxt"), read="read_file"),
)


def find(path: str, head: bytes, is_dir: bool = False) -> Optional[Reader]:
    """The first row that claims `path`, or None."""
    for r in READERS:
        if r.claims(path, head, is_dir):
            return r
    return None


def display_names() -> dict[str, str]:
    """format name -> how reports name it."""
    return {r.name: r.display for r in READERS}


def suffixes(whole_names: bool) -> tuple[str, ...]:
    """Every row's file-name endings (".pb", ...), or the whole file names ("saved_model.pb", ...)."""
    return tuple(s for r in READERS for s in r.suffixes if s.startswith(".") != whole_names)
