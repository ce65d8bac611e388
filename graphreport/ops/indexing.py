"""Indexing ops (TensorFlow): Slice, StridedSlice, Gather, GatherNd, Reverse, OneHot, Where, Unique,
Range, UnsortedSegment*. Shape rules and value rules (numpy, for small constant-derived tensors); their
cost is free (array.py).

The semantics (attribute names, mask bits, negative-index and clamping behaviour) follow the TensorFlow op
definitions; the code is our own.
"""
from __future__ import annotations

from typing import Optional

from .helpers import ShapeError, Unknown, broadcast, normalize_axis, np, np_dtype, num_elements, small
from .registry import shape_rule, value_rule

# ---------------------------------------------------------------------------------------------------------
# Slice / StridedSlice
@shape_rule("Slice")
def _slice(ctx):
    s = ctx.shape(0)
    begin, size = ctx.partial(1), ctx.partial(2)
    if s is None:
        n = len(size) if size is not None else (len(begin) if begin is not None else None)
        if n is None:
            raise Unknown("rank of the sliced input unknown")
        s = [None] * n
    if size is None:
        return [[None] * len(s)]
    out = []
    for i, d in enumerate(s):
        z = size[i]
        b = begin[i] if begin is not None else None
        if z is None:
            out.append(None)
        elif z >= 0:
            out.append(z)
        else:
            out.append(None if (d is None or b is None) else d - b)
    return [out]


@value_rule("Slice")
def _slice_value(ctx):
    begin, size = ctx.value(1), ctx.value(2)
    if begin is None or size is None:
        return [None]
    idx = []
    for b, z in zip(begin.reshape(-1).tolist(), size.reshape(-1).tolist()):
        idx.append(slice(b, None if z < 0 else b + z))
    v = ctx.value(0)
    if v is not None:
        return [v[tuple(idx)]]
    p = ctx.partial(0)
    if p is not None and len(idx) == 1:
        return [p[idx[0]]]
    return [None]


def _bits(mask: int, n: int) -> list:
    return [bool((int(mask) >> i) & 1) for i in range(n)]


def strided_slice_spec(ctx, in_rank: Optional[int]):
    """Expand StridedSlice's sparse spec into dense entries, one per output-producing step:
    ('new',) inserts an axis of 1; ('dim', in_axis, begin, end, stride, shrink) takes from input axis."""
    begin, end, strides = ctx.partial(1), ctx.partial(2), ctx.partial(3)
    n = None
    for i, p in ((1, begin), (2, end), (3, strides)):
        if p is not None:
            n = len(p)
            break
        sh = ctx.shape(i)
        if sh is not None and len(sh) == 1 and sh[0] is not None:
            n = sh[0]
            break
    if n is None:
        raise Unknown("length of the slice spec unknown")
    begin = begin or [None] * n
    end = end or [None] * n
    strides = strides or [None] * n
    bm, em = _bits(ctx.attr("begin_mask", 0), n), _bits(ctx.attr("end_mask", 0), n)
    elm, nam, sam = (_bits(ctx.attr("ellipsis_mask", 0), n), _bits(ctx.attr("new_axis_mask", 0), n),
                     _bits(ctx.attr("shrink_axis_mask", 0), n))
    if sum(elm) > 1:
        raise ShapeError("more than one ellipsis in a strided slice")
    consuming = sum(1 for i in range(n) if not elm[i] and not nam[i])
    if in_rank is None:  # the spec covers the leading dimensions only; how many follow is unknown
        raise Unknown("rank of the sliced input unknown")
    dense = []
    axis = 0
    has_ellipsis = any(elm)
    for i in range(n):
        if elm[i]:
            for _ in range(in_rank - consuming):
                dense.append(("dim", axis, None, None, 1, False, True, True))
                axis += 1
        elif nam[i]:
            dense.append(("new",))
        else:
            dense.append(("dim", axis, begin[i], end[i], strides[i], sam[i], bm[i], em[i]))
            axis += 1
    if not has_ellipsis:
        while axis < in_rank:
            dense.append(("dim", axis, None, None, 1, False, True, True))
            axis += 1
    if axis != in_rank:
        raise ShapeError(f"slice spec covers {axis} dimensions of a rank-{in_rank} input")
    return dense


def _slice_obj(b, e, s, bmask, emask):
    return slice(None if bmask else b, None if emask else e, s)


@shape_rule("StridedSlice")
def _strided_slice(ctx):
    s = ctx.shape(0)
    dense = strided_slice_spec(ctx, None if s is None else len(s))
    out = []
    for e in dense:
        if e[0] == "new":
            out.append(1)
            continue
        _, ax, b, en, st, shrink, bmask, emask = e
        d = None if s is None else s[ax]
        if shrink:
            if d is not None and b is not None and not -d <= b < d:
                raise ShapeError(f"index {b} out of range for dimension {d}")
            continue
        if st is None or st == 0 or d is None or (b is None and not bmask) or (en is None and not emask):
            out.append(None)
            continue
        out.append(len(range(d)[_slice_obj(b, en, st, bmask, emask)]))
    return [out]


@value_rule("StridedSlice")
def _strided_slice_value(ctx):
    v = ctx.value(0)
    p = ctx.partial(0) if v is None else None
    if v is None and p is None:
        return [None]
    r = v.ndim if v is not None else 1
    try:
        dense = strided_slice_spec(ctx, r)
    except Unknown:
        return [None]
    idx = []
    for e in dense:
        if e[0] == "new":
            idx.append(np.newaxis)
            continue
        _, ax, b, en, st, shrink, bmask, emask = e
        if st is None or (b is None and not bmask) or (en is None and not emask):
            return [None]
        idx.append(b if shrink else _slice_obj(b, en, st, bmask, emask))
    if v is not None:
        return [np.asarray(v[tuple(idx)])]
    if len(idx) != 1:
        return [None]
    res = p[idx[0]]
    if isinstance(res, list):
        return [res]
    return [None if res is None else np.array(res, dtype=np_dtype(ctx.in_dtypes[0], np.int32))]


# ---------------------------------------------------------------------------------------------------------
# Gather
@shape_rule("GatherV2", "Gather", "ResourceGather")
def _gather(ctx):
    params, indices = ctx.shape(0), ctx.shape(1)
    if ctx.op == "GatherV2":
        axis = ctx.scalar(2)
        if axis is None:
            raise Unknown("axis (input 2) is not a constant")
    else:
        axis = 0
    if ctx.op == "ResourceGather":
        raise Unknown("gather from a resource variable: shape comes from the variable")
    bd = int(ctx.attr("batch_dims", 0))
    if params is None or indices is None:
        raise Unknown("rank of params or indices unknown")
    a = normalize_axis(axis, len(params))
    if bd < 0:
        bd += len(indices)
    return [params[:a] + indices[bd:] + params[a + 1:]]


@value_rule("GatherV2", "Gather")
def _gather_value(ctx):
    idx = ctx.value(1)
    axis = ctx.scalar(2) if ctx.op == "GatherV2" else 0
    if idx is None or axis is None or int(ctx.attr("batch_dims", 0)) != 0:
        return [None]
    v = ctx.value(0)
    if v is not None:
        try:
            return [np.take(v, idx, axis=axis)]
        except IndexError:
            return [None]
    p = ctx.partial(0)
    if p is not None and ctx.rank(0) == 1:
        flat = idx.reshape(-1).tolist()
        if not all(-len(p) <= i < len(p) for i in flat):
            return [None]
        picked = [p[i] for i in flat]
        if idx.ndim == 0:
            x = picked[0]
            return [None if x is None else np.array(x, dtype=np_dtype(ctx.in_dtypes[0], np.int32))]
        if idx.ndim == 1:
            return [picked]
    return [None]


@shape_rule("GatherNd")
def _gather_nd(ctx):
    params, indices = ctx.shape(0), ctx.shape(1)
    if params is None or indices is None or indices[-1] is None:
        raise Unknown("rank of params or index depth unknown")
    return [indices[:-1] + params[indices[-1]:]]


# ---------------------------------------------------------------------------------------------------------
# Reverse / OneHot / Where / Unique / Range
@shape_rule("Reverse", "ReverseV2")
def _reverse(ctx):
    return [ctx.shape(0)]


@value_rule("ReverseV2")
def _reverse_value(ctx):
    v, axes = ctx.value(0), ctx.value(1)
    if axes is None:
        return [None]
    axes = [int(a) for a in axes.reshape(-1)]
    if v is not None:
        return [np.flip(v, axis=tuple(axes)) if axes else v]
    p = ctx.partial(0)
    if p is not None and ctx.rank(0) == 1 and axes in ([0], [-1]):
        return [p[::-1]]
    return [None]


@shape_rule("OneHot")
def _one_hot(ctx):
    s = ctx.need_shape(0, "indices")
    depth = ctx.scalar(1)
    r = len(s) + 1
    a = int(ctx.attr("axis", -1))
    a = normalize_axis(a, r)
    return [s[:a] + [depth] + s[a:]]


@shape_rule("Where")
def _where(ctx):
    if ctx.n_in == 3:
        return [broadcast(*ctx.in_shapes)]
    s = ctx.need_shape(0)
    return [[None, len(s)]]


@shape_rule("Unique")
def _unique(ctx):
    return [[None], ctx.shape(0)]


def _range_len(start, limit, delta) -> Optional[int]:
    if delta == 0:
        raise ShapeError("range with delta 0")
    if isinstance(start, (int, np.integer)) and isinstance(limit, (int, np.integer)) \
            and isinstance(delta, (int, np.integer)):
        n = -(-(abs(int(limit) - int(start))) // abs(int(delta)))
        if (limit - start) * delta < 0:
            return 0
        return n
    import math as _m

    return max(0, int(_m.ceil(abs((float(limit) - float(start)) / float(delta)))))


@shape_rule("Range")
def _range(ctx):
    vals = [ctx.value(i) for i in range(3)]
    if any(v is None for v in vals):
        return [[None]]
    start, limit, delta = (v.reshape(-1)[0].item() for v in vals)
    return [[_range_len(start, limit, delta)]]


@value_rule("Range")
def _range_value(ctx):
    vals = [ctx.value(i) for i in range(3)]
    if any(v is None for v in vals) or not small(num_elements(ctx.out_shapes[0])):
        return [None]
    start, limit, delta = (v.reshape(-1)[0] for v in vals)
    return [np.arange(start, limit, delta).astype(np_dtype(ctx.attr("Tidx"), vals[0].dtype))]


@shape_rule("UnsortedSegmentSum", "UnsortedSegmentMax", "UnsortedSegmentMin", "UnsortedSegmentProd")
def _unsorted_segment(ctx):
    data, ids = ctx.shape(0), ctx.shape(1)
    if data is None or ids is None:
        raise Unknown("rank of data or segment ids unknown")
    return [[ctx.scalar(2)] + data[len(ids):]]
