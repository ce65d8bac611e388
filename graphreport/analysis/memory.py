"""Estimated peak activation memory from tensor lifetimes, as an arena planner would see them.

Every non-constant tensor is a buffer that lives from the step that produces it to the last step that reads
it (graph inputs from the start, declared graph outputs to the end). The peak is the largest sum of live
buffers at any step, inputs and outputs of that step included. Constants, variables and resource handles
are excluded (they are weights, not activations). In TensorFlow graphs, identity-like ops (Identity,
Reshape, Squeeze, ExpandDims, Snapshot, StopGradient) forward their input buffer instead of allocating one.

Execution order: TFLite subgraphs run their operators in file order; for other graphs a topological order
is used (file order among ready nodes), which is one valid schedule, not necessarily the runtime's.

One graph at a time: a TFLite subgraph (an IF branch, a WHILE body) gets its own estimate, as TFLite plans one
arena per subgraph. A subgraph without operators (a branch that returns its operands) holds just its input
and output buffers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..model import DTYPE_SIZES, Graph, num_elements
from ..opdata import roles as op_roles
from .shapes import topological_order

ALIAS_OPS = op_roles.ops("alias")
NOT_ACTIVATION_DTYPES = {"resource", "variant"}


@dataclass
class MemoryEstimate:
    peak_bytes: int  # a lower bound when `complete` is false
    at_node: Optional[str]  # the node running at the peak
    order_used: str  # which execution order was assumed
    complete: bool = True  # false when some tensor sizes are unknown (counted as 0)
    unknown_tensors: list[str] = field(default_factory=list)
    tensors_counted: int = 0
    live_at_peak: list[tuple[str, int]] = field(default_factory=list)  # largest buffers live at the peak

    def to_json(self) -> dict:
        """The report JSON's `cost.memory`."""
        return {"peak_bytes": self.peak_bytes, "at_node": self.at_node, "order_used": self.order_used,
                "complete": self.complete}


def tensor_bytes(t) -> Optional[int]:
    n = num_elements(t.shape)
    size = DTYPE_SIZES.get(t.dtype or "")
    if n is None or size is None:
        return None
    return int(n * size)


def _is_tflite(graph: Graph) -> bool:
    """TFLite subgraphs: builtin op names are upper case (CONV_2D); TensorFlow's are CamelCase."""
    ops = [n.op for n in graph.nodes if not n.custom]
    return graph.kind == "subgraph" or (bool(ops) and all(op.isupper() or op.startswith("BUILTIN_") for op in ops))


def peak_activation(graph: Graph, file_order: Optional[bool] = None) -> MemoryEstimate:
    """Peak of live activation bytes. file_order: run the nodes in file order without buffer forwarding
    (TFLite); default: yes for TFLite subgraphs, a topological order otherwise."""
    if file_order is None:
        file_order = _is_tflite(graph)
    if file_order:
        order = list(graph.nodes)
        order_used = "operator order of the file"
        aliasing = False
    else:
        order, broken = topological_order(graph)
        order_used = "topological order (file order among ready nodes)"
        if broken:
            order_used += f"; {len(broken)} cycle(s) broken"
        aliasing = True
    in_order = graph.by_name()  # the names of the nodes of the order: every node of the graph
    end = len(order) - 1
    buffer_of: dict[str, str] = {}  # tensor -> buffer (the tensor that owns the allocation)
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    size: dict[str, Optional[int]] = {}
    excluded: set[str] = set()
    get = graph.tensors.get

    def is_activation(tname: str) -> bool:
        t = get(tname)
        if t is None or t.const is not None or t.is_variable or t.dtype in NOT_ACTIVATION_DTYPES:
            return False
        return True

    for t in graph.inputs:
        if is_activation(t) and (graph.tensors[t].producer is None or graph.tensors[t].producer not in in_order):
            buffer_of[t] = t
            first[t] = 0
            last[t] = 0
            size[t] = tensor_bytes(graph.tensors[t])

    # Steps only grow: a buffer's last use so far is never after the current step, so "last = step" below
    # is max(last, step). The loop runs per edge of graphs of 200,000 nodes: is_activation written out.
    for i, node in enumerate(order):
        if node.is_const:
            continue
        for tname in node.inputs:
            b = buffer_of.get(tname)
            if b is None and tname not in excluded:
                t = get(tname)
                if t is not None and t.const is None and not t.is_variable and \
                        t.dtype not in NOT_ACTIVATION_DTYPES and (t.producer is None or t.producer not in in_order):
                    # an input without a producing node
                    buffer_of[tname] = b = tname
                    first[b], size[b] = 0, tensor_bytes(t)
            if b is not None:
                last[b] = i
        alias = aliasing and node.op in ALIAS_OPS
        for k, tname in enumerate(node.outputs):
            t = get(tname)
            if t is None or t.const is not None or t.is_variable or t.dtype in NOT_ACTIVATION_DTYPES:
                excluded.add(tname)
                continue
            if alias and k < len(node.inputs) and node.inputs[k] in buffer_of:
                b = buffer_of[node.inputs[k]]
                buffer_of[tname] = b
                last[b] = i
                continue
            buffer_of[tname] = tname
            first[tname] = last[tname] = i
            size[tname] = tensor_bytes(t)
    for tname in graph.outputs:
        b = buffer_of.get(tname)
        if b is not None:
            last[b] = end

    unknown = sorted(b for b, s in size.items() if s is None)
    if not order:
        # No operator runs (a control-flow branch that returns its operands): the subgraph holds its input and
        # output buffers and nothing else.
        live = sorted(((b, s) for b, s in size.items() if s), key=lambda x: -x[1])
        return MemoryEstimate(peak_bytes=sum(s for _, s in live), at_node=None,
                              order_used=order_used + "; no operator runs", complete=not unknown,
                              unknown_tensors=unknown, tensors_counted=len(size) - len(unknown),
                              live_at_peak=live[:10])
    delta = [0] * (len(order) + 1)
    for b, s in size.items():
        if s is None:
            continue
        delta[first[b]] += s
        delta[last[b] + 1] -= s
    peak, at, cur = 0, None, 0
    for i in range(len(order)):
        cur += delta[i]
        if cur > peak:
            peak, at = cur, i
    live = []
    if at is not None:
        live = sorted(((b, s) for b, s in size.items() if s and first[b] <= at <= last[b]),
                      key=lambda x: -x[1])[:10]
    # Operators that produce no described tensor at all (a TF.js weights manifest's Weight nodes): the
    # activations exist but the file does not say what they are, so the peak is unknown, not 0.
    opaque = not size and any(not n.is_const for n in order)
    return MemoryEstimate(peak_bytes=peak, at_node=order[at].name if at is not None else None,
                          order_used=order_used, complete=not unknown and not opaque, unknown_tensors=unknown,
                          tensors_counted=len(size) - len(unknown), live_at_peak=live)
