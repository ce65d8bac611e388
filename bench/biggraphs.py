"""Synthetic big TensorFlow graphs, built without TensorFlow, for the complexity test and the big-graph bench.

Each op mix is a GraphDef (graphreport/readers/tfproto.py's message classes) whose nodes follow the op
structure TensorFlow 2.21 writes for the same Python code (checked by printing `tf.function` graphs:
`tf.nn.moments`, `tf.nn.gelu` in both forms, `tf.math.l2_normalize`, einsum / MatMul attention); weights are
Const nodes with deterministic random values. Sizes grow linearly with `scale`.

Mixes (`MIXES`):
- transformer: blocks of layer norm via moments, attention (einsum in even blocks; MatMul + BatchMatMulV2
  in odd ones), softmax, GELU (TF 2.21's exact Erfc form, the tanh approximation, and the older Erf form in
  turn), an L2 normalization every fourth block, residual adds. 4 blocks per unit of scale.
- chain: one deep chain of Conv2D / DepthwiseConv2dNative + FusedBatchNormV3 + Relu6 layers, with Identity
  and Reshape hops. 64 layers per unit.
- fanout: one tensor read by many branches (MatMul + BiasAdd + Relu, each also feeding a Sigmoid output
  head), gathered by one ConcatV2 and one AddN of all branches. 32 branches per unit.
- functions: a chain of StatefulPartitionedCall nodes, each calling its own small library function
  (MatMul + BiasAdd + Tanh). 16 functions per unit. As a GraphDef the reader keeps the calls (functions
  listed, not expanded); `functions_model` gives the same graph with each function as a graph of its own,
  as the SavedModel and MetaGraph readers build them, so shape inference and cost go through the calls.
- identity_chain, relu_fanout: the flat graphs of issue 13's memory target (a Placeholder and a chain of
  Identity nodes; a Placeholder read by Relu nodes), 1,000 nodes per unit (`--scale 200`: 200k nodes).

Usage:
    python bench/biggraphs.py --mix transformer --scale 16 -o out.pb
    python bench/biggraphs.py --all DIR [--scales 1 4 16]    # every mix at every scale, DIR/<mix>_<scale>x.pb
Importable: `sys.path.insert(0, "bench"); import biggraphs; biggraphs.graphdef("chain", 4)`.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from graphreport.readers import tfproto  # noqa: E402

MIXES = ("transformer", "chain", "fanout", "functions", "identity_chain", "relu_fanout")
DT = {"float32": 1, "int32": 3, "bool": 10}


class Builder:
    """Appends NodeDefs to a GraphDef (or a FunctionDef's node_def list)."""

    def __init__(self, seed: int = 0, nodes=None):
        self.gd = tfproto.GraphDef()
        self.gd.versions.producer = 1882
        self.nodes = nodes if nodes is not None else self.gd.node
        self.rng = np.random.default_rng(seed)

    def op(self, name: str, op: str, inputs=(), dtype: str | None = "float32", **attrs) -> str:
        nd = self.nodes.add()
        nd.name, nd.op = name, op
        nd.input.extend(inputs)
        if dtype is not None:
            nd.attr["T"].type = DT[dtype]
        for k, v in attrs.items():
            _set_attr(nd.attr[k], v)
        return name

    def const(self, name: str, value) -> str:
        arr = np.asarray(value)
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        dt = {np.dtype(np.float32): "float32", np.dtype(np.int32): "int32", np.dtype(np.int64): "int32"}[arr.dtype]
        if arr.dtype == np.int64:
            arr = arr.astype(np.int32)
        nd = self.nodes.add()
        nd.name, nd.op = name, "Const"
        nd.attr["dtype"].type = DT[dt]
        t = nd.attr["value"].tensor
        t.dtype = DT[dt]
        for d in arr.shape:
            t.tensor_shape.dim.add(size=int(d))
        if arr.ndim == 0:
            (t.float_val if dt == "float32" else t.int_val).append(arr.item())
        else:
            t.tensor_content = arr.tobytes()
        return name

    def weight(self, name: str, *shape: int) -> str:
        return self.const(name, (self.rng.standard_normal(shape) * 0.05).astype(np.float32))

    def placeholder(self, name: str, shape: list[int]) -> str:
        nd = self.nodes.add()
        nd.name, nd.op = name, "Placeholder"
        nd.attr["dtype"].type = DT["float32"]
        for d in shape:
            nd.attr["shape"].shape.dim.add(size=d)
        return name


def _set_attr(a, v) -> None:
    if isinstance(v, bool):
        a.b = v
    elif isinstance(v, int):
        a.i = v
    elif isinstance(v, float):
        a.f = v
    elif isinstance(v, str):
        a.s = v.encode()
    elif isinstance(v, dict) and "type" in v:
        a.type = DT[v["type"]]
    elif isinstance(v, dict) and "func" in v:
        a.func.name = v["func"]
    elif isinstance(v, dict) and "types" in v:
        a.list.type.extend(DT[t] for t in v["types"])
    elif isinstance(v, list):
        a.list.i.extend(v)
    else:
        raise TypeError(v)


# ----------------------------------------------------------------------------------------------------------
# transformer
# ----------------------------------------------------------------------------------------------------------

SEQ, D, FF = 16, 64, 128


def _layer_norm(b: Builder, s: str, x: str, k: int) -> str:
    """tf.nn.moments(x, [-1], keepdims=True); (x - mean) * rsqrt(var + eps), as TF 2.21 writes it."""
    m = f"{s}/moments" + (f"_{k}" if k else "")
    sfx = f"_{k}" if k else ""
    mean = b.op(f"{m}/mean", "Mean", [x, b.const(f"{m}/mean/reduction_indices", np.int32(-1))],
                keep_dims=True, Tidx={"type": "int32"})
    sg = b.op(f"{m}/StopGradient", "StopGradient", [mean])
    sq = b.op(f"{m}/SquaredDifference", "SquaredDifference", [x, sg])
    var = b.op(f"{m}/variance", "Mean", [sq, b.const(f"{m}/variance/reduction_indices", np.int32(-1))],
               keep_dims=True, Tidx={"type": "int32"})
    sub = b.op(f"{s}/sub{sfx}", "Sub", [x, mean])
    add = b.op(f"{s}/add_ln{sfx}", "AddV2", [var, b.const(f"{s}/add_ln{sfx}/y", np.float32(1e-5))])
    r = b.op(f"{s}/Rsqrt{sfx}", "Rsqrt", [add])
    return b.op(f"{s}/mul_ln{sfx}", "Mul", [sub, r])


def _gelu(b: Builder, s: str, x: str, form: str) -> str:
    g = f"{s}/Gelu"
    if form == "erfc":  # TF 2.21 tf.nn.gelu(approximate=False): 0.5 * x * erfc(-x / sqrt(2))
        half = b.op(f"{g}/mul", "Mul", [b.const(f"{g}/mul/x", np.float32(0.5)), x])
        neg = b.op(f"{g}/Neg", "Neg", [x])
        scaled = b.op(f"{g}/mul_1", "Mul", [neg, b.const(f"{g}/Cast/x", np.float32(0.70710677))])
        erfc = b.op(f"{g}/Erfc", "Erfc", [scaled])
        return b.op(f"{g}/mul_2", "Mul", [half, erfc])
    if form == "tanh":  # tf.nn.gelu(approximate=True)
        half = b.op(f"{g}/mul", "Mul", [b.const(f"{g}/mul/x", np.float32(0.5)), x])
        cube = b.op(f"{g}/Pow", "Pow", [x, b.const(f"{g}/Pow/y", np.float32(3.0))])
        c = b.op(f"{g}/mul_1", "Mul", [b.const(f"{g}/Cast/x", np.float32(0.044715)), cube])
        inner = b.op(f"{g}/add", "AddV2", [x, c])
        scaled = b.op(f"{g}/mul_2", "Mul", [b.const(f"{g}/mul_2/x", np.float32(0.7978846)), inner])
        th = b.op(f"{g}/Tanh", "Tanh", [scaled])
        one = b.op(f"{g}/add_1", "AddV2", [b.const(f"{g}/add_1/x", np.float32(1.0)), th])
        return b.op(f"{g}/mul_3", "Mul", [half, one])
    # older TF: x * 0.5 * (1 + erf(x / sqrt(2)))
    div = b.op(f"{g}/truediv", "RealDiv", [x, b.const(f"{g}/truediv/y", np.float32(1.4142135))])
    erf = b.op(f"{g}/Erf", "Erf", [div])
    one = b.op(f"{g}/add", "AddV2", [b.const(f"{g}/add/x", np.float32(1.0)), erf])
    half = b.op(f"{g}/mul", "Mul", [x, b.const(f"{g}/mul/y", np.float32(0.5))])
    return b.op(f"{g}/mul_1", "Mul", [half, one])


def _l2norm(b: Builder, s: str, x: str) -> str:
    """tf.math.l2_normalize(x, axis=-1)."""
    n = f"{s}/l2_normalize"
    sq = b.op(f"{n}/Square", "Square", [x])
    sm = b.op(f"{n}/Sum", "Sum", [sq, b.const(f"{n}/Const", np.array([-1], np.int32))], keep_dims=True,
              Tidx={"type": "int32"})
    mx = b.op(f"{n}/Maximum", "Maximum", [sm, b.const(f"{n}/Maximum/y", np.float32(1e-12))])
    r = b.op(f"{n}/Rsqrt", "Rsqrt", [mx])
    return b.op(n, "Mul", [x, r])


def _dense3(b: Builder, s: str, name: str, x: str, din: int, dout: int) -> str:
    """[1, SEQ, din] @ [din, dout] as Reshape -> MatMul -> Reshape."""
    r = b.op(f"{s}/{name}/Reshape", "Reshape", [x, b.const(f"{s}/{name}/shape", np.array([SEQ, din], np.int32))],
             Tshape={"type": "int32"})
    mm = b.op(f"{s}/{name}/MatMul", "MatMul", [r, b.weight(f"{s}/{name}/kernel", din, dout)],
              transpose_a=False, transpose_b=False)
    return b.op(f"{s}/{name}/Reshape_1", "Reshape",
                [mm, b.const(f"{s}/{name}/shape_1", np.array([1, SEQ, dout], np.int32))], Tshape={"type": "int32"})


def transformer(blocks: int, seed: int = 0) -> "tfproto.GraphDef":
    b = Builder(seed)
    x = b.placeholder("x", [1, SEQ, D])
    for i in range(blocks):
        s = f"layer_{i}"
        h = _layer_norm(b, s, x, 0)
        if i % 2 == 0:
            ein = lambda n, eq, a, w: b.op(f"{s}/{n}/Einsum", "Einsum", [a, w], equation=eq, N=2)  # noqa: E731
            q = ein("einsum", "bsd,de->bse", h, b.weight(f"{s}/Const", D, D))
            k = ein("einsum_1", "bsd,de->bse", h, b.weight(f"{s}/Const_1", D, D))
            v = ein("einsum_2", "bsd,de->bse", h, b.weight(f"{s}/Const_2", D, D))
            sc = ein("einsum_3", "bqd,bkd->bqk", q, k)
        else:
            q, k, v = (_dense3(b, s, n, h, D, D) for n in ("query", "key", "value"))
            sc = b.op(f"{s}/MatMul", "BatchMatMulV2", [q, k], adj_x=False, adj_y=True)
        sc = b.op(f"{s}/mul_1", "Mul", [sc, b.const(f"{s}/mul_1/y", np.float32(0.125))])
        a = b.op(f"{s}/Softmax", "Softmax", [sc])
        if i % 2 == 0:
            o = b.op(f"{s}/einsum_4/Einsum", "Einsum", [a, v], equation="bqk,bkd->bqd", N=2)
            o = b.op(f"{s}/einsum_5/Einsum", "Einsum", [o, b.weight(f"{s}/Const_3", D, D)], equation="bsd,de->bse",
                     N=2)
        else:
            o = b.op(f"{s}/MatMul_1", "BatchMatMulV2", [a, v], adj_x=False, adj_y=False)
            o = _dense3(b, s, "attention_output", o, D, D)
        x = b.op(f"{s}/add_1", "AddV2", [x, o])
        h = _layer_norm(b, s, x, 1)
        if i % 2 == 0:
            u = b.op(f"{s}/einsum_6/Einsum", "Einsum", [h, b.weight(f"{s}/Const_4", D, FF)], equation="bsd,df->bsf",
                     N=2)
        else:
            u = _dense3(b, s, "intermediate", h, D, FF)
        u = b.op(f"{s}/BiasAdd", "BiasAdd", [u, b.weight(f"{s}/bias", FF)])
        u = _gelu(b, s, u, ("erfc", "tanh", "erf")[i % 3])
        if i % 2 == 0:
            u = b.op(f"{s}/einsum_7/Einsum", "Einsum", [u, b.weight(f"{s}/Const_5", FF, D)], equation="bsf,fd->bsd",
                     N=2)
        else:
            u = _dense3(b, s, "output", u, FF, D)
        x = b.op(f"{s}/add_3", "AddV2", [x, u])
        if i % 4 == 3:
            x = _l2norm(b, s, x)
    b.op("output", "Identity", [x])
    return b.gd


# ----------------------------------------------------------------------------------------------------------
# chain, fanout, functions
# ----------------------------------------------------------------------------------------------------------

def chain(layers: int, seed: int = 0) -> "tfproto.GraphDef":
    b = Builder(seed)
    c = 8
    x = b.placeholder("input", [1, 8, 8, c])
    for i in range(layers):
        s = f"block_{i}"
        if i % 2 == 0:
            x = b.op(f"{s}/Conv2D", "Conv2D", [x, b.weight(f"{s}/kernel", 3, 3, c, c)], strides=[1, 1, 1, 1],
                     padding="SAME", data_format="NHWC", dilations=[1, 1, 1, 1])
        else:
            x = b.op(f"{s}/depthwise", "DepthwiseConv2dNative", [x, b.weight(f"{s}/depthwise_kernel", 3, 3, c, 1)],
                     strides=[1, 1, 1, 1], padding="SAME", data_format="NHWC", dilations=[1, 1, 1, 1])
        x = b.op(f"{s}/BatchNorm", "FusedBatchNormV3",
                 [x] + [b.weight(f"{s}/BatchNorm/{n}", c) for n in ("gamma", "beta", "mean", "variance")],
                 U={"type": "float32"}, epsilon=0.001, is_training=False, data_format="NHWC")
        x = b.op(f"{s}/Relu6", "Relu6", [x])
        if i % 8 == 7:
            x = b.op(f"{s}/Identity", "Identity", [x])
            x = b.op(f"{s}/Reshape", "Reshape", [x, b.const(f"{s}/Reshape/shape", np.array([1, 8, 8, c], np.int32))],
                     Tshape={"type": "int32"})
    x = b.op("head/Mean", "Mean", [x, b.const("head/Mean/axes", np.array([1, 2], np.int32))], keep_dims=False,
             Tidx={"type": "int32"})
    b.op("head/Softmax", "Softmax", [x])
    return b.gd


def fanout(branches: int, seed: int = 0) -> "tfproto.GraphDef":
    b = Builder(seed)
    d = 16
    x = b.placeholder("input", [1, d])
    x = b.op("stem/Relu", "Relu", [x])
    outs = []
    for i in range(branches):
        s = f"branch_{i}"
        y = b.op(f"{s}/MatMul", "MatMul", [x, b.weight(f"{s}/kernel", d, d)], transpose_a=False, transpose_b=False)
        y = b.op(f"{s}/BiasAdd", "BiasAdd", [y, b.weight(f"{s}/bias", d)])
        y = b.op(f"{s}/Relu", "Relu", [y])
        b.op(f"{s}/head", "Sigmoid", [y])
        outs.append(y)
    b.op("concat", "ConcatV2", outs + [b.const("concat/axis", np.int32(1))], N=len(outs), Tidx={"type": "int32"})
    b.op("sum", "AddN", outs, N=len(outs))
    return b.gd


def functions(n: int, seed: int = 0) -> "tfproto.GraphDef":
    b = Builder(seed)
    d = 16
    x = b.placeholder("input", [1, d])
    for i in range(n):
        fname = f"__inference_dense_{i}"
        f = b.gd.library.function.add()
        f.signature.name = fname
        f.signature.input_arg.add(name="x", type=DT["float32"])
        f.signature.output_arg.add(name="identity", type=DT["float32"])
        fb = Builder(seed + 1 + i, nodes=f.node_def)
        mm = fb.op("MatMul", "MatMul", ["x", fb.weight("kernel", d, d)], transpose_a=False, transpose_b=False)
        ba = fb.op("BiasAdd", "BiasAdd", [f"{mm}:product:0", fb.weight("bias", d) + ":output:0"])
        th = fb.op("Tanh", "Tanh", [f"{ba}:output:0"])
        fb.op("Identity", "Identity", [f"{th}:y:0"])
        f.ret["identity"] = "Identity:output:0"
        x = b.op(f"call_{i}", "StatefulPartitionedCall", [x], dtype=None, f={"func": fname},
                 Tin={"types": ["float32"]}, Tout={"types": ["float32"]})
    b.op("output", "Identity", [x])
    return b.gd


def identity_chain(n: int, seed: int = 0) -> "tfproto.GraphDef":
    """A Placeholder and n - 1 Identity nodes, each reading the one before (issue 13's 200k-node chain)."""
    b = Builder(seed)
    x = b.placeholder("x", [1, 16])
    for i in range(n - 1):
        x = b.op(f"id_{i}", "Identity", [x])
    return b.gd


def relu_fanout(n: int, seed: int = 0) -> "tfproto.GraphDef":
    """A Placeholder read by n - 1 Relu nodes (issue 13's 200k-node fan-out)."""
    b = Builder(seed)
    x = b.placeholder("x", [1, 16])
    for i in range(n - 1):
        b.op(f"relu_{i}", "Relu", [x])
    return b.gd


BUILDERS: dict[str, tuple[Callable, int]] = {  # mix -> (builder, units of its size per unit of scale)
    "transformer": (transformer, 4), "chain": (chain, 64), "fanout": (fanout, 32), "functions": (functions, 16),
    "identity_chain": (identity_chain, 1000), "relu_fanout": (relu_fanout, 1000),
}


def graphdef(mix: str, scale: int, seed: int = 0, unit: int | None = None):
    """The GraphDef message of `mix` at `scale` (1, 4, 16 ...); `unit` overrides the blocks / layers /
    branches / functions per unit of scale."""
    fn, default_unit = BUILDERS[mix]
    return fn((unit or default_unit) * scale, seed)


def graphdef_bytes(mix: str, scale: int, seed: int = 0, unit: int | None = None) -> bytes:
    return graphdef(mix, scale, seed, unit).SerializeToString()


def functions_model(scale: int, path: str = "functions.pb", unit: int | None = None):
    """The `functions` mix as a Model whose library functions are graphs of their own (kind "function", as
    the SavedModel / MetaGraph readers build the functions they do not expand): shape inference and cost
    resolve each call through its function graph."""
    from graphreport.readers.graphdef import model_from_graphdef
    from graphreport.readers.inline import Inliner

    gd = graphdef("functions", scale, unit=unit)
    model = model_from_graphdef(gd, path, gd.ByteSize())
    library = {f.signature.name: f for f in gd.library.function}
    inl = Inliner(library)
    model.graphs.extend(inl.function_graph(name) for name in library)
    return model


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mix", choices=MIXES, default="transformer")
    ap.add_argument("--scale", type=int, default=1)
    ap.add_argument("-o", "--output", help="the .pb to write (default: <mix>_<scale>x.pb)")
    ap.add_argument("--all", metavar="DIR", help="write every mix at every --scales into DIR")
    ap.add_argument("--scales", type=int, nargs="+", default=[1, 4, 16])
    args = ap.parse_args(argv)
    jobs = ([(m, s, os.path.join(args.all, f"{m}_{s}x.pb")) for m in MIXES for s in args.scales] if args.all
            else [(args.mix, args.scale, args.output or f"{args.mix}_{args.scale}x.pb")])
    for mix, scale, out in jobs:
        gd = graphdef(mix, scale)
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        Path(out).write_bytes(gd.SerializeToString())
        print(f"{out}: {len(gd.node)} nodes, {len(gd.library.function)} functions, {gd.ByteSize():,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
