"""SavedModel reader (a directory with ``saved_model.pb``), without TensorFlow. SavedModels written as text
(``saved_model.pbtxt``) are read by savedmodel_text.py, which parses the text and hands the message here.

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
from collections import deque
from typing import Iterable, Optional

from google.protobuf.message import DecodeError

from ..errors import BadModelError
from ..model import Model, Signature, split_tensor_name
from . import checkpoint_index, tfproto
from .files import read_bytes
from .graphdef import build_graph
from .inline import CALL_OPS, MAX_EXPANDED_NODES, View, func_name, inliner_for, mark_calls  # noqa: F401  (tests)
from .metagraphdef import VARIABLE_OPS, apply_variables, signatures_of

FORMAT = "savedmodel"
SERVING_TAG = "serve"
SERVING_SIGNATURE = "serving_default"
MAX_OBJECT_DEPTH = 256  # object-graph paths (checkpoint keys) deeper than this are not followed
FILE_NAME = "saved_model.pb"

# --------------------------------------------------------------------------------------------------------
def find_model_file(path: str, name: str = FILE_NAME) -> Optional[str]:
    """`path` itself when it is a file called `name`; path/name when path is a folder holding one; else None."""
    if os.path.isdir(path):
        p = os.path.join(path, name)
        return p if os.path.isfile(p) else None
    if os.path.basename(path) == name and os.path.isfile(path):
        return path
    return None


def match(path: str, head: bytes = b"") -> bool:
    return find_model_file(path) is not None


def _parse_binary(data: bytes, msg) -> None:
    msg.ParseFromString(data)


def parse_saved_model(path: str, data: bytes, decode=_parse_binary):
    """The SavedModel message of a file's bytes; decode(data, message) fills the message (binary protobuf
    by default; savedmodel_text.py passes the text format's parser)."""
    msg = tfproto.SavedModel()
    try:
        decode(data, msg)
    except (DecodeError, RecursionError, ValueError) as e:
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
                fname = func_name(n.attr["f"])
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
    """A SavedModel folder, or its saved_model.pb named directly (then reported as the folder)."""
    pb = find_model_file(path)
    if pb is None:
        raise BadModelError("no saved_model.pb here: not a SavedModel directory", path)
    return model_from_saved_model(parse_saved_model(pb, read_bytes(pb)), pb, path)


def model_from_saved_model(sm, pb: str, path: str) -> Model:
    """The model of SavedModel message `sm`, read from file `pb` (saved_model.pb or .pbtxt) of folder `path`
    (or `path` is that file)."""
    if os.path.isfile(path):
        path = os.path.dirname(path) or "."
    root = os.path.dirname(pb)
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

    views = [View.of(nd) for nd in gd.node]
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
    inl = inliner_for(mg, library)
    expanded = inl.expand(views)
    g = build_graph(expanded, "main")
    mark_calls(g, inl)
    if serving is not None:
        g.inputs = [t.name for t in serving.inputs.values()]
        g.outputs = [t.name for t in serving.outputs.values()]
    model = Model(format=FORMAT, path=path.rstrip("/") or path, file_size=0, graphs=[g],
                  variables_freeze_on_conversion=True)
    # graphs of the functions named by attributes (If/While ...) or left unexpanded
    model.graphs.extend(inl.function_graphs(library, warnings))

    used: list[dict] = []
    apply_variables(g, handle_keys, ck, used)

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

