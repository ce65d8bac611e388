"""Math ops (TensorFlow): element-wise unary and binary ops with broadcasting, Cast, Select, AddN,
MatMul / BatchMatMul / Einsum, reductions, ArgMax, cumulative ops.

Cost conventions (see analysis/cost.py CONVENTIONS for the full list shown in reports):
- MatMul / BatchMatMul / Einsum: MACs = output elements x contracted length; FLOPs = 2 x MACs.
- Element-wise ops: FLOPs = output elements x per-element count (1, except Rsqrt 2, SquaredDifference 2,
  Softmax/LogSoftmax 5 (in nn.py)); MACs 0. Activations and transcendental functions count 1 per element.
- AddN: (n - 1) FLOPs per output element.
- Mean: 1 FLOP per input element (n - 1 adds and 1 divide per output element); Sum/Prod/Max/Min/All/Any/
  ArgMax/ArgMin: n - 1 per output element, i.e. input elements - output elements.
"""
from __future__ import annotations

import re

from ..opdata import roles as op_roles
from ..shapespec import UNKNOWN_RANK, format_shape
from .helpers import (ShapeError, Unknown, broadcast, checked_mul, normalize_axis, np, np_dtype, num_elements,
                      same_shape, small)
from .registry import cost_rule, shape_rule, value_rule

# ---------------------------------------------------------------------------------------------------------
def _np(name: str):
    """numpy.<name>, looked up when called (numpy is imported on first use, see helpers.np)."""
    def call(*args, **kwargs):
        return getattr(np, name)(*args, **kwargs)
    call.__name__ = name
    return call


UNARY = {
    # op: (flops per element, numpy function for small constant values or None)
    "Abs": (1, _np("abs")), "Neg": (1, _np("negative")), "Sign": (1, _np("sign")), "Floor": (1, _np("floor")),
    "Ceil": (1, _np("ceil")), "Round": (1, _np("round")), "Rint": (1, _np("rint")), "Sqrt": (1, _np("sqrt")),
    "Rsqrt": (2, lambda x: 1 / np.sqrt(x)), "Square": (1, _np("square")), "Exp": (1, _np("exp")),
    "Expm1": (1, _np("expm1")), "Log": (1, _np("log")), "Log1p": (1, _np("log1p")),
    "Reciprocal": (1, _np("reciprocal")), "Inv": (1, _np("reciprocal")), "Sin": (1, _np("sin")),
    "Cos": (1, _np("cos")), "Tan": (1, _np("tan")), "Asin": (1, _np("arcsin")), "Acos": (1, _np("arccos")),
    "Atan": (1, _np("arctan")), "Sinh": (1, _np("sinh")), "Cosh": (1, _np("cosh")), "Tanh": (1, _np("tanh")),
    "Asinh": (1, _np("arcsinh")), "Acosh": (1, _np("arccosh")), "Atanh": (1, _np("arctanh")), "Erf": (1, None),
    "Erfc": (1, None), "Sigmoid": (1, lambda x: 1 / (1 + np.exp(-x))), "Relu": (1, lambda x: np.maximum(x, 0)),
    "Relu6": (1, lambda x: np.clip(x, 0, 6)), "Elu": (1, None), "Selu": (1, None), "Softplus": (1, None),
    "Softsign": (1, None), "LeakyRelu": (1, None), "Gelu": (1, None), "LogicalNot": (1, _np("logical_not")),
    "IsNan": (1, _np("isnan")), "IsInf": (1, _np("isinf")), "IsFinite": (1, _np("isfinite")),
    "Invert": (1, _np("invert")), "Digamma": (1, None), "Lgamma": (1, None), "Real": (1, _np("real")),
    "Imag": (1, _np("imag")), "ComplexAbs": (1, _np("abs")), "Conj": (1, _np("conj")), "Angle": (1, _np("angle")),
    "OnesLike": None, "Cast": (1, None), "ClipByValue": (1, None), "Relu6Grad": None,
    "FakeQuantWithMinMaxVars": (1, None), "FakeQuantWithMinMaxArgs": (1, None),
    "FakeQuantWithMinMaxVarsPerChannel": (1, None), "QuantizeAndDequantizeV2": (1, None),
    "QuantizeAndDequantizeV3": (1, None), "QuantizeAndDequantizeV4": (1, None), "Cumsum": (1, None),
    "Cumprod": (1, None),
}
UNARY = {k: v for k, v in UNARY.items() if v is not None}

BINARY = {
    "Add": (1, _np("add")), "AddV2": (1, _np("add")), "Sub": (1, _np("subtract")), "Mul": (1, _np("multiply")),
    "RealDiv": (1, _np("true_divide")), "Div": (1, None), "FloorDiv": (1, _np("floor_divide")),
    "TruncateDiv": (1, None), "FloorMod": (1, _np("mod")), "Mod": (1, _np("fmod")), "TruncateMod": (1, _np("fmod")),
    "Maximum": (1, _np("maximum")), "Minimum": (1, _np("minimum")), "Pow": (1, _np("power")),
    "SquaredDifference": (2, lambda a, b: np.square(a - b)), "DivNoNan": (1, None), "MulNoNan": (1, None),
    "Xdivy": (1, None), "Xlogy": (1, None), "Xlog1py": (1, None), "Atan2": (1, _np("arctan2")),
    "Equal": (1, _np("equal")), "NotEqual": (1, _np("not_equal")), "Less": (1, _np("less")),
    "LessEqual": (1, _np("less_equal")), "Greater": (1, _np("greater")), "GreaterEqual": (1, _np("greater_equal")),
    "LogicalAnd": (1, _np("logical_and")), "LogicalOr": (1, _np("logical_or")),
    "BitwiseAnd": (1, _np("bitwise_and")), "BitwiseOr": (1, _np("bitwise_or")),
    "BitwiseXor": (1, _np("bitwise_xor")), "LeftShift": (1, _np("left_shift")),
    "RightShift": (1, _np("right_shift")), "ApproximateEqual": (1, None), "Complex": (1, None),
    "BiasAddV1": (1, None), "SigmoidGrad": (2, None), "TanhGrad": (2, None), "ReluGrad": (1, None),
    "Relu6Grad": (1, None), "RsqrtGrad": (4, None), "SqrtGrad": (2, None), "ReciprocalGrad": (2, None),
}

# The partial-value (1-D shape vector) arithmetic that shape computations need.
_PARTIAL_OPS = {"Add": lambda a, b: a + b, "AddV2": lambda a, b: a + b, "Sub": lambda a, b: a - b,
                "Mul": lambda a, b: a * b, "FloorDiv": lambda a, b: a // b, "Maximum": max, "Minimum": min}


def out_elements(ctx, i: int = 0) -> int:
    """Element count of output i; Unknown (with the reason) when its shape is not fully known."""
    s = ctx.out_shape(i)
    n = num_elements(s)
    if n is None:
        raise Unknown(f"output shape {format_shape(s, unknown_rank=UNKNOWN_RANK)} not fully known")
    return n


def in_elements(ctx, i: int = 0) -> int:
    s = ctx.shape(i)
    n = num_elements(s)
    if n is None:
        raise Unknown(f"input {i} shape {format_shape(s, unknown_rank=UNKNOWN_RANK)} not fully known")
    return n


def per_element(k: int):
    def cost(ctx):
        return {"macs": 0, "flops": k * out_elements(ctx)}
    cost.__doc__ = f"{k} FLOP(s) per output element."
    cost.per_output_element = k  # what it reads of ctx: the cost pass may skip the context (analysis/cost.py)
    return cost


# ---------------------------------------------------------------------------------------------------------
# element-wise
shape_rule(*UNARY)(same_shape)


for _op, (_k, _fn) in UNARY.items():
    cost_rule(_op)(per_element(_k))


@value_rule(*[op for op, (_, fn) in UNARY.items() if fn is not None])
def _unary_value(ctx):
    v = ctx.value(0)
    if v is None:
        return [None]
    with np.errstate(all="ignore"):
        out = np.asarray(UNARY[ctx.op][1](v))
    dt = ctx.out_dtypes[0] if ctx.out_dtypes else None
    return [out.astype(np_dtype(dt, out.dtype)) if dt in ("int32", "int64", "float32", "bool") else out]


@value_rule("Cast")
def _cast_value(ctx):
    dst = ctx.attr("DstT")
    v = ctx.value(0)
    if v is not None:
        if dst not in ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16",
                       "uint32", "uint64", "bool"):
            return [None]
        return [v.astype(np_dtype(dst))]
    p = ctx.partial(0)
    if p is not None and dst in ("int32", "int64") and ctx.rank(0) == 1:
        return [p]
    return [None]


@shape_rule(*BINARY)
def _binary(ctx):
    return [broadcast(ctx.shape(0), ctx.shape(1))]


for _op, (_k, _fn) in BINARY.items():
    cost_rule(_op)(per_element(_k))


def _trunc_div(a, b):
    if a.dtype.kind in "iu" and b.dtype.kind in "iu":
        q = np.abs(a) // np.abs(b)
        return (np.sign(a) * np.sign(b) * q).astype(np.result_type(a, b))
    return a / b


@value_rule(*BINARY)
def _binary_value(ctx):
    a, b = ctx.value(0), ctx.value(1)
    fn = BINARY[ctx.op][1]
    if ctx.op in ("Div", "TruncateDiv"):
        fn = _trunc_div
    if a is not None and b is not None and fn is not None:
        if not small(num_elements(ctx.out_shapes[0])):
            return [None]
        with np.errstate(all="ignore"):
            out = np.asarray(fn(a, b))
        dt = ctx.out_dtypes[0] if ctx.out_dtypes else None
        if dt in ("int32", "int64", "float32", "float64", "bool"):
            out = out.astype(np_dtype(dt))
        return [out]
    pfn = _PARTIAL_OPS.get(ctx.op)
    if pfn is None:
        return [None]
    pa, pb = _vec_or_scalar(ctx, 0), _vec_or_scalar(ctx, 1)
    if pa is None or pb is None or not (isinstance(pa, list) or isinstance(pb, list)):
        return [None]
    if not isinstance(pa, list):
        pa = [pa] * len(pb)
    if not isinstance(pb, list):
        pb = [pb] * len(pa)
    if len(pa) != len(pb):
        return [None]
    return [[None if (x is None or y is None) else int(pfn(x, y)) for x, y in zip(pa, pb)]]


def _vec_or_scalar(ctx, i):
    """A partial 1-D int vector as a list, a known int scalar as an int, else None."""
    if ctx.rank(i) == 0:
        return ctx.scalar(i)
    return ctx.partial(i)


@shape_rule("Select")
def _select(ctx):
    # v1 Select: `condition` is either the same shape as t/e or a vector over their first dimension.
    t, e = ctx.shape(1), ctx.shape(2)
    if t is not None and e is not None and len(t) == len(e):
        return [[a if a is not None else b for a, b in zip(t, e)]]
    return [t if t is not None else e]


@shape_rule("SelectV2")
def _select_v2(ctx):
    return [broadcast(ctx.shape(0), ctx.shape(1), ctx.shape(2))]


cost_rule("Select", "SelectV2")(per_element(1))


@value_rule("Select", "SelectV2")
def _select_value(ctx):
    c, a, b = ctx.value(0), ctx.value(1), ctx.value(2)
    if c is None or a is None or b is None:
        return [None]
    if ctx.op == "Select" and c.ndim == 1 and a.ndim > 1:
        c = c.reshape([-1] + [1] * (a.ndim - 1))
    return [np.where(c, a, b)]


@shape_rule("ClipByValue")
def _clip(ctx):
    return [ctx.shape(0)]


@shape_rule("AddN", "AccumulateNV2")
def _add_n(ctx):
    out = None
    for s in ctx.in_shapes:
        if s is None:
            continue
        if out is None:
            out = list(s)
        elif len(out) != len(s):
            raise ShapeError(f"AddN inputs differ in rank: {ctx.in_shapes}")
        else:
            out = [a if a is not None else b for a, b in zip(out, s)]
    return [out]


@cost_rule("AddN", "AccumulateNV2")
def _add_n_cost(ctx):
    """(n - 1) additions per output element."""
    return {"macs": 0, "flops": (ctx.n_in - 1) * out_elements(ctx)}


@value_rule("AddN")
def _add_n_value(ctx):
    vals = [ctx.value(i) for i in range(ctx.n_in)]
    if any(v is None for v in vals):
        return [None]
    return [sum(vals[1:], vals[0])]


# ---------------------------------------------------------------------------------------------------------
# MatMul family
def _mm(a, b, ta, tb):
    if a is None or b is None:
        return None
    if len(a) != 2 or len(b) != 2:
        raise ShapeError(f"MatMul needs rank-2 inputs, got {a} and {b}")
    m, k1 = (a[1], a[0]) if ta else (a[0], a[1])
    k2, n = (b[1], b[0]) if tb else (b[0], b[1])
    if k1 is not None and k2 is not None and k1 != k2:
        raise ShapeError(f"inner dimensions differ: {a} x {b}")
    return [m, n]


@shape_rule("MatMul", "_FusedMatMul", "SparseMatMul")
def _matmul(ctx):
    # both operands are matrices by definition of the op, whatever their declared rank
    a, b = ctx.shape(0) or [None, None], ctx.shape(1) or [None, None]
    return [_mm(a, b, ctx.attr("transpose_a", False), ctx.attr("transpose_b", False))]


@cost_rule("MatMul", "SparseMatMul")
def _matmul_cost(ctx):
    """MACs = output elements x inner dimension; FLOPs = 2 x MACs."""
    a = ctx.shape(0)
    k = None if a is None else (a[0] if ctx.attr("transpose_a", False) else a[1])
    if k is None:
        raise Unknown("inner dimension unknown")
    macs = out_elements(ctx) * k
    return {"macs": macs, "flops": 2 * macs}


@value_rule("MatMul")
def _matmul_value(ctx):
    a, b = ctx.value(0), ctx.value(1)
    if a is None or b is None or not small(num_elements(ctx.out_shapes[0])):
        return [None]
    if ctx.attr("transpose_a", False):
        a = a.T
    if ctx.attr("transpose_b", False):
        b = b.T
    return [a @ b]


@shape_rule("BatchMatMul", "BatchMatMulV2", "BatchMatMulV3")
def _batch_matmul(ctx):
    a, b = ctx.shape(0), ctx.shape(1)
    if a is None or b is None:
        raise Unknown("rank of a matmul operand unknown")
    if len(a) < 2 or len(b) < 2:
        raise ShapeError(f"BatchMatMul needs rank >= 2, got {a} and {b}")
    ta, tb = ctx.attr("adj_x", False), ctx.attr("adj_y", False)
    mn = _mm(a[-2:], b[-2:], ta, tb)
    if ctx.op == "BatchMatMul":
        if len(a) != len(b):
            raise ShapeError(f"BatchMatMul operands differ in rank: {a} and {b}")
        batch = [x if x is not None else y for x, y in zip(a[:-2], b[:-2])]
    else:
        batch = broadcast(a[:-2], b[:-2])
    return [batch + mn]


@cost_rule("BatchMatMul", "BatchMatMulV2", "BatchMatMulV3")
def _batch_matmul_cost(ctx):
    """MACs = output elements x inner dimension; FLOPs = 2 x MACs."""
    a = ctx.shape(0)
    k = None if a is None or len(a) < 2 else (a[-2] if ctx.attr("adj_x", False) else a[-1])
    if k is None:
        raise Unknown("inner dimension unknown")
    macs = out_elements(ctx) * k
    return {"macs": macs, "flops": 2 * macs}


@cost_rule("_FusedMatMul")
def _fused_matmul_cost(ctx):
    """MatMul plus 1 FLOP per output element for each fused op (BiasAdd, Relu ...)."""
    c = _matmul_cost(ctx)
    c["flops"] += len(ctx.attr("fused_ops", [])) * out_elements(ctx)
    return c


# ---------------------------------------------------------------------------------------------------------
# Einsum
def _parse_einsum(eq: str, ranks: list):
    eq = eq.replace(" ", "")
    if "->" in eq:
        lhs, rhs = eq.split("->")
    else:
        lhs, rhs = eq, None
    terms = lhs.split(",")
    if len(terms) != len(ranks):
        raise ShapeError(f"einsum equation {eq!r} names {len(terms)} operands, got {len(ranks)}")
    n_ell = 0
    expanded = []
    for t, r in zip(terms, ranks):
        if "..." in t:
            if r is None:
                raise Unknown("operand rank unknown under an ellipsis")
            k = r - (len(t) - 3)
            n_ell = max(n_ell, k)
            expanded.append((t, k))
        else:
            expanded.append((t, 0))
    ell = [f"\0{i}" for i in range(n_ell)]
    out_terms = []
    for t, k in expanded:
        labels = []
        for part in re.split(r"(\.\.\.)", t):
            if part == "...":
                labels.extend(ell[n_ell - k:])
            else:
                labels.extend(part)
        out_terms.append(labels)
    if rhs is None:
        counts: dict = {}
        for labels in out_terms:
            for c in labels:
                counts[c] = counts.get(c, 0) + 1
        rhs_labels = ell + sorted(c for c, n in counts.items() if n == 1 and not c.startswith("\0"))
    else:
        rhs_labels = []
        for part in re.split(r"(\.\.\.)", rhs):
            rhs_labels.extend(ell if part == "..." else list(part))
    return out_terms, rhs_labels


def _einsum_dims(ctx):
    shapes = ctx.in_shapes
    terms, rhs = _parse_einsum(ctx.attr("equation", ""), [None if s is None else len(s) for s in shapes])
    dims: dict = {}
    for labels, s in zip(terms, shapes):
        if s is None:
            continue
        for c, d in zip(labels, s):
            if d is None:
                dims.setdefault(c, None)
            elif dims.get(c) in (None, 1):
                dims[c] = d
            elif d != 1 and dims[c] != d:
                raise ShapeError(f"einsum label {c!r} has sizes {dims[c]} and {d}")
    return terms, rhs, dims


@shape_rule("Einsum")
def _einsum(ctx):
    if any(s is None for s in ctx.in_shapes):
        raise Unknown("rank of an einsum operand unknown")
    _, rhs, dims = _einsum_dims(ctx)
    return [[dims.get(c) for c in rhs]]


@cost_rule("Einsum")
def _einsum_cost(ctx):
    """MACs = product of the sizes of every distinct index (output and contracted); FLOPs = 2 x MACs.
    An einsum with one operand (a transpose or reduction) counts 1 FLOP per input element."""
    _, _, dims = _einsum_dims(ctx)
    if ctx.n_in == 1:
        return {"macs": 0, "flops": in_elements(ctx, 0)}
    macs = checked_mul(*dims.values())
    if macs is None:
        raise Unknown("a dimension of the einsum is unknown")
    return {"macs": macs, "flops": 2 * macs}


# ---------------------------------------------------------------------------------------------------------
# reductions
# op -> the numpy function that computes its value (by name: numpy is imported on first use)
REDUCTIONS = {"Mean": "mean", "Sum": "sum", "Prod": "prod", "Max": "max", "Min": "min", "All": "all",
              "Any": "any", "EuclideanNorm": None}


def _reduce_axes(ctx, r):
    axes = ctx.ints(1)
    if axes is None:
        return None
    return sorted({normalize_axis(a, r) for a in axes}) if r else []


@shape_rule(*REDUCTIONS)
def _reduce(ctx):
    s = ctx.shape(0)
    keep = bool(ctx.attr("keep_dims", ctx.attr("keepdims", False)))
    if s is None:
        raise Unknown("rank of the reduced input unknown")
    axes = _reduce_axes(ctx, len(s))
    if axes is None:
        if keep:
            return [[None] * len(s)]
        raise Unknown("reduction axes (input 1) are not a constant")
    if keep:
        return [[1 if i in axes else d for i, d in enumerate(s)]]
    return [[d for i, d in enumerate(s) if i not in axes]]


@value_rule(*[op for op, fn in REDUCTIONS.items() if fn is not None])
def _reduce_value(ctx):
    v = ctx.value(0)
    if v is None:
        return [None]
    axes = _reduce_axes(ctx, v.ndim)
    if axes is None:
        return [None]
    keep = bool(ctx.attr("keep_dims", False))
    out = np.asarray(getattr(np, REDUCTIONS[ctx.op])(v, axis=tuple(axes), keepdims=keep))
    return [out.astype(v.dtype)]


@cost_rule("Mean", "tflite:MEAN")
def _mean_cost(ctx):
    """1 FLOP per input element: n - 1 additions and one division for each output element."""
    return {"macs": 0, "flops": in_elements(ctx, 0)}


@cost_rule("Sum", "Prod", "Max", "Min", "All", "Any", "ArgMax", "ArgMin",
           "tflite:SUM", "tflite:REDUCE_PROD", "tflite:REDUCE_MAX", "tflite:REDUCE_MIN", "tflite:REDUCE_ALL",
           "tflite:REDUCE_ANY", "tflite:ARG_MAX", "tflite:ARG_MIN")
def _reduce_cost(ctx):
    """n - 1 operations per output element (input elements - output elements)."""
    return {"macs": 0, "flops": max(in_elements(ctx, 0) - out_elements(ctx), 0)}


@cost_rule("EuclideanNorm")
def _norm_cost(ctx):
    """Square and add per input element, one square root per output element."""
    return {"macs": 0, "flops": 2 * in_elements(ctx, 0)}


@shape_rule("ArgMax", "ArgMin")
def _argmax(ctx):
    s = ctx.shape(0)
    if s is None:
        raise Unknown("rank of the input unknown")
    a = ctx.scalar(1)
    if a is None:
        return [[None] * (len(s) - 1)]
    a = normalize_axis(a, len(s))
    return [s[:a] + s[a + 1:]]


@value_rule("ArgMax", "ArgMin")
def _argmax_value(ctx):
    v, a = ctx.value(0), ctx.scalar(1)
    if v is None or a is None:
        return [None]
    fn = np.argmax if ctx.op == "ArgMax" else np.argmin
    return [fn(v, axis=a).astype(np_dtype(ctx.attr("output_type", "int64")))]


# ---------------------------------------------------------------------------------------------------------
@shape_rule("Bucketize")
def _bucketize(ctx):
    return [ctx.shape(0)]


cost_rule("Bucketize")(per_element(1))


# ---------------------------------------------------------------------------------------------------------
# random number generation: shape from the `shape` operand
RANDOM_OPS = op_roles.ordered("random")


@shape_rule(*RANDOM_OPS)
def _random(ctx):
    shape = ctx.partial(0)
    if shape is None:
        s = ctx.shape(0)
        if s is not None and len(s) == 1 and s[0] is not None:
            return [[None] * s[0]]
        raise Unknown("shape operand (input 0) is not a constant")
    return [[None if (d is None or d < 0) else d for d in shape]]


for _op in RANDOM_OPS:
    cost_rule(_op)(per_element(1))
cost_rule("AssignAdd", "AssignSub", "ScatterAdd", "ScatterSub")(per_element(1))
