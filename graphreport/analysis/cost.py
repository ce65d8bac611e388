"""Per-op cost: MACs, FLOPs, parameters, weight bytes, output activation bytes; totals, roll-up per name
scope (layer), the costliest ops, and the ops whose cost is unknown (with the reason, never a silent 0).

Run shape inference first (analysis.shapes.infer_shapes) for formats that do not store shapes. The
conventions below are shown in reports as they are.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Optional

from ..model import DTYPE_SIZES, Graph, Model, Node, num_elements
from ..opdata import roles as op_roles
from ..ops.helpers import MAX_VALUE_ELEMENTS, Unknown, free
from ..ops.registry import Ctx, lookup, node_ctx
from . import LIST_LIMIT
from .memory import MemoryEstimate, peak_activation
from .shapes import CALL_OPS
from .params import ParamCount, count_graph

CONVENTIONS = """\
MACs count multiply-accumulates of convolutions (2-D, 3-D, depthwise, transposed), matrix products
(MatMul, BatchMatMul, Einsum, FULLY_CONNECTED) only; FLOPs = 2 x MACs for those ops.
Convolution MACs = output elements x kernel height x kernel width (x kernel depth) x filter input depth;
depthwise: output elements x kernel height x kernel width; transposed convolution: input elements x kernel
size x output depth; matrix product: output elements x inner dimension.
Element-wise ops: 1 FLOP per output element (activations, Cast, comparisons and transcendental functions
included), except Rsqrt 2, SquaredDifference 2, Softmax and LogSoftmax 5 (subtract max, exp, sum, divide),
AddN n - 1 per element, BiasAdd 1. A fused activation in a TFLite op adds 1 FLOP per output element.
Batch normalization (inference): 2 FLOPs per element (scale and shift); in training mode: unknown.
Pooling (max and average): window size x output elements. Mean: 1 FLOP per input element (n - 1 adds and
one divide per output); Sum, Max, Min, Prod, ArgMax: input - output elements.
Resize: bilinear 8 FLOPs per output element, bicubic 32, nearest neighbour 0. TopK: 1 per input element;
L2Loss: 2 per input element; L2 normalization: 3 per element; random number generation: 1 per element.
Function calls: the cost of the called function's body when the model holds it; While / If: unknown
(a data-dependent number of iterations / a branch chosen at run time); TFLite CALL_ONCE: 0 (runs once).
Data movement and bookkeeping (Reshape, Transpose, Concat, Pad, Slice, Gather, Identity, Const,
Placeholder, Shape ...): 0 by rule; their price is memory traffic, shown as activation bytes.
Constant-only subgraphs (e.g. rsqrt of a batch-norm variance) are counted as the graph states them;
their share is given apart ("foldable").
Params (the same figure in every section): elements of the model's weights - its variables (not optimizer
slots, step or metric counters) and its constant weight tensors (floating-point or quantized, not scalars;
every weight of a Keras layer), each counted once; weight bytes: their stored size.
Batch: when an input's only unknown dimension is the batch, the figures are per example (batch 1 assumed,
said next to them); other unknown dimensions stay unknown.
Keras layers (.h5, .keras, TF.js layers models; one node per layer call) are counted as the ops the layer
runs once frozen to a GraphDef (Keras 3, TensorFlow backend, inference): Conv / Dense / EinsumDense: the
convolution or matrix product (2 x MACs) + 1 FLOP per output element for the bias + the activation's count
(relu, sigmoid, tanh 1; swish 3; gelu 5; softmax 5 ...); SeparableConv: depthwise + pointwise; BatchNormalization
2 per element (its per-channel constants folded); LayerNormalization 8 per element + center and 4 per
normalized vector; merges n - 1 per element (Average n); Rescaling and Normalization 2; Embedding 3 per index;
LSTM / GRU / SimpleRNN per timestep: the input and recurrent matrix products + the gates' element-wise ops
(LSTM 17, GRU 17 per unit with biases), first step included; Bidirectional: both directions + the merge;
MultiHeadAttention: the query, key, value and output projections, Q K^T and A V products, scaling and
softmax of the scores; TimeDistributed: the wrapped layer on batch x time examples; Dropout, noise, random
augmentation and data movement 0; Lambda: unknown (its code is never run).
Activation bytes: size of each op's outputs; peak activation memory: largest sum of live non-constant
tensors over the execution order (see memory.py).
Unknown: an op without a cost rule or whose shapes are not fully known is listed with the reason; a
total that misses such ops is unknown (null in JSON), shown as "at least" the part that is known."""


@dataclass(slots=True)
class NodeCost:
    node: str
    op: str
    macs: Optional[int]
    flops: Optional[int]
    params: int = 0
    weight_bytes: int = 0
    activation_bytes: Optional[int] = None
    known: bool = True
    reason: Optional[str] = None
    graph: str = "main"
    scope: str = ""
    foldable: bool = False  # every data input is constant(-derived): a graph optimizer would fold it

    def to_json(self) -> dict:
        """The JSON of an op in the `top` and `unknown` lists."""
        if self.known:
            return {"name": self.node, "op": self.op, "macs": self.macs, "flops": self.flops, "params": self.params,
                    "reason": self.reason}
        return {"name": self.node, "op": self.op, "reason": self.reason}


@dataclass(slots=True)
class ScopeCost:
    scope: str
    nodes: int = 0
    macs: int = 0
    flops: int = 0
    params: int = 0
    weight_bytes: int = 0
    activation_bytes: int = 0
    unknown: int = 0

    def to_json(self) -> dict:
        # the fields, in order (dataclasses.asdict deep-copies each value: a tenth of a small page's render)
        return {"scope": self.scope, "nodes": self.nodes, "macs": self.macs, "flops": self.flops,
                "params": self.params, "weight_bytes": self.weight_bytes,
                "activation_bytes": self.activation_bytes, "unknown": self.unknown}


@dataclass
class CostReport:
    nodes: list[NodeCost] = field(default_factory=list)  # every op node of the main graph
    totals: dict = field(default_factory=dict)  # macs, flops, params, weight_bytes, activation_bytes_peak ...
    by_scope: list[ScopeCost] = field(default_factory=list)  # every scope, full depth
    layers: list[ScopeCost] = field(default_factory=list)  # per layer (see `layers`): the JSON's `by_scope`
    top: list[NodeCost] = field(default_factory=list)  # costliest ops by FLOPs
    unknown: list[NodeCost] = field(default_factory=list)
    per_subgraph: dict[str, dict] = field(default_factory=dict)  # graph name -> totals (TFLite subgraphs ...)
    subgraph_nodes: dict[str, list[NodeCost]] = field(default_factory=dict)  # the other graphs' node costs
    by_op_type: dict[str, dict] = field(default_factory=dict)  # op -> {count, macs, flops}
    memory: Optional[MemoryEstimate] = None
    conventions: str = CONVENTIONS

    def to_json(self) -> dict:
        """The report JSON's `cost` (long lists cut at LIST_LIMIT; `unknown_count` is the full count)."""
        return {
            "conventions": self.conventions,
            "totals": self.totals,
            "by_scope": [s.to_json() for s in self.layers[:LIST_LIMIT]],
            "top": [x.to_json() for x in self.top],
            "unknown": [x.to_json() for x in self.unknown[:LIST_LIMIT]],
            "unknown_count": len(self.unknown),
            "by_op_type": self.by_op_type,
            "per_subgraph": self.per_subgraph,
            "memory": self.memory.to_json() if self.memory else None,
        }


TOP_N = 10


def _bytes(t) -> Optional[int]:
    n = num_elements(t.shape)
    if n is None:
        return None
    size = DTYPE_SIZES.get(t.dtype or "")
    return int(n * size) if size is not None else 0


def _scope(name: str) -> str:
    """Name scope of a node; TFLite names fused ops "a/b/Relu6;a/b/conv;..." after the first one. Interned:
    the nodes of a scope share one string."""
    if "/" not in name:
        return ""
    return sys.intern(name.split(";", 1)[0].rpartition("/")[0])


class _GraphCost:
    def __init__(self, model: Model, g: Graph, cache: dict):
        self.model, self.g, self.cache = model, g, cache
        params = cache.setdefault("_params", {})
        if g.name not in params:
            params[g.name] = count_graph(g)
        self.params: ParamCount = params[g.name]
        self.foldable: set[str] = set()

    def value_of(self, tname: str):
        t = self.g.tensors.get(tname)
        if t is None or t.const is None or t.const.loader is None:
            return None
        n = num_elements(t.shape)
        if n is None or n > MAX_VALUE_ELEMENTS:
            return None
        try:
            return t.const.value()
        except Exception:  # noqa: BLE001
            return None

    def ctx_for(self, node: Node) -> Ctx:
        return node_ctx(self.g, node, self.value_of)

    def node_cost(self, node: Node) -> NodeCost:
        g = self.g
        # parameters: one definition for the whole report (analysis/params.py)
        params, weight_bytes = self.params.by_node.get(node.name, _NO_PARAMS)
        nc = NodeCost(node.name, node.op, None, None, params, weight_bytes, None, True, None, g.name,
                      _scope(node.name))
        # activation bytes
        tensors = g.tensors
        total = 0
        for tname in node.outputs:
            b = _bytes(tensors[tname])
            if b is None:
                total = None
                break
            total += b
        nc.activation_bytes = total
        # foldable: every data input is a constant or the output of a foldable node
        if node.inputs and node.op not in _NOT_FOLDABLE:
            foldable = self.foldable
            for tname in node.inputs:
                t = tensors.get(tname)
                if t is None or (t.const is None and tname not in foldable):
                    break
            else:
                nc.foldable = True
                foldable.update(node.outputs)
        # MACs / FLOPs
        try:
            if node.op in CALL_OPS:
                macs, flops = self.call_cost(node)
            else:
                info = lookup(node.op, self.g.dialect)
                if info is None or info.cost is None:
                    raise Unknown(f"no cost rule for op {node.op}")
                rule = info.cost
                # two kinds of rules read nothing but the output shape: what they return is computed here,
                # without the rule's context (made for every node, it was a fifth of this pass)
                per_out = None if rule is free else getattr(rule, "per_output_element", None)
                n = num_elements(tensors[node.outputs[0]].shape) if per_out is not None and node.outputs else None
                if rule is free:
                    macs = flops = 0
                elif n is not None:
                    macs, flops = 0, per_out * n
                else:
                    c = rule(self.ctx_for(node))
                    macs, flops = int(c.get("macs", 0)), int(c.get("flops", 0))
            nc.macs, nc.flops = macs, flops
        except Unknown as e:
            nc.known = False
            nc.reason = self._explain(node, str(e))
        except Exception as e:  # noqa: BLE001 - a rule bug must not break the report; say so instead
            nc.known = False
            nc.reason = f"cost rule for {node.op} failed: {type(e).__name__}: {e}"
        return nc

    def _explain(self, node: Node, reason: str) -> str:
        """Add why a shape is unknown, when the shape note knows."""
        for tname in list(node.outputs) + list(node.inputs):
            t = self.g.tensors.get(tname)
            if t is not None and t.shape_note and (t.shape is None or None in t.shape):
                return f"{reason} ({tname}: {t.shape_note})"
        return reason

    def call_cost(self, node: Node) -> tuple[int, int]:
        f = node.attrs.get("f")
        fname = f.get("func") if isinstance(f, dict) else None
        body = self.model.graph_named(fname, other_than=self.g)
        if body is None:
            raise Unknown(f"calls function {fname or '?'}, whose body is not part of this model's graphs")
        if fname in self.cache.get("_active", set()):
            raise Unknown(f"recursive call of function {fname}")
        if fname not in self.cache:
            self.cache.setdefault("_active", set()).add(fname)
            try:
                self.cache[fname] = _graph_costs(self.model, body, self.cache)
            finally:
                self.cache["_active"].discard(fname)
        total = self.cache.get(("_total", fname))
        if total is None:  # once per function, however many calls
            costs = self.cache[fname]
            bad = [c for c in costs if not c.known]
            total = self.cache[("_total", fname)] = (
                bad, 0 if bad else sum(c.macs for c in costs), 0 if bad else sum(c.flops for c in costs))
        bad, macs, flops = total
        if bad:
            raise Unknown(f"function {fname}: {len(bad)} op(s) of unknown cost, e.g. {bad[0].node}: {bad[0].reason}")
        return macs, flops


_NO_PARAMS = (0, 0)
_NOT_FOLDABLE = op_roles.ops("placeholder", "placeholder_default", "no_fold")


def _graph_costs(model: Model, g: Graph, cache: dict) -> list[NodeCost]:
    gc = _GraphCost(model, g, cache)
    from .shapes import topological_order

    order, _ = (g.nodes, []) if model.execution_order_is_file_order else topological_order(g)
    out = []
    for node in order:
        if node.is_const:
            continue
        out.append(gc.node_cost(node))
    return out


def _totals(costs: list[NodeCost], g: Graph, mem: Optional[MemoryEstimate],
            params: Optional[ParamCount] = None) -> dict:
    """Totals of one graph. A figure that cannot be computed is None, never 0; `at_least` then holds the
    sum of what is known and `unknown` the reason."""
    known = [c for c in costs if c.known]
    act = [c.activation_bytes for c in costs if c.activation_bytes is not None]
    n_unknown = len(costs) - len(known)
    macs, flops = sum(c.macs for c in known), sum(c.flops for c in known)
    t = {
        "macs": macs if not n_unknown else None,
        "flops": flops if not n_unknown else None,
        "params": sum(c.params for c in costs) if params is None or params.total is not None else None,
        "weight_bytes": sum(c.weight_bytes for c in costs),
        "activation_bytes_peak": mem.peak_bytes if mem and mem.complete else None,
        "activation_bytes_total": sum(act),
        "foldable_flops": sum(c.flops for c in known if c.foldable),
        "ops": len(costs),
        "unknown_ops": n_unknown,
        "complete": not n_unknown and (mem is None or mem.complete),
        "at_least": {},
        "unknown": {},
    }
    if n_unknown:
        first = next(c for c in costs if not c.known)
        why = f"{n_unknown} op(s) of unknown cost, e.g. {first.node} ({first.op}): {first.reason}"
        t["at_least"].update(macs=macs, flops=flops)
        t["unknown"].update(macs=why, flops=why)
    if t["params"] is None:
        t["at_least"]["params"] = sum(c.params for c in costs)
        t["unknown"]["params"] = (f"{len(params.unknown)} weight(s) of unknown size, e.g. {params.unknown[0]}")
    if mem is not None and not mem.complete:
        t["at_least"]["activation_bytes_peak"] = mem.peak_bytes
        t["unknown"]["activation_bytes_peak"] = (
            f"{len(mem.unknown_tensors)} tensor(s) of unknown size, e.g. {mem.unknown_tensors[0]}"
            if mem.unknown_tensors else "some tensor sizes are unknown")
    return t


def roll_up(costs: list[NodeCost], depth: Optional[int] = None) -> list[ScopeCost]:
    """Sum node costs per name scope (the layer, for Keras and slim graphs), costliest first.
    depth=k keeps the first k scope components ("net/block_1/bn/mul" -> depth 2 -> "net/block_1")."""
    scopes: dict[str, ScopeCost] = {}
    by_scope: dict[str, ScopeCost] = {}  # a node's scope -> its row (nodes of a scope share it)
    for c in costs:
        s = by_scope.get(c.scope)
        if s is None:
            key = c.scope
            if depth is not None and key:
                key = "/".join(key.split("/")[:depth])
            key = key or "(root)"
            s = scopes.get(key)
            if s is None:
                s = scopes[key] = ScopeCost(scope=key)
            by_scope[c.scope] = s
        s.nodes += 1
        s.params += c.params
        s.weight_bytes += c.weight_bytes
        s.activation_bytes += c.activation_bytes or 0
        if c.known:
            s.macs += c.macs
            s.flops += c.flops
        else:
            s.unknown += 1
    return sorted(scopes.values(), key=lambda s: (-s.flops, -s.params, s.scope))


def layer_depth(costs: list[NodeCost]) -> int:
    """How many scope components name a layer: one level below the scope all ops share."""
    common = 0
    for level in zip(*[x.scope.split("/") for x in costs if x.scope]):
        if len(set(level)) != 1:
            break
        common += 1
    return common + 1


def layers(costs: list[NodeCost]) -> list[ScopeCost]:
    """Cost per layer: name scopes one level below the scope all ops share (Keras and slim graphs put
    a layer's ops, batch-norm arithmetic included, under the layer's scope)."""
    return roll_up(costs, depth=layer_depth(costs))


def compute_cost(model: Model, params: Optional[dict[str, ParamCount]] = None) -> CostReport:
    """Cost of every op of every graph; totals, scopes, top and unknown lists for the main graph.
    `params` (graph name -> ParamCount, from analysis.params.count_model) is computed when not given."""
    report = CostReport()
    if not model.graphs:
        return report
    cache: dict = {"_params": dict(params or {})}
    per_graph: dict[str, list[NodeCost]] = {}
    for g in model.graphs:
        if g.name in per_graph:
            continue
        costs = cache.get(g.name) if g is not model.main else None
        if costs is None:
            costs = _graph_costs(model, g, cache)
        per_graph[g.name] = costs
    main = model.main
    costs = per_graph[main.name]
    report.nodes = costs
    file_order = model.execution_order_is_file_order
    report.memory = peak_activation(main, file_order=file_order or None)
    report.totals = _totals(costs, main, report.memory, cache["_params"].get(main.name))
    if len(model.graphs) > 1 or file_order:
        for g in model.graphs:
            mem = report.memory if g is main else peak_activation(g, file_order=file_order or None)
            report.per_subgraph[g.name] = _totals(per_graph[g.name], g, mem, cache["_params"].get(g.name))
    report.subgraph_nodes = {name: c for name, c in per_graph.items() if name != main.name}
    report.unknown = [c for c in costs if not c.known]
    report.top = sorted((c for c in costs if c.known and c.flops), key=lambda c: -c.flops)[:TOP_N]
    report.by_scope = roll_up(costs)
    report.layers = layers(costs)
    ops: dict[str, dict] = {}
    for c in costs:
        o = ops.setdefault(c.op, {"count": 0, "macs": 0, "flops": 0, "unknown": 0})
        o["count"] += 1
        if c.known:
            o["macs"] += c.macs
            o["flops"] += c.flops
        else:
            o["unknown"] += 1
    report.by_op_type = dict(sorted(ops.items(), key=lambda kv: -kv[1]["flops"]))
    return report


