"""Counts: op-type histogram, nodes, parameters (weight elements) and weight bytes."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ..model import DTYPE_SIZES, FLOAT_DTYPES, Graph, Model, num_elements

# integer constants in these input slots are weights (quantized biases), not shape operands
INT_WEIGHT_SLOTS = {"CONV_2D": {2}, "DEPTHWISE_CONV_2D": {2}, "FULLY_CONNECTED": {2}, "TRANSPOSE_CONV": {3},
                    "CONV_3D": {2}}
QUANT_DTYPES = {"int8", "uint8", "int16", "int4", "qint8", "quint8", "qint16", "quint16", "qint32"}


@dataclass
class Summary:
    op_counts: dict[str, int] = field(default_factory=dict)
    nodes: int = 0
    op_nodes: int = 0  # nodes that are not folded constants
    params: int = 0
    weight_bytes: int = 0
    weights_by_node: dict[str, list[str]] = field(default_factory=dict)  # node -> constant input tensors


def is_weight(g: Graph, op: str, slot: int, tname: str) -> bool:
    t = g.tensors.get(tname)
    if t is None or t.const is None:
        return False
    if g.consts_are_weights:
        return True
    if t.shape == []:
        return False  # a scalar (an epsilon, a multiplier) is a hyper-parameter, not a learned weight
    if t.dtype in FLOAT_DTYPES or t.dtype in QUANT_DTYPES:
        return True
    return slot in INT_WEIGHT_SLOTS.get(op, ())


VARIABLE_OPS = ("VariableV2", "Variable", "VarHandleOp")


def summarize(model: Model) -> Summary:
    from .io_suggest import categorize

    g = model.main
    s = Summary()
    s.op_counts = dict(Counter(n.op for n in g.nodes).most_common())
    s.nodes = len(g.nodes)
    s.op_nodes = sum(1 for n in g.nodes if not n.is_const)
    counted: set = set()
    for node in g.op_nodes():
        if node.op in VARIABLE_OPS:
            # an unfrozen graph: the model's variables are its parameters (optimizer slots and step
            # counters are not)
            dtype, shape = node.attrs.get("dtype"), node.attrs.get("shape")
            if dtype in FLOAT_DTYPES and categorize(node) is None:
                n = num_elements(shape) or 0
                s.params += n
                s.weight_bytes += int(n * DTYPE_SIZES.get(dtype, 0))
            continue
        if categorize(node) is not None:
            continue  # initializers, optimizer, saver: their constants are not model weights
        consts = []
        for slot, tname in enumerate(node.inputs):
            t = g.tensors.get(tname)
            if t is None or t.const is None:
                continue
            consts.append(tname)
            if tname in counted or not is_weight(g, node.op, slot, tname):
                continue
            key = id(t.const)  # Identity chains share one payload: count it once
            if key in counted:
                continue
            counted.add(tname)
            counted.add(key)
            s.params += num_elements(t.shape) or 0
            s.weight_bytes += t.const.nbytes
        if consts:
            s.weights_by_node[node.name] = consts
    return s
