"""One registry of per-op knowledge, keyed by op type (TensorFlow op names and TFLite builtin names).

A family module (ops/nn.py, ops/math.py, ops/array.py ...) registers small functions with the decorators
below; the walkers in analysis/ call them. Rules never walk the graph: they get a narrow context
(input shapes/dtypes, attributes, constant input values) and return early when something is unknown.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional


@dataclass
class OpInfo:
    shape: Optional[Callable] = None  # ctx -> list of output shapes (None entries where unknown)
    cost: Optional[Callable] = None  # ctx -> dict(macs=..., flops=...)
    dtype: Optional[Callable] = None  # (attrs, index) -> dtype name
    meta: dict[str, Any] = field(default_factory=dict)


REGISTRY: dict[str, OpInfo] = {}


def _info(op: str) -> OpInfo:
    return REGISTRY.setdefault(op, OpInfo())


def shape_rule(*ops: str):
    def deco(fn):
        for op in ops:
            _info(op).shape = fn
        return fn
    return deco


def cost_rule(*ops: str):
    def deco(fn):
        for op in ops:
            _info(op).cost = fn
        return fn
    return deco


def dtype_rule(*ops: str):
    def deco(fn):
        for op in ops:
            _info(op).dtype = fn
        return fn
    return deco


def lookup(op: str) -> Optional[OpInfo]:
    _load_families()
    return REGISTRY.get(op)


_loaded = False


def _load_families() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        from . import tf_dtypes  # noqa: F401  (registers rules)


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
