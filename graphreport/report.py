"""The typed Report: every fact a renderer shows, computed once from the graph model.

SCHEMA_VERSION changes whenever the JSON shape changes:
  1 - first version: format, inputs, outputs, ignored_inputs, op_counts, nodes, totals, commands, tensors.
  2 - `compatibility` (TFLite / int8 verdicts); per node `tflite`, `int8`, `tflite_reason`.
  3 - `cost` (conventions, by_scope, top, unknown, by_op_type, memory, per_subgraph) and `shapes`;
      `totals` gains macs, flops, activation_bytes_peak; per node `macs`, `flops`, `params`.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from . import __version__
from .analysis import commands, compat, cost, io_suggest, shapes, summary
from .model import Model, split_tensor_name

SCHEMA_VERSION = 3
LIST_LIMIT = 200  # long lists in the JSON (unknown shapes/costs) are cut here, with a count


@dataclass
class Report:
    model: Model
    io: io_suggest.IOSuggestion
    summary: summary.Summary
    commands: list[dict]
    compat: Optional[compat.CompatReport] = None
    cost: Optional[cost.CostReport] = None
    shapes: Optional[shapes.ShapeStats] = None
    warnings: list[str] = field(default_factory=list)
    diagram_svg: Optional[str] = None
    diagram_note: str = ""
    diagram_ids: dict[str, str] = field(default_factory=dict)  # node name -> id of its box in the SVG
    verification: Optional[dict] = None  # set by `graphreport convert --report`: source vs converted figures

    def to_dict(self) -> dict[str, Any]:
        m, g = self.model, self.model.main
        return {
            "schema_version": SCHEMA_VERSION,
            "generator": f"graphreport {__version__}",
            "format": m.format,
            "file": os.path.basename(m.path),
            "file_size": m.file_size,
            "producer": m.producer,
            "format_version": m.format_version,
            "inputs": [_io(x) for x in self.io.inputs],
            "outputs": [_io(x) for x in self.io.outputs],
            "ignored_inputs": [{"name": x.name, "role": x.role, "reason": x.reason,
                                "suggested_value": x.suggested_value, "dtype": x.dtype, "shape": x.shape}
                               for x in self.io.ignored_inputs],
            "set_apart": self.io.set_apart,
            "signatures": self.io.signatures,
            "has_variables": self.io.has_variables,
            "commands": self.commands,
            "op_counts": self.summary.op_counts,
            "totals": self.totals(),
            "cost": self.cost_dict(),
            "shapes": self.shapes_dict(),
            "compatibility": self.compat_dict(),
            "nodes": [self.node_dict(n) for n in g.nodes],
            "tensors": [tensor_dict(g.tensors[k]) for k in g.tensors] if m.format == "tflite" else [],
            "subgraphs": [{"name": sg.name, "kind": sg.kind, "nodes": len(sg.nodes)} for sg in m.graphs],
            "functions": m.details.get("functions", []),
            "signatures_declared": len(m.signatures),
            "metadata": m.metadata,
            "warnings": self.warnings + m.warnings,
            **({"verification": self.verification} if self.verification is not None else {}),
        }


    def totals(self) -> dict:
        t = {"nodes": self.summary.nodes, "op_nodes": self.summary.op_nodes, "params": self.summary.params,
             "weight_bytes": self.summary.weight_bytes}
        if self.cost is not None:
            ct = self.cost.totals
            t.update({k: ct.get(k) for k in ("macs", "flops", "activation_bytes_peak")})
            t["cost_complete"] = ct.get("complete")
        return t

    def cost_dict(self) -> Optional[dict]:
        c = self.cost
        if c is None:
            return None

        def node(x):
            return {"name": x.node, "op": x.op, "macs": x.macs, "flops": x.flops, "params": x.params,
                    "reason": x.reason} if x.known else {"name": x.node, "op": x.op, "reason": x.reason}
        return {
            "conventions": c.conventions,
            "totals": c.totals,
            "by_scope": [asdict(s) for s in self.layers()[:LIST_LIMIT]],
            "top": [node(x) for x in c.top],
            "unknown": [node(x) for x in c.unknown[:LIST_LIMIT]],
            "unknown_count": len(c.unknown),
            "by_op_type": c.by_op_type,
            "per_subgraph": c.per_subgraph,
            "memory": ({"peak_bytes": c.memory.peak_bytes, "at_node": c.memory.at_node,
                        "order_used": c.memory.order_used, "complete": c.memory.complete}
                       if c.memory else None),
        }

    def layers(self) -> list:
        """Cost per layer: name scopes one level below the scope all ops share (Keras and slim graphs put
        a layer's ops, batch-norm arithmetic included, under the layer's scope)."""
        if self.cost is None:
            return []
        costs = [x for x in self.cost.nodes if x.graph == self.model.main.name]
        scopes = [x.scope.split("/") for x in costs if x.scope]
        common = 0
        if scopes:
            for level in zip(*scopes):
                if len(set(level)) != 1:
                    break
                common += 1
        return cost.roll_up(costs, depth=common + 1)

    def shapes_dict(self) -> Optional[dict]:
        s = self.shapes
        if s is None:
            return None
        return {"known": s.known, "partial": s.partial, "unknown": s.unknown, "inferred": s.inferred,
                "unknown_tensors": [asdict(u) for u in s.unknown_tensors[:LIST_LIMIT]],
                "conflicts": s.conflicts[:LIST_LIMIT], "overridden": s.overridden}

    def compat_dict(self) -> Optional[dict]:
        if self.compat is None:
            return None
        return {**self.compat.to_dict(), **self.compat.details_dict()}

    def node_dict(self, n) -> dict:
        d = node_dict(self.model.main, n)
        c = self.compat.nodes.get(n.name) if self.compat else None
        if c is not None:
            d["tflite"], d["int8"], d["tflite_reason"] = c.tflite, c.int8, c.reason
        k = self.node_costs().get(n.name)
        if k is not None:
            d["macs"], d["flops"], d["params"] = (k.macs, k.flops, k.params) if k.known else (None, None, k.params)
            if not k.known:
                d["cost_unknown"] = k.reason
        return d

    def node_costs(self) -> dict:
        if self.cost is None:
            return {}
        if not hasattr(self, "_node_costs"):
            main = self.model.main.name
            self._node_costs = {x.node: x for x in self.cost.nodes if x.graph == main}
        return self._node_costs


def _io(x: io_suggest.IOTensor) -> dict:
    return {"name": x.name, "dtype": x.dtype, "shape": x.shape}


def short_input(name: str) -> str:
    node, idx = split_tensor_name(name)
    return node if idx == 0 else name


def node_dict(g, n) -> dict:
    return {
        "name": n.name, "op": n.op,
        "inputs": [short_input(i) for i in n.inputs] + [f"^{c}" for c in n.control_inputs],
        "outputs": [{"dtype": g.tensors[t].dtype, "shape": g.tensors[t].shape} for t in n.outputs],
        "attrs": n.attrs,
        **({"const": True} if n.is_const else {}),
    }


def tensor_dict(t) -> dict:
    d = {"name": t.name, "dtype": t.dtype, "shape": t.shape, "shape_signature": t.shape_signature,
         "const_bytes": t.const.nbytes if t.const else None,
         "quantization": asdict(t.quantization) if t.quantization is not None else None,
         "sparsity": t.sparsity}
    return d


def build_report(model: Model, diagram: bool = True, input_shapes: Optional[dict] = None,
                 outputs: Optional[list[str]] = None) -> Report:
    """Run every analysis once. `input_shapes` fixes unknown input dims (node name -> shape);
    `outputs` names the outputs the compatibility check traces back from (default: the suggestion)."""
    shape_stats = None
    if model.format != "tflite":
        shape_stats = shapes.infer_shapes(model, input_shapes)
    elif input_shapes:
        from .errors import UsageError
        raise UsageError("--input-shape applies to TensorFlow graphs; a TFLite file's shapes are fixed")
    io = io_suggest.suggest(model)
    summ = summary.summarize(model)
    cmds = commands.build_commands(model.format, model.path, io)
    warnings = []  # unknown input dims and unfrozen variables are the compatibility section's to say
    if model.format != "tflite" and not io.outputs:
        warnings.append("no output could be suggested: name the outputs yourself")
    rep = Report(model=model, io=io, summary=summ, commands=cmds, warnings=warnings,
                 compat=compat.check_compat(model, outputs), cost=cost.compute_cost(model), shapes=shape_stats)
    if diagram:
        from .render import svg
        keep = None
        if model.format != "tflite" and io.outputs:
            outs = [o.name for o in io.outputs]
            keep = io_suggest.ancestors(model.main, outs) | set(outs)
        rep.diagram_svg, rep.diagram_note, rep.diagram_ids = svg.render_diagram(model, keep=keep)
    return rep
