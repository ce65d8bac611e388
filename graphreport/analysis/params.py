"""Parameters: the one definition every section of the report uses (summary, cost, per node, per scope, JSON).

A parameter is an element of a model weight:
- a model variable (VariableV2 / VarHandleOp in an unfrozen graph, a SavedModel or a checkpoint's MetaGraph),
  but not optimizer slots, step / metric / save counters or anything else outside the inference model
  (``io_suggest.categorize``); counted on the variable's node;
- a constant that is a weight: a floating-point or quantized tensor that is not a scalar, or an integer bias
  of a quantized convolution / fully connected op (every constant of a Keras or TF.js layers model, where
  constants are the layers' weights); counted once per payload (Identity chains and shared buffers share
  it), on the first op node that reads it, unless every reader of it sits outside the inference model.

A weight whose element count is unknown makes the total unknown (``None``) with the weight named, never 0.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..model import DTYPE_SIZES, FLOAT_DTYPES, Graph, Model, num_elements
from ..opdata import roles as op_roles

# integer constants in these input slots are weights (quantized biases), not shape operands
INT_WEIGHT_SLOTS = {"CONV_2D": {2}, "DEPTHWISE_CONV_2D": {2}, "FULLY_CONNECTED": {2}, "TRANSPOSE_CONV": {3},
                    "CONV_3D": {2}}
QUANT_DTYPES = {"int8", "uint8", "int16", "int4", "qint8", "quint8", "qint16", "quint16", "qint32"}
VARIABLE_OPS = op_roles.ops("variable")

@dataclass
class ParamCount:
    total: Optional[int] = 0  # None when the element count of some weight is unknown
    bytes: int = 0
    by_node: dict[str, tuple[int, int]] = field(default_factory=dict)  # node -> (params, weight bytes)
    weights_by_node: dict[str, list[str]] = field(default_factory=dict)  # node -> its constant input tensors
    unknown: list[str] = field(default_factory=list)  # weights (tensor or variable names) of unknown size

    @property
    def known_part(self) -> int:
        return sum(p for p, _ in self.by_node.values())


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


def count_graph(g: Graph) -> ParamCount:
    """Parameters of one graph, attributed to nodes. Linear in nodes + edges."""
    from .io_suggest import categories

    pc = ParamCount()
    counted: set = set()
    unknown = False

    def add(node: str, n: Optional[int], nbytes: int, what: str) -> None:
        nonlocal unknown
        p, b = pc.by_node.get(node, (0, 0))
        if n is None:
            unknown = True
            pc.unknown.append(what)
            n = 0
        pc.by_node[node] = (p + n, b + nbytes)

    for node, category in zip(g.nodes, categories(g)):
        if node.is_const:
            continue
        if node.op in VARIABLE_OPS:
            dtype, shape = node.attrs.get("dtype"), node.attrs.get("shape")
            if dtype in FLOAT_DTYPES and category is None:
                n = num_elements(shape)
                add(node.name, n, int((n or 0) * DTYPE_SIZES.get(dtype, 0)), node.name)
            continue
        if category is not None:
            continue  # initializers, optimizer, saver: their constants are not model weights
        consts = []
        for slot, tname in enumerate(node.inputs):
            t = g.tensors.get(tname)
            if t is None or t.const is None:
                continue
            consts.append(tname)
            if not is_weight(g, node.op, slot, tname):
                continue
            key = id(t.const)  # Identity chains share one payload: count it once
            if key in counted:
                continue
            counted.add(key)
            add(node.name, num_elements(t.shape), t.const.nbytes, tname)
        if consts:
            pc.weights_by_node[node.name] = consts
    pc.bytes = sum(b for _, b in pc.by_node.values())
    pc.total = None if unknown else pc.known_part
    return pc


def count_model(model: Model) -> dict[str, ParamCount]:
    """graph name -> its parameters (the main graph's is the model's figure)."""
    out: dict[str, ParamCount] = {}
    for g in model.graphs:
        if g.name not in out:
            out[g.name] = count_graph(g)
    return out
