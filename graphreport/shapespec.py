"""Shapes as text: the one formatter every table, message and diagram label uses, and the one parser of
``--input-shape`` for `report`, `diff` and `convert`.

The syntax of ``--input-shape`` (repeatable): ``NAME=D0,D1,...`` fixes the shape of input NAME (a tensor
suffix such as ``:0`` is dropped); a bare ``D0,D1,...`` is the shape of the model's only input. Dimensions
are separated by ``,`` or ``x`` (``1x224x224x3``); each is a whole number, or ``?`` (also ``-1``,
``None``) for a dimension left unknown; nothing after ``=`` is a scalar. `convert` needs every dimension
known (and above 0); `report` and `diff` take ``?`` as "infer it".
"""
from __future__ import annotations

from typing import Optional

from .errors import UsageError

UNKNOWN_DIMS = ("?", "-1", "None", "none")
MAX_DIM = 2**31  # a dimension is an int32 in TensorFlow's shape protos
UNKNOWN_RANK = "(unknown rank)"  # how messages (unknown reasons, conflicts) write a None shape


def format_shape(shape, sep: str = ", ", unknown_rank: str = "?", brackets: bool = True) -> str:
    """``[1, ?, 224, 3]``: an unknown dimension is ``?``, an unknown rank (a None shape) is `unknown_rank`.
    Without brackets the dimensions stand alone (``1×?×224×3`` with sep "×") and a rank-0 shape is "scalar"."""
    if shape is None:
        return unknown_rank
    text = sep.join("?" if d is None else str(d) for d in shape)
    if brackets:
        return "[" + text + "]"
    return text or "scalar"


def compact_shape(shape) -> str:
    """``1×?×224×3``, for diagram labels and node tooltips ("scalar" for rank 0, "?" for an unknown rank)."""
    return format_shape(shape, sep="×", brackets=False)


def parse_input_shapes(items: Optional[list[str]]) -> dict[str, list]:
    """``['x=1,224,224,3', 'y:0=1x?x8']`` -> ``{'x': [1, 224, 224, 3], 'y': [1, None, 8]}``; a bare
    ``'1,224,224,3'`` -> ``{'': [...]}`` (see `name_bare_shape`)."""
    out: dict[str, list] = {}
    for item in items or []:
        name, sep, dims = item.rpartition("=")
        name = name.strip()
        if sep and not name:
            raise UsageError(f"--input-shape wants NAME=D0,D1,... or D0,D1,..., got {item!r}")
        node, colon, index = name.rpartition(":")
        if colon and index.isdigit():
            name = node
        shape = []
        for d in dims.replace("x", ",").split(","):
            d = d.strip()
            if not d:
                continue
            if d in UNKNOWN_DIMS:
                shape.append(None)
            elif d.isdigit() and int(d) < MAX_DIM:
                shape.append(int(d))
            else:
                raise UsageError(f"--input-shape {item!r}: {d!r} is not a dimension (a whole number, or ? for "
                                 "unknown), e.g. input=1,224,224,3")
        if not sep and not shape:  # a bare word such as "x": a name without its shape
            raise UsageError(f"--input-shape wants NAME=D0,D1,... or D0,D1,..., got {item!r}")
        out[name] = shape  # given twice: the last one holds
    return out


def name_bare_shape(shapes: dict[str, list], inputs: list[str]) -> dict[str, list]:
    """`shapes` with a bare shape (key "") given to the only input of `inputs`."""
    if "" not in shapes:
        return shapes
    if len(inputs) != 1:
        raise UsageError("--input-shape without a name works only for a model with one input; "
                         "write NAME=d0,d1,... (inputs: " + ", ".join(inputs) + ")")
    return {inputs[0]: shapes[""], **{k: v for k, v in shapes.items() if k}}
