"""The typed Report: every fact a renderer shows, computed once from the graph model.

SCHEMA_VERSION changes whenever the JSON shape changes:
  1 - first version: format, inputs, outputs, ignored_inputs, op_counts, nodes, totals, commands, tensors.
  2 - `compatibility` (TFLite / int8 verdicts); per node `tflite`, `int8`, `tflite_reason`.
  3 - `cost` (conventions, by_scope, top, unknown, by_op_type, memory, per_subgraph) and `shapes`;
      `totals` gains macs, flops, activation_bytes_peak; per node `macs`, `flops`, `params`.
  4 - a figure that cannot be computed is null, never 0: `totals` and `cost.totals` gain `at_least` (the
      known part) and `unknown` (the reason) per null figure; `totals.batch_assumed` (input -> shape, batch 1
      assumed for the figures); `params` is one definition in every section; `verification` (convert
      --report) documented; for .tflite files `int8_blockers` / `int8_full` answer "if produced as full int8".
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from . import __version__
from .analysis import commands, compat, cost, io_suggest, params, shapes, summary
from .model import Model, split_tensor_name
from .shapespec import name_bare_shape

SCHEMA_VERSION = 4
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
    verification: Optional[dict] = None  # set by `graphreport convert --report`: source vs converted figures
    assumed_batch: dict[str, list] = field(default_factory=dict)  # input -> the shape the figures assume
    # the diagram (render/diagram.py): a Diagram, or a Pending one whose Graphviz runs are still going on in
    # the background (a renderer does the rest of the page meanwhile); the diagram_* properties wait for it
    diagram: Any = field(default=None, repr=False, compare=False)

    def _drawn(self):
        d = self.diagram
        if d is not None and hasattr(d, "result"):
            d = self.diagram = d.result()
        return d

    @property
    def diagram_svg(self) -> Optional[str]:
        d = self._drawn()
        return d.svg if d is not None else None

    @property
    def diagram_note(self) -> str:
        d = self._drawn()
        return d.note if d is not None else ""

    @property
    def diagram_ids(self) -> dict[str, str]:
        """Node name -> id of its box in the page (known before the layouts are)."""
        return self.diagram.ids if self.diagram is not None else {}

    @property
    def diagram_data(self) -> Optional[dict]:
        """The interactive diagram's boxes and layouts."""
        d = self._drawn()
        return d.data if d is not None else None

    def to_dict(self, nodes: bool = True) -> dict[str, Any]:
        """The report as JSON-friendly data. nodes=False: "nodes" is None, for a writer that encodes
        `node_dict` of each node in turn (render/jsonout.py) rather than holding them all."""
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
            "nodes": [self.node_dict(n) for n in g.nodes] if nodes else None,
            "tensors": [tensor_dict(g.tensors[k]) for k in g.tensors] if m.format == "tflite" else [],
            "subgraphs": [{"name": sg.name, "kind": sg.kind, "nodes": len(sg.nodes)} for sg in m.graphs],
            "functions": m.details.get("functions", []),
            "signatures_declared": len(m.signatures),
            "metadata": m.metadata,
            "warnings": self.warnings + m.warnings,
            **({"verification": self.verification} if self.verification is not None else {}),
        }


    def totals(self) -> dict:
        """Whole-model figures. A figure that cannot be computed is None (JSON null), never 0: `unknown`
        gives the reason and `at_least` the sum of what is known. `batch_assumed`: inputs whose unknown
        batch dimension the figures take as 1 (per example)."""
        s = self.summary
        t = {"nodes": s.nodes, "op_nodes": s.op_nodes, "params": s.params, "weight_bytes": s.weight_bytes}
        at_least, unknown = {}, {}
        if s.params is None:
            at_least["params"] = s.params_known_part
            unknown["params"] = f"{len(s.params_unknown)} weight(s) of unknown size, e.g. {s.params_unknown[0]}"
        if self.cost is not None:
            ct = self.cost.totals
            t.update({k: ct.get(k) for k in ("macs", "flops", "activation_bytes_peak")})
            t["cost_complete"] = ct.get("complete")
            for k in ("macs", "flops", "activation_bytes_peak"):
                if k in ct.get("unknown", {}):
                    unknown[k] = ct["unknown"][k]
                    at_least[k] = ct["at_least"][k]
        t["at_least"], t["unknown"] = at_least, unknown
        t["batch_assumed"] = dict(self.assumed_batch)
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
        if getattr(self, "_layers", None) is not None:  # the JSON and the page's chart both ask
            return self._layers
        costs = [x for x in self.cost.nodes if x.graph == self.model.main.name]
        scopes = [x.scope.split("/") for x in costs if x.scope]
        common = 0
        if scopes:
            for level in zip(*scopes):
                if len(set(level)) != 1:
                    break
                common += 1
        self._layers = cost.roll_up(costs, depth=common + 1)
        return self._layers

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
        if input_shapes and "" in input_shapes:  # a bare --input-shape: the shape of the only input
            input_shapes = name_bare_shape(input_shapes, [x.name for x in io_suggest.suggest(model).inputs])
        shape_stats = shapes.infer_shapes(model, input_shapes)
    elif input_shapes:
        from .errors import UsageError
        raise UsageError("--input-shape applies to TensorFlow graphs; a TFLite file's shapes are fixed")
    io = io_suggest.suggest(model)
    io.freeze_shapes()  # the I/O tables show the shapes the model declares, whatever is assumed below
    cmds = commands.build_commands(model.format, model.path, io)
    comp = compat.check_compat(model, outputs, io)  # the converter sees the declared shapes too
    assumed: dict[str, list] = {}
    if shape_stats is not None:
        # figures are per example: an input whose only unknown dimension is the batch is taken as batch 1
        assumed = shapes.batch_one(model, [x.name for x in (*io.inputs, *io.ignored_inputs)], input_shapes)
        if assumed:
            shape_stats = shapes.infer_shapes(model, {**(input_shapes or {}), **assumed})
            shape_stats.assumed = assumed
    param_counts = params.count_model(model)
    summ = summary.summarize(model, param_counts.get(model.main.name))
    warnings = []  # unknown input dims and unfrozen variables are the compatibility section's to say
    if model.format != "tflite" and not io.outputs and model.details.get("model_type") != "weights-manifest":
        warnings.append("no output could be suggested: name the outputs yourself")
    rep = Report(model=model, io=io, summary=summ, commands=cmds, warnings=warnings, compat=comp,
                 cost=cost.compute_cost(model, param_counts), shapes=shape_stats, assumed_batch=assumed)
    if diagram:
        from .render import diagram as draw
        keep = None
        if model.format != "tflite" and io.outputs:
            outs = [o.name for o in io.outputs]
            keep = model.main.ancestors(outs) | set(outs)
        rep.diagram = draw.start(rep, keep=keep)
    return rep
