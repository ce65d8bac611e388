"""SavedModel reader (a directory with ``saved_model.pb`` or ``saved_model.pbtxt``), without TensorFlow.

What it reads:
- the meta graphs and their tags (``Model.details["meta_graphs"]``); the one tagged ``serve`` is reported;
- the signature defs (``Model.signatures``: keys, graph tensor names, dtypes, shapes); the serving signature
  (``serving_default``, else the only one) gives the inputs and outputs to name when converting;
- the graph. A TF2 SavedModel keeps its computation in the function library, behind
  ``StatefulPartitionedCall`` / ``PartitionedCall`` nodes. Every call reached from the serving signature is
  expanded in place, recursively (at most MAX_DEPTH levels, MAX_EXPANDED_NODES nodes): the function's nodes
  become nodes named under the call site (``StatefulPartitionedCall/model/conv/Conv2D``) with
  ``Node.function`` set to the function's name, their inputs rewired (function arguments -> the call's
  inputs; ``node:out_arg:index`` -> the flat output index, from the op definitions the SavedModel carries in
  ``stripped_op_list``), and the call site itself becomes an ``IdentityN`` of the function's return values, so
  the call's output tensors (``StatefulPartitionedCall:0``, named by the signature) keep their names and a
  shape or cost pass over the main graph sees through calls. Functions named by other attributes (``If`` /
  ``While`` branches and bodies) become graphs of their own (``Graph(kind="function")``);
- only the part of the graph the serving signature needs is kept in the main graph: TF2 SavedModels also hold
  the save/restore functions, variable initializers and, for Keras 3 exports, more than one copy of each
  variable handle; ``Model.details["graph_def_nodes"]`` gives the size of the whole graph;
- the variables: ``variables/variables.index`` is read (checkpoint_index), ``Model.variables`` lists its
  tensors; each variable handle of the graph is matched to its checkpoint key (TF2: through the object graph,
  the concrete functions' bound inputs and the children path of each variable object; TF1: by name), and
  ``VarHandleOp`` / ``ReadVariableOp`` outputs get the variable's dtype and shape.
"""
from __future__ import annotations

import os
import re
from collections import deque
from typing import Iterable, Optional

from google.protobuf import text_format
from google.protobuf.message import DecodeError

from ..errors import BadModelError
from ..model import Graph, Model, Signature, Tensor, num_elements, split_tensor_name
from ..opdata import roles as op_roles
from . import checkpoint_index, tfproto
from .graphdef import build_graph, shape_of
from .tfproto import dtype_name

FORMAT = "savedmodel"
SERVING_TAG = "serve"
SERVING_SIGNATURE = "serving_default"
CALL_OPS = op_roles.ops("call", "call_tpu")
VARIABLE_OPS = op_roles.ops("variable")
MAX_DEPTH = 32  # nested function calls expanded
MAX_EXPANDED_NODES = 1_000_000  # nodes created by expansion, all calls together, at most ...
EXPANSION_FACTOR = 16  # ... and at most this many times the nodes the file holds (graph + functions) ...
MIN_EXPANSION_BUDGET = 50_000  # ... or this many, whichever is more: a small file cannot blow up
MAX_OBJECT_DEPTH = 256  # object-graph paths (checkpoint keys) deeper than this are not followed
MAX_LIST_OUTPUTS = 65_536  # a list output longer than this is taken as damage
SAVER_FUNCTION = re.compile(r"^__inference__traced_(save|restore)_\d+$")
_FILE_NAMES = ("saved_model.pb", "saved_model.pbtxt")

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


class _View:
    """The parts of a NodeDef that graphdef.build_graph reads, with a new name and rewired inputs."""
    __slots__ = ("name", "op", "input", "device", "attr")

    def __init__(self, name: str, op: str, inputs: list, device: str = "", attr=None):
        self.name, self.op, self.input, self.device = name, op, inputs, device
        self.attr = attr if attr is not None else {}

    @classmethod
    def of(cls, nd) -> "_View":
        return cls(nd.name, nd.op, list(nd.input), nd.device, nd.attr)


def _func_name(attr_value) -> Optional[str]:
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
            name = _func_name(f) if f is not None else None
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

    def _instantiate(self, fdef, call) -> Optional[tuple[list, _View]]:
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
            views.append(_View(names[nd.name], nd.op, inputs, nd.device, nd.attr))
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
        site = _View(call.name, "IdentityN", rets + control, call.device, attrs)
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
            views.append(_View(a.name, "_Arg", [], "", {"T": t, "index": _int_attr(i)}))
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
            views.append(_View(nd.name, nd.op, [t for t in (translate(s) for s in nd.input) if t], nd.device,
                               nd.attr))
        sub = Inliner(self.library, None, self.skip, self.budget)
        sub.args = self.args
        sub.made = self.made + len(fdef.node_def)
        views = sub.expand(views)
        self.made = sub.made
        self.referenced |= sub.referenced
        g = build_graph(views, fname, kind="function")
        _mark(g, sub)
        g.inputs = [args[a.name] for a in sig.input_arg]
        g.outputs = [t for t in (translate(fdef.ret[a.name]) for a in sig.output_arg if a.name in fdef.ret) if t]
        return g


def _int_attr(i: int):
    v = tfproto.AttrValue()
    v.i = i
    return v


def _mark(g: Graph, inl: Inliner) -> None:
    for node in g.nodes:
        fn = inl.function_of.get(node.name)
        if fn is not None:
            node.function = fn
        if node.name in inl.call_sites:
            node.calls = [inl.call_sites[node.name]]
            for t, dt in zip(node.outputs, inl.call_dtypes.get(node.name, [])):
                if dt:
                    g.tensors[t].dtype = dt


# --------------------------------------------------------------------------------------------------------
def find_model_file(path: str) -> Optional[str]:
    if os.path.isdir(path):
        for name in _FILE_NAMES:
            p = os.path.join(path, name)
            if os.path.isfile(p):
                return p
        return None
    if os.path.basename(path) in _FILE_NAMES and os.path.isfile(path):
        return path
    return None


def match(path: str) -> bool:
    return find_model_file(path) is not None


def parse_saved_model(path: str, data: bytes):
    msg = tfproto.SavedModel()
    try:
        if path.endswith(".pbtxt"):
            text_format.Parse(data.decode("utf-8", errors="replace"), msg)
        else:
            msg.ParseFromString(data)
    except (DecodeError, text_format.ParseError, RecursionError, ValueError) as e:
        msg_text = " ".join(str(e).split())[:200] or type(e).__name__
        raise BadModelError(f"not a SavedModel ({msg_text})", path) from None
    if not msg.meta_graphs:
        raise BadModelError("not a SavedModel: it parses but holds no meta graph", path)
    return msg


def _choose_meta_graph(sm):
    for mg in sm.meta_graphs:
        if list(mg.meta_info_def.tags) == [SERVING_TAG]:
            return mg
    for mg in sm.meta_graphs:
        if SERVING_TAG in mg.meta_info_def.tags:
            return mg
    return sm.meta_graphs[0]


def _tensor_info(info) -> Tensor:
    name = info.name
    kind = info.WhichOneof("encoding")
    if kind != "name":
        name = name or f"<{kind or 'no tensor name'}>"
    shape = shape_of(info.tensor_shape) if info.HasField("tensor_shape") else None
    return Tensor(name=name, dtype=dtype_name(info.dtype), shape=shape)


def signatures_of(mg) -> list[Signature]:
    out = []
    for key in sorted(mg.signature_def):
        sd = mg.signature_def[key]
        out.append(Signature(name=key, method=sd.method_name,
                             inputs={k: _tensor_info(sd.inputs[k]) for k in sorted(sd.inputs)},
                             outputs={k: _tensor_info(sd.outputs[k]) for k in sorted(sd.outputs)}))
    return out


def serving_signature(sigs: list[Signature]) -> Optional[Signature]:
    usable = [s for s in sigs if not s.name.startswith("__") and s.outputs]
    for s in usable:
        if s.name == SERVING_SIGNATURE:
            return s
    if len(usable) == 1:
        return usable[0]
    predict = [s for s in usable if s.method.endswith("/predict")]
    return predict[0] if predict else (usable[0] if usable else None)


def _needed(nodes: list, roots: Iterable[str]) -> set[str]:
    """Names of the nodes the given nodes depend on (data and control inputs), themselves included."""
    by_name = {n.name: n for n in nodes}
    seen: set[str] = set()
    stack = [r for r in roots if r in by_name]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        for i in by_name[name].input:
            node = split_tensor_name(i)[0]
            if node in by_name and node not in seen:
                stack.append(node)
    return seen


# --------------------------------------------------------------------------------------------------------
# variables: object graph -> checkpoint keys
def _escape(local_name: str) -> str:
    return local_name.replace(".", "..").replace("/", ".S")


def object_checkpoint_keys(object_graph) -> dict[int, str]:
    """Object-graph node id -> checkpoint key of the variable it holds (breadth-first path from the root)."""
    nodes = object_graph.nodes
    if not nodes:
        return {}
    parent: dict[int, tuple] = {0: (-1, "", 0)}  # node -> (parent, local name, depth)
    queue = deque([0])
    while queue:
        i = queue.popleft()
        depth = parent[i][2]
        if depth >= MAX_OBJECT_DEPTH:
            continue
        for ref in nodes[i].children:
            j = ref.node_id
            if 0 <= j < len(nodes) and j not in parent:
                parent[j] = (i, ref.local_name, depth + 1)
                queue.append(j)
    out = {}
    for i, (p, name, depth) in parent.items():
        if depth == 0 or nodes[i].WhichOneof("kind") != "variable":
            continue
        parts = []
        while p >= 0:
            parts.append(_escape(name))
            p, name, _ = parent[p]
        out[i] = "/".join(reversed(parts)) + "/.ATTRIBUTES/VARIABLE_VALUE"
    return out


def _handle_keys(nodes: list, mg, index_keys: set) -> dict[str, str]:
    """graph variable node name -> checkpoint key."""
    out: dict[str, str] = {}
    by_name = {n.name: n for n in nodes}
    og = mg.object_graph_def if mg.HasField("object_graph_def") else None
    if og is not None and og.nodes:
        keys = object_checkpoint_keys(og)
        for n in nodes:
            fname = None
            if n.op in CALL_OPS and "f" in n.attr:
                fname = _func_name(n.attr["f"])
            if not fname or fname not in og.concrete_functions:
                continue
            bound = list(og.concrete_functions[fname].bound_inputs)
            data = [i for i in n.input if not i.startswith("^")]
            if not bound or len(bound) > len(data):
                continue
            for tensor, node_id in zip(data[len(data) - len(bound):], bound):
                src = by_name.get(split_tensor_name(tensor)[0])
                if src is not None and src.op in VARIABLE_OPS and node_id in keys:
                    out.setdefault(src.name, keys[node_id])
    for n in nodes:  # TF1 SavedModels: the variable's name is its key
        if n.op in VARIABLE_OPS and n.name not in out:
            shared = n.attr["shared_name"].s.decode("utf-8", "replace") if "shared_name" in n.attr else ""
            for cand in (n.name, shared):
                if cand and cand in index_keys:
                    out[n.name] = cand
                    break
    return out


def _apply_variables(g: Graph, handle_keys: dict, ck, used: list) -> None:
    """Give variable nodes their checkpoint key's shape/dtype/size; variable reads (ReadVariableOp, TF1
    ``read`` Identity) their shapes, marked ``is_variable`` so that memory figures do not count them as
    activations."""
    var_info: dict[str, tuple] = {}
    for node in g.nodes:
        if node.op not in VARIABLE_OPS:
            continue
        key = handle_keys.get(node.name)
        entry = ck.variables.get(key) if (ck is not None and key) else None
        shape, dtype = node.attrs.get("shape"), node.attrs.get("dtype")
        if entry is not None:
            if entry.shape is not None and (shape is None or None in shape):
                node.attrs["shape"] = shape = list(entry.shape)
            if dtype is None and entry.dtype:
                node.attrs["dtype"] = dtype = entry.dtype
        if node.op != "VarHandleOp" and shape is not None:
            g.tensors[node.outputs[0]].shape = shape
        var_info[node.name] = (shape, dtype)
        n = num_elements(shape)
        used.append({"node": node.name, "key": key, "dtype": dtype, "shape": shape,
                     "nbytes": entry.nbytes if entry is not None else None, "elements": n})
    for node in g.nodes:  # TF1 `w/read = Identity(w)`: the variable's value, not an activation
        if node.op == "Identity" and node.inputs and not node.is_const:
            src = g.tensors.get(node.inputs[0])
            prod = g.node(src.producer) if src is not None and src.producer else None
            if prod is not None and prod.op in op_roles.REF_VARIABLES:
                out = g.tensors[node.outputs[0]]
                out.is_variable = True
                shape = var_info.get(prod.name, (None, None))[0]
                if shape is not None and out.shape is None:
                    out.shape = list(shape)
    for node in g.nodes:
        if node.op != "ReadVariableOp" or not node.inputs:
            continue
        src = g.tensors.get(node.inputs[0])
        hops = 0
        while src is not None and src.producer and hops < 64:
            prod = g.node(src.producer)
            if prod is None:
                break
            if prod.op in VARIABLE_OPS:
                shape, dtype = var_info.get(prod.name, (None, None))
                out = g.tensors[node.outputs[0]]
                if shape is not None and out.shape is None:
                    out.shape = list(shape)
                out.dtype = out.dtype or dtype
                out.is_variable = True  # the variable's value, not an activation
                break
            if prod.op in ("Identity", "IdentityN") and prod.inputs:
                i = prod.outputs.index(src.name) if src.name in prod.outputs else 0
                src = g.tensors.get(prod.inputs[min(i, len(prod.inputs) - 1)])
                hops += 1
                continue
            break


# --------------------------------------------------------------------------------------------------------
def _dir_size(root: str, files: list[str]) -> int:
    total = 0
    for f in files:
        try:
            total += os.path.getsize(os.path.join(root, f))
        except OSError:
            pass
    return total


def read(path: str) -> Model:
    from .detect import read_bytes

    pb = find_model_file(path)
    if pb is None:
        raise BadModelError("no saved_model.pb or saved_model.pbtxt here: not a SavedModel directory", path)
    root = os.path.dirname(pb)
    data = read_bytes(pb)
    sm = parse_saved_model(pb, data)
    mg = _choose_meta_graph(sm)
    gd = mg.graph_def
    library = {f.signature.name: f for f in gd.library.function}
    sigs = signatures_of(mg)
    serving = serving_signature(sigs)
    warnings: list[str] = []

    # the checkpoint
    index_path = os.path.join(root, "variables", "variables.index")
    ck = None
    if os.path.isfile(index_path):
        ck = checkpoint_index.read_index(index_path)
    has_vars = any(n.op in VARIABLE_OPS for n in gd.node)
    if ck is None and has_vars:
        warnings.append("variables/variables.index is missing: variable sizes come from the graph only")

    views = [_View.of(nd) for nd in gd.node]
    pruned = False
    if serving is not None:
        roots = [split_tensor_name(t.name)[0] for t in list(serving.outputs.values()) + list(serving.inputs.values())]
        keep = _needed(views, roots)
        if keep:
            pruned = len(keep) < len(views)
            views = [v for v in views if v.name in keep]
    else:
        warnings.append("no serving signature: the whole graph is shown, save/restore functions included")

    handle_keys = _handle_keys(views, mg, set(ck.variables) if ck else set())
    held = len(gd.node) + sum(len(f.node_def) for f in library.values())
    inl = Inliner(library, mg.meta_info_def.stripped_op_list if mg.HasField("meta_info_def") else None,
                  skip=lambda f: bool(SAVER_FUNCTION.match(f)),
                  budget=min(MAX_EXPANDED_NODES, max(MIN_EXPANSION_BUDGET, EXPANSION_FACTOR * held)))
    expanded = inl.expand(views)
    g = build_graph(expanded, "main")
    _mark(g, inl)
    if serving is not None:
        g.inputs = [t.name for t in serving.inputs.values()]
        g.outputs = [t.name for t in serving.outputs.values()]
    model = Model(format=FORMAT, path=path.rstrip("/") or path, file_size=0, graphs=[g])
    # graphs of the functions named by attributes (If/While ...) or left unexpanded
    model.graphs.extend(inl.function_graphs(library, warnings))

    used: list[dict] = []
    _apply_variables(g, handle_keys, ck, used)

    # facts
    files = [os.path.basename(pb)]
    if ck is not None:
        files.append(os.path.join("variables", "variables.index"))
        files += [os.path.join("variables", os.path.basename(f)) for f in ck.data_files()]
    model.file_size = _dir_size(root, files)
    model.signatures = [s for s in sigs if not s.name.startswith("__")]
    info = mg.meta_info_def
    if info.tensorflow_version:
        model.producer = f"TensorFlow {info.tensorflow_version}"
    elif gd.versions.producer:
        model.producer = f"GraphDef producer version {gd.versions.producer}"
    model.format_version = f"SavedModel schema {sm.saved_model_schema_version}"
    model.functions = sorted(library)
    expanded_fns = set(inl.function_of.values()) | set(inl.call_sites.values())
    model.details["functions"] = [
        {"name": f.signature.name, "nodes": len(f.node_def),
         "inputs": [a.name for a in f.signature.input_arg], "outputs": [a.name for a in f.signature.output_arg],
         "expanded": f.signature.name in expanded_fns}
        for f in gd.library.function
    ]
    model.details["meta_graphs"] = [
        {"tags": list(m.meta_info_def.tags), "signatures": sorted(m.signature_def),
         "graph_nodes": len(m.graph_def.node), "functions": len(m.graph_def.library.function)}
        for m in sm.meta_graphs]
    model.details["tags"] = list(info.tags)
    model.details["graph_def_nodes"] = len(gd.node)
    model.details["pruned_to_signature"] = pruned
    model.details["expanded_calls"] = len(inl.call_sites)
    model.details["expanded_nodes"] = inl.made
    if inl.not_expanded:
        model.details["calls_not_expanded"] = dict(sorted(inl.not_expanded.items())[:50])
        model.details["calls_not_expanded_count"] = len(inl.not_expanded)
        if any(not w.startswith("save/restore") for w in inl.not_expanded.values()):
            why = next(w for w in inl.not_expanded.values() if not w.startswith("save/restore"))
            warnings.append(f"{len(inl.not_expanded)} function call(s) not expanded, e.g.: {why}")
    if serving is not None:
        model.details["serving_signature"] = serving.name
    model.details["object_based"] = bool(mg.HasField("object_graph_def") and mg.object_graph_def.nodes)
    if ck is not None:
        missing = [os.path.basename(f) for f in ck.data_files() if not os.path.isfile(f)]
        model.variables = sorted(ck.variables.values(), key=lambda v: v.name)
        model.details["checkpoint"] = {
            "index": os.path.join("variables", "variables.index"), "num_shards": ck.num_shards,
            "tensors": len(ck.variables), "bytes": ck.total_bytes, "missing_data_files": missing}
        if missing:
            warnings.append(f"checkpoint data file(s) missing: {', '.join(missing)}")
    model.details["variables_used"] = used
    unmatched = [u["node"] for u in used if u["key"] is None]
    if ck is not None and unmatched:
        warnings.append(f"{len(unmatched)} variable handle(s) not matched to a checkpoint key, e.g. {unmatched[0]}")
    if inl.args.guessed:
        warnings.append("output indices guessed for ops without a definition in the file: "
                        + ", ".join(sorted(inl.args.guessed)[:10]))
    warnings.extend(inl.warnings[:10])
    model.warnings.extend(warnings)
    return model

