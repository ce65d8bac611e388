"""One registry of per-op knowledge, keyed by dialect and op type: ("tf", "Conv2D") for TensorFlow ops,
("tflite", "CONV_2D") for TFLite builtins, ("keras", "Conv2D") for Keras layer classes. The dialects never
share a key, so a Keras layer can never reach a TensorFlow op's rule by name. A graph says its dialect
(``Graph.dialect``).

A family module (ops/nn.py, ops/math.py, ops/array.py ...) registers small functions with the decorators
below; the walkers in analysis/ call them. This module imports no family: the package (ops/__init__.py)
imports every family, so importing ``graphreport.ops.registry`` (which first runs the package) finds every
rule registered. Rules never walk the graph: they get a narrow context
(input shapes/dtypes, attributes, constant input values) and return early when something is unknown.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ..model import SmallValue

_INT_DTYPES = frozenset({"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool"})


def _array(v: SmallValue):
    """A SmallValue as a numpy array (numpy imported here, on first need)."""
    from .helpers import np, np_dtype

    if v.dtype == "string":
        return np.array(v.items, dtype=object).reshape(v.shape)
    return np.array(v.items, dtype=np_dtype(v.dtype)).reshape(v.shape)


@dataclass
class OpInfo:
    shape: Optional[Callable] = None  # ctx -> list of output shapes (None entries where unknown)
    cost: Optional[Callable] = None  # ctx -> dict(macs=..., flops=...)
    dtype: Optional[Callable] = None  # (attrs, index) -> dtype name
    value: Optional[Callable] = None  # ctx -> list of output values (numpy arrays, partial int lists, None)
    meta: dict[str, Any] = field(default_factory=dict)


def node_ctx(g, node, value_of) -> "Ctx":
    """The rule context of `node` in graph `g`; value_of(tensor name) gives a small constant value or None.
    Made for every node by two passes (shapes, cost): its fields are set here directly, as Ctx() would
    set them from these lists, without Ctx()'s copies."""
    tensors = g.tensors
    get = tensors.get
    names = node.inputs
    c = _new_ctx(Ctx)
    c.op, c.name, c.attrs = node.op, node.name, node.attrs or {}
    c.in_shapes, c.in_dtypes, c.in_const, c.out_shapes, c.out_dtypes = shapes, dtypes, const, oshapes, odtypes = \
        [], [], [], [], []
    for name in names:  # one loop, not a comprehension (a frame of its own) per list
        t = get(name)
        if t is None:
            shapes.append(None)
            dtypes.append(None)
            const.append(False)
        else:
            shapes.append(t.shape)
            dtypes.append(t.dtype)
            const.append(t.const is not None)
    for name in node.outputs:
        t = tensors[name]
        oshapes.append(t.shape)
        odtypes.append(t.dtype)
    c._getter, c._names, c._cache = value_of, names, None  # values: value_of(names[i]), asked for at most once
    return c


_new_ctx = object.__new__


class Ctx:
    """The narrow view a rule gets of one node: its op, attributes, the shapes/dtypes of its inputs and
    outputs, and the values of small constant (or constant-derived) inputs. Built by the walkers in
    analysis/; rules never see the graph.

    Values: ``value(i)`` is a numpy array when input ``i`` is fully known and small; ``partial(i)`` is a
    list of int-or-None for a 1-D integer input that is only partly known (e.g. ``Shape`` of a tensor with
    an unknown batch), or the full value as a list.
    """

    __slots__ = ("op", "name", "attrs", "in_shapes", "in_dtypes", "out_shapes", "out_dtypes", "in_const",
                 "_getter", "_names", "_cache")

    def __init__(self, op: str, attrs: Optional[dict] = None, in_shapes=None, in_dtypes=None, out_shapes=None,
                 out_dtypes=None, values: Optional[Callable[[int], Any]] = None, name: str = "",
                 in_const=None, n_out: Optional[int] = None):
        self.op = op
        self.name = name
        self.attrs = attrs or {}
        self.in_shapes = list(in_shapes or [])
        self.in_dtypes = list(in_dtypes or [None] * len(self.in_shapes))
        n = n_out if n_out is not None else len(out_shapes or []) or 1
        self.out_shapes = list(out_shapes or [None] * n)
        self.out_dtypes = list(out_dtypes or [None] * len(self.out_shapes))
        self.in_const = list(in_const or [False] * len(self.in_shapes))
        self._getter = values  # i -> value of input i; or, with _names, tensor name -> value
        self._names: Optional[list] = None
        self._cache: Optional[dict] = None  # input index -> value, made on the first value asked for

    # -- attributes and shapes ------------------------------------------------------------------------
    def attr(self, key: str, default=None):
        v = self.attrs.get(key, default)
        return default if v is None else v

    @property
    def n_in(self) -> int:
        return len(self.in_shapes)

    @property
    def n_out(self) -> int:
        return len(self.out_shapes)

    def shape(self, i: int):
        return self.in_shapes[i] if 0 <= i < len(self.in_shapes) or -len(self.in_shapes) <= i < 0 else None

    def rank(self, i: int) -> Optional[int]:
        s = self.shape(i)
        return None if s is None else len(s)

    def dtype(self, i: int) -> Optional[str]:
        return self.in_dtypes[i] if -len(self.in_dtypes) <= i < len(self.in_dtypes) else None

    def need_shape(self, i: int, what: str = "input"):
        from .helpers import Unknown

        if not -len(self.in_shapes) <= i < len(self.in_shapes):
            raise Unknown(f"{what} (input {i}) is missing")
        s = self.in_shapes[i]
        if s is None:
            raise Unknown(f"rank of {what} (input {i}) unknown")
        return s

    def out_shape(self, i: int = 0):
        return self.out_shapes[i] if -len(self.out_shapes) <= i < len(self.out_shapes) else None

    # -- values ---------------------------------------------------------------------------------------
    def raw_value(self, i: int):
        if not -len(self.in_shapes) <= i < len(self.in_shapes):
            return None
        i %= len(self.in_shapes)
        cache = self._cache
        if cache is None:
            cache = self._cache = {}
        elif i in cache:
            return cache[i]
        getter = self._getter
        v = cache[i] = (getter(i) if self._names is None else getter(self._names[i])) if getter else None
        return v

    def value(self, i: int):
        """The full value of input i as a numpy array, or None."""
        v = self.raw_value(i)
        if v is None:
            return None
        if isinstance(v, SmallValue):
            v = self._cache[i % len(self.in_shapes)] = _array(v)
            return v
        if isinstance(v, list):
            if any(x is None for x in v):
                return None
            import numpy as np

            return np.array(v, dtype=np.int64)
        return v

    def partial(self, i: int) -> Optional[list]:
        """A 1-D integer input as a list with None where unknown (full values too); None if nothing known."""
        v = self.raw_value(i)
        if v is None:
            return None
        if isinstance(v, list):
            return list(v)
        if isinstance(v, SmallValue):
            return [int(x) for x in v.items] if len(v.shape) == 1 and v.dtype in _INT_DTYPES else None
        if getattr(v, "ndim", None) == 1 and v.dtype.kind in "iub":
            return [int(x) for x in v.tolist()]
        return None

    def scalar(self, i: int) -> Optional[int]:
        """An integer scalar (or one-element) input, or None."""
        v = self.raw_value(i)
        if isinstance(v, SmallValue):
            return int(v.items[0]) if v.size == 1 and v.dtype in _INT_DTYPES else None
        v = self.value(i)
        if v is None or v.size != 1 or v.dtype.kind not in "iub":
            return None
        return int(v.reshape(-1)[0])

    def ints(self, i: int) -> Optional[list]:
        """Every element of a fully known integer input, flattened to a list of ints, or None."""
        v = self.raw_value(i)
        if v is None:
            return None
        if isinstance(v, SmallValue):
            return [int(x) for x in v.items] if v.dtype in _INT_DTYPES else None
        if isinstance(v, list):
            return None if any(x is None for x in v) else [int(x) for x in v]
        if getattr(v, "dtype", None) is not None and v.dtype.kind in "iub":
            return [int(x) for x in v.reshape(-1).tolist()]
        return None

    def need_value(self, i: int, what: str):
        from .helpers import Unknown

        v = self.value(i)
        if v is None:
            raise Unknown(f"{what} (input {i}) is not a constant")
        return v


DIALECTS = ("tf", "tflite", "keras")
REGISTRY: dict[tuple[str, str], OpInfo] = {}


def _key(op: str, dialect: str) -> tuple[str, str]:
    """'CONV_2D' with dialect 'tflite', or a qualified 'tflite:MEAN' (to register one rule in two dialects)."""
    d, sep, name = op.partition(":")
    if sep:
        dialect, op = d, name
    if dialect not in DIALECTS:
        raise ValueError(f"unknown op dialect {dialect!r}")
    return dialect, op


def _info(op: str, dialect: str) -> OpInfo:
    return REGISTRY.setdefault(_key(op, dialect), OpInfo())


def _registrar(field_name: str):
    def register(*ops: str, dialect: str = "tf"):
        def deco(fn):
            for op in ops:
                setattr(_info(op, dialect), field_name, fn)
            return fn
        return deco
    return register


shape_rule = _registrar("shape")  # ctx -> list of output shapes
cost_rule = _registrar("cost")  # ctx -> {"macs": ..., "flops": ...}
dtype_rule = _registrar("dtype")  # (attrs, index) -> dtype name
# ctx -> list of output values, used to propagate small constant values (shape arithmetic: Shape,
# StridedSlice, Pack, Prod ...). Values are numpy arrays or partial int lists.
value_rule = _registrar("value")


def lookup(op: str, dialect: str = "tf") -> Optional[OpInfo]:
    return REGISTRY.get((dialect, op))


def coverage() -> list[dict]:
    """One row per registered op: which rules it has (for a coverage table generated from the registry)."""
    return [{"dialect": d, "op": op, "shape": info.shape is not None, "cost": info.cost is not None,
             "value": info.value is not None, "dtype": info.dtype is not None}
            for (d, op), info in sorted(REGISTRY.items())]


def output_dtype(op: str, attrs: dict, index: int) -> Optional[str]:
    """The dtype of output `index` of a TensorFlow op, from its attributes."""
    info = lookup(op)
    if info is not None and info.dtype is not None:
        return info.dtype(attrs, index)
    for key in ("T", "dtype", "DstT", "out_type", "output_type"):
        v = attrs.get(key)
        if isinstance(v, str):
            return v
    return None
