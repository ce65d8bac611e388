"""Array ops (TensorFlow), layout family: Shape, Size, Rank, Reshape, Squeeze, ExpandDims, Transpose, and
the cost of every op that only moves, views or describes data (0 MACs and 0 FLOPs by rule; its price is
memory traffic, which the report shows as activation bytes). The other array families: joining.py (concat,
split, pad, tile, fill, broadcast), indexing.py (slices, gathers, ranges), plumbing.py (identities,
control flow, placeholders, variables, savers).

The semantics (attribute names, mask bits, negative-index and clamping behaviour) follow the TensorFlow op
definitions; the code is our own.
"""
from __future__ import annotations

from typing import Optional

from ..opdata import roles as op_roles
from .helpers import ShapeError, Unknown, free, normalize_axis, np, np_dtype, num_elements, unknown_dims_of_input_rank
from .registry import cost_rule, shape_rule, value_rule

# ---------------------------------------------------------------------------------------------------------
# free by nature
FREE_OPS = op_roles.ordered("free")
cost_rule(*FREE_OPS)(free)

from ..opdata import roles as op_roles
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
        return unknown_dims_of_input_rank(ctx, 1, "permutation (input 1) is not a constant and the input rank is "
                                                  "unknown")
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
