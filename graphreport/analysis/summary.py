"""Counts: op-type histogram, nodes, parameters (weight elements) and weight bytes."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Optional

from ..model import Model
from .params import ParamCount, count_graph


@dataclass
class Summary:
    op_counts: dict[str, int] = field(default_factory=dict)
    nodes: int = 0
    op_nodes: int = 0  # nodes that are not folded constants
    params: Optional[int] = 0  # None when some weight's size is unknown (params_known_part is the sum known)
    weight_bytes: int = 0
    weights_by_node: dict[str, list[str]] = field(default_factory=dict)  # node -> constant input tensors
    params_known_part: int = 0
    params_unknown: list[str] = field(default_factory=list)  # weights whose element count is unknown


def summarize(model: Model, params: Optional[ParamCount] = None) -> Summary:
    g = model.main
    pc = params if params is not None else count_graph(g)
    return Summary(op_counts=dict(Counter(n.op for n in g.nodes).most_common()), nodes=len(g.nodes),
                   op_nodes=sum(1 for n in g.nodes if not n.is_const), params=pc.total, weight_bytes=pc.bytes,
                   weights_by_node=pc.weights_by_node, params_known_part=pc.known_part,
                   params_unknown=pc.unknown)
