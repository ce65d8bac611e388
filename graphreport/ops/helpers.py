"""Shared helpers for shape and cost rules: broadcasting, convolution output sizes, checked products, axes.

Every helper treats ``None`` as an unknown dimension and a ``None`` shape as unknown rank, and returns early
(``None``) rather than guessing. Rules raise :class:`Unknown` with a reason when a result cannot be known
statically, and :class:`ShapeError` when the inputs contradict each other.
"""
from __future__ import annotations

from typing import Optional, Sequence

from ..model import Shape, num_elements


class _LazyNumpy:
    """numpy, imported on first use: rules compute values with it, but a model whose analyses need no
    constant value (most .tflite files) never pays for importing it (about 0.1 s, most of what registering
    the rules used to cost). Family modules use ``from .helpers import np`` instead of ``import numpy``."""

    __slots__ = ()

    def __getattr__(self, name: str):
        import numpy

        return getattr(numpy, name)

    def __repr__(self) -> str:
        return "<numpy, imported on first use>"


np = _LazyNumpy()

MAX_VALUE_ELEMENTS = 4096  # constant values larger than this are never materialized for shape arithmetic


class Unknown(Exception):
    """A rule cannot know its result statically; ``str(e)`` says why (shown to the user)."""


class ShapeError(Unknown):
    """The inputs contradict each other (e.g. shapes that do not broadcast); the result stays unknown."""


# dtype name -> numpy type name (numpy itself is imported on first use, see helpers.np)
NP_DTYPES = {"float16": "float16", "float32": "float32", "float64": "float64", "int8": "int8", "int16": "int16",
             "int32": "int32", "int64": "int64", "uint8": "uint8", "uint16": "uint16", "uint32": "uint32",
             "uint64": "uint64", "bool": "bool_"}


def np_dtype(name: Optional[str], default=None):
    """The numpy type of a dtype name; `default` (numpy.int64 when not given) for other names."""
    np_name = NP_DTYPES.get(name or "")
    if np_name is not None:
        return getattr(np, np_name)
    return np.int64 if default is None else default


def small(n: Optional[int]) -> bool:
    return n is not None and n <= MAX_VALUE_ELEMENTS


ZERO = {"macs": 0, "flops": 0}


def free(ctx):
    """0 MACs, 0 FLOPs: the op moves, views or describes data without arithmetic."""
    return dict(ZERO)


def same_shape(ctx):
    """One output, shaped as input 0 (identity-likes, element-wise activations). The shape pass knows this
    rule: it gives the shape without making the rule's context (analysis/shapes.py)."""
    return [ctx.shape(0)]


def known(shape: Shape) -> bool:
    """True when the rank and every dimension are known."""
    return shape is not None and None not in shape


def rank(shape: Shape) -> Optional[int]:
    return None if shape is None else len(shape)


def checked_mul(*dims) -> Optional[int]:
    """Product of dimensions; None when any is unknown (or negative, i.e. not a real size)."""
    return num_elements(dims)


def checked_add(*dims) -> Optional[int]:
    n = 0
    for d in dims:
        if d is None:
            return None
        n += int(d)
    return n


def merge_dim(a, b):
    """The more specific of two dimensions that describe the same thing (a known value wins)."""
    if a is None:
        return b
    if b is None or a == b:
        return a
    raise ShapeError(f"dimension mismatch: {a} vs {b}")


def merge_shapes(a: Shape, b: Shape) -> Shape:
    """The more specific of two shapes of the same tensor; ShapeError when they contradict."""
    if a is None:
        return None if b is None else list(b)
    if b is None:
        return list(a)
    if len(a) != len(b):
        raise ShapeError(f"rank mismatch: {a} vs {b}")
    return [merge_dim(x, y) for x, y in zip(a, b)]



def broadcast(*shapes: Shape) -> Shape:
    """NumPy/TensorFlow broadcasting of any number of shapes. An unknown dim against a known dim > 1 takes
    the known one (a valid program has no other choice); against 1 or unknown it stays unknown."""
    if any(s is None for s in shapes):
        return None
    if not shapes:
        return []
    r = max(len(s) for s in shapes)
    out = []
    for i in range(r):
        dims = [s[len(s) - r + i] for s in shapes if len(s) - r + i >= 0]
        res: Optional[int] = 1
        unknown = False
        for d in dims:
            if d is None:
                unknown = True
            elif d != 1:
                if res != 1 and res != d:
                    raise ShapeError(f"shapes {list(shapes)} do not broadcast")
                res = d
        out.append(None if (unknown and res == 1) else res)
    return out


def unknown_dims_of_input_rank(ctx, operand: int, reason: str) -> list:
    """The output of an op whose per-axis operand (a permutation, paddings, multiples) is not constant: as many
    unknown dimensions as the input has, or as the operand's length says; `reason` when neither is known."""
    s, ps = ctx.shape(0), ctx.shape(operand)
    r = len(s) if s is not None else (ps[0] if ps else None)
    if r is None:
        raise Unknown(reason)
    return [[None] * r]


def normalize_axis(axis: int, r: int) -> int:
    a = int(axis)
    if not -r <= a < r:
        raise ShapeError(f"axis {axis} out of range for rank {r}")
    return a + r if a < 0 else a


def conv_out_dim(size, k, stride=1, dilation=1, padding="VALID", pad_before=0, pad_after=0):
    """Output length of one spatial dimension of a convolution or pooling window.

    VALID: floor((in - effective_k) / stride) + 1; SAME: ceil(in / stride); EXPLICIT: like VALID on the
    padded input. effective_k = (k - 1) * dilation + 1. Unknown in -> None.
    """
    if size is None or k is None:
        return None
    eff = (int(k) - 1) * int(dilation) + 1
    pad = str(padding).upper()
    if pad == "SAME":
        return -(-int(size) // int(stride))
    if pad == "EXPLICIT":
        size = int(size) + int(pad_before) + int(pad_after)
    elif pad != "VALID":
        raise Unknown(f"padding {padding!r} not understood")
    out = (int(size) - eff) // int(stride) + 1
    if out < 0:
        raise ShapeError(f"window {eff} larger than input {size}")
    return max(out, 0)


def layout(data_format: Optional[str], nd: int) -> tuple[int, int, list[int]]:
    """(batch axis, channel axis, spatial axes) of an N-spatial-dim tensor in `data_format`.

    Channels-last formats: NHWC, NDHWC, NWC; channels-first: NCHW, NCDHW, NCW (and NCHW_VECT_C unsupported).
    """
    fmt = (data_format or "").upper()
    if fmt.startswith("NC"):
        return 0, 1, list(range(2, 2 + nd))
    if fmt in ("", "NHWC", "NDHWC", "NWC", "CHANNELS_LAST"):
        return 0, nd + 1, list(range(1, 1 + nd))
    raise Unknown(f"data_format {data_format!r} not supported")


def dims_from_shape_value(v: Optional[Sequence]) -> Shape:
    """A shape operand (e.g. Reshape's `shape`, Fill's `dims`) -> shape; -1 or None entries -> None."""
    if v is None:
        return None
    return [None if (d is None or d < 0) else int(d) for d in v]
