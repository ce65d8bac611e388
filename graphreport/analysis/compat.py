"""TFLite compatibility: will this model convert with builtins only, does it need Flex (SELECT_TF_OPS), which
ops cannot convert at all, and will full-integer (int8) quantization succeed.

Knowledge is data: graphreport/opdata/tflite_compat.json, produced by tools/gen_tflite_compat.py from the
installed converter (each op probed as a one-op frozen graph, converted builtins-only, with SELECT_TF_OPS and
as full int8) and TensorFlow's Flex allowlist. This module only reads that JSON (never tensorflow).

TensorFlow sources (GraphDef, MetaGraph, SavedModel, TF.js, Keras): only the ops that feed the outputs count
(the user's, else the suggested ones); constant subgraphs fold away; saver, summary, optimizer, gradient and
initialisation nodes are listed apart. TFLite sources: the quantization type, per-op status from the
tensors' dtypes, custom/Flex ops, resource variables, control-flow subgraphs and sparse tensors.
"""
from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

from ..errors import UsageError
from ..model import FLOAT_DTYPES, Graph, Model, Node, num_elements, split_tensor_name
from ..opdata import roles as op_roles
from . import io_suggest, op_matcher
from .shapes import topological_order

OPDATA = Path(__file__).resolve().parent.parent / "opdata" / "tflite_compat.json"

FLEX_FIX = ("convert with target_spec.supported_ops = [TFLITE_BUILTINS, SELECT_TF_OPS] and ship the Flex "
            "delegate (select-TF-ops runtime, several MB larger), or replace the op")
CUSTOM_FIX = ("replace it with supported ops, or write a TFLite custom op (converter.allow_custom_ops = True) "
              "and register its kernel with the interpreter")

PLACEHOLDERS = op_roles.ops("placeholder")
VARIABLE_OPS = op_roles.ops("variable", "variable_read", "variable_check", "variable_gather", "variable_temp")
V1_CONTROL_FLOW = op_roles.ops("switch", "merge", "loop")
V2_CONTROL_FLOW = op_roles.ops("if", "while", "case")
CALL_OPS = op_roles.ops("call")
FAKE_QUANT = op_roles.pattern("fake_quant")
PIPELINE_OPS = op_roles.pattern("pipeline")
# ops whose value is not a function of their inputs: never constant-folded
STATEFUL = op_roles.pattern("stateful")
# shape-reading ops fold when the input's shape is fully known
SHAPE_OPS = op_roles.ops("shape_read")
RANDOM_OPS = op_roles.pattern("random_stateful")
TRAINING_SCOPE = re.compile(r"(^|/)(dropout\w*|Dropout\w*|cond(_\d+)?/Switch)(/|$)")


# ----------------------------------------------------------------------------------------------------------
# Result types
# ----------------------------------------------------------------------------------------------------------

@dataclass(slots=True)
class NodeCompat:
    name: str
    op: str
    tflite: str  # builtin:CONV_2D | builtin:A+B | removed | folded | input | flex | unsupported | custom:X | unknown
    int8: str  # ok | float | blocker
    reason: str = ""
    fix: str = ""

    def __post_init__(self):  # the same verdicts repeat on thousands of nodes: one string object each
        if isinstance(self.tflite, str) and isinstance(self.reason, str):
            self.tflite, self.reason = sys.intern(self.tflite), sys.intern(self.reason)

    def to_dict(self) -> dict:
        d = {"op": self.op, "tflite": self.tflite, "int8": self.int8, "reason": self.reason}
        if self.fix:
            d["fix"] = self.fix
        return d


@dataclass
class CompatReport:
    tf_version_basis: str
    builtins_only: bool
    needs_flex: list[str] = field(default_factory=list)  # TF op types
    unsupported: list[str] = field(default_factory=list)  # op types (TFLite: custom ops without Flex)
    int8_full: bool = False
    int8_blockers: list[str] = field(default_factory=list)  # op types
    warnings: list[str] = field(default_factory=list)
    verdict: str = ""
    quantization_type: Optional[str] = None  # TFLite sources only
    nodes: dict[str, NodeCompat] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)  # the outputs the analysis traced back from
    set_apart: dict[str, list[str]] = field(default_factory=dict)  # category -> op types not counted
    notes: list[str] = field(default_factory=list)  # dynamic-range and float16 modes, ...
    custom_ops: list[str] = field(default_factory=list)  # TFLite sources: custom op codes present
    unknown_ops: list[str] = field(default_factory=list)  # op types no table knows (judged by name)

    def to_dict(self) -> dict[str, Any]:
        """The `compatibility` object of the report JSON."""
        return {
            "tf_version_basis": self.tf_version_basis,
            "builtins_only": self.builtins_only,
            "needs_flex": self.needs_flex,
            "unsupported": self.unsupported,
            "int8_full": self.int8_full,
            "int8_blockers": self.int8_blockers,
            "warnings": self.warnings,
            "verdict": self.verdict,
            "quantization_type": self.quantization_type,
        }

    def nodes_dict(self) -> dict[str, dict]:
        """Per node: name -> {op, tflite, int8, reason[, fix]}."""
        return {k: v.to_dict() for k, v in self.nodes.items()}

    def details_dict(self) -> dict[str, Any]:
        return {"outputs": self.outputs, "set_apart": self.set_apart, "notes": self.notes,
                "custom_ops": self.custom_ops, "unknown_ops": self.unknown_ops}

    def to_json(self) -> dict[str, Any]:
        """The report JSON's `compatibility`: the verdict, then what it traced and set apart."""
        return {**self.to_dict(), **self.details_dict()}


# ----------------------------------------------------------------------------------------------------------
# The op table
# ----------------------------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def load_table() -> dict:
    return json.loads(OPDATA.read_text())


@lru_cache(maxsize=1)
def _allowlist() -> frozenset:
    return frozenset(load_table().get("flex_allowlist", []))


def _matches(when: dict, attrs: dict) -> bool:
    for k, v in when.items():
        have = attrs.get(k)
        if isinstance(v, bool):
            if bool(have) != v:
                return False
        elif have != v:
            return False
    return True


RANDOM = op_roles.pattern("random_any")
_is_random, _is_stateful = op_matcher(RANDOM), op_matcher(STATEFUL)


def node_dtype(g: Graph, node: Node) -> Optional[str]:
    keys = ("dtype", "T") if _is_random(node.op) else ("T", "Tparams", "dtype", "SrcT")  # Random*: T = shape
    for key in keys:
        v = node.attrs.get(key)
        if isinstance(v, str):
            return v
    for t in node.inputs[:1]:
        tt = g.tensors.get(t)
        if tt is not None and tt.dtype:
            return tt.dtype
    return None


# ops that exist only after an optimizer fused them (grappler's _Fused*, the TF.js converter's Fused*): a
# TFLite conversion starts from the unfused graph (tfjs-to-tf / the SavedModel), so they are judged as the op
# they were fused from (their fused BiasAdd / activations are all builtins with int8 kernels)
FUSED_BASE = {"_FusedConv2D": "Conv2D", "FusedDepthwiseConv2dNative": "DepthwiseConv2dNative",
              "_FusedDepthwiseConv2dNative": "DepthwiseConv2dNative", "_FusedMatMul": "MatMul"}


def lookup(op: str, attrs: dict, dtype: Optional[str]) -> tuple[dict, str]:
    """-> (entry with status/tflite/flex/int8, how it was found: probe | probe:dtype | probe:attrs | allowlist
    | inferred | fused | none)."""
    if op in FUSED_BASE and op not in load_table()["ops"]:
        entry, _ = lookup(FUSED_BASE[op], attrs, dtype)
        return {**entry, "note": f"a fused op: judged as {FUSED_BASE[op]}, which it was fused from"}, "fused"
    entry = load_table()["ops"].get(op)
    if entry is not None:
        for v in entry.get("attrs", []):
            if _matches(v["when"], attrs):
                return v, "probe:attrs"
        dts = entry.get("dtypes", {})
        if dtype and dtype in dts:
            return dts[dtype], "probe:dtype"
        if dtype in ("float16", "float64", "bfloat16", "complex64", "complex128") and \
                entry.get("status") == "builtin" and entry.get("tflite") and op in _allowlist():
            # TFLite kernels take float32; probes of the common ops (Conv2D, MatMul, Add, Transpose ...) on
            # float16/float64 all needed Flex, bar pure data movement (Reshape).
            return {"status": "flex", "flex": [f"Flex{op}"], "int8": "blocker",
                    "note": f"{dtype} tensors: TFLite builtins compute in float32"}, "inferred"
        if dtype == "string" and entry.get("status") == "builtin" and entry.get("tflite"):
            if op in _allowlist():
                return {"status": "flex", "flex": [f"Flex{op}"], "int8": "blocker",
                        "note": "string tensors: few TFLite builtins take strings"}, "inferred"
        return entry, "probe"
    if op in _allowlist():
        return {"status": "flex", "flex": [f"Flex{op}"], "int8": "blocker"}, "allowlist"
    return {"status": "unsupported", "int8": "blocker"}, "none"


# ----------------------------------------------------------------------------------------------------------
# TensorFlow sources
# ----------------------------------------------------------------------------------------------------------

def check_compat(model: Model, outputs: Optional[list[str]] = None,
                 suggestion: Optional[io_suggest.IOSuggestion] = None) -> CompatReport:
    """`suggestion`: io_suggest.suggest(model) when the caller has it already (only its names and roles
    are read)."""
    if model.main.dialect == "tflite":
        return _check_tflite(model)
    if model.main.dialect == "keras":  # Keras files and TF.js layers models: layers are the nodes
        return _check_keras(model, outputs)
    return _check_tf(model, outputs, suggestion)


def _resolve_outputs(g: Graph, suggestion, outputs: Optional[list[str]]) -> list[str]:
    if outputs:
        names = []
        for o in outputs:
            node, _ = split_tensor_name(o)
            if g.node(node) is None:
                raise UsageError(f"output {o!r} is not a node of the graph; name one of its nodes "
                                 "(e.g. as the report lists them)")
            names.append(node)
        return names
    if g.outputs:
        return list(dict.fromkeys(p for p in (g.producer(t) for t in g.outputs) if p))
    by_name = g.by_name()
    return [o.name for o in suggestion.outputs if o.name in by_name]


def _folded(g: Graph, names: list[str]) -> set[str]:
    """Nodes whose value is a constant: constant inputs only (transitively), or a shape of a static shape.
    One pass with a count of the inputs still waiting per node, whatever the order of the graph."""
    const: set[str] = set()
    ready: list[str] = []
    waiting: dict[str, int] = {}  # node -> producers not yet known constant
    readers: dict[str, list[str]] = {}  # producer -> nodes waiting for it
    by_name, get = g.by_name(), g.tensors.get
    for name in dict.fromkeys(names):
        node = by_name[name]
        if node.is_const or node.op == "Const":
            const.add(name)
            ready.append(name)
            continue
        if _is_stateful(node.op) and node.op != "PlaceholderWithDefault":
            continue
        if node.op in SHAPE_OPS and node.inputs:
            shapes = [g.tensors[t].shape if t in g.tensors else None for t in node.inputs]
            if all(s is not None and num_elements(s) is not None for s in shapes):
                const.add(name)
                ready.append(name)
                continue
        if not node.inputs:
            continue
        prods = set()
        for t in node.inputs:  # g.producer(t), written out: once per edge
            tensor = get(t)
            if tensor is not None:
                prods.add(tensor.producer)
            else:
                p = split_tensor_name(t)[0]
                prods.add(p if p in by_name else None)
        if None in prods:
            continue  # an input without a producing node is never constant
        waiting[name] = len(prods)
        for p in prods:
            readers.setdefault(p, []).append(name)
    while ready:
        for r in readers.get(ready.pop(), ()):
            if r in const:
                continue
            waiting[r] -= 1
            if waiting[r] == 0:
                const.add(r)
                ready.append(r)
    return const


def _tflite_name(ops: list[str]) -> str:
    ops = [o for o in ops if o not in ("QUANTIZE", "DEQUANTIZE")] or ops
    return "builtin:" + "+".join(ops) if ops else "removed"


def _io_dtypes(g: Graph, node: Node) -> list[Optional[str]]:
    out = []
    for t in node.inputs + node.outputs:
        tt = g.tensors.get(t)
        out.append(tt.dtype if tt is not None else None)
    return out


GELU_OPS = op_roles.ops("gelu_part")


def _data_producers(g: Graph, node: Node) -> list[str]:
    """Producers of a node's non-constant inputs."""
    out = []
    for t in node.inputs:
        tt = g.tensors.get(t)
        if tt is not None and tt.is_const:
            continue
        p = g.producer(t)
        if p and not g.node(p).is_const:
            out.append(p)
    return out


L2NORM_OPS = op_roles.ops("l2norm_part")


def gelu_pattern(g: Graph, anchor: Node, cons: dict[str, list[str]], cyclic: frozenset = frozenset()) -> set[str]:
    """The nodes of x * 0.5 * (1 + erf(x / sqrt(2))), x * 0.5 * erfc(-x / sqrt(2)) or the tanh approximation
    x * 0.5 * (1 + tanh(c * (x + 0.044715 x^3))) around their Erf/Erfc/Tanh: the converter fuses them into
    one GELU builtin. Empty when the pattern is not there."""
    return _fused_region(g, anchor, cons, GELU_OPS, half_x=True, cyclic=cyclic)


def l2norm_pattern(g: Graph, anchor: Node, cons: dict[str, list[str]], cyclic: frozenset = frozenset()) -> set[str]:
    """x * rsqrt(max(sum(x^2), eps)) around its Rsqrt: the converter fuses it into L2_NORMALIZATION."""
    region = _fused_region(g, anchor, cons, L2NORM_OPS, half_x=False, cyclic=cyclic)
    return region if {"Square", "Sum"} <= {g.node(n).op for n in region} else set()


REGION_MAX = 12  # nodes of a fused pattern, at most


def _fused_region(g: Graph, anchor: Node, cons: dict[str, list[str]], allowed: set[str],
                  half_x: bool, cyclic: frozenset = frozenset()) -> set[str]:
    """Walk down from the anchor to the Mul that joins the x branch; the region is every node on a path from
    x (the source) to that Mul. It counts only when it has at most REGION_MAX nodes, every node is of an
    allowed op, takes nothing from outside but x and constants, and feeds nothing outside.

    Bounded work: the region is found by walking up from the final Mul, stopping at the source, and given up
    as soon as it outgrows REGION_MAX. When the region is valid that walk meets exactly its nodes (each takes
    its inputs from the region or the source); a node the walk meets that is not below the source makes the
    region take an input from outside, so the region is not valid either. A source on a cycle (`cyclic`:
    nodes on a cycle, e.g. a TF1 while loop through Merge <- NextIteration) would be part of its own region:
    not fused (a region holding a loop's Merge never was)."""
    final, seen = anchor, []
    other = None
    for _ in range(3):  # down: (1 + erf) * (x * 0.5)
        users = cons.get(final.name, [])
        if len(users) != 1 or g.node(users[0]).op not in ("Mul", "Add", "AddV2"):
            return set()
        final = g.node(users[0])
        seen.append(final.name)
        rest = [p for p in _data_producers(g, final) if p not in seen and p != anchor.name]
        if final.op == "Mul" and len(rest) == 1:
            other = g.node(rest[0])
            break
    if other is None:
        return set()
    src_prods = _data_producers(g, other)
    source = src_prods[0] if half_x and other.op in ("Mul", "RealDiv") and len(src_prods) == 1 else other.name
    if source in cyclic or source in _data_producers(g, g.node(source)):
        return set()
    # the region: walk up from the final Mul to the source
    region, producers, stack = {final.name}, {}, [final.name]
    while stack:
        name = stack.pop()
        node = g.node(name)
        if node.op not in allowed:
            return set()
        prods = producers[name] = _data_producers(g, node)
        for p in prods:
            if p != source and p not in region:
                region.add(p)
                if len(region) > REGION_MAX:
                    return set()
                stack.append(p)
    if anchor.name not in region:
        return set()
    # every node of the region lies below the source
    below, changed = {source}, True
    while changed:
        changed = False
        for n in region:
            if n not in below and any(p in below for p in producers[n]):
                below.add(n)
                changed = True
    if len(below) != len(region) + 1:
        return set()
    for n in region:
        if n != final.name and any(c not in region for c in cons.get(n, ())):
            return set()
    return region


def cyclic_nodes(g: Graph, cons: dict[str, list[str]]) -> frozenset:
    """Nodes on a cycle of data edges (strongly connected components of more than one node, or a node that
    reads itself), in one pass (Tarjan's algorithm, iterative). Empty for the acyclic graphs most are."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: set[str] = set()
    counter = 0
    for root in (n.name for n in g.nodes):
        if root in index:
            continue
        work = [(root, iter(cons.get(root, ())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(cons.get(w, ()))))
                    advanced = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                u = work[-1][0]
                low[u] = min(low[u], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1 or v in cons.get(v, ()):
                    out.update(comp)
    return frozenset(out)


def fusions(g: Graph, names: list[str], folded: set[str], cons: dict[str, list[str]]) -> dict[str, str]:
    """Node name -> the TFLite builtin the converter fuses it into, for patterns whose parts alone would be
    judged differently (GELU from Erf/Erfc/Tanh + Pow/Mul/Add; L2_NORMALIZATION from Square/Sum/Rsqrt/Mul;
    SQUARED_DIFFERENCE from Square(Sub)). Each candidate looks at a bounded neighbourhood of its anchor."""
    out: dict[str, str] = {}
    cyclic = None
    by_name = g.by_name()
    squares = []
    for name in names:
        if name in folded:
            continue
        node = by_name[name]
        if node.op == "Square":
            squares.append(name)
        elif node.op in ("Erf", "Erfc", "Tanh", "Rsqrt"):
            if cyclic is None:  # cycles need finding only when the graph has some (TF1 while loops)
                cyclic = cyclic_nodes(g, cons) if topological_order(g)[1] else frozenset()
            if node.op == "Rsqrt":
                for p in l2norm_pattern(g, node, cons, cyclic):
                    out[p] = "L2_NORMALIZATION"
            else:
                for p in gelu_pattern(g, node, cons, cyclic):
                    out[p] = "GELU"
    for name in squares:
        node = by_name[name]
        if name not in out:
            prods = _data_producers(g, node)
            if len(prods) == 1 and g.node(prods[0]).op == "Sub" and cons.get(prods[0]) == [name]:
                out[name] = out[prods[0]] = "SQUARED_DIFFERENCE"
    return out


_VERDICTS: dict[tuple, tuple] = {}  # (op, dtype, data_format) -> NodeCompat fields, see classify_tf_node


def classify_tf_node(g: Graph, node: Node, variables_freeze: bool, cons: dict[str, list[str]]) -> NodeCompat:
    """`variables_freeze`: the model's converter freezes its variables (Model.variables_freeze_on_conversion)."""
    op = node.op
    if op in PLACEHOLDERS:
        return NodeCompat(node.name, op, "input", "ok", "a model input")
    if op in op_roles.CONTROL_ANCHORS:
        return NodeCompat(node.name, op, "removed", "ok", "control-dependency anchor: the converter drops it")
    if op in VARIABLE_OPS:
        if variables_freeze:
            return NodeCompat(node.name, op, "folded", "ok", "variable: the converter freezes it into a constant")
        return NodeCompat(node.name, op, "unsupported", "blocker",
                          "a variable in a graph meant to be frozen: from_frozen_graph refuses it "
                          "('Please freeze the graph')",
                          "freeze the graph first (convert_variables_to_constants / freeze_graph with the "
                          "checkpoint)")
    dtype = node_dtype(g, node)
    df = node.attrs.get("data_format")
    key = (op, dtype, df if type(df) is str else None)
    known = _VERDICTS.get(key)
    if known is not None:  # the same op on the same dtype: the same verdict, made once
        return NodeCompat(node.name, op, *known)
    entry, how = lookup(op, node.attrs, dtype)
    status = entry.get("status", "unsupported")
    int8 = entry.get("int8", "blocker")
    variant = ""
    if how == "probe:attrs":
        variant = " with " + ", ".join(f"{k}={v}" for k, v in entry["when"].items())
    elif how == "probe:dtype":
        variant = f" on {dtype}"
    if status == "builtin":
        tfl = _tflite_name(entry.get("tflite", []))
        if tfl == "removed":
            reason = "the converter removes it (no kernel needed)"
        else:
            reason = f"TFLite builtin {tfl[8:].replace('+', ' + ')}{variant}"
            if how == "fused":
                reason += f" ({entry['note']})"
            if "TRANSPOSE" in entry.get("tflite", []) and node.attrs.get("data_format") == "NCHW":
                reason += " (NCHW: the converter wraps it in TRANSPOSE ops, which cost time)"
        nc = NodeCompat(node.name, op, tfl, int8, reason)
    elif status == "flex":
        note = entry.get("note", "")
        why = (f"no TFLite builtin for {op}{variant}" + (f" ({note})" if note else "")
               + "; on TensorFlow's Flex allowlist" + ("" if how.startswith("probe") else " (not probed)"))
        nc = NodeCompat(node.name, op, "flex", "blocker", why, FLEX_FIX)
    else:
        if how == "none":
            why = f"{op} is neither a TFLite builtin nor on the Flex allowlist (op not probed; judged by name)"
        else:
            err = entry.get("error", "")
            why = f"{op}{variant} is neither a TFLite builtin nor a Flex op" + (f": {err}" if err and
                                                                               "neither" not in err else "")
        nc = NodeCompat(node.name, op, "unsupported", "blocker", why, CUSTOM_FIX)
    if how not in ("probe:attrs", "fused") and not (load_table()["ops"].get(op) or {}).get("attrs") \
            and nc.int8 != "float":  # a verdict that depends on nothing else of the node
        _VERDICTS[key] = (nc.tflite, nc.int8, nc.reason, nc.fix)
    if nc.int8 == "float":
        dts = [d for d in _io_dtypes(g, node) if d]
        if dtype not in FLOAT_DTYPES and dts and len(dts) == len(node.inputs) + len(node.outputs) and \
                not any(d in FLOAT_DTYPES for d in dts):
            nc.int8 = "ok"  # nothing float to quantize (integer or boolean tensors only)
        else:
            nc.reason += "; stays float in full-int8 conversion (no int8 kernel, or not quantized)"
    return nc


def _set_apart(g: Graph) -> tuple[set[str], dict[str, list[str]]]:
    names, cats = set(), {}
    for node, cat in zip(g.nodes, io_suggest.categories(g)):
        if cat:
            names.add(node.name)
            if not node.is_const:
                cats.setdefault(cat, set()).add(node.op)
    return names, {k: sorted(v) for k, v in sorted(cats.items())}


def _graph_warnings(g: Graph, model: Model, relevant: list[str], folded: set[str], out: CompatReport,
                    suggestion) -> None:
    w = out.warnings
    by_name = g.by_name()
    nodes = [by_name[n] for n in relevant]
    ops = {n.op for n in nodes}
    # inputs with unknown dimensions or rank
    for n in nodes:
        if n.op not in PLACEHOLDERS:
            continue
        t = g.tensors.get(n.outputs[0]) if n.outputs else None
        shape = t.shape if t else None
        dtype = t.dtype if t else None
        if shape is None:
            w.append(f"input {n.name} has unknown rank: give the converter its shape (input_shapes=...) "
                     "or many ops will not convert")
        elif any(d is None for d in shape):
            if shape[0] is None and all(d is not None for d in shape[1:]):
                w.append(f"input {n.name} has an unknown batch dimension {shape}: the model stays dynamic-batch "
                         "(fix it, e.g. to 1, for delegates and the fastest kernels)")
            else:
                w.append(f"input {n.name} has unknown dimensions {shape}: set them (input_shapes=...) or expect "
                         "dynamic-shape kernels, no GPU/NNAPI delegate, and slower int8 calibration")
        if dtype == "string":
            w.append(f"input {n.name} is a string tensor: TFLite builtins take strings in only a few ops; "
                     "string processing usually needs Flex, or doing it outside the model")
    # variables left in a frozen graph
    var_nodes = [n for n in nodes if n.op in VARIABLE_OPS]
    if var_nodes and not model.variables_freeze_on_conversion:
        kinds = sorted({n.op for n in var_nodes})
        w.append(f"the graph still holds {len(var_nodes)} variable op(s) ({', '.join(kinds)}): it is not frozen; "
                 "freeze it with its checkpoint (convert_variables_to_constants) before converting")
    # training-only nodes
    roles = {x.name: x for x in suggestion.ignored_inputs} if suggestion else {}
    for n in nodes:
        if n.name in roles and roles[n.name].role in ("training_switch", "dropout_keep_prob", "dropout_rate"):
            r = roles[n.name]
            w.append(f"training-only input {n.name} ({r.reason}) is on the inference path: fold it to "
                     f"{r.suggested_value!r} (PlaceholderWithDefault or freeze with it fed) before converting")
    random_ops = {op for op in ops if RANDOM_OPS.match(op)}
    randoms = [n for n in nodes if n.op in random_ops] if random_ops else []
    if randoms and any(TRAINING_SCOPE.search(n.name) for n in randoms):
        w.append("dropout is still in the inference path (random ops under a dropout scope): rebuild or freeze "
                 "the graph in inference mode (keep_prob=1 / training=False)")
    elif randoms:
        w.append(f"random ops on the inference path ({', '.join(sorted({n.op for n in randoms}))}): outputs "
                 "will not be deterministic; is this a training-mode graph?")
    pipeline = sorted(op for op in ops if PIPELINE_OPS.match(op))
    if pipeline:
        w.append(f"input-pipeline ops on the inference path ({', '.join(pipeline)}): cut the graph at a "
                 "Placeholder and feed data from outside the model")
    cf1 = sorted(ops & V1_CONTROL_FLOW)
    if cf1:
        w.append(f"TF1 control flow ({', '.join(cf1)}): the converter rewrites it into IF/WHILE subgraphs, which "
                 "stay float under int8 and are not taken by most delegates; if it switches training behaviour "
                 "(is_training, dropout), export in inference mode instead")
    cf2 = sorted(ops & V2_CONTROL_FLOW)
    if cf2:
        w.append(f"control flow ({', '.join(cf2)}) becomes IF/WHILE subgraphs: they stay float under int8 and "
                 "most delegates do not take them" + ("" if any(gr.kind == "function" for gr in model.graphs)
                                                      else "; the bodies (function library) were not inspected"))
    fq = sorted(op for op in ops if FAKE_QUANT.match(op))
    if fq:
        w.append(f"quantization-aware graph ({', '.join(fq)}): the converter turns the fake-quant ranges into "
                 "QUANTIZE/DEQUANTIZE; convert with optimizations=[DEFAULT] (no representative dataset needed for "
                 "the ranges it covers) to get an int8 model")
    string_ops: set[str] = set()  # ops computing a string tensor on the path
    for n in nodes:
        if n.op not in string_ops and n.name not in folded and n.op not in PLACEHOLDERS and any(
                t in g.tensors and g.tensors[t].dtype == "string" for t in n.outputs):
            string_ops.add(n.op)
    strings = sorted(string_ops)
    if strings:
        w.append(f"string tensors are computed on the inference path (by {', '.join(strings)}): most string ops "
                 "need Flex")


def _check_tf(model: Model, outputs: Optional[list[str]], suggestion=None) -> CompatReport:
    table = load_table()
    g = model.main
    out = CompatReport(tf_version_basis=table.get("tf_version_basis", "?"), builtins_only=False)
    apart_names, out.set_apart = _set_apart(g)
    if suggestion is None:
        suggestion = io_suggest.suggest(model)
    out.outputs = _resolve_outputs(g, suggestion, outputs)
    if not model.has_architecture:
        out.verdict = ("Not judged: the file holds weights but no architecture (it lives in JavaScript code); "
                       "check the model it belongs to.")
        return out
    if not out.outputs:
        out.verdict = "No outputs found: name the outputs to check what the converter would see."
        out.warnings.append("no outputs could be suggested; pass outputs=[...]")
        return out
    deps = g.ancestors(out.outputs, control=True) | set(out.outputs)
    needed = [n.name for n in g.nodes if n.name in deps]  # the outputs and what they depend on, in graph order
    del deps
    by_name = g.by_name()
    relevant = [n for n in needed if n not in apart_names or n in out.outputs]
    apart_on_path = sorted({by_name[n].op for n in needed if n in apart_names
                            and not by_name[n].is_const and by_name[n].op != "NoOp"})
    folded = _folded(g, relevant)
    cons = g.consumers()
    fused = fusions(g, relevant, folded, cons)
    freeze = model.variables_freeze_on_conversion
    for name in relevant:
        node = by_name[name]
        if name in fused and name not in folded:
            out.nodes[name] = NodeCompat(name, node.op, f"builtin:{fused[name]}", "ok",
                                         f"part of a {fused[name]} pattern: the converter fuses it into one "
                                         f"{fused[name]} builtin")
            continue
        if name in folded:
            if not node.is_const and node.op != "Const":
                out.nodes[name] = NodeCompat(name, node.op, "folded", "ok",
                                             "computes a constant: the converter folds it")
            continue
        out.nodes[name] = classify_tf_node(g, node, freeze, cons)
    # function bodies (SavedModel / control flow v2), when the reader expanded them
    graphs = {gr.name: gr for gr in model.graphs[1:]}
    seen_fn: set[str] = set()
    todo, funcs = [], []
    no_funcs: set[int] = set()  # ids of attribute dicts (shared by many nodes) that name no function
    for name in relevant:
        node = by_name[name]
        todo.extend(node.calls)
        attrs = node.attrs
        if id(attrs) not in no_funcs:
            named = [v["func"] for v in attrs.values() if isinstance(v, dict) and "func" in v]
            if named:
                funcs.extend(named)
            else:
                no_funcs.add(id(attrs))
    todo += funcs
    while todo:
        fname = todo.pop()
        if fname in seen_fn or fname not in graphs:
            continue
        seen_fn.add(fname)
        fg = graphs[fname]
        fcons = fg.consumers()
        for node in fg.op_nodes():
            if node.op in ("_Arg", "_Retval", "Const", "NoOp") or node.op in PLACEHOLDERS:
                continue
            out.nodes[f"{fname}/{node.name}"] = classify_tf_node(fg, node, model.variables_freeze_on_conversion,
                                                                 fcons)
            todo.extend(node.calls)
            todo.extend(v["func"] for v in node.attrs.values() if isinstance(v, dict) and "func" in v)
    if apart_on_path:
        out.warnings.append(f"training/saver nodes feed the outputs ({', '.join(apart_on_path)}): they are left out "
                            "of this check; make sure the outputs are the inference outputs")
    _graph_warnings(g, model, relevant, folded, out, suggestion)
    _summarize(out)
    _tf_notes(g, model, relevant, folded, out)
    return out


def _summarize(out: CompatReport) -> None:
    flex, unsup, blockers, unknown = set(), set(), set(), set()
    for nc in out.nodes.values():
        if nc.tflite == "flex":
            flex.add(nc.op)
        elif nc.tflite == "unsupported" or nc.tflite.startswith("custom:"):
            unsup.add(nc.op)
            if "judged by name" in nc.reason:
                unknown.add(nc.op)
        if nc.int8 in ("float", "blocker"):
            blockers.add(nc.op)
    out.needs_flex = sorted(flex)
    out.unsupported = sorted(unsup)
    out.unknown_ops = sorted(unknown)
    out.int8_blockers = sorted(blockers)
    out.builtins_only = not flex and not unsup
    out.int8_full = out.builtins_only and not blockers
    out.verdict = _verdict(out)


def _names(ops: list[str], n: int = 4) -> str:
    """Op or node names for a sentence: each once, in order; never an empty list."""
    ops = list(dict.fromkeys(ops))
    if not ops:
        return "(none)"
    return ", ".join(ops[:n]) + (f" and {len(ops) - n} more" if len(ops) > n else "")


def _verdict(out: CompatReport) -> str:
    if out.unsupported:
        one = len(out.unsupported) == 1
        s = (f"Will not convert as is: {_names(out.unsupported)} "
             + ("is neither a TFLite builtin nor a Flex op" if one else "are neither TFLite builtins nor Flex ops"))
        if out.needs_flex:
            s += f", and {_names(out.needs_flex)} need SELECT_TF_OPS"
        return s + "."
    if out.needs_flex:
        return (f"Converts only with SELECT_TF_OPS (Flex) for {_names(out.needs_flex)}; "
                "full-integer int8 is out of reach while Flex ops remain.")
    if out.int8_full:
        return "Converts with TFLite builtins only, and full-integer int8 quantization should succeed."
    return (f"Converts with TFLite builtins only, but full-integer int8 leaves {_names(out.int8_blockers)} "
            "in float.")


def _tf_notes(g: Graph, model: Model, relevant: list[str], folded: set[str], out: CompatReport) -> None:
    weight_ops = op_roles.WEIGHT_OPERANDS
    big = 0
    by_name = g.by_name()
    for name in relevant:
        node = by_name[name]
        if node.op not in weight_ops or name in folded:
            continue
        for t in node.inputs:
            tt = g.tensors.get(t)
            if tt is not None and tt.is_const and tt.dtype == "float32" and (num_elements(tt.shape) or 0) >= 1024:
                big += 1
    if out.builtins_only or out.needs_flex and not out.unsupported:
        if big:
            out.notes.append(
                f"dynamic-range quantization (optimizations=[DEFAULT], no dataset) works with "
                f"{'builtins' if out.builtins_only else 'Flex'}: {big} weight tensor(s) of 1024+ elements "
                "become int8, activations stay float32 (about 4x smaller weights, float I/O)")
        else:
            out.notes.append("dynamic-range quantization would change nothing: no weight tensor has the 1024+ "
                             "elements the converter requires")
        out.notes.append("float16 quantization (target_spec.supported_types=[float16]) stores float weights as "
                         "float16 (about 2x smaller) and computes in float32 on CPU, float16 on GPU")
    if not out.int8_full and out.builtins_only:
        out.notes.append("full int8 with TFLITE_BUILTINS (not _INT8 only) still converts: the ops listed in "
                         "int8_blockers run in float between QUANTIZE/DEQUANTIZE pairs")


# ----------------------------------------------------------------------------------------------------------
# Keras sources (nodes are layers)
# ----------------------------------------------------------------------------------------------------------

KERAS_STRUCTURAL = {"InputLayer", "Input", "Functional", "Sequential", "Model"}


def _check_keras(model: Model, outputs: Optional[list[str]]) -> CompatReport:
    table = load_table()
    layers = table.get("keras_layers", {})
    g = model.main
    out = CompatReport(tf_version_basis=table.get("tf_version_basis", "?"), builtins_only=False)
    out.outputs = [n.name for n in g.nodes]
    for node in g.nodes:
        cls = node.op
        if cls in KERAS_STRUCTURAL:
            out.nodes[node.name] = NodeCompat(node.name, cls, "input" if "Input" in cls else "removed", "ok",
                                              "structure, not an op")
            continue
        key = cls
        if cls == "Activation":
            act = node.attrs.get("activation")
            if isinstance(act, dict):
                act = act.get("class_name") or act.get("config", {}).get("name")
            key = f"Activation[{act}]"
        elif cls == "UpSampling2D" and node.attrs.get("interpolation") == "bilinear":
            key = "UpSampling2D[bilinear]"
        entry = layers.get(key) or layers.get(cls)
        if not entry or "status" not in entry:
            out.nodes[node.name] = NodeCompat(node.name, cls, "unknown", "ok",
                                              f"Keras layer {key}: not in the layer table; check it by converting")
            out.unknown_ops.append(cls)
            continue
        tf_ops = ", ".join(entry.get("tf_ops", [])) or "nothing"
        if entry["status"] == "builtin":
            nc = NodeCompat(node.name, cls, _tflite_name(entry.get("tflite", [])), entry.get("int8", "ok"),
                            f"traces to {tf_ops}")
        elif entry["status"] == "flex":
            nc = NodeCompat(node.name, cls, "flex", "blocker", f"traces to {tf_ops}; needs Flex", FLEX_FIX)
        else:
            nc = NodeCompat(node.name, cls, "unsupported", "blocker", f"traces to {tf_ops}: does not convert",
                            CUSTOM_FIX)
        out.nodes[node.name] = nc
    unknown = sorted(set(out.unknown_ops))
    _summarize(out)
    out.unknown_ops = unknown
    if out.unknown_ops:
        out.warnings.append(f"layers not in the table ({', '.join(out.unknown_ops)}): judged as convertible; "
                            "custom layers and Lambda layers may trace to any op")
        out.verdict += " (Unknown layers not judged.)"
    return out


# ----------------------------------------------------------------------------------------------------------
# TFLite sources
# ----------------------------------------------------------------------------------------------------------

QDQ = {"QUANTIZE", "DEQUANTIZE"}
INT_ACT = {"int8", "uint8"}
INTEGER_MODELS = {"full_int8", "int16x8", "mixed"}  # activations already quantized: judge what the file does


def builtin_int8(table: dict) -> dict[str, str]:
    """TFLite builtin name -> what full-int8 conversion does with it, from the probed TF-op table: "ok" when
    some probe of a TF op lowering to it got an int8 kernel; else "float" (stays float between QUANTIZE /
    DEQUANTIZE) or "blocker". Builtins the table never produced are absent (not judged)."""
    seen: dict[str, set] = {}
    for entry in table.get("ops", {}).values():
        for e in (entry, *(entry.get("dtypes") or {}).values()):
            if e.get("status") == "builtin":
                for b in e.get("tflite", []):
                    seen.setdefault(b, set()).add(e.get("int8", "ok"))
    return {b: "ok" if "ok" in v else "float" if "float" in v else "blocker" for b, v in seen.items()}


def _check_tflite(model: Model) -> CompatReport:
    table = load_table()
    out = CompatReport(tf_version_basis=table.get("tf_version_basis", "?"), builtins_only=True)
    float_ops: set[str] = set()
    flex, custom = set(), set()
    act_int8 = act_int16 = act_float = False
    w_int8 = w_f16 = False
    has_var = has_cf = False
    sparse = []
    dynamic = []
    multi = len(model.graphs) > 1
    for gi, g in enumerate(model.graphs):
        for t in g.tensors.values():
            if t.sparsity:
                sparse.append(t.name)
        for name in g.inputs:
            t = g.tensors.get(name)
            sig = t.shape_signature if t is not None else None
            if gi == 0 and sig and any(d is None or (isinstance(d, int) and d < 0) for d in sig):
                dynamic.append(f"{name} {sig}")
        for node in g.nodes:
            if node.is_const:
                continue
            key = f"{g.name}/{node.name}" if multi and gi > 0 else node.name
            op = node.op
            tensors = [g.tensors.get(t) for t in node.inputs + node.outputs if t in g.tensors]
            acts = [t for t in tensors if t is not None and not t.is_const and not t.is_variable]
            consts = [t for t in tensors if t is not None and t.is_const]
            if op in ("VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE"):
                has_var = True
            if op in ("IF", "WHILE", "CALL_ONCE", "CALL"):
                has_cf = True
            touches_float = any(t.dtype == "float32" for t in tensors if t is not None)
            if op == "DEQUANTIZE" and any(t.dtype == "float16" for t in consts):
                w_f16 = True
            if op not in QDQ:
                if any(t.dtype in INT_ACT and t.quantization is not None and t.quantization.scale for t in acts):
                    act_int8 = True
                if any(t.dtype == "int16" and t.quantization is not None and t.quantization.scale for t in acts):
                    act_int16 = True
                if any(t.dtype == "float32" for t in acts):
                    act_float = True
                if any(t.dtype == "int8" and t.quantization is not None and t.quantization.scale for t in consts):
                    w_int8 = True
            int8 = "ok" if op in QDQ or not touches_float else "float"
            if node.custom and op.upper() == "CUSTOM":  # a reader that keeps the code in an attribute
                op = str(node.attrs.get("custom_code") or node.attrs.get("code") or op)
            if node.custom:
                if op.startswith("Flex"):
                    flex.add(op[4:])
                    nc = NodeCompat(key, op, "flex", "blocker", f"Flex op: runs TensorFlow's {op[4:]} kernel",
                                    "link the Flex delegate (select-TF-ops runtime)")
                else:
                    custom.add(op)
                    nc = NodeCompat(key, op, f"custom:{op}", "blocker" if int8 == "float" else int8,
                                    "custom op: the interpreter must register a kernel for it", CUSTOM_FIX)
            else:
                nc = NodeCompat(key, op, f"builtin:{op}", int8,
                                "TFLite builtin" + ("; reads or writes float32" if int8 == "float" else ""))
            if int8 != "ok" or nc.int8 == "blocker":
                float_ops.add(op)
            out.nodes[key] = nc
    out.needs_flex = sorted(flex)
    out.custom_ops = sorted(custom)
    out.unsupported = sorted(custom)
    out.builtins_only = not flex and not custom
    if act_int16:
        qt = "int16x8" if not act_float else "mixed"
    elif act_int8:
        qt = "full_int8" if not act_float else "mixed"
    elif w_int8:
        qt = "dynamic_range"
    elif w_f16:
        qt = "float16_weights"
    else:
        qt = "float32"
    out.quantization_type = qt
    not_judged: set[str] = set()
    if qt not in INTEGER_MODELS:
        # a float (or weight-only quantized) file: which ops would stay float if it were produced as full
        # int8 - the same probed table as for TensorFlow graphs, by builtin name
        kernels = builtin_int8(table)
        float_ops = set()
        for nc in out.nodes.values():
            if nc.tflite.startswith("builtin:"):
                # DENSIFY only expands constant sparse weights at load: it keeps their (int8) type
                status = kernels.get(nc.op, "ok" if nc.op in QDQ or nc.op == "DENSIFY" else None)
                if status is None:
                    not_judged.add(nc.op)
                    nc.int8, nc.reason = "unknown", "TFLite builtin; its int8 kernel is not in graphreport's table"
                else:
                    nc.int8 = status
                    nc.reason = "TFLite builtin" + ("" if status == "ok" else "; stays float in a full-int8 model")
            if nc.int8 in ("float", "blocker"):
                float_ops.add(nc.op)
    out.int8_blockers = sorted(float_ops)
    out.int8_full = out.builtins_only and not float_ops and not not_judged
    w = out.warnings
    if flex:
        w.append(f"Flex ops ({', '.join(sorted(flex))}): the app must link the Flex delegate (select-TF-ops "
                 "runtime, several MB)")
    if custom:
        w.append(f"custom ops ({', '.join(sorted(custom))}): the app must register their kernels")
    if has_var:
        w.append("resource variables (VAR_HANDLE/READ_VARIABLE/ASSIGN_VARIABLE): state lives in the interpreter; "
                 "delegates do not take these ops")
    if has_cf:
        w.append("control-flow subgraphs (IF/WHILE/CALL_ONCE): they run on CPU; delegates do not take them")
    if sparse:
        w.append(f"{len(sparse)} sparse tensor(s) ({', '.join(sparse[:3])}): needs the sparsity-aware kernels "
                 "(DENSIFY otherwise expands them at load)")
    if dynamic:
        w.append(f"inputs with dynamic dimensions ({'; '.join(dynamic[:3])}): resize them before allocating tensors")
    if qt == "mixed":
        w.append("mixed quantization: some ops compute in float between QUANTIZE/DEQUANTIZE; integer-only "
                 "accelerators (Edge TPU, some NPUs) will not run the whole model")
    if qt == "dynamic_range":
        out.notes.append("dynamic-range model: int8 weights, float32 activations quantized on the fly; integer-only "
                         "accelerators cannot run it")
    if qt == "float16_weights":
        out.notes.append("float16 weights dequantized to float32 at load on CPU; GPU delegates compute in float16")
    if out.int8_full and qt in INTEGER_MODELS:
        out.verdict = {"full_int8": "A full-integer model with builtins only: runs on integer-only accelerators.",
                       "int16x8": "An int16x8 model with builtins only."}.get(
            qt, "Builtins only, and no op computes in float32.")
    elif out.builtins_only and qt in INTEGER_MODELS:
        out.verdict = (f"Builtins only ({qt.replace('_', ' ')}); {_names(out.int8_blockers)} "
                       f"{'computes' if len(out.int8_blockers) == 1 else 'compute'} in float32.")
    elif out.builtins_only:
        if out.int8_blockers:
            tail = (f"produced as full int8, {_names(out.int8_blockers)} would stay float (no int8 kernel in the "
                    f"TF {out.tf_version_basis} table)")
        elif not_judged:
            tail = f"full int8 not judged for {_names(sorted(not_judged))} (not in the table)"
        else:
            tail = "every op has an int8 kernel: it can be produced as full int8"
        out.verdict = f"Builtins only ({qt.replace('_', ' ')} model); {tail}."
    else:
        parts = []
        if flex:
            parts.append(f"needs the Flex delegate for {_names(sorted(flex))}")
        if custom:
            parts.append(f"needs custom kernels for {_names(sorted(custom))}")
        out.verdict = f"This {qt.replace('_', ' ')} model " + " and ".join(parts) + "."
    return out
