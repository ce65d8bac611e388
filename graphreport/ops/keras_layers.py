"""Keras layers (dialect "keras"): shape and cost rules keyed by layer class name, for the Keras reader's
graphs (.h5, .keras, TF.js layers models), where one node is one layer call.

A rule's context: ``attrs`` is the layer config (as the reader shows it: serialized objects shortened to
class names), the data inputs are the non-constant inputs (the layer's weights are attached as constant
inputs after them), outputs are the layer's outputs. Recurrent layers, attention, wrappers and EinsumDense
are in ops/keras_rnn.py.

Cost conventions: what graphreport's TensorFlow op rules count on the same network frozen to a GraphDef
(Keras 3, TensorFlow backend, inference), so a Keras file and its frozen graph report the same figures:
- convolutions and matrix products: MACs as the TF ops (conv: output elements x kernel spatial size x input
  depth / groups; depthwise: output elements x kernel spatial size; transposed: input elements x kernel
  spatial size x filters; Dense: output elements x input depth); FLOPs = 2 x MACs, plus 1 per output element
  for the bias (BiasAdd) and the activation's count per output element (ACTIVATION_FLOPS).
- BatchNormalization (inference): 2 FLOPs per element (x * scale + shift, as FusedBatchNormV3 or the
  Mul/AddV2 pair); the per-channel scale and shift (rsqrt of the variance ...) are constants a graph
  optimizer folds, left out here.
- element-wise layers: what their ops cost (Add of n inputs: n - 1 per element, Average n, Rescaling 2,
  Normalization 2, activations per ACTIVATION_FLOPS, Embedding 3 per index for the wrap of negative
  indices before the gather); pooling: window size x output elements; global average
  pooling 1 per input element (Mean), global max pooling input - output elements (Max).
- data movement (Reshape, Flatten, Permute, Concatenate, ZeroPadding, Cropping, UpSampling nearest,
  RepeatVector) and layers that do nothing at inference (Dropout, noise, random
  augmentation, ActivityRegularization, InputLayer): 0.
"""
from __future__ import annotations

import re
from typing import Optional

from ..shapespec import UNKNOWN_RANK, format_shape
from .helpers import (ShapeError, Unknown, broadcast, checked_mul, conv_out_dim, free, normalize_axis,
                      num_elements)
from .math import out_elements
from .registry import cost_rule, shape_rule

K = "keras"

# FLOPs per output element of Keras activation functions, as the ops their TensorFlow implementations emit
# count under graphreport's TF rules (Relu, Sigmoid, Tanh ... 1; Softmax 5; silu = x * sigmoid(beta x) 3;
# hard_sigmoid = relu6(x + 3) / 6 3; gelu exact 0.5 x (1 + erf(x / sqrt 2)) 5, tanh-approximated 8 ...).
ACTIVATION_FLOPS = {
    "linear": 0, "none": 0, "": 0, "relu": 1, "relu6": 1, "sigmoid": 1, "tanh": 1, "elu": 1, "selu": 1,
    "softplus": 1, "softsign": 1, "exponential": 1, "exp": 1, "leaky_relu": 1, "softmax": 5, "log_softmax": 5,
    "swish": 3, "silu": 3, "hard_sigmoid": 3, "hard_silu": 4, "hard_swish": 4, "gelu": 5, "mish": 3,
    "log_sigmoid": 3, "tanh_shrink": 2, "relu_": 1,
}


def activation_name(v) -> str:
    """'relu', 'keras.activations.relu', {'class_name': 'function', 'config': 'relu'} -> 'relu'."""
    if v is None:
        return "linear"
    if isinstance(v, dict):
        v = v.get("config") if isinstance(v.get("config"), str) else v.get("class_name")
    if not isinstance(v, str):
        raise Unknown(f"activation {v!r} not understood")
    return v.rpartition(".")[2].strip().lower()


def activation_flops(v) -> int:
    name = activation_name(v)
    if name not in ACTIVATION_FLOPS:
        raise Unknown(f"activation {name!r}: cost not known")
    return ACTIVATION_FLOPS[name]


# ---------------------------------------------------------------------------------------------------------
# context helpers
def data_shapes(ctx) -> list:
    """Shapes of the layer's data inputs (its weights, constant inputs, left out)."""
    return [s for s, c in zip(ctx.in_shapes, ctx.in_const) if not c]


def data_dtypes(ctx) -> list:
    return [d for d, c in zip(ctx.in_dtypes, ctx.in_const) if not c]


def x_shape(ctx, rank: Optional[int] = None) -> list:
    xs = data_shapes(ctx)
    if not xs:
        raise Unknown("the layer has no input")
    x = xs[0]
    if x is None:
        raise Unknown("input shape unknown")
    if rank is not None and len(x) != rank:
        raise ShapeError(f"expected a rank-{rank} input, got rank {len(x)}")
    return list(x)


def ints(v, n: int, name: str) -> list:
    """An int or a list of n ints (a 1-element list is repeated)."""
    if isinstance(v, bool):
        raise Unknown(f"{name}={v!r} is not a number")
    if isinstance(v, int):
        return [v] * n
    if isinstance(v, (list, tuple)) and len(v) == 1 and n > 1:
        v = list(v) * n
    if isinstance(v, (list, tuple)) and len(v) == n and all(isinstance(i, int) and not isinstance(i, bool)
                                                             for i in v):
        return list(v)
    raise Unknown(f"cannot read {name}={v!r}")


def spatial_rank(cls: str) -> int:
    m = re.search(r"([123])D", cls)
    return int(m.group(1)) if m else 2


def split_layout(x: list, nsp: int, attrs: dict) -> tuple[bool, list, Optional[int]]:
    """(channels_first, spatial dims, channels) of a rank nsp + 2 input."""
    if len(x) != nsp + 2:
        raise ShapeError(f"expected a rank-{nsp + 2} input, got rank {len(x)}")
    cf = attrs.get("data_format") == "channels_first"
    return cf, (x[2:] if cf else x[1:-1]), (x[1] if cf else x[-1])


def join_layout(batch, spatial: list, ch, cf: bool) -> list:
    return [batch, ch, *spatial] if cf else [batch, *spatial, ch]


def per_out(ctx, k: int) -> dict:
    return {"macs": 0, "flops": k * out_elements(ctx)}


def bias_act(ctx, n_out: int, bias_default: bool = True) -> int:
    """FLOPs of a layer's bias add (1 per output element) and fused activation."""
    b = n_out if ctx.attr("use_bias", bias_default) else 0
    return b + activation_flops(ctx.attrs.get("activation")) * n_out


def _pad_mode(p) -> str:
    p = str(p or "valid").lower()
    if p in ("same", "causal"):
        return "SAME"  # causal: left padding of (k - 1) x dilation, so the length is ceil(n / stride) as SAME
    if p == "valid":
        return "VALID"
    raise Unknown(f"padding {p!r} not understood")


# ---------------------------------------------------------------------------------------------------------
# no-op, identity-like and input layers
SAME_SHAPE_FREE = """
Dropout SpatialDropout1D SpatialDropout2D SpatialDropout3D GaussianNoise GaussianDropout AlphaDropout
ActivityRegularization Identity StochasticDepth RandomFlip RandomRotation RandomZoom RandomTranslation
RandomContrast RandomBrightness RandomColorDegeneration RandomColorJitter RandomHue RandomSaturation
RandomSharpness RandomShear RandomGrayscale RandomInvert RandomPosterization RandomGaussianBlur RandomErasing
RandomElasticTransform RandomPerspective AutoContrast Equalization Solarization AugMix RandAugment CutMix MixUp
SpectralNormalization
""".split()


def _same(ctx):
    """Output shape = input shape."""
    return [x_shape(ctx)]


shape_rule(*SAME_SHAPE_FREE, dialect=K)(_same)
cost_rule(*SAME_SHAPE_FREE, dialect=K)(free)


@shape_rule("InputLayer", dialect=K)
def _input_layer(ctx):
    """The shape its config declares (or the user fixed)."""
    return [ctx.out_shape(0)]


cost_rule("InputLayer", dialect=K)(free)


# ---------------------------------------------------------------------------------------------------------
# activations
ACT_LAYERS = ("Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "ThresholdedReLU", "PReLU")
shape_rule(*ACT_LAYERS, dialect=K)(_same)


@cost_rule("Activation", dialect=K)
def _activation_cost(ctx):
    """The activation's FLOPs per output element (ACTIVATION_FLOPS)."""
    return per_out(ctx, activation_flops(ctx.attrs.get("activation")))


@cost_rule("ReLU", dialect=K)
def _relu_cost(ctx):
    """1 per element (Relu, Relu6 for max_value 6, LeakyRelu); max_value other than 6 adds a clip (2),
    a threshold a comparison and a multiply (2)."""
    mv, slope, th = ctx.attr("max_value"), ctx.attr("negative_slope", 0) or 0, ctx.attr("threshold", 0) or 0
    k = 1
    if mv is not None and mv != 6:
        k += 2
    if th:
        k += 2
    if slope and (mv is not None or th):
        k += 3  # relu(-x), scale, subtract
    return per_out(ctx, k)


@cost_rule("LeakyReLU", "ELU", dialect=K)
def _one_per_element(ctx):
    """1 per element (LeakyRelu, Elu)."""
    return per_out(ctx, 1)


@cost_rule("Softmax", dialect=K)
def _softmax_cost(ctx):
    """5 per element (subtract max, exp, sum, divide), as TF's Softmax."""
    return per_out(ctx, 5)


@cost_rule("ThresholdedReLU", dialect=K)
def _thresholded_cost(ctx):
    """Compare and multiply: 2 per element."""
    return per_out(ctx, 2)


@cost_rule("PReLU", dialect=K)
def _prelu_cost(ctx):
    """relu(x) - alpha * relu(-x): Relu, Neg, Relu, Mul, Add: 5 per element."""
    return per_out(ctx, 5)


# ---------------------------------------------------------------------------------------------------------
# Dense
@shape_rule("Dense", dialect=K)
def _dense(ctx):
    units = ctx.attr("units")
    if not isinstance(units, int):
        raise Unknown("units not given")
    return [x_shape(ctx)[:-1] + [units]]


@cost_rule("Dense", dialect=K)
def _dense_cost(ctx):
    """MatMul: MACs = output elements x input depth, FLOPs = 2 x MACs; + bias 1 and activation per output
    element."""
    x = x_shape(ctx)
    n = out_elements(ctx)
    if x[-1] is None:
        raise Unknown(f"input depth of {format_shape(x, unknown_rank=UNKNOWN_RANK)} unknown")
    macs = n * x[-1]
    return {"macs": macs, "flops": 2 * macs + bias_act(ctx, n)}


# ---------------------------------------------------------------------------------------------------------
# convolutions
CONV = [f"{p}{n}D" for p in ("Conv", "Convolution") for n in (1, 2, 3)]
DEPTHWISE = ["DepthwiseConv1D", "DepthwiseConv2D"]
SEPARABLE = [f"{p}{n}D" for p in ("SeparableConv", "SeparableConvolution") for n in (1, 2)]
TRANSPOSED = [f"{p}{n}DTranspose" for p in ("Conv", "Convolution") for n in (1, 2, 3)]


def _conv_params(ctx, nsp: int):
    ks = ints(ctx.attr("kernel_size"), nsp, "kernel_size")
    st = ints(ctx.attr("strides", 1), nsp, "strides")
    dl = ints(ctx.attr("dilation_rate", 1), nsp, "dilation_rate")
    return ks, st, dl


@shape_rule(*CONV, *DEPTHWISE, *SEPARABLE, dialect=K)
def _conv(ctx):
    """Spatial size per helpers.conv_out_dim (valid; same and causal as SAME); channels: filters, or input
    depth x depth_multiplier for depthwise."""
    nsp = spatial_rank(ctx.op)
    x = x_shape(ctx)
    cf, sp, cin = split_layout(x, nsp, ctx.attrs)
    ks, st, dl = _conv_params(ctx, nsp)
    pad = _pad_mode(ctx.attr("padding"))
    out = [conv_out_dim(n, k, s, d, pad) for n, k, s, d in zip(sp, ks, st, dl)]
    if ctx.op.startswith("Depthwise"):
        ch = checked_mul(cin, ctx.attr("depth_multiplier", 1))
    else:
        ch = ctx.attr("filters")
        if not isinstance(ch, int):
            raise Unknown("filters not given")
    return [join_layout(x[0], out, ch, cf)]


def _cin(ctx, nsp: int) -> int:
    _, _, cin = split_layout(x_shape(ctx), nsp, ctx.attrs)
    if cin is None:
        raise Unknown("input depth unknown")
    return cin


@cost_rule(*CONV, dialect=K)
def _conv_cost(ctx):
    """As Conv2D / Conv3D: MACs = output elements x kernel spatial size x input depth / groups;
    FLOPs = 2 x MACs + bias 1 + activation per output element."""
    nsp = spatial_rank(ctx.op)
    ks, _, _ = _conv_params(ctx, nsp)
    groups = ctx.attr("groups", 1) or 1
    n = out_elements(ctx)
    macs = n * checked_mul(*ks) * (_cin(ctx, nsp) // groups)
    return {"macs": macs, "flops": 2 * macs + bias_act(ctx, n)}


@cost_rule(*DEPTHWISE, dialect=K)
def _depthwise_cost(ctx):
    """As DepthwiseConv2dNative: MACs = output elements x kernel spatial size; FLOPs = 2 x MACs + bias 1 +
    activation per output element."""
    ks, _, _ = _conv_params(ctx, spatial_rank(ctx.op))
    n = out_elements(ctx)
    macs = n * checked_mul(*ks)
    return {"macs": macs, "flops": 2 * macs + bias_act(ctx, n)}


@cost_rule(*SEPARABLE, dialect=K)
def _separable_cost(ctx):
    """Depthwise (output spatial size x input depth x depth_multiplier x kernel spatial size) then a 1x1
    convolution (output elements x input depth x depth_multiplier); FLOPs = 2 x MACs + bias 1 + activation
    per output element."""
    nsp = spatial_rank(ctx.op)
    ks, _, _ = _conv_params(ctx, nsp)
    cin = _cin(ctx, nsp)
    mid = cin * (ctx.attr("depth_multiplier", 1) or 1)
    cf, sp, cout = split_layout(ctx.out_shape(0) or [None] * (nsp + 2), nsp, ctx.attrs)
    n = out_elements(ctx)
    spatial = num_elements(sp) * (ctx.out_shape(0)[0])
    macs = spatial * mid * checked_mul(*ks) + n * mid
    return {"macs": macs, "flops": 2 * macs + bias_act(ctx, n)}


def _deconv_len(n, k, s, d, padding, out_pad):
    """Keras' deconvolution output length (keras.src.utils conv_utils semantics)."""
    if n is None:
        return None
    k = k + (k - 1) * (d - 1)
    if out_pad is None:
        if padding == "valid":
            return n * s + max(k - s, 0)
        if padding == "full":
            return n * s - (s + k - 2)
        if padding == "same":
            return n * s
        raise Unknown(f"padding {padding!r} not understood")
    pad = {"same": k // 2, "valid": 0, "full": k - 1}.get(padding)
    if pad is None:
        raise Unknown(f"padding {padding!r} not understood")
    return (n - 1) * s + k - 2 * pad + out_pad


@shape_rule(*TRANSPOSED, dialect=K)
def _transposed(ctx):
    nsp = spatial_rank(ctx.op)
    x = x_shape(ctx)
    cf, sp, _ = split_layout(x, nsp, ctx.attrs)
    ks, st, dl = _conv_params(ctx, nsp)
    op = ctx.attr("output_padding")
    ops_ = ints(op, nsp, "output_padding") if op is not None else [None] * nsp
    pad = str(ctx.attr("padding", "valid")).lower()
    out = [_deconv_len(n, k, s, d, pad, o) for n, k, s, d, o in zip(sp, ks, st, dl, ops_)]
    ch = ctx.attr("filters")
    if not isinstance(ch, int):
        raise Unknown("filters not given")
    return [join_layout(x[0], out, ch, cf)]


@cost_rule(*TRANSPOSED, dialect=K)
def _transposed_cost(ctx):
    """As Conv2DBackpropInput: MACs = input elements x kernel spatial size x filters; FLOPs = 2 x MACs +
    bias 1 + activation per output element."""
    nsp = spatial_rank(ctx.op)
    ks, _, _ = _conv_params(ctx, nsp)
    nin = num_elements(x_shape(ctx))
    if nin is None:
        raise Unknown(f"input shape {format_shape(x_shape(ctx), unknown_rank=UNKNOWN_RANK)} not fully known")
    macs = nin * checked_mul(*ks) * ctx.attr("filters")
    n = out_elements(ctx)
    return {"macs": macs, "flops": 2 * macs + bias_act(ctx, n)}


# ---------------------------------------------------------------------------------------------------------
# pooling
POOL = [f"{a}{b}{n}D" for a in ("Max", "Average", "Avg") for b in ("Pooling", "Pool") for n in (1, 2, 3)]
GLOBAL_AVG = [f"Global{a}{b}{n}D" for a in ("Average", "Avg") for b in ("Pooling", "Pool") for n in (1, 2, 3)]
GLOBAL_MAX = [f"GlobalMax{b}{n}D" for b in ("Pooling", "Pool") for n in (1, 2, 3)]
ADAPTIVE = [f"Adaptive{a}Pooling{n}D" for a in ("Max", "Average") for n in (1, 2, 3)]


def _pool_params(ctx, nsp: int):
    ps = ints(ctx.attr("pool_size", 2), nsp, "pool_size")
    st = ctx.attr("strides")
    return ps, (ps if st is None else ints(st, nsp, "strides"))


@shape_rule(*POOL, dialect=K)
def _pool(ctx):
    nsp = spatial_rank(ctx.op)
    x = x_shape(ctx)
    cf, sp, ch = split_layout(x, nsp, ctx.attrs)
    ps, st = _pool_params(ctx, nsp)
    pad = _pad_mode(ctx.attr("padding"))
    return [join_layout(x[0], [conv_out_dim(n, k, s, 1, pad) for n, k, s in zip(sp, ps, st)], ch, cf)]


@cost_rule(*POOL, dialect=K)
def _pool_cost(ctx):
    """As MaxPool / AvgPool: window size x output elements."""
    ps, _ = _pool_params(ctx, spatial_rank(ctx.op))
    return per_out(ctx, checked_mul(*ps))


@shape_rule(*GLOBAL_AVG, *GLOBAL_MAX, dialect=K)
def _global_pool(ctx):
    nsp = spatial_rank(ctx.op)
    x = x_shape(ctx)
    cf, sp, ch = split_layout(x, nsp, ctx.attrs)
    if ctx.attr("keepdims", False):
        return [join_layout(x[0], [1] * nsp, ch, cf)]
    return [[x[0], ch]]


def _in_elements(ctx) -> int:
    x = x_shape(ctx)
    n = num_elements(x)
    if n is None:
        raise Unknown(f"input shape {format_shape(x, unknown_rank=UNKNOWN_RANK)} not fully known")
    return n


@cost_rule(*GLOBAL_AVG, dialect=K)
def _global_avg_cost(ctx):
    """As Mean: 1 per input element."""
    return {"macs": 0, "flops": _in_elements(ctx)}


@cost_rule(*GLOBAL_MAX, dialect=K)
def _global_max_cost(ctx):
    """As Max: input elements - output elements."""
    return {"macs": 0, "flops": max(_in_elements(ctx) - out_elements(ctx), 0)}


@shape_rule(*ADAPTIVE, dialect=K)
def _adaptive_pool(ctx):
    nsp = spatial_rank(ctx.op)
    x = x_shape(ctx)
    cf, _, ch = split_layout(x, nsp, ctx.attrs)
    return [join_layout(x[0], ints(ctx.attr("output_size"), nsp, "output_size"), ch, cf)]


# ---------------------------------------------------------------------------------------------------------
# normalization
NORM_SAME = ("BatchNormalization", "SyncBatchNormalization", "LayerNormalization", "GroupNormalization",
             "UnitNormalization", "RMSNormalization", "InstanceNormalization", "Rescaling", "Normalization",
             "LayerScale")
shape_rule(*NORM_SAME, dialect=K)(_same)


@cost_rule("BatchNormalization", "SyncBatchNormalization", dialect=K)
def _bn_cost(ctx):
    """Inference: 2 FLOPs per element (x * scale + shift), as FusedBatchNormV3; the per-channel scale and
    shift are folded constants, not counted."""
    return per_out(ctx, 2)


def _norm_axes(ctx, x: list) -> list:
    axis = ctx.attr("axis", -1)
    axes = axis if isinstance(axis, (list, tuple)) else [axis]
    return sorted({normalize_axis(a, len(x)) for a in axes})


@cost_rule("LayerNormalization", dialect=K)
def _layer_norm_cost(ctx):
    """Moments (Mean 1, SquaredDifference 2, Mean 1 per element), then per normalized group
    inv = rsqrt(variance + epsilon) (3) and the shift -mean x inv, then x x inv + shift (2 per element).
    With scale, inv x gamma and the shift are per element (+2 per element, +1 per group for -mean);
    without, the shift is per group (+2 per group); center adds beta (1 per element)."""
    x = x_shape(ctx)
    n = out_elements(ctx)
    axes = _norm_axes(ctx, x)
    group = checked_mul(*[x[a] for a in axes])
    if not group:
        raise Unknown("normalized dimensions unknown")
    groups = n // group
    center = 1 if ctx.attr("center", True) else 0
    if ctx.attr("rms_scaling", False):
        return {"macs": 0, "flops": (4 + 1 + (1 if ctx.attr("scale", True) else 0)) * n + 3 * groups}
    if ctx.attr("scale", True):
        return {"macs": 0, "flops": (8 + center) * n + 4 * groups}
    return {"macs": 0, "flops": (6 + center) * n + 5 * groups}


@cost_rule("GroupNormalization", dialect=K)
def _group_norm_cost(ctx):
    """As LayerNormalization over each of the batch x groups groups: moments 4 and x x inv + shift 2 per
    element; per group rsqrt(variance + epsilon) and -mean (4), + the shift product (1) without scale; per
    channel (batch x channels) inv x gamma and the shift product with scale (2), beta with center (1)."""
    x = x_shape(ctx)
    n = out_elements(ctx)
    groups = ctx.attr("groups", 32) or 1
    axis = normalize_axis(ctx.attr("axis", -1), len(x))
    if x[0] is None or x[axis] is None:
        raise Unknown(f"input shape {format_shape(x, unknown_rank=UNKNOWN_RANK)} not fully known")
    bg, bc = x[0] * groups, x[0] * x[axis]
    scale, center = bool(ctx.attr("scale", True)), bool(ctx.attr("center", True))
    return {"macs": 0, "flops": 6 * n + bg * (4 if scale else 5) + bc * ((2 if scale else 0) + int(center))}


@cost_rule("UnitNormalization", dialect=K)
def _unit_norm_cost(ctx):
    """x x rsqrt(max(sum(x^2), epsilon)): Square and Mul 2 per element, Sum (input - output elements),
    Maximum 1 and Rsqrt 2 per normalized vector."""
    x = x_shape(ctx)
    n = out_elements(ctx)
    axes = _norm_axes(ctx, x)
    group = checked_mul(*[x[a] for a in axes])
    if not group:
        raise Unknown("normalized dimensions unknown")
    g = n // group
    return {"macs": 0, "flops": 2 * n + (n - g) + 3 * g}


@cost_rule("Rescaling", dialect=K)
def _rescaling_cost(ctx):
    """x * scale + offset: 2 per element."""
    return per_out(ctx, 2)


@cost_rule("Normalization", dialect=K)
def _normalization_cost(ctx):
    """(x - mean) / std: 2 per element (invert=True: x * std + mean, also 2)."""
    return per_out(ctx, 2)


@cost_rule("LayerScale", dialect=K)
def _layer_scale_cost(ctx):
    """x * gamma: 1 per element."""
    return per_out(ctx, 1)


# ---------------------------------------------------------------------------------------------------------
# merges
MERGE_BROADCAST = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")


@shape_rule(*MERGE_BROADCAST, dialect=K)
def _merge(ctx):
    xs = data_shapes(ctx)
    if not xs:
        raise Unknown("the layer has no input")
    if any(s is None for s in xs):
        raise Unknown("an input shape is unknown")
    return [broadcast(*xs)]


@cost_rule("Add", "Multiply", "Maximum", "Minimum", "Subtract", dialect=K)
def _merge_cost(ctx):
    """n inputs: n - 1 element-wise ops per output element."""
    return per_out(ctx, max(len(data_shapes(ctx)) - 1, 1))


@cost_rule("Average", dialect=K)
def _average_cost(ctx):
    """n - 1 adds and a divide: n per output element."""
    return per_out(ctx, len(data_shapes(ctx)))


@shape_rule("Concatenate", dialect=K)
def _concat(ctx):
    xs = data_shapes(ctx)
    if not xs or any(s is None for s in xs):
        raise Unknown("an input shape is unknown")
    r = len(xs[0])
    if any(len(s) != r for s in xs):
        raise ShapeError("inputs of different ranks")
    axis = ctx.attr("axis", -1)
    if not isinstance(axis, int):
        raise Unknown(f"axis {axis!r} not understood")
    axis = normalize_axis(axis, r)
    out = []
    for i in range(r):
        dims = [s[i] for s in xs]
        if i == axis:
            out.append(None if any(d is None for d in dims) else sum(dims))
        else:
            out.append(next((d for d in dims if d is not None), None))
    return [out]


@shape_rule("Dot", dialect=K)
def _dot(ctx):
    xs = data_shapes(ctx)
    if len(xs) != 2 or xs[0] is None or xs[1] is None:
        raise Unknown("needs two inputs of known rank")
    a, b = xs
    axes = ctx.attr("axes")
    ax = ints(axes, 2, "axes")
    ax = [normalize_axis(ax[0], len(a)), normalize_axis(ax[1], len(b))]
    rest = [d for i, d in enumerate(a) if i not in (0, ax[0])] + [d for i, d in enumerate(b) if i not in (0, ax[1])]
    return [[a[0], *rest] if rest else [a[0], 1]]


@cost_rule("Dot", dialect=K)
def _dot_cost(ctx):
    """As BatchMatMul: MACs = output elements x contracted length; FLOPs 2 x MACs (+ 3 per input element
    when normalize: l2 normalization)."""
    a = x_shape(ctx)
    ax = normalize_axis(ints(ctx.attr("axes"), 2, "axes")[0], len(a))
    if a[ax] is None:
        raise Unknown("contracted dimension unknown")
    macs = out_elements(ctx) * a[ax]
    extra = 0
    if ctx.attr("normalize", False):
        extra = 3 * sum(num_elements(s) or 0 for s in data_shapes(ctx))
    return {"macs": macs, "flops": 2 * macs + extra}


# ---------------------------------------------------------------------------------------------------------
# reshaping and data movement (0 FLOPs)
@shape_rule("Reshape", dialect=K)
def _reshape(ctx):
    x = x_shape(ctx)
    target = ctx.attr("target_shape")
    if not isinstance(target, (list, tuple)) or not all(d is None or isinstance(d, int) for d in target):
        raise Unknown(f"target_shape {target!r} not understood")
    target = [None if d is None else d for d in target]
    if -1 in target:
        rest = checked_mul(*[d for d in target if d != -1])
        total = checked_mul(*x[1:])
        fill = total // rest if total is not None and rest else None
        target = [fill if d == -1 else d for d in target]
    return [[x[0], *target]]


@shape_rule("Flatten", dialect=K)
def _flatten(ctx):
    x = x_shape(ctx)
    if ctx.attr("data_format") == "channels_first" and len(x) > 2:
        x = [x[0], *x[2:], x[1]]
    return [[x[0], checked_mul(*x[1:])]]


@shape_rule("Permute", dialect=K)
def _permute(ctx):
    x = x_shape(ctx)
    dims = ctx.attr("dims")
    if not isinstance(dims, (list, tuple)) or sorted(dims) != list(range(1, len(x))):
        raise Unknown(f"dims {dims!r} not understood")
    return [[x[0]] + [x[d] for d in dims]]


@shape_rule("RepeatVector", dialect=K)
def _repeat_vector(ctx):
    x = x_shape(ctx, 2)
    n = ctx.attr("n")
    if not isinstance(n, int):
        raise Unknown("n not given")
    return [[x[0], n, x[1]]]


@shape_rule("Embedding", "ReversibleEmbedding", dialect=K)
def _embedding(ctx):
    d = ctx.attr("output_dim")
    if not isinstance(d, int):
        raise Unknown("output_dim not given")
    return [x_shape(ctx) + [d]]


def _pairs(v, nsp: int, name: str) -> list:
    """ZeroPadding / Cropping amounts -> [(before, after)] per spatial dim."""
    if isinstance(v, int) and not isinstance(v, bool):
        return [(v, v)] * nsp
    if isinstance(v, (list, tuple)):
        if nsp == 1 and len(v) == 2 and all(isinstance(i, int) for i in v):
            return [(v[0], v[1])]
        if len(v) == nsp:
            out = []
            for i in v:
                if isinstance(i, int) and not isinstance(i, bool):
                    out.append((i, i))
                elif isinstance(i, (list, tuple)) and len(i) == 2 and all(isinstance(j, int) for j in i):
                    out.append((i[0], i[1]))
                else:
                    raise Unknown(f"cannot read {name}={v!r}")
            return out
    raise Unknown(f"cannot read {name}={v!r}")


@shape_rule(*[f"ZeroPadding{n}D" for n in (1, 2, 3)], *[f"Cropping{n}D" for n in (1, 2, 3)], dialect=K)
def _pad_crop(ctx):
    nsp = spatial_rank(ctx.op)
    x = x_shape(ctx)
    cf, sp, ch = split_layout(x, nsp, ctx.attrs)
    pad = ctx.op.startswith("Zero")
    key = "padding" if pad else "cropping"
    amounts = _pairs(ctx.attr(key, 1), nsp, key)
    sign = 1 if pad else -1
    return [join_layout(x[0], [None if n is None else n + sign * (a + b) for n, (a, b) in zip(sp, amounts)],
                        ch, cf)]


@shape_rule(*[f"UpSampling{n}D" for n in (1, 2, 3)], dialect=K)
def _upsample(ctx):
    nsp = spatial_rank(ctx.op)
    x = x_shape(ctx)
    cf, sp, ch = split_layout(x, nsp, ctx.attrs)
    size = ints(ctx.attr("size", 2), nsp, "size")
    return [join_layout(x[0], [checked_mul(n, s) for n, s in zip(sp, size)], ch, cf)]


RESIZE_FLOPS = {"nearest": 0, "bilinear": 8, "bicubic": 32}


@cost_rule(*[f"UpSampling{n}D" for n in (1, 2, 3)], dialect=K)
def _upsample_cost(ctx):
    """nearest: a repeat, 0; bilinear: 8 per output element (as ResizeBilinear); bicubic 32."""
    interp = str(ctx.attr("interpolation", "nearest")).lower()
    if interp not in RESIZE_FLOPS:
        raise Unknown(f"interpolation {interp!r}: cost not known")
    return per_out(ctx, RESIZE_FLOPS[interp])


@shape_rule("Resizing", "CenterCrop", "RandomCrop", dialect=K)
def _resize(ctx):
    x = x_shape(ctx)
    h, w = ctx.attr("height"), ctx.attr("width")
    if len(x) not in (3, 4) or not isinstance(h, int) or not isinstance(w, int):
        raise Unknown("needs an image input and height / width")
    cf = ctx.attr("data_format") == "channels_first"
    if len(x) == 3:
        return [[x[0], h, w] if cf else [h, w, x[2]]]
    return [[x[0], x[1], h, w] if cf else [x[0], h, w, x[3]]]


@cost_rule("Resizing", dialect=K)
def _resizing_cost(ctx):
    """As ResizeBilinear (8 per output element), ResizeBicubic (32), nearest neighbour (0)."""
    interp = str(ctx.attr("interpolation", "bilinear")).lower()
    if interp not in RESIZE_FLOPS:
        raise Unknown(f"interpolation {interp!r}: cost not known")
    return per_out(ctx, RESIZE_FLOPS[interp])


FREE_LAYERS = ("Concatenate", "Reshape", "Flatten", "Permute", "RepeatVector", "CenterCrop", "RandomCrop",
               *[f"ZeroPadding{n}D" for n in (1, 2, 3)], *[f"Cropping{n}D" for n in (1, 2, 3)])
cost_rule(*FREE_LAYERS, dialect=K)(free)


@cost_rule("Embedding", "ReversibleEmbedding", dialect=K)
def _embedding_cost(ctx):
    """A gather (0) after wrapping negative indices (index < 0, index + rows, select): 3 per index."""
    return {"macs": 0, "flops": 3 * _in_elements(ctx)}


@shape_rule("Masking", dialect=K)
def _masking(ctx):
    return [x_shape(ctx)]


@cost_rule("Masking", dialect=K)
def _masking_cost(ctx):
    """NotEqual (1), Any over the last axis (~1) and a multiply (1): 3 per element."""
    return per_out(ctx, 3)


# ---------------------------------------------------------------------------------------------------------
@shape_rule("Lambda", dialect=K)
def _lambda(ctx):
    """Only a fixed ``output_shape`` in the config: the layer's code is never run."""
    os_ = ctx.attr("output_shape")
    if isinstance(os_, (list, tuple)) and all(d is None or isinstance(d, int) for d in os_):
        xs = data_shapes(ctx)
        return [[xs[0][0] if xs and xs[0] else None, *os_]]
    raise Unknown("Lambda layer without a fixed output_shape: its code is not run")


@cost_rule("Lambda", "TFOpLambda", "SlicingOpLambda", dialect=K)
def _lambda_cost(ctx):
    raise Unknown("the layer's Python code is never run: its cost is unknown")
