"""Neural-network ops (TensorFlow): convolutions (2-D, 3-D, depthwise, transposed; SAME / VALID / EXPLICIT
padding, strides, dilations, NHWC and NCHW), pooling, batch normalization, bias, softmax, resize,
space/depth/batch rearrangements, TopK.

Cost conventions:
- Conv2D / Conv3D: MACs = output elements x kernel spatial size x filter input depth; FLOPs = 2 x MACs.
- DepthwiseConv2dNative: MACs = output elements x kernel spatial size; FLOPs = 2 x MACs.
- Transposed convolution (Conv2DBackpropInput, Conv3DBackpropInputV2, DepthwiseConv2dNativeBackpropInput):
  every input element is scattered through the kernel: MACs = input elements x kernel spatial size x output
  depth (x 1 for depthwise); FLOPs = 2 x MACs.
- Fused convolutions (_FusedConv2D ...): the convolution plus 1 FLOP per output element per fused op.
- Pooling (max and average): FLOPs = window size x output elements (the whole window, also at borders).
- FusedBatchNorm* (inference): 2 FLOPs per element (scale and shift, once folded); training mode: unknown.
- BiasAdd: 1 FLOP per element. Softmax / LogSoftmax: 5 FLOPs per element (subtract max, exp, sum, divide).
- ResizeBilinear: 8 FLOPs per output element (4 taps x multiply-add); ResizeBicubic: 32 (16 taps);
  ResizeNearestNeighbor: 0 (a copy).
- L2Loss: 2 FLOPs per input element.
"""
from __future__ import annotations

from ..shapespec import UNKNOWN_RANK, format_shape
from .helpers import ShapeError, Unknown, checked_mul, conv_out_dim, free, layout, merge_dim, same_shape
from .math import in_elements, out_elements, per_element
from .registry import cost_rule, shape_rule

CONV2D = ("Conv2D", "_FusedConv2D", "FusedConv2DBiasActivation")
DEPTHWISE = ("DepthwiseConv2dNative", "_FusedDepthwiseConv2dNative", "FusedDepthwiseConv2dNative")  # the last: TF.js


def _spatial_params(ctx, nd: int, fmt: str):
    """strides, dilations, padding, [(pad_before, pad_after)] per spatial axis."""
    _, _, sp = layout(fmt, nd)
    strides = ctx.attr("strides", [1] * (nd + 2))
    dil = ctx.attr("dilations", [1] * (nd + 2))
    if len(strides) != nd + 2 or len(dil) != nd + 2:
        raise ShapeError(f"strides {strides} / dilations {dil} do not have {nd + 2} entries")
    padding = ctx.attr("padding", "VALID")
    explicit = ctx.attr("explicit_paddings", []) or []
    pads = []
    for ax in sp:
        if str(padding).upper() == "EXPLICIT":
            if len(explicit) != 2 * (nd + 2):
                raise ShapeError(f"explicit_paddings {explicit} do not have {2 * (nd + 2)} entries")
            pads.append((explicit[2 * ax], explicit[2 * ax + 1]))
        else:
            pads.append((0, 0))
    return [strides[a] for a in sp], [dil[a] for a in sp], padding, pads, sp


def conv_shape(ctx, nd: int, depthwise: bool = False):
    fmt = ctx.attr("data_format", "NHWC" if nd == 2 else "NDHWC")
    x = ctx.shape(0)
    w = ctx.shape(1)
    if x is None:
        x = [None] * (nd + 2)
    if len(x) != nd + 2:
        raise ShapeError(f"input rank {len(x)}, expected {nd + 2}")
    if w is not None and len(w) != nd + 2:
        raise ShapeError(f"filter rank {len(w)}, expected {nd + 2}")
    bax, cax, sp = layout(fmt, nd)
    strides, dil, padding, pads, _ = _spatial_params(ctx, nd, fmt)
    out = [None] * (nd + 2)
    out[bax] = x[bax]
    if w is None:
        out[cax] = None
    elif depthwise:
        out[cax] = checked_mul(merge_dim(x[cax], w[2]), w[3])
    else:
        out[cax] = w[nd + 1]
    for i, ax in enumerate(sp):
        k = None if w is None else w[i]
        out[ax] = conv_out_dim(x[ax], k, strides[i], dil[i], padding, *pads[i])
    return out


@shape_rule(*CONV2D)
def _conv2d(ctx):
    return [conv_shape(ctx, 2)]


@shape_rule("Conv3D")
def _conv3d(ctx):
    return [conv_shape(ctx, 3)]


@shape_rule(*DEPTHWISE)
def _depthwise(ctx):
    return [conv_shape(ctx, 2, depthwise=True)]


def _filter(ctx, i=1):
    w = ctx.shape(i)
    if w is None or any(d is None for d in w):
        raise Unknown(f"filter shape {format_shape(w, unknown_rank=UNKNOWN_RANK)} not fully known")
    return w


@cost_rule("Conv2D", "Conv3D")
def _conv_cost(ctx):
    """MACs = output elements x kernel spatial size x filter input depth; FLOPs = 2 x MACs."""
    w = _filter(ctx)
    macs = out_elements(ctx) * checked_mul(*w[:-1])
    return {"macs": macs, "flops": 2 * macs}


@cost_rule(*DEPTHWISE)
def _depthwise_cost(ctx):
    """MACs = output elements x kernel spatial size; FLOPs = 2 x MACs (+1 per element per fused op)."""
    w = _filter(ctx)
    macs = out_elements(ctx) * w[0] * w[1]
    fused = len(ctx.attr("fused_ops", [])) * out_elements(ctx)
    return {"macs": macs, "flops": 2 * macs + fused}


@cost_rule("_FusedConv2D", "FusedConv2DBiasActivation")
def _fused_conv_cost(ctx):
    """Conv2D plus 1 FLOP per output element for each fused op (BiasAdd, Relu, FusedBatchNorm counts 2)."""
    c = _conv_cost(ctx)
    n = out_elements(ctx)
    for op in ctx.attr("fused_ops", []) or []:
        c["flops"] += (2 if op == "FusedBatchNorm" else 1) * n
    return c


# ---------------------------------------------------------------------------------------------------------
# generic Conv (TF >= 2.13 "Conv" op: batch_dims, groups, CHANNELS_LAST / CHANNELS_FIRST)
@shape_rule("Conv")
def _conv_generic(ctx):
    x, w = ctx.shape(0), ctx.shape(1)
    if w is None:
        raise Unknown("filter rank unknown")
    nd = len(w) - 2
    bd = int(ctx.attr("batch_dims", 1))
    if x is None:
        raise Unknown("input rank unknown")
    first = str(ctx.attr("data_format", "CHANNELS_LAST")).upper() == "CHANNELS_FIRST"
    batch = x[:bd]
    spatial = x[bd + 1:] if first else x[bd:bd + nd]
    strides = ctx.attr("strides", [1] * (nd + 2))
    dil = ctx.attr("dilations", [1] * (nd + 2))
    sp_idx = list(range(2, 2 + nd)) if first else list(range(1, 1 + nd))
    padding = ctx.attr("padding", "VALID")
    explicit = ctx.attr("explicit_paddings", []) or []
    out_sp = []
    for i, d in enumerate(spatial):
        a = sp_idx[i]
        pb, pa = (explicit[2 * a], explicit[2 * a + 1]) if str(padding).upper() == "EXPLICIT" else (0, 0)
        out_sp.append(conv_out_dim(d, w[i], strides[a], dil[a], padding, pb, pa))
    cout = w[-1]
    return [batch + ([cout] + out_sp if first else out_sp + [cout])]


cost_rule("Conv")(_conv_cost)


# ---------------------------------------------------------------------------------------------------------
# transposed convolutions (gradients w.r.t. the input)
@shape_rule("Conv2DBackpropInput", "Conv3DBackpropInputV2", "DepthwiseConv2dNativeBackpropInput",
            "Conv2DBackpropFilter", "Conv3DBackpropFilterV2", "DepthwiseConv2dNativeBackpropFilter")
def _backprop(ctx):
    sizes_slot = 1 if ctx.op.endswith("Filter") else 0
    sizes = ctx.partial(sizes_slot)
    if sizes is None:
        s = ctx.shape(sizes_slot)
        if s is not None and len(s) == 1 and s[0] is not None:
            return [[None] * s[0]]
        raise Unknown(f"output sizes (input {sizes_slot}) are not a constant")
    return [[None if (d is None or d < 0) else d for d in sizes]]


@shape_rule("Conv2DBackpropInputV2")
def _backprop_v2(ctx):
    return [ctx.shape(0)]


@shape_rule("Conv3DBackpropInput")
def _backprop3d_v1(ctx):
    return [ctx.shape(0)]


@cost_rule("Conv2DBackpropInput", "Conv3DBackpropInputV2", "Conv2DBackpropInputV2", "Conv3DBackpropInput")
def _transposed_cost(ctx):
    """Every input element scattered through the kernel: MACs = elements of the incoming tensor x kernel
    spatial size x output depth; FLOPs = 2 x MACs."""
    w = _filter(ctx)
    macs = in_elements(ctx, 2) * checked_mul(*w[:-2]) * w[-2]
    return {"macs": macs, "flops": 2 * macs}


@cost_rule("DepthwiseConv2dNativeBackpropInput")
def _depthwise_transposed_cost(ctx):
    """MACs = elements of the incoming tensor x kernel spatial size; FLOPs = 2 x MACs."""
    w = _filter(ctx)
    macs = in_elements(ctx, 2) * w[0] * w[1]
    return {"macs": macs, "flops": 2 * macs}


@cost_rule("Conv2DBackpropFilter", "Conv3DBackpropFilterV2", "DepthwiseConv2dNativeBackpropFilter")
def _backprop_filter_cost(ctx):
    """Same multiply-accumulates as the forward convolution: elements of the output gradient x kernel
    spatial size x input depth (x 1 for depthwise)."""
    w = ctx.out_shape(0)
    if w is None or any(d is None for d in w):
        raise Unknown("filter shape unknown")
    k = checked_mul(*w[:-2])
    if not ctx.op.startswith("Depthwise"):
        k *= w[-2]
    macs = in_elements(ctx, 2) * k
    return {"macs": macs, "flops": 2 * macs}


# ---------------------------------------------------------------------------------------------------------
# pooling
def _pool_params(ctx):
    if ctx.op == "MaxPoolV2":
        ks, st = ctx.value(1), ctx.value(2)
        if ks is None or st is None:
            raise Unknown("ksize / strides (inputs 1, 2) are not constants")
        return [int(x) for x in ks.reshape(-1)], [int(x) for x in st.reshape(-1)]
    return list(ctx.attr("ksize", [])), list(ctx.attr("strides", []))


@shape_rule("MaxPool", "AvgPool", "MaxPoolV2", "MaxPool3D", "AvgPool3D", "MaxPoolWithArgmax")
def _pool(ctx):
    ks, st = _pool_params(ctx)
    x = ctx.shape(0) or [None] * len(ks)  # the op fixes the rank
    if len(ks) != len(x) or len(st) != len(x):
        raise ShapeError(f"ksize {ks} / strides {st} do not match rank {len(x)}")
    fmt = str(ctx.attr("data_format", "NHWC"))
    padding = ctx.attr("padding", "VALID")
    explicit = ctx.attr("explicit_paddings", []) or []
    if fmt.upper() == "NCHW_VECT_C":
        raise Unknown("data_format NCHW_VECT_C not supported")
    out = []
    for i, d in enumerate(x):
        pb, pa = (explicit[2 * i], explicit[2 * i + 1]) if str(padding).upper() == "EXPLICIT" else (0, 0)
        out.append(conv_out_dim(d, ks[i], st[i], 1, padding, pb, pa))
    return [out] * max(ctx.n_out, 1)


@cost_rule("MaxPool", "AvgPool", "MaxPoolV2", "MaxPool3D", "AvgPool3D", "MaxPoolWithArgmax")
def _pool_cost(ctx):
    """Window size x output elements (one operation per window element)."""
    ks, _ = _pool_params(ctx)
    return {"macs": 0, "flops": checked_mul(*ks) * out_elements(ctx)}


# ---------------------------------------------------------------------------------------------------------
# normalization, bias, softmax
@shape_rule("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3", "_FusedBatchNormEx")
def _fused_bn(ctx):
    x = ctx.shape(0)
    fmt = ctx.attr("data_format", "NHWC")
    if x is None:  # the op fixes the rank: 5 for 3-D data formats, else 4
        x = [None] * (5 if str(fmt).upper() in ("NDHWC", "NCDHW") else 4)
    c = None
    if len(x) in (4, 5):
        _, cax, _ = layout(fmt, len(x) - 2)
        c = x[cax]
    for i in (1, 2):  # scale and offset; mean and variance are empty ([0]) in training mode
        s = ctx.shape(i)
        if s is not None and len(s) == 1:
            c = merge_dim(c, s[0])
    if len(x) in (4, 5) and c is not None:
        x = list(x)
        x[cax] = c
    outs = [x, [c], [c], [c], [c]]
    if ctx.n_out > 5:
        outs.append(Unknown("reserve_space_3 is implementation-defined scratch space with no fixed shape"))
    return outs[:max(ctx.n_out, 1)]


@cost_rule("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3", "_FusedBatchNormEx")
def _fused_bn_cost(ctx):
    """Inference: 2 FLOPs per element (multiply by the folded scale, add the folded shift)."""
    if ctx.attr("is_training", True):
        raise Unknown("batch normalization in training mode (batch statistics) is not modelled")
    return {"macs": 0, "flops": 2 * out_elements(ctx)}


@shape_rule("BiasAdd", "BiasAddV1")
def _bias_add(ctx):
    x = ctx.shape(0)
    b = ctx.shape(1)
    if x is None:
        return [None]
    x = list(x)
    if b is not None and len(b) == 1 and len(x) >= 2:
        fmt = str(ctx.attr("data_format", "NHWC")).upper()
        cax = 1 if fmt.startswith("NC") else len(x) - 1
        x[cax] = merge_dim(x[cax], b[0])
    return [x]


cost_rule("BiasAdd", "BiasAddV1")(per_element(1))


shape_rule("Softmax", "LogSoftmax", "LRN", "Relu6", "Relu", "Elu", "Selu", "LeakyRelu")(same_shape)


cost_rule("Softmax", "LogSoftmax")(per_element(5))


@shape_rule("L2Loss")
def _l2loss(ctx):
    return [[]]


@cost_rule("L2Loss")
def _l2loss_cost(ctx):
    """Square and add: 2 FLOPs per input element."""
    return {"macs": 0, "flops": 2 * in_elements(ctx, 0)}


@shape_rule("SoftmaxCrossEntropyWithLogits", "SparseSoftmaxCrossEntropyWithLogits")
def _xent(ctx):
    x = ctx.shape(0)
    if x is None:
        raise Unknown("rank of logits unknown")
    return [x[:-1], x]


# ---------------------------------------------------------------------------------------------------------
# resize
RESIZE = ("ResizeBilinear", "ResizeNearestNeighbor", "ResizeBicubic", "ResizeArea")


@shape_rule(*RESIZE)
def _resize(ctx):
    x = ctx.shape(0)
    size = ctx.partial(1)
    if x is not None and len(x) != 4:
        raise ShapeError(f"resize input rank {len(x)}, expected 4")
    n, c = (None, None) if x is None else (x[0], x[3])
    if size is None:
        return [[n, None, None, c]]
    return [[n, size[0], size[1], c]]


cost_rule("ResizeBilinear")(per_element(8))
cost_rule("ResizeBicubic")(per_element(32))
cost_rule("ResizeNearestNeighbor")(free)


# ---------------------------------------------------------------------------------------------------------
# space / depth / batch rearrangements
@shape_rule("DepthToSpace", "SpaceToDepth")
def _depth_space(ctx):
    x = ctx.shape(0) or [None] * 4
    b = int(ctx.attr("block_size", 1))
    fmt = str(ctx.attr("data_format", "NHWC")).upper()
    if len(x) != 4:
        raise ShapeError(f"input rank {len(x)}, expected 4")
    _, cax, sp = layout("NCHW" if fmt.startswith("NCHW") else "NHWC", 2)
    out = list(x)
    if ctx.op == "DepthToSpace":
        for a in sp:
            out[a] = checked_mul(x[a], b)
        out[cax] = None if x[cax] is None else x[cax] // (b * b)
    else:
        for a in sp:
            out[a] = None if x[a] is None else x[a] // b
        out[cax] = checked_mul(x[cax], b * b)
    return [out]


@shape_rule("SpaceToBatchND", "BatchToSpaceND")
def _space_batch(ctx):
    x = ctx.need_shape(0)
    block = ctx.partial(1)
    pads = ctx.value(2)
    if block is None:
        return [[None] * len(x)]
    m = len(block)
    pb = [[None, None]] * m if pads is None else pads.reshape(-1, 2).tolist()
    out = list(x)
    prod = checked_mul(*block)
    if ctx.op == "SpaceToBatchND":
        out[0] = checked_mul(x[0], prod)
        for i in range(m):
            d = x[1 + i]
            tot = None if (d is None or None in pb[i]) else d + pb[i][0] + pb[i][1]
            out[1 + i] = None if (tot is None or block[i] is None) else tot // block[i]
    else:
        out[0] = None if (x[0] is None or prod is None) else x[0] // prod
        for i in range(m):
            d = checked_mul(x[1 + i], block[i])
            out[1 + i] = None if (d is None or None in pb[i]) else d - pb[i][0] - pb[i][1]
    return [out]


# ---------------------------------------------------------------------------------------------------------
@shape_rule("TopKV2", "TopK")
def _topk(ctx):
    x = ctx.need_shape(0)
    k = ctx.scalar(1) if ctx.op == "TopKV2" else ctx.attr("k")
    out = x[:-1] + [k]
    return [out, out]


@cost_rule("TopKV2", "TopK")
def _topk_cost(ctx):
    """One comparison per input element (a selection pass)."""
    return {"macs": 0, "flops": in_elements(ctx, 0)}


@shape_rule("InTopKV2", "InTopK")
def _in_topk(ctx):
    return [ctx.shape(1)]



# ---------------------------------------------------------------------------------------------------------
# gradients (training graphs)
@shape_rule("MaxPoolGrad", "MaxPoolGradV2", "MaxPool3DGrad", "MaxPoolGradGrad", "ReluGrad", "Relu6GradV2",
            "EluGrad", "SeluGrad", "SoftplusGrad", "LeakyReluGrad")
def _grad_like_input0(ctx):
    return [ctx.shape(0)]


@shape_rule("AvgPoolGrad", "AvgPool3DGrad")
def _avg_pool_grad(ctx):
    sizes = ctx.partial(0)
    if sizes is None:
        raise Unknown("original input shape (input 0) is not a constant")
    return [[None if (d is None or d < 0) else d for d in sizes]]


@shape_rule("BiasAddGrad")
def _bias_add_grad(ctx):
    x = ctx.need_shape(0)
    fmt = str(ctx.attr("data_format", "NHWC")).upper()
    return [[x[1] if fmt.startswith("NC") and len(x) > 2 else x[-1]]]


@shape_rule("FusedBatchNormGrad", "FusedBatchNormGradV2", "FusedBatchNormGradV3")
def _fused_bn_grad(ctx):
    x = ctx.shape(1)
    c = None
    s = ctx.shape(2)
    if s is not None and len(s) == 1:
        c = s[0]
    outs = [x, [c], [c], [0], [0]]
    return outs[:ctx.n_out]
