"""What the model path is, and which inputs, outputs, shapes and training-switch values to convert with.

No TensorFlow here. GraphDef and MetaGraph (+ checkpoint) sources are planned with graphreport's own reader
and io_suggest, so the defaults are exactly the report's suggestions: data placeholders are the inputs (an
unknown batch dimension becomes 1), the suggested outputs are the outputs, and training switches
(keep_prob, is_training, dropout rate) are fed their inference values. SavedModel and Keras sources are
planned from their signatures once TensorFlow has loaded them (graphreport.convert.tf2).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Optional

from ..errors import BadModelError, UsageError
from ..model import Model, split_tensor_name
from ..opdata import roles as op_roles
from ..shapespec import format_shape, name_bare_shape, parse_input_shapes

SWITCH_ROLES = ("training_switch", "dropout_keep_prob", "dropout_rate")
PLACEHOLDERS = op_roles.ops("placeholder")
VARIABLE_OPS = op_roles.ops("variable", "variable_temp")


@dataclass
class IOSpec:
    name: str  # node name (GraphDef), signature key (SavedModel) or Keras input/output name
    tensor: str  # the graph tensor ("node:0") for GraphDef-like sources; the name otherwise
    dtype: Optional[str]  # numpy-style name: float32, int64, bool ...
    shape: Optional[list]  # inputs: fully known (ints) once planned; outputs: may hold None
    key: str = ""  # a name safe for a TF placeholder / TFLite tensor

    def __post_init__(self):
        if not self.key:
            self.key = safe_name(self.name)

    def to_dict(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "shape": self.shape}


@dataclass
class Switch:
    name: str
    tensor: str
    role: str
    value: Any
    dtype: Optional[str]
    shape: Optional[list]

    def to_dict(self) -> dict:
        return {"name": self.name, "role": self.role, "value": self.value}


@dataclass
class Plan:
    kind: str  # graphdef | metagraph | savedmodel | keras
    path: str  # as given
    files: list[str] = field(default_factory=list)  # what the source is made of (for its size)
    inputs: list[IOSpec] = field(default_factory=list)
    outputs: list[IOSpec] = field(default_factory=list)
    all_outputs: list[IOSpec] = field(default_factory=list)  # SavedModel/Keras: every output, in call order
    switches: list[Switch] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    model_path: str = ""  # the file to load: GraphDef, .meta, SavedModel dir, Keras file
    checkpoint: str = ""  # checkpoint prefix (metagraph)
    model: Optional[Model] = None  # graphreport's reading of it (GraphDef / MetaGraph)
    keep_alive: Any = None  # a loaded SavedModel, whose functions the reference run calls

    @property
    def source_bytes(self) -> int:
        return sum(_size(f) for f in self.files)


def _size(path: str) -> int:
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def safe_name(name: str) -> str:
    """A name TensorFlow accepts for an op: [A-Za-z0-9.][A-Za-z0-9_./-]*."""
    node, idx = split_tensor_name(name)
    s = re.sub(r"[^A-Za-z0-9_./-]", "_", node if idx <= 0 else f"{node}_{idx}")
    if not s or not re.match(r"[A-Za-z0-9.]", s[0]):
        s = "x" + s
    return s


# ------------------------------------------------------------------------------------------------------------
# What is this path?
# ------------------------------------------------------------------------------------------------------------

_CKPT_PARTS = re.compile(r"^(?P<prefix>.+?)\.(meta|index|data-\d{5}-of-\d{5})$")
KINDS = {"graphdef": "graphdef", "checkpoint": "metagraph", "savedmodel": "savedmodel", "keras": "keras"}


def detect(path: str) -> tuple[str, str, str]:
    """-> (kind, model_path, checkpoint_prefix). Kinds: graphdef, metagraph, savedmodel, keras. What the path
    is comes from the readers' registry (graphreport.readers.registry), as for a report."""
    from ..readers import metagraph, registry
    from ..readers.files import read_head

    is_dir = os.path.isdir(path)
    exists = os.path.exists(path)
    head = read_head(path) if exists and not is_dir else b""
    if exists and not is_dir and not head:
        raise BadModelError("the file is empty", path)
    reader = registry.find(path, head, is_dir)
    kind = KINDS.get(reader.name) if reader is not None else None
    if reader is not None and reader.name == "tflite":
        raise UsageError("is already a TFLite model; convert its source (GraphDef, checkpoint, SavedModel or "
                         "Keras file) instead", path)
    if reader is not None and reader.name == "tfjs":
        raise UsageError("is a JSON file or folder (a TF.js model or Keras config?); convert the original "
                         "TensorFlow model", path)
    if kind is None or (is_dir and kind == "keras"):
        if not is_dir:
            raise BadModelError("no such file" if not exists else "not a model file", path)
        raise BadModelError("is a directory that holds neither a SavedModel (saved_model.pb) nor a TF1 "
                            "checkpoint (model.ckpt.meta + .index + .data-*)", path)
    if kind == "savedmodel":
        return kind, path if is_dir else os.path.dirname(path) or ".", ""
    if kind == "metagraph":
        prefix, _, _ = metagraph.resolve(path)
        return _metagraph(prefix, path)
    return kind, path, ""


def _metagraph(prefix: str, given: str) -> tuple[str, str, str]:
    meta = prefix + ".meta"
    if not os.path.isfile(meta):
        raise BadModelError(f"is a checkpoint without its graph: {os.path.basename(meta)} is missing. A TF2 "
                            "(object-based) checkpoint holds no graph: export a SavedModel and convert that",
                            given)
    if not os.path.isfile(prefix + ".index"):
        raise BadModelError(f"has its graph ({os.path.basename(meta)}) but not its variables: "
                            f"{os.path.basename(prefix)}.index is missing", given)
    return "metagraph", meta, prefix


# ------------------------------------------------------------------------------------------------------------
# Command-line values
# ------------------------------------------------------------------------------------------------------------

def split_names(value: Optional[str]) -> Optional[list[str]]:
    if value is None:
        return None
    names = [x.strip() for x in value.split(",") if x.strip()]
    if not names:
        raise UsageError(f"empty list of names: {value!r}")
    return names


def parse_shapes(values: Optional[list[str]]) -> dict[str, list]:
    """--input-shape (shapespec's syntax), every dimension known: the converter needs fixed shapes."""
    out = parse_input_shapes(values)
    for name, shape in out.items():
        if any(d is None or d <= 0 for d in shape):
            raise UsageError(f"--input-shape {name or 'without a name'}: every dimension must be a positive number "
                             "(convert needs fixed shapes)")
    return out


def fix_shapes(inputs: list[IOSpec], shapes: dict[str, list], notes: list[str]) -> None:
    """Apply --input-shape, set an unknown batch dimension to 1, and refuse other unknown dimensions."""
    shapes = name_bare_shape(shapes, [i.name for i in inputs])
    known = {i.name for i in inputs} | {i.key for i in inputs}
    for name in shapes:
        if name not in known:
            raise UsageError(f"--input-shape names {name!r}, which is not an input; inputs: "
                             + ", ".join(i.name for i in inputs))
    for i in inputs:
        given = shapes.get(i.name, shapes.get(i.key))
        if given is not None:
            if i.shape is not None and len(i.shape) != len(given):
                raise UsageError(f"--input-shape {i.name}: the model says rank {len(i.shape)} "
                                 f"({_fmt(i.shape)}), got {len(given)} dimensions")
            if i.shape is not None:
                clash = [(a, b) for a, b in zip(i.shape, given) if a is not None and a != b]
                if clash:
                    notes.append(f"{i.name}: shape {_fmt(given)} given for a model shape of {_fmt(i.shape)}")
            i.shape = list(given)
            continue
        if i.shape is None:
            raise UsageError(f"input {i.name!r} has an unknown rank: give its shape with "
                             f"--input-shape {i.name}=d0,d1,...")
        if i.shape and i.shape[0] is None:
            i.shape = [1] + list(i.shape[1:])
            notes.append(f"{i.name}: unknown batch dimension set to 1")
        if any(d is None for d in i.shape):
            example = ",".join("224" if d is None else str(d) for d in i.shape)
            raise UsageError(f"input {i.name!r} has unknown dimensions {_fmt(i.shape)}; the converter and the "
                             f"verification need fixed shapes: give --input-shape {i.name}={example} "
                             "(with the real sizes)")


def _fmt(shape) -> str:
    return format_shape(shape, sep=",")


# ------------------------------------------------------------------------------------------------------------
# GraphDef and MetaGraph: planned with graphreport's reader and io_suggest (no TensorFlow)
# ------------------------------------------------------------------------------------------------------------

def read_tf1_model(kind: str, model_path: str) -> Model:
    from ..readers import graphdef, tfproto
    from ..readers.files import read_bytes

    data = read_bytes(model_path)
    if not data:
        raise BadModelError("the file is empty", model_path)
    if kind == "graphdef":
        return graphdef.read(model_path, data)
    from google.protobuf.message import DecodeError

    meta = tfproto.MetaGraphDef()
    try:
        meta.ParseFromString(data)
    except (DecodeError, RecursionError, ValueError) as e:
        raise BadModelError(f"not a TensorFlow MetaGraphDef ({' '.join(str(e).split())[:200]})",
                            model_path) from None
    if not meta.graph_def.node:
        raise BadModelError("not a TensorFlow MetaGraphDef: it holds no graph", model_path)
    return graphdef.model_from_graphdef(meta.graph_def, model_path, len(data), fmt="checkpoint")


def _graph_io(g, name: str, what: str) -> IOSpec:
    node_name, idx = split_tensor_name(name)
    node = g.node(node_name)
    if node is None or idx < 0:
        raise UsageError(f"--{what}: the graph has no node named {node_name!r} (the report lists the "
                         "candidates: graphreport report MODEL)")
    if idx >= max(len(node.outputs), 1):
        raise UsageError(f"--{what}: node {node_name!r} has no output {idx}")
    tname = node.outputs[idx] if node.outputs else f"{node_name}:{idx}"
    t = g.tensors.get(tname)
    label = node_name if idx == 0 else tname
    return IOSpec(name=label, tensor=tname, dtype=t.dtype if t else None, shape=list(t.shape) if t and
                  t.shape is not None else None)


def plan_tf1(kind: str, path: str, model_path: str, prefix: str, inputs: Optional[list[str]],
             outputs: Optional[list[str]], shapes: dict[str, list]) -> Plan:
    from ..analysis import io_suggest

    model = read_tf1_model(kind, model_path)
    g = model.main
    sug = io_suggest.suggest(model)
    plan = Plan(kind=kind, path=path, model_path=model_path, checkpoint=prefix, model=model)
    if kind == "metagraph":
        folder = os.path.dirname(prefix) or "."
        base = os.path.basename(prefix)
        plan.files = sorted(os.path.join(folder, f) for f in os.listdir(folder)
                            if f.startswith(base + ".") and _CKPT_PARTS.match(f))
    else:
        plan.files = [model_path]

    if inputs is not None:
        plan.inputs = [_graph_io(g, n, "inputs") for n in inputs]
    else:
        plan.inputs = [IOSpec(name=i.name, tensor=i.tensor or f"{i.name}:0", dtype=i.dtype,
                              shape=list(i.shape) if i.shape is not None else None) for i in sug.inputs]
    if outputs is not None:
        plan.outputs = [_graph_io(g, n, "outputs") for n in outputs]
    else:
        plan.outputs = [IOSpec(name=o.name, tensor=o.tensor or f"{o.name}:0", dtype=o.dtype,
                               shape=list(o.shape) if o.shape is not None else None) for o in sug.outputs]
    if not plan.outputs:
        raise UsageError("no output could be suggested for this graph: name them with --outputs", path)
    if not plan.inputs:
        raise UsageError("the graph has no data placeholder to use as input: name the inputs with --inputs",
                         path)

    out_nodes = [split_tensor_name(o.tensor)[0] for o in plan.outputs]
    needed = g.ancestors(out_nodes) | set(out_nodes)
    input_nodes = {split_tensor_name(i.tensor)[0] for i in plan.inputs}
    for x in sug.ignored_inputs:
        if x.name in input_nodes or x.name not in needed:
            continue
        if x.role in SWITCH_ROLES and x.suggested_value is not None:
            node = g.node(x.name)
            plan.switches.append(Switch(name=x.name, tensor=node.outputs[0] if node and node.outputs else
                                        f"{x.name}:0", role=x.role, value=x.suggested_value, dtype=x.dtype,
                                        shape=x.shape))
    switch_nodes = {s.name for s in plan.switches}
    unfed = [n for n in sorted(needed) if g.node(n) is not None and g.node(n).op in PLACEHOLDERS
             and n not in input_nodes and n not in switch_nodes]
    if unfed:
        roles = {x.name: x.role for x in sug.ignored_inputs}
        desc = ", ".join(f"{n} ({roles[n].replace('_', ' ')})" if n in roles else n for n in unfed)
        raise UsageError(f"placeholder(s) {desc} feed the outputs ({', '.join(o.name for o in plan.outputs)}) "
                         "but have no value to feed at inference: add them to --inputs, or choose --outputs "
                         "that do not depend on them")
    variables = sorted(n for n in needed if g.node(n) is not None and g.node(n).op in VARIABLE_OPS)
    if variables and kind == "graphdef":
        raise UsageError(f"the graph holds {len(variables)} variable(s) (e.g. {variables[0]}) that feed the "
                         "outputs, and a GraphDef carries no variable values: convert its checkpoint instead "
                         "(the prefix, e.g. model.ckpt, with model.ckpt.meta and .index next to it)", path)
    fix_shapes(plan.inputs, shapes, plan.notes)
    for s in plan.switches:
        plan.notes.append(f"{s.name} ({s.role.replace('_', ' ')}) fed {s.value!r}")
    return plan
