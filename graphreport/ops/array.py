"""Array ops (TensorFlow): identity-likes, placeholders, shape arithmetic, reshaping, slicing, joining,
padding, tiling, gathering. Shape rules, value rules (numpy, for small constant-derived tensors) and cost
rules (data movement is free of arithmetic: 0 MACs and 0 FLOPs by rule; its price is memory traffic, which
the report shows as activation bytes).

The semantics (attribute names, mask bits, negative-index and clamping behaviour) follow the TensorFlow op
definitions; the code is our own.
"""
from __future__ import annotations

from typing import Optional

from ..opdata import roles as op_roles
from .helpers import (MAX_VALUE_ELEMENTS, ShapeError, Unknown, broadcast, checked_add, checked_mul,
                      dims_from_shape_value, merge_dim, merge_shapes, normalize_axis, np, num_elements)
from .registry import cost_rule, shape_rule, value_rule

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


# ---------------------------------------------------------------------------------------------------------
# free by nature
FREE_OPS = op_roles.ordered("free")
cost_rule(*FREE_OPS)(free)


# ---------------------------------------------------------------------------------------------------------
# identity-likes
IDENTITY_OPS = op_roles.ordered("identity")


@shape_rule(*IDENTITY_OPS)
def _identity(ctx):
    return [ctx.shape(0)]


@value_rule(*IDENTITY_OPS)
def _identity_value(ctx):
    return [ctx.raw_value(0)]


@shape_rule("Enter", "RefEnter")
def _enter(ctx):
    # Only loop constants keep their shape; a loop variable may change it from one iteration to the next.
    if ctx.attr("is_constant", False):
        return [ctx.shape(0)]
    raise Unknown("loop variable entering a while loop: its shape may change from one iteration to the next")


@value_rule("Enter", "RefEnter")
def _enter_value(ctx):
    return [ctx.raw_value(0) if ctx.attr("is_constant", False) else None]


@shape_rule("LoopCond")
def _loop_cond(ctx):
    return [[]]


@shape_rule("IdentityN")
def _identity_n(ctx):
    return [ctx.shape(i) for i in range(ctx.n_out)]


@value_rule("IdentityN")
def _identity_n_value(ctx):
    return [ctx.raw_value(i) for i in range(ctx.n_out)]


@shape_rule("EnsureShape")
def _ensure_shape(ctx):
    return [merge_shapes(ctx.shape(0), ctx.attr("shape"))]


value_rule("EnsureShape")(_identity_value)


@shape_rule("Switch", "RefSwitch")
def _switch(ctx):
    return [ctx.shape(0), ctx.shape(0)]


@shape_rule("Merge", "RefMerge")
def _merge(ctx):
    shapes = [s for s in ctx.in_shapes]
    out = shapes[0] if shapes else None
    for s in shapes[1:]:
        if out is None or s is None or len(s) != len(out):
            out = None
            break
        out = [a if a == b else None for a, b in zip(out, s)]
    return [out, []]


@shape_rule("Placeholder", "PlaceholderV2")
def _placeholder(ctx):
    s = ctx.attrs.get("shape")
    if s is None:
        raise Unknown("placeholder declares no shape (give it with input_shapes)")
    return [list(s)]


@shape_rule("PlaceholderWithDefault")
def _placeholder_default(ctx):
    # The fed value may have any shape compatible with the attribute; the default's shape does not bind it.
    s = ctx.attrs.get("shape")
    if s is None:
        raise Unknown("placeholder declares no shape (give it with input_shapes)")
    return [list(s)]


@shape_rule("Const")
def _const(ctx):
    v = ctx.attrs.get("value")
    if isinstance(v, dict) and "shape" in v:
        return [v["shape"]]
    return [ctx.out_shape(0)]


@shape_rule("VariableV2", "Variable")
def _variable(ctx):
    return [ctx.attrs.get("shape")]


@shape_rule("ReadVariableOp")
def _read_variable(ctx):
    raise Unknown("variable read through a resource handle: shape comes from the variable, not the graph")


@shape_rule("NoOp", "ControlTrigger", "Assert")
def _no_outputs(ctx):
    return [Unknown(f"{ctx.op} produces no data (it runs for its side effect)")] * ctx.n_out


# ---------------------------------------------------------------------------------------------------------
# shape descriptors
@shape_rule("Shape")
def _shape(ctx):
    r = ctx.rank(0)
    return [[r]]


@value_rule("Shape")
def _shape_value(ctx):
    return [_shape_of(ctx.shape(0), ctx.out_dtypes[0] if ctx.out_dtypes else "int32")]


def _shape_of(s, dtype):
    if s is None:
        return None
    if all(d is not None for d in s):
        return np.array(s, dtype=np_dtype(dtype, np.int32))
    return list(s)


@shape_rule("ShapeN")
def _shape_n(ctx):
    return [[ctx.rank(i)] for i in range(ctx.n_out)]


@value_rule("ShapeN")
def _shape_n_value(ctx):
    dt = ctx.out_dtypes[0] if ctx.out_dtypes else "int32"
    return [_shape_of(ctx.shape(i), dt) for i in range(ctx.n_out)]


@shape_rule("Size", "Rank")
def _scalar_out(ctx):
    return [[]]


@value_rule("Size")
def _size_value(ctx):
    n = num_elements(ctx.shape(0))
    return [None if n is None else np.array(n, dtype=np_dtype(ctx.out_dtypes[0], np.int32))]


@value_rule("Rank")
def _rank_value(ctx):
    r = ctx.rank(0)
    return [None if r is None else np.array(r, dtype=np.int32)]


# ---------------------------------------------------------------------------------------------------------
# Reshape
def reshape_shape(in_shape, target: Optional[list]):
    """Output shape of a reshape: `target` holds ints, -1 (infer) and None (unknown) entries.

    With a fully known input and one unknown output entry, that entry is inferred from the element count;
    otherwise unknown entries stay unknown.
    """
    if target is None:
        return None
    out = [None if (d is None or d < 0) else int(d) for d in target]
    n_unknown = sum(1 for d in out if d is None)
    n_in = num_elements(in_shape)
    known_out = 1
    for d in out:
        if d is not None:
            known_out *= d
    if n_unknown == 0:
        if n_in is not None and n_in != known_out:
            raise ShapeError(f"cannot reshape {in_shape} ({n_in} elements) to {out}")
        return out
    if n_unknown == 1 and n_in is not None and known_out > 0:
        if n_in % known_out:
            raise ShapeError(f"cannot reshape {in_shape} to {target}")
        out[out.index(None)] = n_in // known_out
    return out


@shape_rule("Reshape")
def _reshape(ctx):
    target = ctx.partial(1)
    if target is None:
        s1 = ctx.shape(1)
        if s1 is not None and len(s1) == 1 and s1[0] is not None:
            return [[None] * s1[0]]
        if s1 == []:  # scalar shape operand: a scalar output ... or any shape; TF treats -1 scalar specially
            raise Unknown("new shape (input 1) is not a constant")
        raise Unknown("new shape (input 1) is not a constant")
    return [reshape_shape(ctx.shape(0), target)]


@value_rule("Reshape")
def _reshape_value(ctx):
    v, s = ctx.value(0), ctx.value(1)
    if v is None or s is None:
        # a 1-element partial (e.g. a scalar dimension reshaped to [1]) keeps its partial value
        p = ctx.raw_value(0)
        if isinstance(p, list) and s is not None and s.size == 1:
            return [list(p)]
        return [None]
    return [v.reshape([int(x) for x in s.reshape(-1)])]


# ---------------------------------------------------------------------------------------------------------
# Squeeze / ExpandDims
@shape_rule("Squeeze")
def _squeeze(ctx):
    s = ctx.need_shape(0)
    axes = ctx.attr("squeeze_dims", ctx.attr("axis", [])) or []
    r = len(s)
    if not axes:
        if any(d is None for d in s):
            raise Unknown("squeezes every size-1 dimension of an input with unknown dimensions")
        return [[d for d in s if d != 1]]
    axes = {normalize_axis(a, r) for a in axes}
    for a in axes:
        if s[a] is not None and s[a] != 1:
            raise ShapeError(f"cannot squeeze dimension {a} of size {s[a]}")
    return [[d for i, d in enumerate(s) if i not in axes]]


@value_rule("Squeeze")
def _squeeze_value(ctx):
    out = ctx.out_shapes[0]
    v = ctx.value(0)
    if v is not None and out is not None and all(d is not None for d in out):
        return [v.reshape(out)]
    return [None]


def _expand_axis(ctx) -> int:
    a = ctx.scalar(1)
    if a is None:
        a = ctx.attr("dim")
    if a is None:
        raise Unknown("axis (input 1) is not a constant")
    return a


@shape_rule("ExpandDims")
def _expand_dims(ctx):
    s = ctx.need_shape(0)
    a = _expand_axis(ctx)
    r = len(s) + 1
    if not -r <= a < r:
        raise ShapeError(f"axis {a} out of range")
    a = a + r if a < 0 else a
    return [s[:a] + [1] + s[a:]]


@value_rule("ExpandDims")
def _expand_dims_value(ctx):
    v = ctx.value(0)
    out = ctx.out_shapes[0]
    if v is not None and out is not None:
        return [v.reshape(out)]
    p = ctx.raw_value(0)
    if isinstance(p, list) and out == [1, len(p)]:
        return [None]
    return [None]


# ---------------------------------------------------------------------------------------------------------
# Transpose
@shape_rule("Transpose", "ConjugateTranspose")
def _transpose(ctx):
    s = ctx.shape(0)
    perm = ctx.value(1)
    if perm is None:
        ps = ctx.shape(1)
        r = len(s) if s is not None else (ps[0] if ps else None)
        if r is None:
            raise Unknown("permutation (input 1) is not a constant and the input rank is unknown")
        return [[None] * r]
    perm = [int(x) for x in perm.reshape(-1)]
    if s is None:
        return [[None] * len(perm)]
    if len(perm) != len(s):
        raise ShapeError(f"permutation {perm} does not match rank {len(s)}")
    return [[s[normalize_axis(p, len(s))] for p in perm]]


@value_rule("Transpose")
def _transpose_value(ctx):
    v, p = ctx.value(0), ctx.value(1)
    if v is None or p is None:
        return [None]
    return [np.transpose(v, [int(x) for x in p.reshape(-1)])]


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
# Pad / Tile / Fill / BroadcastTo / ZerosLike
def _paddings(ctx, i):
    v = ctx.value(i)
    if v is None:
        return None
    return [[int(a), int(b)] for a, b in v.reshape(-1, 2).tolist()]


@shape_rule("Pad", "PadV2", "MirrorPad")
def _pad(ctx):
    s = ctx.shape(0)
    pads = _paddings(ctx, 1)
    if pads is None:
        ps = ctx.shape(1)
        r = len(s) if s is not None else (ps[0] if ps else None)
        if r is None:
            raise Unknown("paddings (input 1) not constant and input rank unknown")
        return [[None] * r]
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
        ms = ctx.shape(1)
        r = len(s) if s is not None else (ms[0] if ms else None)
        if r is None:
            raise Unknown("multiples (input 1) not constant and input rank unknown")
        return [[None] * r]
    if s is None:
        s = [None] * len(m)
    return [[checked_mul(d, k) for d, k in zip(s, m)]]


@value_rule("Tile")
def _tile_value(ctx):
    v, m = ctx.value(0), ctx.value(1)
    if v is None or m is None or not small(num_elements(ctx.out_shapes[0])):
        return [None]
    return [np.tile(v, [int(x) for x in m.reshape(-1)])]


@shape_rule("Fill")
def _fill(ctx):
    dims = ctx.partial(0)
    if dims is None:
        ds = ctx.shape(0)
        if ds is not None and ds and ds[0] is not None:
            return [[None] * ds[0]]
        raise Unknown("dims (input 0) is not a constant")
    return [dims_from_shape_value(dims)]


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
    target = ctx.partial(1)
    if target is None:
        ts = ctx.shape(1)
        if ts is not None and ts and ts[0] is not None:
            return [[None] * ts[0]]
        raise Unknown("target shape (input 1) is not a constant")
    target = dims_from_shape_value(target)
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


# ---------------------------------------------------------------------------------------------------------
# Variables and TF2 tensor lists (kept unknown with a reason)
@shape_rule("VarHandleOp")
def _var_handle(ctx):
    return [[]]


@shape_rule("TensorListReserve", "EmptyTensorList", "TensorListFromTensor")
def _tensor_list(ctx):
    return [[]]


# ---------------------------------------------------------------------------------------------------------
# TF1 variable updates and training ops: the result has the variable's shape
@shape_rule("Assign", "AssignAdd", "AssignSub", "ScatterUpdate", "ScatterAdd", "ScatterSub",
            "ApplyGradientDescent", "ApplyMomentum", "ApplyAdam", "ApplyRMSProp", "ApplyAdagrad",
            "ApplyAdadelta", "ApplyFtrl", "ApplyFtrlV2", "ApplyCenteredRMSProp", "ApplyAdagradV2",
            "ApplyProximalGradientDescent", "ApplyProximalAdagrad", "ApplyAddSign", "ApplyPowerSign")
def _variable_update(ctx):
    s = ctx.shape(0)
    if ctx.op in ("Assign", "AssignAdd", "AssignSub") and ctx.n_in > 1:
        v = ctx.shape(1)
        if s is None:
            return [v]
        if v is not None and len(v) == len(s):
            return [[a if a is not None else b for a, b in zip(s, v)]]
    return [s]


cost_rule("Assign", "ScatterUpdate")(free)


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


@shape_rule("UnsortedSegmentSum", "UnsortedSegmentMax", "UnsortedSegmentMin", "UnsortedSegmentProd")
def _unsorted_segment(ctx):
    data, ids = ctx.shape(0), ctx.shape(1)
    if data is None or ids is None:
        raise Unknown("rank of data or segment ids unknown")
    return [[ctx.scalar(2)] + data[len(ids):]]


@shape_rule("ScalarSummary", "MergeSummary", "HistogramSummary", "ImageSummary", "AudioSummaryV2",
            "TensorSummaryV2", "TensorSummary")
def _summary(ctx):
    return [[]]


@shape_rule("RestoreV2", "Restore", "RestoreSlice")
def _restore(ctx):
    raise Unknown("restored tensors take their shapes from the checkpoint, not the graph")


@shape_rule("SaveV2", "Save", "SaveSlices", "MergeV2Checkpoints")
def _save(ctx):
    return [Unknown(f"{ctx.op} produces no data (it runs for its side effect)")] * ctx.n_out


@shape_rule("ShardedFilename", "StringJoin")
def _string_scalar(ctx):
    return [[]]


@cost_rule("While", "StatelessWhile", "_While")
def _tf_while(ctx):
    raise Unknown("runs its body function a data-dependent number of times")


@cost_rule("If", "StatelessIf", "_If", "Case", "StatelessCase")
def _tf_if(ctx):
    raise Unknown("runs one of its branch functions, chosen at run time")
