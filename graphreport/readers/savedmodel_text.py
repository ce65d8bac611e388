"""SavedModels written as text: a folder with ``saved_model.pbtxt``, which TF1's
``SavedModelBuilder.save(as_text=True)`` writes. The text format holds the same SavedModel message as
``saved_model.pb``; once parsed, the binary reader (savedmodel.py) reports it, so a text SavedModel and its
binary twin give the same report (the format is "savedmodel" for both)."""
from __future__ import annotations


from ..errors import BadModelError
from ..model import Model
from . import savedmodel, tfproto
from .files import read_bytes

FILE_NAME = "saved_model.pbtxt"


def match(path: str, head: bytes = b"") -> bool:
    """A folder holding saved_model.pbtxt, or that file named directly."""
    return savedmodel.find_model_file(path, FILE_NAME) is not None


def _parse_text(data: bytes, msg) -> None:
    # tfproto's messages hold only the fields graphreport reads: a binary parse keeps the others as unknown
    # fields, and the text parse skips them the same way (OpDef attributes' allowed_values, ...).
    tfproto.parse_text(data, msg, allow_unknown_field=True)


def read(path: str) -> Model:
    pbtxt = savedmodel.find_model_file(path, FILE_NAME)
    if pbtxt is None:
        raise BadModelError(f"no {FILE_NAME} here: not a SavedModel written as text", path)
    sm = savedmodel.parse_saved_model(pbtxt, read_bytes(pbtxt), decode=_parse_text)
    return savedmodel.model_from_saved_model(sm, pbtxt, path)
