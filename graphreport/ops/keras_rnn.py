"""Keras layers (dialect "keras") that hold other computations: recurrent layers (SimpleRNN, LSTM, GRU, their
CuDNN variants, Bidirectional), MultiHeadAttention, EinsumDense and TimeDistributed.

Cost conventions (Keras 3 cells, TensorFlow backend, inference; see ops/keras_layers.py for the rest), for
an input of T timesteps, depth D and U units, per timestep:
- SimpleRNN: x W and h R (MACs U (D + U)), bias add and the sum (2U), activation.
- LSTM: x W and h R (MACs 4U (D + U)), their sum and the bias (8U), i, f, o recurrent activations, the
  candidate and the cell activations, f c + i g (3U) and o act(c) (U).
- GRU (reset_after, Keras 3 default): x W and h R (MACs 3U (D + U)), both biases (6U), z and r gates (2U
  sums + 2 recurrent activations), r x (h R)_h (U), candidate sum (U) and activation, z h + (1 - z) hh (4U);
  reset_after=False: one bias (3U), r x h (U) before its matrix product.
- FLOPs = 2 x MACs + the element-wise ops (1 each, activations per ACTIVATION_FLOPS), times T. The first
  step's products with the zero initial state are counted (the graph computes them).
- Bidirectional: both directions plus the merge (concat 0, sum / mul 1 per output element, ave 2).
- MultiHeadAttention (N heads, key size k, value size v, query length T, key/value length S): the query,
  key and value projections (EinsumDense: T x Dq x N k, S x Dk x N k, S x Dv x N v MACs, bias 1 per
  output element), the scores Q K^T (N T S k MACs), their scaling (1 per score; Keras 3's fused path when
  dropout is 0, else 1 per query element), softmax (5 per score), the weighted sum A V (N T S v MACs) and
  the output projection (T x N v x output size MACs, bias).
- EinsumDense: MACs = output elements x the product of the contracted dimensions; bias 1 and activation
  per output element. TimeDistributed: the wrapped layer's cost on the (batch x time) input.
"""
from __future__ import annotations

from typing import Optional

from ..shapespec import UNKNOWN_RANK, format_shape
from .helpers import ShapeError, Unknown, checked_mul, num_elements
from .keras_layers import ACTIVATION_FLOPS, K, activation_flops, data_dtypes, data_shapes, x_shape
from .math import out_elements
from .registry import Ctx, cost_rule, lookup, shape_rule

RNN = ("SimpleRNN", "LSTM", "GRU", "CuDNNLSTM", "CuDNNGRU")


def _units(attrs: dict) -> int:
    u = attrs.get("units")
    if not isinstance(u, int) or isinstance(u, bool):
        raise Unknown("units not given")
    return u


def rnn_shapes(cls: str, attrs: dict, x) -> list:
    if x is None:
        raise Unknown("input shape unknown")
    if len(x) != 3:
        raise ShapeError(f"expected a rank-3 input (batch, time, features), got rank {len(x)}")
    u = _units(attrs)
    main = [x[0], x[1], u] if attrs.get("return_sequences") else [x[0], u]
    outs = [main]
    if attrs.get("return_state"):
        outs += [[x[0], u] for _ in range(2 if "LSTM" in cls else 1)]
    return outs


@shape_rule(*RNN, dialect=K)
def _rnn(ctx):
    return rnn_shapes(ctx.op, ctx.attrs, x_shape(ctx))


def _act(attrs: dict, key: str, default: str) -> int:
    return activation_flops(attrs.get(key, default) if key in attrs else default)


def rnn_step_cost(cls: str, attrs: dict, d: int) -> tuple[int, int]:
    """(MACs, FLOPs) of one timestep of one direction."""
    u = _units(attrs)
    bias = attrs.get("use_bias", True) is not False
    if cls in ("LSTM", "CuDNNLSTM"):
        ra = _act(attrs, "recurrent_activation", "sigmoid") if cls == "LSTM" else ACTIVATION_FLOPS["sigmoid"]
        a = _act(attrs, "activation", "tanh") if cls == "LSTM" else ACTIVATION_FLOPS["tanh"]
        macs = 4 * u * (d + u)
        ew = 4 * u + (4 * u if bias else 0) + 3 * ra * u + 2 * a * u + 4 * u
    elif cls in ("GRU", "CuDNNGRU"):
        ra = _act(attrs, "recurrent_activation", "sigmoid") if cls == "GRU" else ACTIVATION_FLOPS["sigmoid"]
        a = _act(attrs, "activation", "tanh") if cls == "GRU" else ACTIVATION_FLOPS["tanh"]
        reset_after = attrs.get("reset_after", True) is not False or cls == "CuDNNGRU"
        macs = 3 * u * (d + u)
        nb = (6 * u if reset_after else 3 * u) if bias else 0
        ew = nb + 2 * u + 2 * ra * u + u + u + a * u + 4 * u
    elif cls == "SimpleRNN":
        a = _act(attrs, "activation", "tanh")
        macs = u * (d + u)
        ew = (u if bias else 0) + u + a * u
    else:
        raise Unknown(f"recurrent layer {cls}: cost not known")
    return macs, 2 * macs + ew


def rnn_cost(cls: str, attrs: dict, x) -> tuple[int, int]:
    if x is None or len(x) != 3 or any(v is None for v in x):
        raise Unknown(f"input shape {format_shape(x, unknown_rank=UNKNOWN_RANK)} not fully known")
    m, f = rnn_step_cost(cls, attrs, x[2])
    steps = x[0] * x[1]
    return m * steps, f * steps


@cost_rule(*RNN, dialect=K)
def _rnn_cost(ctx):
    """Per timestep: the input and recurrent matrix products and the gates' element-wise ops (module doc),
    times the number of timesteps."""
    macs, flops = rnn_cost(ctx.op, ctx.attrs, x_shape(ctx))
    return {"macs": macs, "flops": flops}


def _inner(attrs: dict, key: str = "layer") -> tuple[str, dict]:
    inner = attrs.get(key)
    if not isinstance(inner, dict) or not isinstance(inner.get("config"), dict):
        raise Unknown(f"the wrapped layer's config ({key}) is not readable")
    return str(inner.get("class_name")), inner["config"]


@shape_rule("Bidirectional", dialect=K)
def _bidirectional(ctx):
    cls, icfg = _inner(ctx.attrs)
    one = rnn_shapes(cls, {**icfg, "return_state": False}, x_shape(ctx))[0]
    mode = ctx.attrs.get("merge_mode", "concat")
    if mode == "concat":
        out = [one[:-1] + [checked_mul(one[-1], 2)]]
    elif mode in ("sum", "mul", "ave"):
        out = [one]
    elif mode is None:
        out = [one, list(one)]
    else:
        raise Unknown(f"merge_mode {mode!r} not understood")
    if icfg.get("return_state"):
        states = rnn_shapes(cls, icfg, x_shape(ctx))[1:]
        out += states + [list(s) for s in states]
    return out


@cost_rule("Bidirectional", dialect=K)
def _bidirectional_cost(ctx):
    """Forward and backward layers (the backward one's own config when given), plus the merge: concat 0,
    sum and mul 1 per output element, ave 2."""
    cls, icfg = _inner(ctx.attrs)
    x = x_shape(ctx)
    fm, ff = rnn_cost(cls, icfg, x)
    try:
        bcls, bcfg = _inner(ctx.attrs, "backward_layer")
    except Unknown:
        bcls, bcfg = cls, icfg
    bm, bf = rnn_cost(bcls, bcfg, x)
    mode = ctx.attrs.get("merge_mode", "concat")
    merge = {"concat": 0, None: 0, "sum": 1, "mul": 1, "ave": 2}.get(mode)
    if merge is None:
        raise Unknown(f"merge_mode {mode!r} not understood")
    return {"macs": fm + bm, "flops": ff + bf + merge * out_elements(ctx)}


# ---------------------------------------------------------------------------------------------------------
# MultiHeadAttention
def _mha_dims(ctx):
    xs = data_shapes(ctx)
    if not xs or xs[0] is None:
        raise Unknown("query shape unknown")
    q = xs[0]
    v = xs[1] if len(xs) > 1 and xs[1] is not None else q
    # a third input is the key when it is a float tensor shaped like the value (else a mask)
    k = v
    dts = data_dtypes(ctx)
    if len(xs) > 2 and xs[2] is not None and len(xs[2]) == len(v) and (dts[2] or "float32").startswith(
            ("float", "bfloat")) and xs[2][:-1] == v[:-1]:
        k = xs[2]
    return q, k, v


@shape_rule("MultiHeadAttention", dialect=K)
def _mha(ctx):
    q, _, v = _mha_dims(ctx)
    out = ctx.attrs.get("output_shape")
    if out is None:
        main = list(q)
    elif isinstance(out, int):
        main = q[:-1] + [out]
    elif isinstance(out, (list, tuple)) and all(isinstance(d, int) for d in out):
        main = q[:-1] + list(out)
    else:
        raise Unknown(f"output_shape {out!r} not understood")
    outs = [main]
    if ctx.n_out > 1 and len(q) == 3:
        outs.append([q[0], ctx.attrs.get("num_heads"), q[1], v[1]])
    return outs


@cost_rule("MultiHeadAttention", dialect=K)
def _mha_cost(ctx):
    """Projections, Q K^T, scaling, softmax, A V and the output projection (module doc)."""
    q, k, v = _mha_dims(ctx)
    for s in (q, k, v):
        if s is None or len(s) != 3 or any(d is None for d in s):
            raise Unknown("MultiHeadAttention cost is modelled for (batch, length, depth) inputs of known shape")
    heads, kd = ctx.attrs.get("num_heads"), ctx.attrs.get("key_dim")
    vd = ctx.attrs.get("value_dim") or kd
    if not all(isinstance(i, int) for i in (heads, kd, vd)):
        raise Unknown("num_heads / key_dim not given")
    bias = ctx.attrs.get("use_bias", True) is not False
    b, t, s = q[0], q[1], v[1]
    out = ctx.out_shape(0)
    dout = num_elements(out[2:]) if out is not None and len(out) >= 3 else None
    if dout is None:
        raise Unknown("output shape unknown")
    proj = b * (t * q[2] * heads * kd + s * k[2] * heads * kd + s * v[2] * heads * vd + t * heads * vd * dout)
    att = b * heads * t * s * (kd + vd)
    macs = proj + att
    ew = 0
    if bias:
        ew += b * (t * heads * kd + s * heads * kd + s * heads * vd + t * dout)
    scores = b * heads * t * s
    scale = scores if not (ctx.attrs.get("dropout") or 0) else b * t * heads * kd
    return {"macs": macs, "flops": 2 * macs + ew + scale + 5 * scores}


# ---------------------------------------------------------------------------------------------------------
# EinsumDense
def _einsum_parts(eq: str):
    if not isinstance(eq, str) or "->" not in eq or "," not in eq or "." in eq:
        raise Unknown(f"equation {eq!r} not understood")
    ins, out = eq.replace(" ", "").split("->")
    a, w = ins.split(",")
    return a, w, out


@shape_rule("EinsumDense", dialect=K)
def _einsum_dense(ctx):
    x = x_shape(ctx)
    a, _, out = _einsum_parts(ctx.attrs.get("equation"))
    if len(a) != len(x):
        raise ShapeError(f"equation input {a} does not match rank {len(x)}")
    spec = ctx.attrs.get("output_shape")
    spec = [spec] if isinstance(spec, int) else list(spec or [])
    dims: list[Optional[int]] = [None] * len(out)
    tail = spec[-(len(out) - 1):] if len(out) > 1 else []
    full = [None] * (len(out) - len(tail)) + tail
    for i, lab in enumerate(out):
        if lab in a:
            dims[i] = x[a.index(lab)]
        else:
            dims[i] = full[i] if i < len(full) else None
    return [dims]


@cost_rule("EinsumDense", dialect=K)
def _einsum_dense_cost(ctx):
    """MACs = output elements x product of the contracted input dimensions (in the input and the kernel,
    not in the output); FLOPs 2 x MACs + bias 1 (when bias_axes) + activation per output element."""
    x = x_shape(ctx)
    a, w, out = _einsum_parts(ctx.attrs.get("equation"))
    contracted = [x[i] for i, lab in enumerate(a) if lab in w and lab not in out]
    k = checked_mul(*contracted)
    if k is None:
        raise Unknown("contracted dimensions unknown")
    n = out_elements(ctx)
    macs = n * k
    extra = (n if ctx.attrs.get("bias_axes") else 0) + activation_flops(ctx.attrs.get("activation")) * n
    return {"macs": macs, "flops": 2 * macs + extra}


# ---------------------------------------------------------------------------------------------------------
# TimeDistributed
def _inner_ctx(ctx, shape) -> tuple[Ctx, object]:
    cls, icfg = _inner(ctx.attrs)
    info = lookup(cls, K)
    if info is None or info.shape is None:
        raise Unknown(f"no shape rule for the wrapped layer {cls}")
    return Ctx(cls, icfg, in_shapes=[shape], in_dtypes=data_dtypes(ctx)[:1] or [None]), info


@shape_rule("TimeDistributed", dialect=K)
def _time_distributed(ctx):
    x = x_shape(ctx)
    if len(x) < 3:
        raise ShapeError(f"expected an input of rank 3 or more, got rank {len(x)}")
    sub, info = _inner_ctx(ctx, [x[0], *x[2:]])
    outs = info.shape(sub)
    return [None if o is None else [o[0], x[1], *o[1:]] for o in outs]


@cost_rule("TimeDistributed", dialect=K)
def _time_distributed_cost(ctx):
    """The wrapped layer's cost on an input of batch x time examples."""
    x = x_shape(ctx)
    bt = checked_mul(x[0], x[1])
    if bt is None:
        raise Unknown(f"input shape {format_shape(x, unknown_rank=UNKNOWN_RANK)} not fully known")
    sub, info = _inner_ctx(ctx, [bt, *x[2:]])
    if info.cost is None:
        raise Unknown(f"no cost rule for the wrapped layer {sub.op}")
    sub.out_shapes = [o for o in info.shape(sub)]
    c = info.cost(sub)
    return {"macs": c.get("macs", 0), "flops": c.get("flops", 0)}
