"""The probes of tools/gen_tflite_compat.py: one tiny graph per TensorFlow op (and variant), and one small
model per Keras layer class. Imported by the generator's worker process only (they need TensorFlow when
called, not when imported).
"""
from __future__ import annotations

F32, F16, F64, I32, I64, U8, BOOL, STR = "float32", "float16", "float64", "int32", "int64", "uint8", "bool", "string"


class Probe:
    def __init__(self, op, fn, ins=((F32, [1, 4]),), when=None, label=None, outs=(0,), v1_cf=False,
                 rep=None, expect_op=True):
        self.op = op
        self.fn = fn
        self.ins = [(d, s) for d, s in ins]
        self.when = when or {}
        self.outs = outs
        self.v1_cf = v1_cf
        self.rep = rep  # optional: list of value ranges per input for the representative dataset
        self.expect_op = expect_op
        dt = self.ins[0][0] if self.ins else None
        self.label = label or (op + ("" if not self.when else "[" + ",".join(f"{k}={v}" for k, v in
                                                                          sorted(self.when.items())) + "]")
                               + ("" if dt in (F32, None) or self.when else f"<{dt}>"))

    @property
    def dtype(self):
        return self.ins[0][0] if self.ins else None


def probes():  # noqa: C901 - one long table
    import numpy as np
    import tensorflow as tf

    R = tf.raw_ops
    tf1 = tf.compat.v1

    def c(v, dt=tf.float32):
        return tf.constant(np.asarray(v), dtype=dt)

    def rnd(*shape):
        return tf.constant(np.random.RandomState(0).rand(*shape).astype(np.float32))

    def i32(v):
        return c(v, tf.int32)

    P = []

    def add(op, fn, ins=((F32, [1, 4]),), **kw):
        P.append(Probe(op, fn, ins, **kw))

    two = ((F32, [1, 4]), (F32, [1, 4]))
    img = ((F32, [1, 8, 8, 3]),)
    img_nchw = ((F32, [1, 3, 8, 8]),)

    # unary element-wise
    for op in ["Abs", "Ceil", "Cos", "Exp", "Floor", "Log", "Neg", "Round", "Rsqrt",
               "Sigmoid", "Sin", "Sqrt", "Square", "Tanh", "Erf", "Erfc", "Acos", "Asin", "Atan", "Acosh",
               "Asinh", "Atanh", "Cosh", "Sinh", "Tan", "Expm1", "Log1p", "Reciprocal", "Inv", "Sign",
               "Lgamma", "Digamma", "Rint", "IsFinite", "IsNan", "IsInf", "ZerosLike", "OnesLike", "BesselI0e"]:
        add(op, lambda x, op=op: getattr(R, op)(x=x))
    for op in ["Elu", "Relu", "Relu6", "Selu", "Softplus", "Softsign"]:
        add(op, lambda x, op=op: getattr(R, op)(features=x))
    for op in ["StopGradient", "Snapshot", "PreventGradient"]:
        add(op, lambda x, op=op: getattr(R, op)(input=x))
    add("Identity", lambda x: R.Identity(input=R.Identity(input=x)), label="Identity")
    add("IdentityN", lambda x, y: R.IdentityN(input=[x, y]), ins=two, outs=(0, 1))
    add("LeakyRelu", lambda x: R.LeakyRelu(features=x, alpha=0.1))
    add("Softmax", lambda x: R.Softmax(logits=x))
    add("LogSoftmax", lambda x: R.LogSoftmax(logits=x))
    add("CheckNumerics", lambda x: R.CheckNumerics(tensor=x, message="m"))
    add("EnsureShape", lambda x: R.EnsureShape(input=x, shape=[1, 4]))
    for op in ["Abs", "Neg", "Square", "Sign", "Relu", "ZerosLike"]:
        add(op, lambda x, op=op: getattr(R, op)(x=x) if op != "Relu" else R.Relu(features=x),
            ins=((I32, [1, 4]),))
    add("Relu", lambda x: R.Relu(features=x), ins=((I64, [1, 4]),))
    add("Abs", lambda x: R.Abs(x=x), ins=((I64, [1, 4]),))
    for dt in (F16, F64):
        add("Exp", lambda x: R.Exp(x=x), ins=((dt, [1, 4]),))
        add("Tanh", lambda x: R.Tanh(x=x), ins=((dt, [1, 4]),))
        add("Relu", lambda x: R.Relu(features=x), ins=((dt, [1, 4]),))
        add("Sigmoid", lambda x: R.Sigmoid(x=x), ins=((dt, [1, 4]),))
        add("Softmax", lambda x: R.Softmax(logits=x), ins=((dt, [1, 4]),))
        add("Reshape", lambda x: R.Reshape(tensor=x, shape=i32([2, 2])), ins=((dt, [1, 4]),))
        add("Transpose", lambda x: R.Transpose(x=x, perm=i32([1, 0])), ins=((dt, [1, 4]),))
        add("ConcatV2", lambda x: R.ConcatV2(values=[x, x], axis=i32(1)), ins=((dt, [1, 4]),))
        add("MatMul", lambda x: R.MatMul(a=x, b=R.Transpose(x=x, perm=i32([1, 0]))), ins=((dt, [1, 4]),))
        add("Conv2D", lambda x, dt=dt: R.Conv2D(input=x, filter=tf.cast(w333(), dt), strides=[1, 1, 1, 1],
                                                padding="SAME"), ins=((dt, [1, 8, 8, 3]),))
        add("Mean", lambda x: R.Mean(input=x, axis=i32([1])), ins=((dt, [1, 4]),))
        add("Identity", lambda x: R.Identity(input=R.Identity(input=x)), ins=((dt, [1, 4]),))
        add("Cast", lambda x: R.Cast(x=x, DstT=tf.float32), ins=((dt, [1, 4]),), when={"SrcT": dt, "DstT": F32})

    # binary element-wise
    for op in ["Add", "AddV2", "Sub", "Mul", "RealDiv", "Div", "DivNoNan", "FloorDiv", "FloorMod", "Maximum",
               "Minimum", "Pow", "SquaredDifference", "Atan2", "Xdivy", "Xlogy", "Xlog1py", "MulNoNan",
               "Equal", "NotEqual", "Less", "LessEqual", "Greater", "GreaterEqual", "TruncateDiv",
               "TruncateMod", "Mod", "ApproximateEqual", "Igamma", "Zeta", "NextAfter"]:
        def fn(x, y, op=op):
            if op in ("Atan2",):
                return R.Atan2(y=x, x=y)
            if op == "ApproximateEqual":
                return R.ApproximateEqual(x=x, y=y, tolerance=1e-5)
            if op in ("Igamma",):
                return R.Igamma(a=x, x=y)
            if op == "Zeta":
                return R.Zeta(x=x + 1.5, q=y)
            if op == "NextAfter":
                return R.NextAfter(x1=x, x2=y)
            return getattr(R, op)(x=x, y=y)
        add(op, fn, ins=two)
    for dt in (I32, I64):
        for op in ["Add", "AddV2", "Sub", "Mul", "FloorDiv", "FloorMod", "Maximum", "Minimum", "Equal", "Less",
                   "Greater", "NotEqual", "Pow", "TruncateDiv", "Div", "SquaredDifference"]:
            add(op, lambda x, y, op=op: getattr(R, op)(x=x, y=y + 1 if op in (
                "FloorDiv", "FloorMod", "TruncateDiv", "Div") else y), ins=((dt, [1, 4]), (dt, [1, 4])))
    for op in ["Add", "Mul", "Maximum", "Less"]:
        add(op, lambda x, y, op=op: getattr(R, op)(x=x, y=y), ins=((F16, [1, 4]), (F16, [1, 4])))
        add(op, lambda x, y, op=op: getattr(R, op)(x=x, y=y), ins=((F64, [1, 4]), (F64, [1, 4])))
    add("Add", lambda x, y: R.Add(x=x, y=y), ins=((STR, [1, 4]), (STR, [1, 4])))
    add("Equal", lambda x, y: R.Equal(x=x, y=y), ins=((STR, [1, 4]), (STR, [1, 4])))
    for op in ["BitwiseAnd", "BitwiseOr", "BitwiseXor", "LeftShift", "RightShift"]:
        add(op, lambda x, y, op=op: getattr(R, op)(x=x, y=y), ins=((I32, [1, 4]), (I32, [1, 4])))
    add("Invert", lambda x: R.Invert(x=x), ins=((I32, [1, 4]),))
    add("PopulationCount", lambda x: R.PopulationCount(x=x), ins=((I32, [1, 4]),))
    for op in ["LogicalAnd", "LogicalOr"]:
        add(op, lambda x, y, op=op: getattr(R, op)(x=x, y=y), ins=((BOOL, [1, 4]), (BOOL, [1, 4])))
    add("LogicalNot", lambda x: R.LogicalNot(x=x), ins=((BOOL, [1, 4]),))
    add("AddN", lambda x, y: R.AddN(inputs=[x, y, x]), ins=two)
    add("BiasAdd", lambda x: R.BiasAdd(value=x, bias=rnd(3)), ins=img)
    add("BiasAdd", lambda x: R.BiasAdd(value=x, bias=rnd(3), data_format="NCHW"), ins=img_nchw,
        when={"data_format": "NCHW"})
    add("BiasAddV1", lambda x: R.BiasAddV1(value=x, bias=rnd(3)), ins=img)
    add("ClipByValue", lambda x: R.ClipByValue(t=x, clip_value_min=c(0.2), clip_value_max=c(0.6)))
    add("Select", lambda x, y: R.Select(condition=R.Less(x=x, y=y), x=x, y=y), ins=two)
    add("SelectV2", lambda x, y: R.SelectV2(condition=R.Less(x=x, y=c(0.5)), t=x, e=y), ins=two)
    add("SelectV2", lambda x, y: R.SelectV2(condition=R.Less(x=x, y=c(0.5)), t=x, e=y),
        ins=((F32, [2, 4]), (F32, [1, 4])), label="SelectV2[broadcast]")
    add("Cast", lambda x: R.Cast(x=x, DstT=tf.int32), when={"SrcT": F32, "DstT": I32})
    add("Cast", lambda x: R.Cast(x=x, DstT=tf.int64), when={"SrcT": F32, "DstT": I64})
    add("Cast", lambda x: R.Cast(x=x, DstT=tf.float16), when={"SrcT": F32, "DstT": F16})
    add("Cast", lambda x: R.Cast(x=x, DstT=tf.bool), when={"SrcT": F32, "DstT": BOOL})
    add("Cast", lambda x: R.Cast(x=x, DstT=tf.uint8), when={"SrcT": F32, "DstT": U8})
    add("Cast", lambda x: R.Cast(x=x, DstT=tf.float64), when={"SrcT": F32, "DstT": F64})
    add("Cast", lambda x: R.Cast(x=x, DstT=tf.float32), ins=((I32, [1, 4]),), when={"SrcT": I32, "DstT": F32})
    add("Cast", lambda x: R.Cast(x=x, DstT=tf.float32), ins=((I64, [1, 4]),), when={"SrcT": I64, "DstT": F32})
    add("Cast", lambda x: R.Cast(x=x, DstT=tf.float32), ins=((U8, [1, 4]),), when={"SrcT": U8, "DstT": F32})
    add("Cast", lambda x: R.Cast(x=x, DstT=tf.int32), ins=((I64, [1, 4]),), when={"SrcT": I64, "DstT": I32})
    add("Cast", lambda x: R.Cast(x=x, DstT=tf.float32), ins=((BOOL, [1, 4]),), when={"SrcT": BOOL, "DstT": F32})
    add("Bitcast", lambda x: R.Bitcast(input=x, type=tf.int32))

    # neural network
    w333 = lambda: rnd(3, 3, 3, 4)  # noqa: E731
    add("Conv2D", lambda x: R.Conv2D(input=x, filter=w333(), strides=[1, 1, 1, 1], padding="SAME"), ins=img)
    add("Conv2D", lambda x: R.Conv2D(input=x, filter=w333(), strides=[1, 1, 1, 1], padding="SAME",
                                     data_format="NCHW"), ins=img_nchw, when={"data_format": "NCHW"})
    add("Conv2D", lambda x: R.Conv2D(input=x, filter=w333(), strides=[1, 1, 1, 1], padding="EXPLICIT",
                                     explicit_paddings=[0, 0, 1, 1, 1, 1, 0, 0]), ins=img,
        when={"padding": "EXPLICIT"})
    add("Conv2D", lambda x: R.Conv2D(input=x, filter=w333(), strides=[1, 1, 1, 1], padding="SAME",
                                     dilations=[1, 2, 2, 1]), ins=img, label="Conv2D[dilated]")
    add("Conv2D", lambda x: R.Conv2D(input=x, filter=R.Identity(input=x)[:, :3, :3, :], strides=[1, 1, 1, 1],
                                     padding="VALID"), ins=img, label="Conv2D[dynamic filter]")
    add("Conv2D", lambda x: R.Conv2D(input=x, filter=w333(), strides=[1, 1, 1, 1], padding="SAME",
                                     data_format="NCHW", dilations=[1, 1, 2, 2]), ins=img_nchw,
        label="Conv2D[NCHW dilated]")
    add("DepthwiseConv2dNative", lambda x: R.DepthwiseConv2dNative(
        input=x, filter=rnd(3, 3, 3, 2), strides=[1, 1, 1, 1], padding="SAME", dilations=[1, 2, 2, 1]), ins=img,
        label="DepthwiseConv2dNative[dilated]")
    add("DepthwiseConv2dNative", lambda x: R.DepthwiseConv2dNative(
        input=x, filter=rnd(3, 3, 3, 2), strides=[1, 1, 1, 1], padding="SAME"), ins=img)
    add("DepthwiseConv2dNative", lambda x: R.DepthwiseConv2dNative(
        input=x, filter=rnd(3, 3, 3, 2), strides=[1, 1, 1, 1], padding="SAME", data_format="NCHW"),
        ins=img_nchw, when={"data_format": "NCHW"})
    add("Conv2DBackpropInput", lambda x: R.Conv2DBackpropInput(
        input_sizes=i32([1, 16, 16, 3]), filter=rnd(3, 3, 3, 4), out_backprop=x, strides=[1, 2, 2, 1],
        padding="SAME"), ins=((F32, [1, 8, 8, 4]),))
    add("Conv3D", lambda x: R.Conv3D(input=x, filter=rnd(2, 2, 2, 3, 4), strides=[1] * 5, padding="SAME"),
        ins=((F32, [1, 4, 8, 8, 3]),))
    add("Conv3DBackpropInputV2", lambda x: R.Conv3DBackpropInputV2(
        input_sizes=i32([1, 8, 8, 8, 3]), filter=rnd(2, 2, 2, 3, 4), out_backprop=x, strides=[1, 2, 2, 2, 1],
        padding="SAME"), ins=((F32, [1, 4, 4, 4, 4]),))
    add("MatMul", lambda x: R.MatMul(a=x, b=rnd(4, 5)), ins=((F32, [2, 4]),))
    add("MatMul", lambda x, y: R.MatMul(a=x, b=y, transpose_b=True), ins=((F32, [2, 4]), (F32, [3, 4])),
        label="MatMul[dynamic weights]")
    add("MatMul", lambda x: R.MatMul(a=x, b=c(np.ones((4, 5)), tf.int32)), ins=((I32, [2, 4]),))
    add("BatchMatMulV2", lambda x, y: R.BatchMatMulV2(x=x, y=y), ins=((F32, [2, 3, 4]), (F32, [2, 4, 5])))
    add("BatchMatMulV2", lambda x, y: R.BatchMatMulV2(x=x, y=y), ins=((F32, [None, 3, 4]), (F32, [None, 4, 5])),
        label="BatchMatMulV2[dynamic batch]")
    add("BatchMatMulV3", lambda x, y: R.BatchMatMulV3(x=x, y=y, Tout=tf.float32),
        ins=((F32, [2, 3, 4]), (F32, [2, 4, 5])))
    add("BatchMatMul", lambda x, y: R.BatchMatMul(x=x, y=y), ins=((F32, [2, 3, 4]), (F32, [2, 4, 5])))
    add("Einsum", lambda x, y: R.Einsum(inputs=[x, y], equation="bij,bjk->bik"),
        ins=((F32, [2, 3, 4]), (F32, [2, 4, 5])))
    add("Einsum", lambda x: R.Einsum(inputs=[x], equation="ij->j"), ins=((F32, [3, 4]),),
        label="Einsum[reduce]")
    for op in ("MaxPool", "AvgPool"):
        add(op, lambda x, op=op: getattr(R, op)(**{("input" if op == "MaxPool" else "value"): x},
                                                 ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="VALID"),
            ins=img)
        add(op, lambda x, op=op: getattr(R, op)(**{("input" if op == "MaxPool" else "value"): x},
                                                 ksize=[1, 1, 2, 2], strides=[1, 1, 2, 2], padding="VALID",
                                                 data_format="NCHW"), ins=img_nchw, when={"data_format": "NCHW"})
    add("MaxPoolV2", lambda x: R.MaxPoolV2(input=x, ksize=i32([1, 2, 2, 1]), strides=i32([1, 2, 2, 1]),
                                           padding="VALID"), ins=img)
    add("MaxPool3D", lambda x: R.MaxPool3D(input=x, ksize=[1, 2, 2, 2, 1], strides=[1, 2, 2, 2, 1],
                                           padding="VALID"), ins=((F32, [1, 4, 8, 8, 3]),))
    add("AvgPool3D", lambda x: R.AvgPool3D(input=x, ksize=[1, 2, 2, 2, 1], strides=[1, 2, 2, 2, 1],
                                           padding="VALID"), ins=((F32, [1, 4, 8, 8, 3]),))
    add("MaxPoolWithArgmax", lambda x: R.MaxPoolWithArgmax(input=x, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1],
                                                           padding="VALID"), ins=img)
    for train in (False, True):
        add("FusedBatchNormV3", lambda x, train=train: R.FusedBatchNormV3(
            x=x, scale=rnd(3), offset=rnd(3), mean=rnd(3) if not train else c([], tf.float32),
            variance=rnd(3) if not train else c([], tf.float32), is_training=train, epsilon=1e-3),
            ins=img, when={"is_training": True} if train else None)
    add("FusedBatchNormV3", lambda x: R.FusedBatchNormV3(
        x=x, scale=rnd(3), offset=rnd(3), mean=rnd(3), variance=rnd(3), is_training=False, epsilon=1e-3,
        data_format="NCHW"), ins=img_nchw, when={"data_format": "NCHW"})
    add("FusedBatchNorm", lambda x: R.FusedBatchNorm(x=x, scale=rnd(3), offset=rnd(3), mean=rnd(3),
                                                     variance=rnd(3), is_training=False), ins=img)
    add("FusedBatchNormV2", lambda x: R.FusedBatchNormV2(x=x, scale=rnd(3), offset=rnd(3), mean=rnd(3),
                                                         variance=rnd(3), is_training=False), ins=img)
    add("LRN", lambda x: R.LRN(input=x, depth_radius=2), ins=img)
    add("Dilation2D", lambda x: R.Dilation2D(input=x, filter=rnd(2, 2, 3), strides=[1, 1, 1, 1],
                                             rates=[1, 1, 1, 1], padding="SAME"), ins=img)
    add("ExtractImagePatches", lambda x: R.ExtractImagePatches(images=x, ksizes=[1, 2, 2, 1],
                                                               strides=[1, 2, 2, 1], rates=[1, 1, 1, 1],
                                                               padding="VALID"), ins=img)
    add("SoftmaxCrossEntropyWithLogits", lambda x, y: R.SoftmaxCrossEntropyWithLogits(features=x, labels=y),
        ins=two)
    add("SparseSoftmaxCrossEntropyWithLogits", lambda x, y: R.SparseSoftmaxCrossEntropyWithLogits(
        features=x, labels=y), ins=((F32, [2, 4]), (I32, [2])))
    add("L2Loss", lambda x: R.L2Loss(t=x))
    add("InTopKV2", lambda x, y: R.InTopKV2(predictions=x, targets=y, k=c(1, tf.int32)),
        ins=((F32, [2, 4]), (I32, [2])))
    add("TopKV2", lambda x: R.TopKV2(input=x, k=i32(2)), outs=(0, 1))
    add("NthElement", lambda x: R.NthElement(input=x, n=i32(1)))
    add("ReluGrad", lambda x, y: R.ReluGrad(gradients=x, features=y), ins=two)
    add("SigmoidGrad", lambda x, y: R.SigmoidGrad(y=x, dy=y), ins=two)
    add("BiasAddGrad", lambda x: R.BiasAddGrad(out_backprop=x), ins=img)

    # reductions and scans
    for op in ("Sum", "Mean", "Max", "Min", "Prod", "EuclideanNorm"):
        add(op, lambda x, op=op: getattr(R, op)(input=x, axis=i32([1]), keep_dims=False), ins=((F32, [2, 4]),))
    add("Sum", lambda x: R.Sum(input=x, axis=i32([1])), ins=((I32, [2, 4]),))
    add("Mean", lambda x: R.Mean(input=x, axis=i32([1, 2]), keep_dims=True), ins=img, label="Mean[spatial]")
    for op in ("All", "Any"):
        add(op, lambda x, op=op: getattr(R, op)(input=x, axis=i32([1])), ins=((BOOL, [2, 4]),))
    add("ArgMax", lambda x: R.ArgMax(input=x, dimension=i32(1), output_type=tf.int32),
        when={"output_type": I32}, ins=((F32, [2, 4]),))
    add("ArgMax", lambda x: R.ArgMax(input=x, dimension=i32(1)), ins=((F32, [2, 4]),))
    add("ArgMin", lambda x: R.ArgMin(input=x, dimension=i32(1)), ins=((F32, [2, 4]),))
    add("Cumsum", lambda x: R.Cumsum(x=x, axis=i32(1)))
    add("Cumsum", lambda x: R.Cumsum(x=x, axis=i32(1), exclusive=True, reverse=True), when={"exclusive": True})
    add("Cumsum", lambda x: R.Cumsum(x=x, axis=i32(1)), ins=((I32, [1, 4]),))
    add("Sum", lambda x: R.Sum(input=x, axis=i32([1])), ins=((I64, [2, 4]),))
    add("Max", lambda x: R.Max(input=x, axis=i32([1])), ins=((I32, [2, 4]),))
    add("Prod", lambda x: R.Prod(input=x, axis=i32([1])), ins=((I32, [2, 4]),))
    add("Cumprod", lambda x: R.Cumprod(x=x, axis=i32(1)))
    add("CumulativeLogsumexp", lambda x: R.CumulativeLogsumexp(x=x, axis=i32(1)))
    add("SegmentSum", lambda x: R.SegmentSum(data=x, segment_ids=i32([0, 0, 1])), ins=((F32, [3, 4]),))
    for op in ("UnsortedSegmentSum", "UnsortedSegmentMax", "UnsortedSegmentMin", "UnsortedSegmentProd"):
        add(op, lambda x, op=op: getattr(R, op)(data=x, segment_ids=i32([0, 1, 0]), num_segments=i32(2)),
            ins=((F32, [3, 4]),))
    add("SegmentMax", lambda x: R.SegmentMax(data=x, segment_ids=i32([0, 0, 1])), ins=((F32, [3, 4]),))
    add("SegmentMean", lambda x: R.SegmentMean(data=x, segment_ids=i32([0, 0, 1])), ins=((F32, [3, 4]),))

    # array / shape
    add("Reshape", lambda x: R.Reshape(tensor=x, shape=i32([2, 2])))
    add("Reshape", lambda x: R.Reshape(tensor=x, shape=c([2, 2], tf.int64)), label="Reshape[int64 shape]")
    add("Reshape", lambda x: R.Reshape(tensor=x, shape=i32([2, 2])), ins=((I64, [1, 4]),))
    add("Reshape", lambda x: R.Reshape(tensor=x, shape=i32([2, 2])), ins=((STR, [1, 4]),))
    add("Transpose", lambda x: R.Transpose(x=x, perm=i32([0, 3, 1, 2])), ins=img)
    add("Transpose", lambda x: R.Transpose(x=x, perm=i32([0, 2, 1, 3, 4, 5])), ins=((F32, [1, 2, 2, 2, 2, 2]),),
        label="Transpose[rank 6]")
    add("ConcatV2", lambda x, y: R.ConcatV2(values=[x, y], axis=i32(1)), ins=two)
    add("ConcatV2", lambda x, y: R.ConcatV2(values=[x, y], axis=i32(1)), ins=((I64, [1, 4]), (I64, [1, 4])))
    add("Concat", lambda x, y: R.Concat(concat_dim=i32(1), values=[x, y]), ins=two)
    add("Pack", lambda x, y: R.Pack(values=[x, y], axis=0), ins=two)
    add("Unpack", lambda x: R.Unpack(value=x, num=2, axis=0), ins=((F32, [2, 4]),), outs=(0, 1))
    add("Split", lambda x: R.Split(axis=i32(1), value=x, num_split=2), outs=(0, 1))
    add("SplitV", lambda x: R.SplitV(value=x, size_splits=i32([1, 3]), axis=i32(1), num_split=2), outs=(0, 1))
    add("Squeeze", lambda x: R.Squeeze(input=x, axis=[0]))
    add("Squeeze", lambda x: R.Squeeze(input=x), ins=((F32, [1, 4, 1]),), label="Squeeze[all]")
    add("StridedSlice", lambda x: R.StridedSlice(input=x, begin=i32([0, 0]), end=i32([1, 4]),
                                                 strides=i32([1, 1]), ellipsis_mask=1, new_axis_mask=2),
        ins=((F32, [2, 4]),), label="StridedSlice[ellipsis new_axis]")
    add("BatchMatMulV2", lambda x, y: R.BatchMatMulV2(x=x, y=y, adj_x=True), ins=((F32, [2, 4, 3]), (F32, [2, 4, 5])),
        when={"adj_x": True})
    add("BatchMatMulV2", lambda x, y: R.BatchMatMulV2(x=x, y=y), ins=((I32, [2, 3, 4]), (I32, [2, 4, 5])))
    add("MatMul", lambda x: R.MatMul(a=x, b=rnd(2, 5), transpose_a=True), ins=((F32, [2, 4]),),
        when={"transpose_a": True})
    add("ResizeBilinear", lambda x: R.ResizeBilinear(images=x, size=i32([16, 16]), align_corners=True),
        ins=img, when={"align_corners": True})
    add("ResizeNearestNeighbor", lambda x: R.ResizeNearestNeighbor(images=x, size=i32([16, 16]),
                                                                   half_pixel_centers=True),
        ins=img, when={"half_pixel_centers": True})
    add("Einsum", lambda x: R.Einsum(inputs=[x, rnd(4, 6)], equation="abc,cd->abd"), ins=((F32, [2, 3, 4]),),
        label="Einsum[dense]")
    add("Einsum", lambda x, y: R.Einsum(inputs=[x, y], equation="...ij,...jk->...ik"),
        ins=((F32, [2, 3, 4]), (F32, [2, 4, 5])), label="Einsum[ellipsis]")
    add("Softmax", lambda x: R.Softmax(logits=x), ins=((F32, [2, 3, 4]),), label="Softmax[rank 3]")
    add("Pad", lambda x: R.Pad(input=x, paddings=c([[0, 0], [1, 1]], tf.int64)), label="Pad[int64 paddings]")
    add("ExpandDims", lambda x: R.ExpandDims(input=x, axis=i32(0)))
    add("Slice", lambda x: R.Slice(input=x, begin=i32([0, 1]), size=i32([1, 2])))
    add("StridedSlice", lambda x: R.StridedSlice(input=x, begin=i32([0, 1]), end=i32([1, 3]),
                                                 strides=i32([1, 1])))
    add("StridedSlice", lambda x: R.StridedSlice(input=x, begin=i32([0, 0]), end=i32([1, 4]),
                                                 strides=i32([1, 2]), shrink_axis_mask=1), ins=((F32, [2, 4]),),
        label="StridedSlice[shrink]")
    add("Pad", lambda x: R.Pad(input=x, paddings=i32([[0, 0], [1, 1]])))
    add("PadV2", lambda x: R.PadV2(input=x, paddings=i32([[0, 0], [1, 1]]), constant_values=c(1.0)))
    add("MirrorPad", lambda x: R.MirrorPad(input=x, paddings=i32([[0, 0], [1, 1]]), mode="REFLECT"))
    add("MirrorPad", lambda x: R.MirrorPad(input=x, paddings=i32([[0, 0], [1, 1]]), mode="SYMMETRIC"),
        when={"mode": "SYMMETRIC"})
    add("Tile", lambda x: R.Tile(input=x, multiples=i32([2, 1])))
    add("GatherV2", lambda x: R.GatherV2(params=x, indices=i32([2, 0]), axis=i32(1)))
    add("GatherV2", lambda x: R.GatherV2(params=rnd(10, 3), indices=x, axis=i32(0)), ins=((I32, [1, 4]),),
        label="GatherV2[embedding]")
    add("GatherV2", lambda x: R.GatherV2(params=rnd(10, 3), indices=x, axis=i32(0)), ins=((I64, [1, 4]),),
        label="GatherV2[int64 indices]")
    add("GatherV2", lambda x: R.GatherV2(params=x, indices=i32([[0], [1]]), axis=i32(1), batch_dims=1),
        ins=((F32, [2, 4]),), when={"batch_dims": 1})
    add("GatherV2", lambda x: R.GatherV2(params=x, indices=i32([2, 0]), axis=i32(1)), ins=((STR, [2, 4]),))
    add("GatherV2", lambda x, i: R.GatherV2(params=x, indices=i, axis=i32(0)),
        ins=((F32, [4, 3]), (I32, [2])), label="GatherV2[dynamic indices]")
    add("Gather", lambda x: R.Gather(params=x, indices=i32([0])), ins=((F32, [2, 4]),))
    add("GatherNd", lambda x: R.GatherNd(params=x, indices=i32([[0, 1], [1, 2]])), ins=((F32, [2, 4]),))
    add("ScatterNd", lambda x: R.ScatterNd(indices=i32([[0], [2]]), updates=x, shape=i32([4, 4])),
        ins=((F32, [2, 4]),))
    add("TensorScatterUpdate", lambda x: R.TensorScatterUpdate(tensor=x, indices=i32([[0]]), updates=rnd(1, 4)),
        ins=((F32, [2, 4]),))
    add("TensorScatterAdd", lambda x: R.TensorScatterAdd(tensor=x, indices=i32([[0]]), updates=rnd(1, 4)),
        ins=((F32, [2, 4]),))
    add("Fill", lambda x: R.Fill(dims=R.Shape(input=x, out_type=tf.int32), value=c(1.0)) + x,
        ins=((F32, [None, 4]),))
    add("Range", lambda x: R.Cast(x=R.Range(start=i32(0), limit=R.Size(input=x, out_type=tf.int32),
                                            delta=i32(1)), DstT=tf.float32), ins=((F32, [None]),))
    add("Shape", lambda x: R.Shape(input=x, out_type=tf.int32), ins=((F32, [None, 4]),))
    add("Shape", lambda x: R.Shape(input=x, out_type=tf.int64), ins=((F32, [None, 4]),),
        when={"out_type": I64})
    add("Size", lambda x: R.Size(input=x, out_type=tf.int32), ins=((F32, [None, 4]),))
    add("Rank", lambda x: R.Rank(input=x), ins=((F32, [None, 4]),))
    add("ShapeN", lambda x, y: R.ShapeN(input=[x, y], out_type=tf.int32), ins=((F32, [None, 4]), (F32, [None, 4])),
        outs=(0, 1))
    add("BroadcastTo", lambda x: R.BroadcastTo(input=x, shape=i32([3, 4])))
    add("BroadcastArgs", lambda x, y: R.BroadcastArgs(s0=R.Shape(input=x), s1=R.Shape(input=y)),
        ins=((F32, [None, 4]), (F32, [1, None])))
    add("OneHot", lambda x: R.OneHot(indices=x, depth=i32(5), on_value=c(1.0), off_value=c(0.0)),
        ins=((I32, [4]),))
    add("ReverseV2", lambda x: R.ReverseV2(tensor=x, axis=i32([1])))
    add("ReverseSequence", lambda x: R.ReverseSequence(input=x, seq_lengths=c([2, 3], tf.int64), seq_dim=1,
                                                       batch_dim=0), ins=((F32, [2, 4]),))
    add("SpaceToDepth", lambda x: R.SpaceToDepth(input=x, block_size=2), ins=img)
    add("DepthToSpace", lambda x: R.DepthToSpace(input=x, block_size=2), ins=((F32, [1, 4, 4, 8]),))
    add("SpaceToBatchND", lambda x: R.SpaceToBatchND(input=x, block_shape=i32([2, 2]),
                                                     paddings=i32([[0, 0], [0, 0]])), ins=img)
    add("BatchToSpaceND", lambda x: R.BatchToSpaceND(input=x, block_shape=i32([2, 2]),
                                                     crops=i32([[0, 0], [0, 0]])), ins=((F32, [4, 4, 4, 3]),))
    add("Where", lambda x: R.Cast(x=R.Where(condition=R.Greater(x=x, y=c(0.5))), DstT=tf.float32))
    add("Unique", lambda x: R.Unique(x=x), ins=((F32, [4]),), outs=(0, 1))
    add("UniqueWithCounts", lambda x: R.UniqueWithCounts(x=x), ins=((F32, [4]),), outs=(0, 1, 2))
    add("MatrixDiag", lambda x: R.MatrixDiag(diagonal=x))
    add("MatrixDiagV3", lambda x: R.MatrixDiagV3(diagonal=x, k=i32(0), num_rows=i32(-1), num_cols=i32(-1),
                                                 padding_value=c(0.0)))
    add("MatrixDiagPartV3", lambda x: R.MatrixDiagPartV3(input=x, k=i32(0), padding_value=c(0.0)),
        ins=((F32, [4, 4]),))
    add("MatrixSetDiagV3", lambda x: R.MatrixSetDiagV3(input=x, diagonal=rnd(4), k=i32(0)), ins=((F32, [4, 4]),))
    add("MatrixBandPart", lambda x: R.MatrixBandPart(input=x, num_lower=c(0, tf.int64),
                                                     num_upper=c(-1, tf.int64)), ins=((F32, [4, 4]),))
    add("Diag", lambda x: R.Diag(diagonal=x), ins=((F32, [4]),))
    add("DiagPart", lambda x: R.DiagPart(input=x), ins=((F32, [4, 4]),))
    add("InvertPermutation", lambda x: R.InvertPermutation(x=x), ins=((I32, [4]),))
    add("ListDiff", lambda x: R.ListDiff(x=x, y=i32([1])), ins=((I32, [4]),))
    add("Roll", lambda x: R.Roll(input=x, shift=i32(1), axis=i32(1)))
    add("Bucketize", lambda x: R.Bucketize(input=x, boundaries=[0.2, 0.5]))
    add("LinSpace", lambda x: R.LinSpace(start=R.Reshape(tensor=x, shape=i32([])), stop=c(1.0), num=i32(5)),
        ins=((F32, [1]),))
    add("DynamicPartition", lambda x: R.DynamicPartition(data=x, partitions=i32([0, 1, 0, 1]), num_partitions=2),
        ins=((F32, [4]),), outs=(0, 1))
    add("DynamicStitch", lambda x, y: R.DynamicStitch(indices=[i32([0, 2]), i32([1, 3])], data=[x, y]),
        ins=((F32, [2]), (F32, [2])))
    add("ResizeBilinear", lambda x: R.ResizeBilinear(images=x, size=i32([16, 16])), ins=img)
    add("ResizeBilinear", lambda x: R.ResizeBilinear(images=x, size=i32([16, 16]), half_pixel_centers=True),
        ins=img, when={"half_pixel_centers": True})
    add("ResizeNearestNeighbor", lambda x: R.ResizeNearestNeighbor(images=x, size=i32([16, 16])), ins=img)
    add("ResizeBicubic", lambda x: R.ResizeBicubic(images=x, size=i32([16, 16])), ins=img)
    add("ResizeArea", lambda x: R.ResizeArea(images=x, size=i32([4, 4])), ins=img)
    add("CropAndResize", lambda x: R.CropAndResize(image=x, boxes=c([[0, 0, 1, 1]]), box_ind=i32([0]),
                                                   crop_size=i32([4, 4])), ins=img)
    add("NonMaxSuppressionV4", lambda x, s: R.NonMaxSuppressionV4(
        boxes=x, scores=s, max_output_size=i32(3), iou_threshold=c(0.5), score_threshold=c(0.1))[0],
        ins=((F32, [6, 4]), (F32, [6])))
    add("NonMaxSuppressionV5", lambda x, s: R.NonMaxSuppressionV5(
        boxes=x, scores=s, max_output_size=i32(3), iou_threshold=c(0.5), score_threshold=c(0.1),
        soft_nms_sigma=c(0.0))[0], ins=((F32, [6, 4]), (F32, [6])))
    add("NonMaxSuppressionV3", lambda x, s: R.NonMaxSuppressionV3(
        boxes=x, scores=s, max_output_size=i32(3), iou_threshold=c(0.5), score_threshold=c(0.1)),
        ins=((F32, [6, 4]), (F32, [6])))
    add("CombinedNonMaxSuppression", lambda x, s: R.CombinedNonMaxSuppression(
        boxes=x, scores=s, max_output_size_per_class=i32(3), max_total_size=i32(3), iou_threshold=c(0.5),
        score_threshold=c(0.1))[0], ins=((F32, [1, 6, 1, 4]), (F32, [1, 6, 2])))
    add("ImageProjectiveTransformV3", lambda x: R.ImageProjectiveTransformV3(
        images=x, transforms=c([[1, 0, 0, 0, 1, 0, 0, 0]]), output_shape=i32([8, 8]), fill_value=c(0.0),
        interpolation="BILINEAR"), ins=img)
    add("RGBToHSV", lambda x: R.RGBToHSV(images=x), ins=img)
    add("AdjustContrastv2", lambda x: R.AdjustContrastv2(images=x, contrast_factor=c(1.5)), ins=img)

    # linear algebra, complex, fft
    add("MatrixInverse", lambda x: R.MatrixInverse(input=x + 4 * R.MatrixDiag(diagonal=c([1.0] * 4))),
        ins=((F32, [4, 4]),))
    add("MatrixDeterminant", lambda x: R.MatrixDeterminant(input=x), ins=((F32, [4, 4]),))
    add("Cholesky", lambda x: R.Cholesky(input=x), ins=((F32, [4, 4]),))
    add("Qr", lambda x: R.Qr(input=x)[0], ins=((F32, [4, 4]),))
    add("Svd", lambda x: R.Svd(input=x)[0], ins=((F32, [4, 4]),))
    add("SelfAdjointEigV2", lambda x: R.SelfAdjointEigV2(input=x)[0], ins=((F32, [4, 4]),))
    add("RFFT", lambda x: R.ComplexAbs(x=R.RFFT(input=x, fft_length=i32([4]))), ins=((F32, [1, 4]),))
    add("RFFT2D", lambda x: R.ComplexAbs(x=R.RFFT2D(input=x, fft_length=i32([4, 4]))), ins=((F32, [1, 4, 4]),))
    add("ComplexAbs", lambda x, y: R.ComplexAbs(x=R.Complex(real=x, imag=y)), ins=two)
    add("Complex", lambda x, y: R.Real(input=R.Complex(real=x, imag=y)), ins=two)
    add("FFT", lambda x, y: R.Real(input=R.FFT(input=R.Complex(real=x, imag=y))), ins=two)
    add("IRFFT", lambda x, y: R.IRFFT(input=R.Complex(real=x, imag=y), fft_length=i32([6])), ins=two)

    # quantization
    add("FakeQuantWithMinMaxArgs", lambda x: R.FakeQuantWithMinMaxArgs(inputs=x, min=-1.0, max=1.0))
    add("FakeQuantWithMinMaxVars", lambda x: R.FakeQuantWithMinMaxVars(inputs=x, min=c(-1.0), max=c(1.0)))
    add("FakeQuantWithMinMaxVarsPerChannel", lambda x: R.FakeQuantWithMinMaxVarsPerChannel(
        inputs=x, min=c([-1.0] * 4), max=c([1.0] * 4)))
    add("QuantizeAndDequantizeV2", lambda x: R.QuantizeAndDequantizeV2(input=x, input_min=c(-1.0),
                                                                       input_max=c(1.0), range_given=True))
    add("QuantizeAndDequantizeV4", lambda x: R.QuantizeAndDequantizeV4(input=x, input_min=c(-1.0),
                                                                       input_max=c(1.0), range_given=True))
    add("QuantizeV2", lambda x: R.Dequantize(input=R.QuantizeV2(input=x, min_range=c(0.0), max_range=c(1.0),
                                                                T=tf.quint8)[0], min_range=c(0.0),
                                             max_range=c(1.0)))

    # random
    add("RandomUniform", lambda x: R.RandomUniform(shape=i32([1, 4]), dtype=tf.float32) * x)
    add("RandomStandardNormal", lambda x: R.RandomStandardNormal(shape=i32([1, 4]), dtype=tf.float32) * x)
    add("TruncatedNormal", lambda x: R.TruncatedNormal(shape=i32([1, 4]), dtype=tf.float32) * x)
    add("RandomUniformInt", lambda x: R.Cast(x=R.RandomUniformInt(shape=i32([1, 4]), minval=i32(0),
                                                                  maxval=i32(5)), DstT=tf.float32) * x)
    add("Multinomial", lambda x: R.Multinomial(logits=x, num_samples=i32(2)), ins=((F32, [1, 4]),))
    add("StatelessRandomUniformV2", lambda x: R.StatelessRandomUniformV2(
        shape=i32([1, 4]), key=c([1], tf.uint64), counter=c([1, 2], tf.uint64), alg=i32(1)) * x)
    add("RandomShuffle", lambda x: R.RandomShuffle(value=x), ins=((F32, [4]),))

    # strings
    add("StringJoin", lambda x, y: R.StringJoin(inputs=[x, y]), ins=((STR, [2]), (STR, [2])))
    add("StringToHashBucketFast", lambda x: R.StringToHashBucketFast(input=x, num_buckets=10), ins=((STR, [2]),))
    add("StringLength", lambda x: R.StringLength(input=x), ins=((STR, [2]),))
    add("Substr", lambda x: R.Substr(input=x, pos=i32(0), len=i32(1)), ins=((STR, [2]),))
    add("RegexReplace", lambda x: R.RegexReplace(input=x, pattern="a", rewrite="b"), ins=((STR, [2]),))
    add("StaticRegexReplace", lambda x: R.StaticRegexReplace(input=x, pattern="a", rewrite="b"),
        ins=((STR, [2]),))
    add("AsString", lambda x: R.AsString(input=x))
    add("StringToNumber", lambda x: R.StringToNumber(string_tensor=x), ins=((STR, [2]),))
    add("ReduceJoin", lambda x: R.ReduceJoin(inputs=x, reduction_indices=i32(0)), ins=((STR, [2]),))
    add("StringSplitV2", lambda x: R.StringSplitV2(input=x, sep=c("", tf.string))[1], ins=((STR, [2]),))
    add("StringLower", lambda x: R.StringLower(input=x), ins=((STR, [2]),))
    add("DecodeBase64", lambda x: R.DecodeBase64(input=x), ins=((STR, [2]),))
    add("DecodeJpeg", lambda x: R.DecodeJpeg(contents=x, channels=3), ins=((STR, []),))
    add("DecodePng", lambda x: R.DecodePng(contents=x, channels=3), ins=((STR, []),))
    add("ParseExampleV2", lambda x: R.ParseExampleV2(
        serialized=x, names=c([], tf.string), sparse_keys=c([], tf.string), dense_keys=c(["f"], tf.string),
        ragged_keys=c([], tf.string), dense_defaults=[c([0.0])], num_sparse=0, sparse_types=[],
        ragged_value_types=[], ragged_split_types=[], dense_shapes=[[1]])[3][0], ins=((STR, [2]),))

    # lookup tables (vocabularies)
    add("LookupTableFindV2", lambda x: R.LookupTableFindV2(
        table_handle=R.HashTableV2(key_dtype=tf.string, value_dtype=tf.int64, shared_name="t"), keys=x,
        default_value=c(-1, tf.int64)), ins=((STR, [2]),))

    # variables left in a "frozen" graph
    def var_v2(x):
        v = R.VariableV2(shape=[1, 4], dtype=tf.float32)
        return x + R.Identity(input=v)
    add("VariableV2", var_v2)

    def var_res(x):
        h = R.VarHandleOp(dtype=tf.float32, shape=[1, 4], shared_name="v")
        return x + R.ReadVariableOp(resource=h, dtype=tf.float32)
    add("VarHandleOp", var_res)
    add("ReadVariableOp", var_res, label="ReadVariableOp")

    # placeholders with defaults, asserts, prints
    add("PlaceholderWithDefault", lambda x: x * R.PlaceholderWithDefault(input=c(2.0), shape=[]))
    add("Assert", lambda x: _with_control(tf, R.Assert(condition=c(True, tf.bool), data=[x]), x))
    add("PrintV2", lambda x: _with_control(tf, R.PrintV2(input=R.StringFormat(inputs=[x])), x))
    add("Print", lambda x: R.Print(input=x, data=[x]))

    # TF1 control flow (Switch/Merge, Enter/Exit/NextIteration/LoopCond), built without control flow v2
    def v1_cond(x):
        return tf1.cond(tf.reduce_sum(x) > 1.0, lambda: x * 2.0, lambda: x + 1.0)
    add("Switch", v1_cond, v1_cf=True)
    add("Merge", v1_cond, v1_cf=True, label="Merge")

    def v1_while(x):
        return tf1.while_loop(lambda i, y: i < 3, lambda i, y: (i + 1, y * 2.0), [tf.constant(0), x])[1]
    add("Enter", v1_while, v1_cf=True)
    add("LoopCond", v1_while, v1_cf=True, label="LoopCond")

    # control flow v2 (functional If/While: TFLite IF/WHILE)
    def v2_cond(x):
        return tf.cond(tf.reduce_sum(x) > 1.0, lambda: x * 2.0, lambda: x + 1.0)
    add("StatelessIf", v2_cond, label="StatelessIf")

    def v2_while(x):
        return tf.while_loop(lambda i, y: i < 3, lambda i, y: (i + 1, y * 2.0), [tf.constant(0), x])[1]
    add("StatelessWhile", v2_while, label="StatelessWhile")

    def tensor_list(x):
        ta = tf.TensorArray(tf.float32, size=2)
        ta = ta.write(0, x).write(1, x * 2.0)
        return ta.stack()
    add("TensorListReserve", tensor_list, ins=((F32, [4]),))

    def tensor_array_v3(x):
        ta = tf.TensorArray(tf.float32, size=2)
        ta = ta.write(0, x).write(1, x * 2.0)
        return ta.stack()
    add("TensorArrayV3", tensor_array_v3, ins=((F32, [4]),), v1_cf=True)
    return P


def _with_control(tf, op, x):
    with tf.control_dependencies([op]):
        return tf.identity(x)


# ----------------------------------------------------------------------------------------------------------
# Keras layers: what TF ops a layer traces to, and how the layer converts on its own
# ----------------------------------------------------------------------------------------------------------

def keras_probes():
    import keras
    L = keras.layers
    img = (8, 8, 3)
    seq = (5, 4)
    return [
        ("Dense", lambda: L.Dense(4), (4,)),
        ("Conv1D", lambda: L.Conv1D(4, 3, padding="same"), seq),
        ("Conv2D", lambda: L.Conv2D(4, 3, padding="same"), img),
        ("Conv3D", lambda: L.Conv3D(4, 2), (4, 4, 4, 2)),
        ("DepthwiseConv2D", lambda: L.DepthwiseConv2D(3, padding="same"), img),
        ("SeparableConv2D", lambda: L.SeparableConv2D(4, 3, padding="same"), img),
        ("Conv2DTranspose", lambda: L.Conv2DTranspose(4, 3, strides=2, padding="same"), img),
        ("MaxPooling2D", lambda: L.MaxPooling2D(), img),
        ("AveragePooling2D", lambda: L.AveragePooling2D(2), img),
        ("MaxPooling1D", lambda: L.MaxPooling1D(), seq),
        ("GlobalAveragePooling2D", lambda: L.GlobalAveragePooling2D(), img),
        ("GlobalMaxPooling2D", lambda: L.GlobalMaxPooling2D(), img),
        ("GlobalAveragePooling1D", lambda: L.GlobalAveragePooling1D(), seq),
        ("BatchNormalization", lambda: L.BatchNormalization(), img),
        ("LayerNormalization", lambda: L.LayerNormalization(), seq),
        ("GroupNormalization", lambda: L.GroupNormalization(groups=1), img),
        ("Dropout", lambda: L.Dropout(0.5), (4,)),
        ("SpatialDropout2D", lambda: L.SpatialDropout2D(0.5), img),
        ("GaussianNoise", lambda: L.GaussianNoise(0.1), (4,)),
        ("Flatten", lambda: L.Flatten(), img),
        ("Reshape", lambda: L.Reshape((2, 2)), (4,)),
        ("Permute", lambda: L.Permute((2, 1)), seq),
        ("RepeatVector", lambda: L.RepeatVector(3), (4,)),
        ("ReLU", lambda: L.ReLU(), (4,)),
        ("LeakyReLU", lambda: L.LeakyReLU(), (4,)),
        ("PReLU", lambda: L.PReLU(), (4,)),
        ("ELU", lambda: L.ELU(), (4,)),
        ("Softmax", lambda: L.Softmax(), (4,)),
        ("Activation[relu]", lambda: L.Activation("relu"), (4,)),
        ("Activation[sigmoid]", lambda: L.Activation("sigmoid"), (4,)),
        ("Activation[tanh]", lambda: L.Activation("tanh"), (4,)),
        ("Activation[softmax]", lambda: L.Activation("softmax"), (4,)),
        ("Activation[swish]", lambda: L.Activation("swish"), (4,)),
        ("Activation[gelu]", lambda: L.Activation("gelu"), (4,)),
        ("Activation[hard_sigmoid]", lambda: L.Activation("hard_sigmoid"), (4,)),
        ("Activation[softplus]", lambda: L.Activation("softplus"), (4,)),
        ("Activation[elu]", lambda: L.Activation("elu"), (4,)),
        ("Activation[selu]", lambda: L.Activation("selu"), (4,)),
        ("Activation[linear]", lambda: L.Activation("linear"), (4,)),
        ("ZeroPadding2D", lambda: L.ZeroPadding2D(), img),
        ("Cropping2D", lambda: L.Cropping2D(1), img),
        ("UpSampling2D", lambda: L.UpSampling2D(), img),
        ("UpSampling2D[bilinear]", lambda: L.UpSampling2D(interpolation="bilinear"), img),
        ("Resizing", lambda: L.Resizing(4, 4), img),
        ("Rescaling", lambda: L.Rescaling(1 / 255.0), img),
        ("Normalization", lambda: L.Normalization(mean=0.5, variance=0.25), (4,)),
        ("Embedding", lambda: L.Embedding(10, 4), ("int32", (5,))),
        ("LSTM", lambda: L.LSTM(4), seq),
        ("GRU", lambda: L.GRU(4), seq),
        ("SimpleRNN", lambda: L.SimpleRNN(4), seq),
        ("Bidirectional", lambda: L.Bidirectional(L.LSTM(4)), seq),
        ("MultiHeadAttention", None, seq),
        ("Attention", None, seq),
        ("Add", None, (4,)),
        ("Multiply", None, (4,)),
        ("Concatenate", None, (4,)),
        ("Average", None, (4,)),
        ("Maximum", None, (4,)),
        ("Subtract", None, (4,)),
        ("Dot", None, (4,)),
        ("Identity", lambda: L.Identity(), (4,)),
        ("Masking", lambda: L.Masking(), seq),
        ("TimeDistributed", lambda: L.TimeDistributed(L.Dense(3)), seq),
        ("ConvLSTM2D", lambda: L.ConvLSTM2D(2, 3, padding="same"), (3, 8, 8, 2)),
        ("UnitNormalization", lambda: L.UnitNormalization(), (4,)),
    ]


def keras_model(name, make, spec):
    import keras
    L = keras.layers
    dtype, shape = (spec if isinstance(spec[0], str) else ("float32", spec))
    x = keras.Input(shape=shape, batch_size=1, dtype=dtype)
    if make is not None:
        y = make()(x)
    elif name == "MultiHeadAttention":
        y = L.MultiHeadAttention(num_heads=2, key_dim=2)(x, x)
    elif name == "Attention":
        y = L.Attention()([x, x])
    elif name == "Dot":
        y = L.Dot(axes=1)([x, x])
    else:
        y = getattr(L, name)()([x, x])
    return keras.Model(x, y), dtype, shape
