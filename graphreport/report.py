"""The typed Report: every fact a renderer shows, computed once from the graph model.

SCHEMA_VERSION changes whenever the JSON's keys change, with one line here per version (commit, what changed);
tests/test_schema.py holds each version's key set (tests/schema_keys.json) and fails on a change without a bump.
  1 - 51a61f5: format, file, inputs, outputs, ignored_inputs, op_counts, totals, commands, nodes, tensors ...
  2 - b819202: `compatibility` (TFLite / int8 verdicts); per node `tflite`, `int8`, `tflite_reason`.
  3 - d3e961a: `cost` and `shapes`; `totals` + macs, flops, activation_bytes_peak; per node macs, flops, params.
  4 - 88bfe72: null for unknown figures (`at_least`, `unknown`), `totals.batch_assumed`; `verification` listed.
Keys changed under a version without a bump: 9ece5ad (under 2) made `tensors[]` always carry `quantization` and
`sparsity`; 85c8c1e (under 3) added `verification` (convert --report), first listed in 4, which covers it.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from . import __version__
from .analysis import commands, compat, cost, io_suggest, params, shapes, summary
from .collector import BIG_NODES, paused
from .model import Model, split_tensor_name
from .shapespec import name_bare_shape

SCHEMA_VERSION = 4


@dataclass
class Verification:
    """`graphreport convert --report`: the converted model run against its source (convert/run.py)."""
    verified_on: Optional[str]  # what the samples were (None: not verified)
    mode: str  # the quantization mode
    sizes: dict  # source, frozen_graph, output: bytes
    rows: Optional[list[dict]]  # per output: errors, cosine, top-1 agreement (convert/verify.py)
    source: str  # the path converted
    calibration: Optional[str]  # what int8 calibration ran on

    def to_json(self) -> dict:
        """The report JSON's `verification`."""
        return {"verified_on": self.verified_on, "mode": self.mode, "sizes": self.sizes, "rows": self.rows,
                "source": self.source, "calibration": self.calibration}


@dataclass
class Report:
    """The analyses' sections, each a dataclass with its JSON form (`to_json`), and the model they describe.
    Renderers read only this; nothing here renders (the diagram is drawn by render/diagram.py)."""
    model: Model
    io: io_suggest.IOSuggestion
    summary: summary.Summary
    commands: list[dict]
    figures: summary.Totals  # the whole-model figures: the JSON's `totals`
    compat: Optional[compat.CompatReport] = None
    cost: Optional[cost.CostReport] = None
    shapes: Optional[shapes.ShapeStats] = None
    warnings: list[str] = field(default_factory=list)
    verification: Optional[Verification] = None  # set by `graphreport convert --report`
    assumed_batch: dict[str, list] = field(default_factory=dict)  # input -> the shape the figures assume
    wants_diagram: bool = False  # the renderer draws the diagram (render/drawing.attach_diagram) when True
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
        """The report as JSON-friendly data: the model's facts and each section's `to_json`, in the schema's
        order. nodes=False: "nodes" is None, for a writer that encodes `node_dict` of each node in turn
        (render/jsonout.py) rather than holding them all."""
        m, g = self.model, self.model.main
        return {
            "schema_version": SCHEMA_VERSION,
            "generator": f"graphreport {__version__}",
            "format": m.format,
            "file": os.path.basename(m.path),
            "file_size": m.file_size,
            "producer": m.producer,
            "format_version": m.format_version,
            **self.io.to_json(),
            "commands": self.commands,
            **self.summary.to_json(),
            "totals": self.figures.to_json(),
            "cost": self.cost.to_json() if self.cost is not None else None,
            "shapes": self.shapes.to_json() if self.shapes is not None else None,
            "compatibility": self.compat.to_json() if self.compat is not None else None,
            "nodes": [self.node_dict(n) for n in g.nodes] if nodes else None,
            "tensors": [tensor_dict(g.tensors[k]) for k in g.tensors] if m.lists_tensors else [],
            "subgraphs": [{"name": sg.name, "kind": sg.kind, "nodes": len(sg.nodes)} for sg in m.graphs],
            "functions": m.details.get("functions", []),
            "signatures_declared": len(m.signatures),
            "metadata": m.metadata,
            "warnings": self.warnings + m.warnings,
            **({"verification": self.verification.to_json()} if self.verification is not None else {}),
        }

    def totals(self) -> dict:
        """Whole-model figures (the JSON's `totals`, see summary.Totals)."""
        return self.figures.to_json()

    def layers(self) -> list:
        """Cost per layer (cost.layers), computed once by the cost analysis."""
        return self.cost.layers if self.cost is not None else []

    def node_dict(self, n) -> dict:
        d = node_dict(self.model.main, n)
        c = self.compat.nodes.get(n.name) if self.compat else None
        if c is not None:
            d["tflite"] = c.tflite
            d["int8"] = c.int8
            d["tflite_reason"] = c.reason
        k = (self._node_costs if hasattr(self, "_node_costs") else self.node_costs()).get(n.name)
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


def short_input(name: str) -> str:
    node, idx = split_tensor_name(name)
    return node if idx == 0 else name


def node_dict(g, n) -> dict:
    tensors = g.tensors
    # "x:0" -> "x" written out (most inputs): what short_input makes of it, for a fraction of its time
    inputs = [i[:-2] if i[-2:] == ":0" and i[:1] != "^" else short_input(i) for i in n.inputs]
    if n.control_inputs:
        inputs += [f"^{c}" for c in n.control_inputs]
    d = {"name": n.name, "op": n.op, "inputs": inputs,
         "outputs": [{"dtype": (t := tensors[x]).dtype, "shape": t.shape} for x in n.outputs], "attrs": n.attrs}
    if n.is_const:
        d["const"] = True
    return d


def tensor_dict(t) -> dict:
    d = {"name": t.name, "dtype": t.dtype, "shape": t.shape, "shape_signature": t.shape_signature,
         "const_bytes": t.const.nbytes if t.const else None,
         "quantization": asdict(t.quantization) if t.quantization is not None else None,
         "sparsity": t.sparsity}
    return d


def build_report(model: Model, diagram: bool = True, input_shapes: Optional[dict] = None,
                 outputs: Optional[list[str]] = None) -> Report:
    """Run every analysis once. `diagram`: the report wants its diagram (drawn by the HTML renderer, or by
    render.diagram.attach for a caller that reads it without rendering). `input_shapes` fixes unknown input dims (node name -> shape);
    `outputs` names the outputs the compatibility check traces back from (default: the suggestion)."""
    with paused(big=len(model.main.nodes) >= BIG_NODES):  # millions of objects, no cycle: see collector.py
        shape_stats = None
        if not model.stores_shapes:
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
        if not model.declares_io and not io.outputs and model.has_architecture:
            warnings.append("no output could be suggested: name the outputs yourself")
        costs = cost.compute_cost(model, param_counts)
        return Report(model=model, io=io, summary=summ, commands=cmds,
                      figures=summary.totals(summ, costs.totals, assumed), warnings=warnings, compat=comp,
                      cost=costs, shapes=shape_stats, assumed_batch=assumed, wants_diagram=diagram)
