"""Counts: op-type histogram, nodes, parameters (weight elements) and weight bytes; the whole-model figures."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Optional

from ..model import Model
from .params import ParamCount, count_graph

COST_FIGURES = ("macs", "flops", "activation_bytes_peak")


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

    def to_json(self) -> dict:
        """The report JSON's `op_counts`."""
        return {"op_counts": self.op_counts}


@dataclass
class Totals:
    """Whole-model figures. A figure that cannot be computed is None (JSON null), never 0: `unknown` gives the
    reason and `at_least` the sum of what is known. `batch_assumed`: inputs whose unknown batch dimension the
    figures take as 1 (per example). `cost` (macs, flops, activation_bytes_peak, cost_complete): when the cost
    was computed."""
    nodes: int
    op_nodes: int
    params: Optional[int]
    weight_bytes: int
    cost: Optional[dict] = None
    at_least: dict = field(default_factory=dict)
    unknown: dict = field(default_factory=dict)
    batch_assumed: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        """The report JSON's `totals`."""
        t = {"nodes": self.nodes, "op_nodes": self.op_nodes, "params": self.params, "weight_bytes": self.weight_bytes}
        if self.cost is not None:
            t.update(self.cost)
        t["at_least"], t["unknown"] = dict(self.at_least), dict(self.unknown)
        t["batch_assumed"] = dict(self.batch_assumed)
        return t


def summarize(model: Model, params: Optional[ParamCount] = None) -> Summary:
    g = model.main
    pc = params if params is not None else count_graph(g)
    return Summary(op_counts=dict(Counter(n.op for n in g.nodes).most_common()), nodes=len(g.nodes),
                   op_nodes=sum(1 for n in g.nodes if not n.is_const), params=pc.total, weight_bytes=pc.bytes,
                   weights_by_node=pc.weights_by_node, params_known_part=pc.known_part,
                   params_unknown=pc.unknown)


def totals(s: Summary, cost_totals: Optional[dict], assumed_batch: dict) -> Totals:
    """The whole-model figures from the summary and the cost's totals (None when no cost was computed)."""
    t = Totals(nodes=s.nodes, op_nodes=s.op_nodes, params=s.params, weight_bytes=s.weight_bytes,
               batch_assumed=dict(assumed_batch))
    if s.params is None:
        t.at_least["params"] = s.params_known_part
        t.unknown["params"] = f"{len(s.params_unknown)} weight(s) of unknown size, e.g. {s.params_unknown[0]}"
    if cost_totals is not None:
        t.cost = {k: cost_totals.get(k) for k in COST_FIGURES}
        t.cost["cost_complete"] = cost_totals.get("complete")
        for k in COST_FIGURES:
            if k in cost_totals.get("unknown", {}):
                t.unknown[k] = cost_totals["unknown"][k]
                t.at_least[k] = cost_totals["at_least"][k]
    return t
