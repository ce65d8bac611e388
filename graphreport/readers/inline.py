"""Function inlining for graphs read from a MetaGraphDef (SavedModel, TF1 checkpoint): calls
(``StatefulPartitionedCall`` / ``PartitionedCall``) reached from the graph are expanded in place, recursively,
within a node budget; functions named by other attributes (``If`` / ``While`` branches) become graphs of their
own. The SavedModel reader's docstring (savedmodel.py) says what the expansion does to names and tensors.
"""
from __future__ import annotations

import re
from typing import Iterable, Optional

from ..model import Graph, split_tensor_name
from ..opdata import roles as op_roles
from . import tfproto
from .graphdef import build_graph
from .tfproto import dtype_name

CALL_OPS = op_roles.ops("call", "call_tpu")
MAX_DEPTH = 32  # nested function calls expanded
MAX_EXPANDED_NODES = 1_000_000  # nodes created by expansion, all calls together, at most ...
EXPANSION_FACTOR = 16  # ... and at most this many times the nodes the file holds (graph + functions) ...
MIN_EXPANSION_BUDGET = 50_000  # ... or this many, whichever is more: a small file cannot blow up
MAX_LIST_OUTPUTS = 65_536  # a list output longer than this is taken as damage
SAVER_FUNCTION = re.compile(r"^__inference__traced_(save|restore)_\d+$")

# Output arguments of common multi-output ops, used only when the file carries no op definitions.
_BUILTIN_OUTPUT_ARGS = {
    "FusedBatchNorm": ["y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2"],
    "FusedBatchNormV2": ["y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2"],
    "FusedBatchNormV3": ["y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2",
                         "reserve_space_3"],
    "Unique": ["y", "idx"], "UniqueV2": ["y", "idx"], "TopKV2": ["values", "indices"], "TopK": ["values", "indices"],
    "Switch": ["output_false", "output_true"], "Merge": ["output", "value_index"],
    "SoftmaxCrossEntropyWithLogits": ["loss", "backprop"],
    "SparseSoftmaxCrossEntropyWithLogits": ["loss", "backprop"],
    "BroadcastGradientArgs": ["r0", "r1"], "MaxPoolWithArgmax": ["output", "argmax"],
    "NonMaxSuppressionV4": ["selected_indices", "valid_outputs"],
    "NonMaxSuppressionV5": ["selected_indices", "selected_scores", "valid_outputs"],
    "QuantizeV2": ["output", "output_min", "output_max"], "Qr": ["q", "r"], "Svd": ["s", "u", "v"],
    "SelfAdjointEigV2": ["e", "v"], "MaxPoolWithArgmax2": ["output", "argmax"],
    "FusedBatchNormGrad": ["x_backprop", "scale_backprop", "offset_backprop", "reserve_space_3",
                           "reserve_space_4"],
    "FusedBatchNormGradV3": ["x_backprop", "scale_backprop", "offset_backprop", "reserve_space_4",
                             "reserve_space_5"],
}


class View:
    """The parts of a NodeDef that graphdef.build_graph reads, with a new name and rewired inputs."""
    __slots__ = ("name", "op", "input", "device", "attr")

    def __init__(self, name: str, op: str, inputs: list, device: str = "", attr=None):
        self.name, self.op, self.input, self.device = name, op, inputs, device
        self.attr = attr if attr is not None else {}

    @classmethod
    def of(cls, nd) -> "View":
        return cls(nd.name, nd.op, list(nd.input), nd.device, nd.attr)


def func_name(attr_value) -> Optional[str]:
    return attr_value.func.name if attr_value.WhichOneof("value") == "func" else None


def _referenced_functions(view) -> Iterable[str]:
    """Function names in a node's attributes (If/While branches, Case branches, dataset functions ...)."""
    for v in view.attr.values():
        kind = v.WhichOneof("value")
        if kind == "func" and v.func.name:
            yield v.func.name
        elif kind == "list":
            for f in v.list.func:
                if f.name:
                    yield f.name


class _OutputArgs:
    """Maps a function-body reference ``node:out_arg:index`` to the flat output index of the node's op."""

    def __init__(self, op_list, library: dict):
        self.opdefs = {op.name: op for op in op_list.op} if op_list is not None else {}
        self.library = library
        self._unknown: dict[str, set] = {}  # op without a definition -> output argument names referenced

    def flat_index(self, op: str, attrs, out: Optional[str], idx: int) -> int:
        if out is None:
            return idx
        if op in self.library:
            names = [a.name for a in self.library[op].signature.output_arg]
            return names.index(out) + idx if out in names else idx
        if op in CALL_OPS:
            return idx
        opdef = self.opdefs.get(op)
        if opdef is not None:
            base = 0
            for arg in opdef.output_arg:
                if arg.name == out:
                    return base + idx
                base += self._count(arg, attrs, opdef)
        builtin = _BUILTIN_OUTPUT_ARGS.get(op)
        if builtin is not None and out in builtin:
            return builtin.index(out) + idx  # all single-tensor arguments
        if opdef is None and builtin is None:
            names = self._unknown.setdefault(op, set())
            if len(names) < 4:
                names.add(out)
        return idx

    @property
    def guessed(self) -> set[str]:
        """Ops without a definition (TF leaves If/While branch ops out of stripped_op_list) referenced through
        more than one output argument: their flat output indices are guesses. With one argument name the
        index is right for every op with a single output argument (the common ops with more are in
        _BUILTIN_OUTPUT_ARGS)."""
        return {op for op, names in self._unknown.items() if len(names) > 1}

    @staticmethod
    def _count(arg, attrs, opdef) -> int:
        def attr_or_default(name):
            if name in attrs:
                return attrs[name]
            for a in opdef.attr:
                if a.name == name and a.HasField("default_value"):
                    return a.default_value
            return None

        n = 1
        if arg.number_attr:
            v = attr_or_default(arg.number_attr)
            n = int(v.i) if v is not None else 1
        elif arg.type_list_attr:
            v = attr_or_default(arg.type_list_attr)
            n = len(v.list.type) if v is not None else 1
        return n if 0 <= n <= MAX_LIST_OUTPUTS else 1


def _parse_body_input(s: str) -> tuple[bool, str, Optional[str], int]:
    """FunctionDef input -> (is_control, node_or_arg, out_arg or None, index)."""
    if s.startswith("^"):
        return True, s[1:], None, 0
    parts = s.split(":")
    if len(parts) == 1:
        return False, parts[0], None, 0
    if len(parts) == 2:
        if parts[1].isdigit():
            return False, parts[0], None, int(parts[1]) if len(parts[1]) <= 6 else 0
        return False, parts[0], parts[1], 0
    idx = parts[2]
    return False, parts[0], parts[1], int(idx) if idx.isdigit() and len(idx) <= 6 else 0


class Inliner:
    """Expands function calls of a list of nodes (see the module docstring)."""

    def __init__(self, library: dict, op_list=None, skip=None, budget: Optional[int] = None):
        self.library = library
        if budget is None:
            held = sum(len(f.node_def) for f in library.values())
            budget = min(MAX_EXPANDED_NODES, max(MIN_EXPANSION_BUDGET, EXPANSION_FACTOR * held))
        self.budget = budget
        self.args = _OutputArgs(op_list, library)
        self.skip = skip or (lambda fname: False)
        self.function_of: dict[str, str] = {}  # expanded node -> function it came from
        self.call_sites: dict[str, str] = {}  # call-site node (now IdentityN) -> function
        self.call_dtypes: dict[str, list] = {}  # call-site node -> output dtypes
        self.not_expanded: dict[str, str] = {}  # call node -> why not
        self.referenced: set[str] = set()  # functions named by attributes, not expanded
        self.made = 0
        self.taken: set[str] = set()
        self._suffix: dict[str, int] = {}
        self.warnings: list[str] = []

    def callee(self, view) -> Optional[str]:
        if view.op in CALL_OPS:
            f = view.attr.get("f") if hasattr(view.attr, "get") else None
            name = func_name(f) if f is not None else None
            return name or None
        if view.op in self.library:
            return view.op
        return None

    def expand(self, views: list, depth: int = 0, stack: tuple = ()) -> list:
        if depth == 0:
            self.taken.update(v.name for v in views)
        out = []
        for v in views:
            fname = self.callee(v)
            if fname is None:
                self.referenced.update(_referenced_functions(v))
                out.append(v)
                continue
            why = None
            if fname not in self.library:
                why = f"calls {fname}, which is not in the function library"
            elif self.skip(fname):
                why = "save/restore function"
            elif fname in stack:
                why = f"recursive call of {fname}"
            elif depth >= MAX_DEPTH:
                why = f"calls nested deeper than {MAX_DEPTH} levels"
            elif self.made + len(self.library[fname].node_def) > self.budget:
                why = f"expanding it would make more than {self.budget} nodes"
            body = None if why else self._instantiate(self.library[fname], v)
            if body is None:
                why = why or f"its arguments do not match the inputs of {fname}"
                self.not_expanded[v.name] = why
                if fname in self.library:
                    self.referenced.add(fname)
                self.referenced.update(_referenced_functions(v))
                out.append(v)
                continue
            body_views, site = body
            self.made += len(body_views)
            for bv in body_views:
                self.function_of[bv.name] = fname
            out.extend(self.expand(body_views, depth + 1, stack + (fname,)))
            self.call_sites[site.name] = fname
            out.append(site)
        return out

    def _unique(self, name: str) -> str:
        if name not in self.taken:
            self.taken.add(name)
            return name
        i = self._suffix.get(name, 1)
        while f"{name}_{i}" in self.taken:
            i += 1
        self._suffix[name] = i + 1
        self.taken.add(f"{name}_{i}")
        return f"{name}_{i}"

    def _instantiate(self, fdef, call) -> Optional[tuple[list, View]]:
        sig = fdef.signature
        data = [i for i in call.input if not i.startswith("^")]
        control = [i for i in call.input if i.startswith("^")]
        if any(a.number_attr or a.type_list_attr for a in sig.input_arg) or len(sig.input_arg) != len(data):
            return None
        args = {a.name: data[i] for i, a in enumerate(sig.input_arg)}
        prefix = call.name + "/"
        names = {nd.name: self._unique(prefix + nd.name) for nd in fdef.node_def}
        ops = {nd.name: nd for nd in fdef.node_def}

        def translate(s: str) -> Optional[str]:
            is_control, node, out, idx = _parse_body_input(s)
            if is_control:
                if node in names:
                    return "^" + names[node]
                if node in args:
                    return "^" + split_tensor_name(args[node])[0]
                return None
            if node in args and out is None:
                return args[node]
            if node in names:
                nd = ops[node]
                return f"{names[node]}:{self.args.flat_index(nd.op, nd.attr, out, idx)}"
            if len(self.warnings) < 20:
                self.warnings.append(f"function {sig.name}: input {s[:100]!r} names no node or argument")
            return None

        views = []
        for nd in fdef.node_def:
            inputs = [t for t in (translate(s) for s in nd.input) if t is not None]
            views.append(View(names[nd.name], nd.op, inputs, nd.device, nd.attr))
        rets = []
        for a in sig.output_arg:
            r = translate(fdef.ret[a.name]) if a.name in fdef.ret else None
            if r is None or r.startswith("^"):
                return None
            rets.append(r)
        attrs = {}
        tout = call.attr.get("Tout") if hasattr(call.attr, "get") else None
        if tout is not None:
            t = tfproto.AttrValue()
            t.CopyFrom(tout)
            attrs["T"] = t
            self.call_dtypes[call.name] = [dtype_name(x) for x in tout.list.type]
        else:
            self.call_dtypes[call.name] = [dtype_name(a.type) if a.type else None for a in sig.output_arg]
        f = tfproto.AttrValue()
        f.func.name = sig.name
        attrs["f"] = f
        if hasattr(call.attr, "get") and call.attr.get("_output_shapes") is not None:
            attrs["_output_shapes"] = call.attr["_output_shapes"]
        site = View(call.name, "IdentityN", rets + control, call.device, attrs)
        return views, site

    def function_graphs(self, library: dict, warnings: list) -> list[Graph]:
        """Graphs of the functions still referenced (by If/While attributes, or calls left unexpanded),
        within the node budget; a warning says what the budget left out."""
        out: list[Graph] = []
        done: set[str] = set()
        todo = sorted(self.referenced)
        while todo:
            fname = todo.pop()
            if fname in done or fname not in library:
                continue
            done.add(fname)
            if self.made + len(library[fname].node_def) > self.budget:
                warnings.append(f"function {fname} and others not read: more than {self.budget} nodes")
                break
            out.append(self.function_graph(fname))
            todo.extend(sorted(self.referenced - done))
        return out

    def function_graph(self, fname: str) -> Graph:
        """A library function as a graph of its own: arguments become ``_Arg`` nodes."""
        fdef = self.library[fname]
        sig = fdef.signature
        args = {}
        views = []
        for i, a in enumerate(sig.input_arg):
            t = tfproto.AttrValue()
            if a.type:
                t.type = a.type
            views.append(View(a.name, "_Arg", [], "", {"T": t, "index": _int_attr(i)}))
            args[a.name] = f"{a.name}:0"
        ops = {nd.name: nd for nd in fdef.node_def}

        def translate(s: str) -> Optional[str]:
            is_control, node, out, idx = _parse_body_input(s)
            if is_control:
                return "^" + node if node in ops or node in args else None
            if node in args:
                return args[node]
            if node in ops:
                return f"{node}:{self.args.flat_index(ops[node].op, ops[node].attr, out, idx)}"
            return None

        for nd in fdef.node_def:
            views.append(View(nd.name, nd.op, [t for t in (translate(s) for s in nd.input) if t], nd.device,
                               nd.attr))
        sub = Inliner(self.library, None, self.skip, self.budget)
        sub.args = self.args
        sub.made = self.made + len(fdef.node_def)
        views = sub.expand(views)
        self.made = sub.made
        self.referenced |= sub.referenced
        g = build_graph(views, fname, kind="function")
        mark_calls(g, sub)
        g.inputs = [args[a.name] for a in sig.input_arg]
        g.outputs = [t for t in (translate(fdef.ret[a.name]) for a in sig.output_arg if a.name in fdef.ret) if t]
        return g


def _int_attr(i: int):
    v = tfproto.AttrValue()
    v.i = i
    return v


def mark_calls(g: Graph, inl: Inliner) -> None:
    for node in g.nodes:
        fn = inl.function_of.get(node.name)
        if fn is not None:
            node.function = fn
        if node.name in inl.call_sites:
            node.calls = [inl.call_sites[node.name]]
            for t, dt in zip(node.outputs, inl.call_dtypes.get(node.name, [])):
                if dt:
                    g.tensors[t].dtype = dt


def inliner_for(mg, library: dict) -> Inliner:
    """An Inliner for meta graph `mg` whose function library is `library` (name -> FunctionDef): save/restore
    functions are not expanded; the node budget grows with the nodes the file holds."""
    held = len(mg.graph_def.node) + sum(len(f.node_def) for f in library.values())
    return Inliner(library, mg.meta_info_def.stripped_op_list if mg.HasField("meta_info_def") else None,
                   skip=lambda f: bool(SAVER_FUNCTION.match(f)),
                   budget=min(MAX_EXPANDED_NODES, max(MIN_EXPANSION_BUDGET, EXPANSION_FACTOR * held)))
