"""TFLite builtin ops: cost rules only (TFLite tensors always carry their shapes).

Same conventions as the TensorFlow rules, read off TFLite's tensor layouts:
- CONV_2D: filter [out, kh, kw, in/groups]: MACs = output elements x kh x kw x filter input depth.
- DEPTHWISE_CONV_2D: filter [1, kh, kw, out]: MACs = output elements x kh x kw.
- CONV_3D: filter [kd, kh, kw, in, out]: MACs = output elements x kd x kh x kw x in.
- TRANSPOSE_CONV (output_shape, filter [out, kh, kw, in], input): MACs = input elements x kh x kw x out.
- FULLY_CONNECTED: weights [units, k]: MACs = output elements x k.  BATCH_MATMUL: output elements x k.
- FLOPs = 2 x MACs for those; a fused activation (fused_activation_function other than NONE) adds 1 FLOP
  per output element, as the separate activation op does in a TensorFlow graph.
- Element-wise ops 1 FLOP per output element (RSQRT and SQUARED_DIFFERENCE 2, SOFTMAX / LOG_SOFTMAX 5,
  QUANTIZE / DEQUANTIZE / CAST 1); pooling: window size x output elements; MEAN 1 per input element; other
  reductions input - output elements; RESIZE_BILINEAR 8 per output element; data movement 0.
Quantized models use the same formulas (a MAC is an integer MAC there).
"""
from __future__ import annotations

from .helpers import Unknown, checked_mul, free
from .math import in_elements, out_elements
from .registry import cost_rule


def _fused(ctx) -> int:
    act = ctx.attrs.get("fused_activation_function")
    if act in (None, "NONE", 0, "none", ""):
        return 0
    return out_elements(ctx)


def _weights(ctx, i: int):
    w = ctx.shape(i)
    if w is None or any(d is None for d in w):
        raise Unknown(f"weights (input {i}) shape unknown")
    return w


def _mac_result(ctx, macs: int) -> dict:
    return {"macs": macs, "flops": 2 * macs + _fused(ctx)}


@cost_rule("CONV_2D", dialect="tflite")
def _conv2d(ctx):
    w = _weights(ctx, 1)
    return _mac_result(ctx, out_elements(ctx) * checked_mul(*w[1:]))


@cost_rule("DEPTHWISE_CONV_2D", dialect="tflite")
def _depthwise(ctx):
    w = _weights(ctx, 1)
    return _mac_result(ctx, out_elements(ctx) * w[1] * w[2])


@cost_rule("CONV_3D", dialect="tflite")
def _conv3d(ctx):
    w = _weights(ctx, 1)
    return _mac_result(ctx, out_elements(ctx) * checked_mul(*w[:-1]))


@cost_rule("CONV_3D_TRANSPOSE", dialect="tflite")
def _conv3d_transpose(ctx):
    # inputs: output_shape, filter [kd, kh, kw, out, in], input
    w = _weights(ctx, 1)
    return _mac_result(ctx, in_elements(ctx, 2) * checked_mul(*w[:-1]))


@cost_rule("TRANSPOSE_CONV", dialect="tflite")
def _transpose_conv(ctx):
    w = _weights(ctx, 1)
    return _mac_result(ctx, in_elements(ctx, 2) * checked_mul(*w[:-1]))


@cost_rule("FULLY_CONNECTED", dialect="tflite")
def _fully_connected(ctx):
    w = _weights(ctx, 1)
    return _mac_result(ctx, out_elements(ctx) * w[-1])


@cost_rule("BATCH_MATMUL", dialect="tflite")
def _batch_matmul(ctx):
    a = ctx.shape(0)
    if a is None or len(a) < 2:
        raise Unknown("lhs shape unknown")
    adj = ctx.attrs.get("adj_x", ctx.attrs.get("adjoint_lhs", False))
    k = a[-2] if adj else a[-1]
    if k is None:
        raise Unknown("inner dimension unknown")
    return _mac_result(ctx, out_elements(ctx) * k)


def _elementwise(k: int):
    def cost(ctx):
        return {"macs": 0, "flops": k * out_elements(ctx) + _fused(ctx)}
    cost.__doc__ = f"{k} FLOP(s) per output element, plus 1 for a fused activation."
    return cost


ONE = ("ADD", "SUB", "MUL", "DIV", "FLOOR_DIV", "FLOOR_MOD", "MAXIMUM", "MINIMUM", "POW", "ABS", "NEG",
       "EXP", "LOG", "SQRT", "SQUARE", "SIN", "COS", "FLOOR", "CEIL", "ROUND", "SIGN", "RELU", "RELU6",
       "RELU_N1_TO_1", "RELU_0_TO_1", "LEAKY_RELU", "PRELU", "ELU", "GELU", "HARD_SWISH", "LOGISTIC", "TANH",
       "QUANTIZE", "DEQUANTIZE", "CAST", "EQUAL", "NOT_EQUAL", "LESS", "LESS_EQUAL", "GREATER",
       "GREATER_EQUAL", "LOGICAL_AND", "LOGICAL_OR", "LOGICAL_NOT", "SELECT", "SELECT_V2", "ATAN2",
       "FAKE_QUANT", "CUMSUM", "RIGHT_SHIFT", "BITWISE_XOR", "SIGN")
for _op in ONE:
    cost_rule(_op, dialect="tflite")(_elementwise(1))
cost_rule("RSQRT", "SQUARED_DIFFERENCE", dialect="tflite")(_elementwise(2))
cost_rule("SOFTMAX", "LOG_SOFTMAX", dialect="tflite")(_elementwise(5))
cost_rule("RESIZE_BILINEAR", dialect="tflite")(_elementwise(8))
cost_rule("L2_NORMALIZATION", dialect="tflite")(_elementwise(3))


@cost_rule("ADD_N", dialect="tflite")
def _add_n(ctx):
    return {"macs": 0, "flops": (ctx.n_in - 1) * out_elements(ctx)}


@cost_rule("AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D", dialect="tflite")
def _pool(ctx):
    fh, fw = ctx.attrs.get("filter_height"), ctx.attrs.get("filter_width")
    if fh is None or fw is None:
        raise Unknown("pooling window size not given")
    return {"macs": 0, "flops": int(fh) * int(fw) * out_elements(ctx) + _fused(ctx)}


# MEAN, SUM, REDUCE_* and ARG_* share the TensorFlow reductions' rules (ops/math.py).


@cost_rule("TOPK_V2", dialect="tflite")
def _topk(ctx):
    return {"macs": 0, "flops": in_elements(ctx, 0)}


FREE = ("RESHAPE", "SQUEEZE", "EXPAND_DIMS", "TRANSPOSE", "CONCATENATION", "PAD", "PADV2", "MIRROR_PAD",
        "GATHER", "GATHER_ND", "SLICE", "STRIDED_SLICE", "SPLIT", "SPLIT_V", "PACK", "UNPACK", "TILE", "SHAPE",
        "RANK", "SPACE_TO_DEPTH", "DEPTH_TO_SPACE", "SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND", "BROADCAST_TO",
        "BROADCAST_ARGS", "FILL", "ZEROS_LIKE", "ONES_LIKE", "REVERSE_V2", "RANGE", "RESIZE_NEAREST_NEIGHBOR",
        "EMBEDDING_LOOKUP", "SCATTER_ND", "WHERE", "VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE",
        "REVERSE_SEQUENCE", "MATRIX_DIAG", "MATRIX_SET_DIAG", "DENSIFY", "DYNAMIC_UPDATE_SLICE")
cost_rule(*FREE, dialect="tflite")(free)


@cost_rule("WHILE", dialect="tflite")
def _while(ctx):
    raise Unknown("runs its body subgraph a data-dependent number of times (see the subgraph's own figures)")


@cost_rule("IF", dialect="tflite")
def _if(ctx):
    raise Unknown("runs one of two subgraphs, chosen at run time (see the subgraphs' own figures)")


@cost_rule("CALL_ONCE", dialect="tflite")
def _call_once(ctx):
    """Runs an initialization subgraph once, at the first invocation: 0 per inference."""
    return {"macs": 0, "flops": 0}
