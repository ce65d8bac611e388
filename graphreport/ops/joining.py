"""Joining and filling ops (TensorFlow): Concat, Pack, Unpack, Split, Pad, Tile, Fill, BroadcastTo,
BroadcastArgs, BroadcastGradientArgs, ZerosLike/OnesLike. Shape rules and value rules (numpy, for small
constant-derived tensors); their cost is free (array.py).

The semantics (attribute names, mask bits, negative-index and clamping behaviour) follow the TensorFlow op
definitions; the code is our own.
"""
from __future__ import annotations

from typing import Optional

from .helpers import (ShapeError, Unknown, broadcast, checked_add, checked_mul, dims_from_shape_value,
                      merge_dim, merge_shapes, normalize_axis, np, np_dtype, num_elements, small,
                      unknown_dims_of_input_rank)
from .registry import shape_rule, value_rule

# ---------------------------------------------------------------------------------------------------------
# Concat / Pack / Unpack / Split
def concat_shapes(shapes: list, axis: Optional[int]):
    ranks = {len(s) for s in shapes if s is not None}
    if len(ranks) > 1:
        raise ShapeError(f"concatenated inputs differ in rank: {shapes}")
    if not ranks:
        return None
    r = ranks.pop()
    if axis is None:
        return [None] * r
    a = normalize_axis(axis, r)
    out: list = [None] * r
    for i in range(r):
        if i == a:
            out[i] = checked_add(*[None if s is None else s[i] for s in shapes])
        else:
            d = None
            for s in shapes:
                if s is not None:
                    d = merge_dim(d, s[i])
            out[i] = d
    return out


@shape_rule("ConcatV2")
def _concat_v2(ctx):
    n = ctx.n_in - 1
    return [concat_shapes(ctx.in_shapes[:n], ctx.scalar(n))]


@shape_rule("Concat")
def _concat_v1(ctx):
    return [concat_shapes(ctx.in_shapes[1:], ctx.scalar(0))]


def _concat_values(ctx, idx, axis):
    if axis is None:
        return [None]
    vals = [ctx.value(i) for i in idx]
    if all(v is not None for v in vals):
        try:
            return [np.concatenate(vals, axis=axis)]
        except ValueError:
            return [None]
    parts = [ctx.partial(i) for i in idx]
    if all(p is not None for p in parts) and axis in (0, -1) and all(ctx.rank(i) == 1 for i in idx):
        return [[x for p in parts for x in p]]
    return [None]


@value_rule("ConcatV2")
def _concat_v2_value(ctx):
    n = ctx.n_in - 1
    return _concat_values(ctx, range(n), ctx.scalar(n))


@value_rule("Concat")
def _concat_v1_value(ctx):
    return _concat_values(ctx, range(1, ctx.n_in), ctx.scalar(0))


@shape_rule("Pack")
def _pack(ctx):
    s = None
    for x in ctx.in_shapes:
        s = x if s is None else (merge_shapes(s, x) if x is not None else s)
    n = ctx.n_in
    if s is None:
        raise Unknown("ranks of the packed inputs unknown")
    r = len(s) + 1
    a = normalize_axis(ctx.attr("axis", 0), r)
    return [s[:a] + [n] + s[a:]]


@value_rule("Pack")
def _pack_value(ctx):
    axis = ctx.attr("axis", 0)
    vals = [ctx.value(i) for i in range(ctx.n_in)]
    if all(v is not None for v in vals):
        return [np.stack(vals, axis=axis)]
    if all(ctx.rank(i) == 0 for i in range(ctx.n_in)):  # a shape vector built from scalars, some unknown
        out = []
        for v in vals:
            if v is None or v.dtype.kind not in "iu":
                out.append(None)
            else:
                out.append(int(v))
        return [out]
    return [None]


@shape_rule("Unpack")
def _unpack(ctx):
    s = ctx.need_shape(0)
    a = normalize_axis(ctx.attr("axis", 0), len(s))
    num = ctx.attr("num", ctx.n_out)
    if s[a] is not None and s[a] != num:
        raise ShapeError(f"unpacking {num} from a dimension of {s[a]}")
    return [s[:a] + s[a + 1:]] * num


@value_rule("Unpack")
def _unpack_value(ctx):
    v = ctx.value(0)
    a = ctx.attr("axis", 0)
    if v is not None:
        return [np.take(v, i, axis=a) for i in range(ctx.n_out)]
    p = ctx.partial(0)
    if p is not None and ctx.rank(0) == 1:
        return [None if x is None else np.array(x, dtype=np_dtype(ctx.in_dtypes[0], np.int32)) for x in p]
    return [None] * ctx.n_out


@shape_rule("Split")
def _split(ctx):
    num = ctx.attr("num_split", ctx.n_out)
    s = ctx.shape(1)
    axis = ctx.scalar(0)
    if s is None:
        raise Unknown("rank of the split input unknown")
    if axis is None:
        return [[None] * len(s)] * num
    a = normalize_axis(axis, len(s))
    d = s[a]
    if d is not None and d % num:
        raise ShapeError(f"dimension {d} not divisible into {num} parts")
    piece = None if d is None else d // num
    return [s[:a] + [piece] + s[a + 1:] for _ in range(num)]


@value_rule("Split")
def _split_value(ctx):
    v, axis = ctx.value(1), ctx.scalar(0)
    if v is None or axis is None:
        return [None] * ctx.n_out
    return list(np.split(v, ctx.n_out, axis=axis))


@shape_rule("SplitV")
def _split_v(ctx):
    s = ctx.shape(0)
    sizes = ctx.partial(1)
    axis = ctx.scalar(2)
    n = ctx.attr("num_split", ctx.n_out)
    if s is None:
        raise Unknown("rank of the split input unknown")
    if axis is None or sizes is None:
        return [[None] * len(s)] * n
    a = normalize_axis(axis, len(s))
    sizes = list(sizes)
    if sum(1 for x in sizes if x is not None and x < 0) == 1 and s[a] is not None and None not in sizes:
        i = next(i for i, x in enumerate(sizes) if x < 0)
        sizes[i] = s[a] - sum(x for x in sizes if x >= 0)
    return [s[:a] + [None if (x is None or x < 0) else x] + s[a + 1:] for x in sizes]


@value_rule("SplitV")
def _split_v_value(ctx):
    v, sizes, axis = ctx.value(0), ctx.value(1), ctx.scalar(2)
    outs = ctx.out_shapes
    if v is None or sizes is None or axis is None or any(o is None for o in outs):
        return [None] * ctx.n_out
    a = normalize_axis(axis, v.ndim)
    bounds = np.cumsum([o[a] for o in outs])[:-1]
    return list(np.split(v, bounds, axis=a))


# ---------------------------------------------------------------------------------------------------------
# Pad / Tile / Fill / BroadcastTo / ZerosLike
def _paddings(ctx, i):
    flat = ctx.ints(i)
    if flat is None or len(flat) % 2:
        return None
    return [[a, b] for a, b in zip(flat[::2], flat[1::2])]


@shape_rule("Pad", "PadV2", "MirrorPad")
def _pad(ctx):
    s = ctx.shape(0)
    pads = _paddings(ctx, 1)
    if pads is None:
        return unknown_dims_of_input_rank(ctx, 1, "paddings (input 1) not constant and input rank unknown")
    if s is None:
        s = [None] * len(pads)
    if len(pads) != len(s):
        raise ShapeError(f"paddings for rank {len(pads)} on rank {len(s)}")
    return [[None if d is None else d + a + b for d, (a, b) in zip(s, pads)]]


@value_rule("Pad", "PadV2")
def _pad_value(ctx):
    v, pads = ctx.value(0), _paddings(ctx, 1)
    if v is None or pads is None:
        return [None]
    c = ctx.value(2) if ctx.n_in > 2 else None
    return [np.pad(v, pads, constant_values=0 if c is None else c.reshape(-1)[0])]


@shape_rule("Tile")
def _tile(ctx):
    s = ctx.shape(0)
    m = ctx.partial(1)
    if m is None:
        return unknown_dims_of_input_rank(ctx, 1, "multiples (input 1) not constant and input rank unknown")
    if s is None:
        s = [None] * len(m)
    return [[checked_mul(d, k) for d, k in zip(s, m)]]


@value_rule("Tile")
def _tile_value(ctx):
    v, m = ctx.value(0), ctx.value(1)
    if v is None or m is None or not small(num_elements(ctx.out_shapes[0])):
        return [None]
    return [np.tile(v, [int(x) for x in m.reshape(-1)])]


def _shape_operand(ctx, i: int, what: str) -> list:
    """The shape held by input i (a 1-D shape tensor): its known dims, or only its rank when it is not constant."""
    dims = ctx.partial(i)
    if dims is None:
        s = ctx.shape(i)
        if s is not None and s and s[0] is not None:
            return [None] * s[0]
        raise Unknown(f"{what} (input {i}) is not a constant")
    return dims_from_shape_value(dims)


@shape_rule("Fill")
def _fill(ctx):
    return [_shape_operand(ctx, 0, "dims")]


@value_rule("Fill")
def _fill_value(ctx):
    dims, v = ctx.value(0), ctx.value(1)
    if dims is None or v is None:
        return [None]
    shape = [int(x) for x in dims.reshape(-1)]
    if not small(checked_mul(*shape)):
        return [None]
    return [np.full(shape, v.reshape(-1)[0], dtype=v.dtype)]


@shape_rule("BroadcastTo")
def _broadcast_to(ctx):
    if ctx.partial(1) is None:
        return [_shape_operand(ctx, 1, "target shape")]  # only the rank is known
    target = _shape_operand(ctx, 1, "target shape")
    s = ctx.shape(0)
    if s is not None:
        b = broadcast(s, target)
        target = [t if t is not None else bd for t, bd in zip(target, b[len(b) - len(target):])]
    return [target]


@value_rule("BroadcastTo")
def _broadcast_to_value(ctx):
    v, t = ctx.value(0), ctx.value(1)
    if v is None or t is None:
        return [None]
    shape = [int(x) for x in t.reshape(-1)]
    if not small(checked_mul(*shape)):
        return [None]
    return [np.broadcast_to(v, shape).copy()]


@shape_rule("BroadcastArgs")
def _broadcast_args(ctx):
    a, b = ctx.shape(0), ctx.shape(1)
    if a is None or b is None or a[0] is None or b[0] is None:
        return [[None]]
    return [[max(a[0], b[0])]]


@value_rule("BroadcastArgs")
def _broadcast_args_value(ctx):
    a, b = ctx.partial(0), ctx.partial(1)
    if a is None or b is None:
        return [None]
    try:
        out = broadcast(dims_from_shape_value(a), dims_from_shape_value(b))
    except ShapeError:
        return [None]
    if out is not None and all(d is not None for d in out):
        return [np.array(out, dtype=np_dtype(ctx.in_dtypes[0], np.int32))]
    return [out]


@shape_rule("ZerosLike", "OnesLike")
def _like(ctx):
    return [ctx.shape(0)]


@value_rule("ZerosLike", "OnesLike")
def _like_value(ctx):
    s = ctx.shape(0)
    if s is None or not small(num_elements(s)):
        return [None]
    fn = np.zeros if ctx.op == "ZerosLike" else np.ones
    return [fn(s, dtype=np_dtype(ctx.in_dtypes[0], np.float32))]


@shape_rule("BroadcastGradientArgs")
def _bcast_grad_args(ctx):
    return [[None], [None]]


@value_rule("BroadcastGradientArgs")
def _bcast_grad_args_value(ctx):
    a, b = ctx.value(0), ctx.value(1)
    if a is None or b is None:
        return [None, None]
    a, b = [int(x) for x in a.reshape(-1)], [int(x) for x in b.reshape(-1)]
    r = max(len(a), len(b))
    a, b = [1] * (r - len(a)) + a, [1] * (r - len(b)) + b
    # reduce a gradient over the dimensions where its operand was broadcast (size 1, or padded)
    ra = [i for i in range(r) if a[i] == 1]
    rb = [i for i in range(r) if b[i] == 1]
    dt = np_dtype(ctx.in_dtypes[0], np.int32)
    return [np.array(ra, dtype=dt), np.array(rb, dtype=dt)]
