"""Which inputs and outputs to name when freezing or converting, and which placeholders to leave out.

GraphDef-like graphs: data inputs are Placeholders; outputs are the sinks of the inference subgraph, after
setting apart saver, summary, optimizer, gradient and initialisation nodes and the loss/metric region
(everything downstream of a loss op or of a label placeholder). Placeholders that feed only that region
(labels) or switch training behaviour (keep_prob, is_training, dropout rate, learning rate) are listed
apart with a role and the value to feed at inference.

A training graph's output is the last tensor of the inference subgraph before label-dependent computation,
taken outside the loss function's own name scope: TF loss functions open a scope in which they reshape or
transform the logits before meeting the labels (`softmax_cross_entropy_with_logits/Reshape`,
`logistic_loss/Log1p`); those nodes belong to the loss. A scope counts as a loss function's when what it
computes towards the label-dependent nodes inside it reads no variable, placeholder or weighted op (a model
scope that also holds a hand-written loss is not one). Every ancestor/descendant fact is computed once per
graph (a few linear passes), never per node.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Optional

from ..model import Graph, Model, Node, split_tensor_name
from ..opdata import roles as op_roles
from . import op_matcher

PLACEHOLDERS = op_roles.ops("placeholder", "placeholder_default")
VARIABLE_OPS = op_roles.ops("variable", "variable_check", "variable_read")
NOT_OUTPUTS = PLACEHOLDERS | VARIABLE_OPS | op_roles.ops("const", "noop", "debug")
LOSS_OPS = op_roles.ops("loss")
SAVER_OPS = op_roles.ops("saver")
INIT_RE = re.compile(r"(^|/)(init(_\d+)?|Initializer|report_uninitialized_variables(_\d+)?)(/|$)")
OPTIMIZER_SCOPES = re.compile(
    r"^(train|training|train_op|optimizer|Adam(_\d+)?|GradientDescent|Momentum|RMSProp|Adagrad\w*|Adadelta|Ftrl|"
    r"beta[12]_power(_\d+)?|global_step|learning_rate_decay\w*)(/|$)")
SLOT_SUFFIX = re.compile(r"/(Adam|Momentum|RMSProp|Adagrad|Adadelta|Ftrl|Nadam|Adamax)(_\d+)?(/|$)")
LOSS_SCOPE = re.compile(r"(^|/)(loss(es)?|\w*_loss|cross_entropy\w*|\w*xent\w*|accuracy\w*|metrics?|"
                        r"correct_prediction\w*)(/|$)", re.I)
LABEL_NAME = re.compile(r"^((\w+_)?labels?(_\w+|\d+)?|targets?(_\d+)?|y_|y_true|ground_?truth|gt|y_label)$", re.I)
KEEP_PROB = re.compile(r"keep_?prob", re.I)
DROPOUT_RATE = re.compile(r"dropout|drop_?rate|^rate$", re.I)
LEARNING_RATE = re.compile(r"learning_?rate|^lr$", re.I)
# ops a loss function never runs on its predictions: seeing one means the scope holds the model, not a loss
WEIGHTED_OPS = op_roles.ops("model_evidence")


@dataclass(slots=True)
class IOTensor:
    name: str  # node name (no ":0") for TensorFlow graphs; tensor name for TFLite
    dtype: Optional[str]
    shape: Optional[list]
    tensor: str = ""  # full tensor name
    note: str = ""

    def to_json(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "shape": self.shape}


@dataclass
class IgnoredInput:
    name: str
    role: str  # label | training_switch | dropout_keep_prob | dropout_rate | learning_rate | scalar_parameter
    reason: str
    suggested_value: Any = None
    dtype: Optional[str] = None
    shape: Optional[list] = None

    def to_json(self) -> dict:
        return {"name": self.name, "role": self.role, "reason": self.reason, "suggested_value": self.suggested_value,
                "dtype": self.dtype, "shape": self.shape}


@dataclass
class IOSuggestion:
    inputs: list[IOTensor] = field(default_factory=list)
    outputs: list[IOTensor] = field(default_factory=list)
    ignored_inputs: list[IgnoredInput] = field(default_factory=list)
    set_apart: dict[str, int] = field(default_factory=dict)  # category -> nodes set apart
    has_variables: bool = False
    signatures: list[dict] = field(default_factory=list)
    signature: Optional[str] = None  # SavedModel: the signature the inputs and outputs come from

    def freeze_shapes(self) -> None:
        """Copy the shapes as the model declares them, before figures assume a batch size (report.py)."""
        for x in (*self.inputs, *self.outputs, *self.ignored_inputs):
            if getattr(x, "shape", None) is not None:
                x.shape = list(x.shape)

    def to_json(self) -> dict:
        """The report JSON's I/O keys, in the report's order."""
        return {"inputs": [x.to_json() for x in self.inputs], "outputs": [x.to_json() for x in self.outputs],
                "ignored_inputs": [x.to_json() for x in self.ignored_inputs], "set_apart": self.set_apart,
                "signatures": self.signatures, "has_variables": self.has_variables}


SAVER_FUNCTION = re.compile(r"__inference__traced_(save|restore)_\d+")  # TF2 SavedModel save/restore functions


_SAVER_FIRST = re.compile(r"save(_\d+)?|saver_filename")
_GRADIENTS_FIRST = re.compile(r"gradients(_\d+)?")
_APPLY_OPS = op_roles.pattern("optimizer_apply")
_INIT_OPS = op_roles.ops("init")


_is_summary, _is_apply = op_matcher(op_roles.pattern("summary")), op_matcher(_APPLY_OPS)
_OPTIMIZER_INITIALS = frozenset("toAGMRFbgl")  # the first letters OPTIMIZER_SCOPES's names start with


def categorize(node: Node) -> Optional[str]:
    """The non-inference subgraph a node belongs to, or None. Each regex on the name runs only when the
    name holds what any match of it holds (it runs once per node of graphs of 200,000 nodes)."""
    op, name = node.op, node.name
    first = name.partition("/")[0]
    if op in SAVER_OPS or (first[:4] == "save" and _SAVER_FIRST.fullmatch(first)):
        return "saver"
    f = node.attrs.get("f") if op.endswith("PartitionedCall") else None
    if isinstance(f, dict) and SAVER_FUNCTION.fullmatch(str(f.get("func", ""))):
        return "saver"
    if _is_summary(op) or first in ("summaries", "summary"):
        return "summary"
    if first[:9] == "gradients" and _GRADIENTS_FIRST.fullmatch(first):
        return "gradients"
    if _is_apply(op) or (first[:1] in _OPTIMIZER_INITIALS and OPTIMIZER_SCOPES.match(name)) \
            or ("/" in name and SLOT_SUFFIX.search(name)):
        return "optimizer"
    if op in _INIT_OPS or ("nit" in name and INIT_RE.search(name)):  # init, Initializer, ..._uninitialized_...
        return "initialization"
    return None


def loss_scoped(name: str) -> bool:
    """LOSS_SCOPE finds a scope in the name. An ASCII name that holds none of the words its names hold (in
    any case) has none: that test is a few times cheaper than the regex, which the rest still runs."""
    if name.isascii():
        low = name.lower()
        if "loss" not in low and "xent" not in low and "accuracy" not in low and "metric" not in low \
                and "cross_entropy" not in low and "correct_prediction" not in low:
            return False
    return LOSS_SCOPE.search(name) is not None


def categories(g: Graph) -> list[Optional[str]]:
    """categorize() of every node of the graph, in node order; computed once per graph."""
    return g.memo("categories", lambda: [categorize(n) for n in g.nodes])


def _io(g: Graph, node: Node) -> IOTensor:
    if node.outputs:
        t = g.tensors.get(node.outputs[0])
        if t is not None:
            return IOTensor(node.name, t.dtype, t.shape, node.outputs[0])
        return IOTensor(node.name, None, None, node.outputs[0])
    return IOTensor(node.name, None, None, node.name)


def _switch_role(node: Node, g: Graph) -> Optional[IgnoredInput]:
    t = g.tensors.get(node.outputs[0])
    dtype, shape = (t.dtype, t.shape) if t else (None, None)
    last = node.name.rsplit("/", 1)[-1]
    scalar = shape == [] or (shape is None and node.op == "PlaceholderWithDefault")
    if dtype == "bool" and (scalar or shape is None):  # legacy graphs may not state a scalar's shape
        return IgnoredInput(node.name, "training_switch", "boolean scalar: switches training behaviour",
                            False, dtype, shape)
    if KEEP_PROB.search(last):
        return IgnoredInput(node.name, "dropout_keep_prob", "dropout keep probability", 1.0, dtype, shape)
    if scalar and DROPOUT_RATE.search(last):
        return IgnoredInput(node.name, "dropout_rate", "dropout rate", 0.0, dtype, shape)
    if scalar and LEARNING_RATE.search(last):
        return IgnoredInput(node.name, "learning_rate", "learning rate: used by training only", None, dtype, shape)
    if scalar and node.op == "Placeholder":
        return IgnoredInput(node.name, "scalar_parameter", "scalar placeholder: a hyper-parameter, not data",
                            None, dtype, shape)
    return None


def _reach(g: Graph, starts, allowed: Optional[set] = None, strict: bool = False) -> set[str]:
    """Nodes reachable from `starts` along data edges (through `allowed` nodes only, when given); with
    strict, only those reached through at least one edge (a start is included only if another reaches it)."""
    cons = g.consumers()
    seen: set[str] = set() if strict else set(starts)
    stack = list(starts)
    while stack:
        n = stack.pop()
        for c in cons.get(n, ()):
            if c not in seen and (allowed is None or c in allowed):
                seen.add(c)
                stack.append(c)
    return seen


def _scope_prefixes(name: str):
    """'a/b/c' -> 'a', 'a/b', 'a/b/c' (an op may carry its scope's name: `softmax_cross_entropy_with_logits`)."""
    i = name.find("/")
    while i != -1:
        yield name[:i]
        i = name.find("/", i + 1)
    yield name


def _in_scope(name: str, scope: str) -> bool:
    return name == scope or name.startswith(scope + "/")


def _reads_variable(g: Graph, node: Node) -> bool:
    if node.op in VARIABLE_OPS:
        return True
    if node.op in op_roles.FORWARD and node.inputs:
        p = g.node(g.producer(node.inputs[0]) or "")
        return p is not None and p.op in VARIABLE_OPS
    return False


def loss_function_internals(g: Graph, forward: set[str], region: set[str]) -> set[str]:
    """Nodes a loss function builds in its own name scope from its predictions before they meet the labels
    (the logits' Reshape, Shape and Slice in `softmax_cross_entropy_with_logits/`, the Log1p(Exp(-|x|)) in
    `logistic_loss/`). For every name scope S holding a node of the label-dependent region: walk back from
    those nodes through the non-region nodes of S. S is a loss function's scope when that walk meets no
    variable, placeholder, weighted or control-flow op and leaves S only to constants, placeholders (labels)
    and tensors that are no variable reads (the predictions). Each node is visited once per enclosing scope."""
    starts: dict[str, list[str]] = {}
    for name in region:
        for scope in _scope_prefixes(name):
            starts.setdefault(scope, []).append(name)
    internals: set[str] = set()
    for scope, names in starts.items():
        prep: set[str] = set()
        stack, ok = list(names), True
        while stack and ok:
            node = g.node(stack.pop())
            if node is None:
                continue
            for t in node.inputs:
                p = g.producer(t)
                if p is None or p in region or p in prep:
                    continue
                pn = g.node(p)
                if pn is None or pn.is_const:
                    continue
                if not _in_scope(p, scope):
                    if _reads_variable(g, pn):
                        ok = False
                        break
                    continue  # leaves the scope: the predictions, a label, ...
                if p not in forward:
                    continue
                if pn.op in PLACEHOLDERS or pn.op in VARIABLE_OPS or pn.op in WEIGHTED_OPS:
                    ok = False
                    break
                prep.add(p)
                stack.append(p)
        if ok:
            internals |= prep
    return internals


def suggest_graph(g: Graph) -> IOSuggestion:
    s = IOSuggestion()
    excluded: set[str] = set()
    for node, cat in zip(g.nodes, categories(g)):
        if cat:
            excluded.add(node.name)
            if not node.is_const:
                s.set_apart[cat] = s.set_apart.get(cat, 0) + 1
        if node.op in VARIABLE_OPS:
            s.has_variables = True
    forward = {n.name for n in g.nodes if n.name not in excluded and not n.is_const}
    cons = g.consumers()

    placeholders = [n for n in g.nodes if n.op in PLACEHOLDERS]
    switches = {}
    for p in placeholders:
        role = _switch_role(p, g)
        if role:
            switches[p.name] = role

    # label-dependent region: loss ops, loss-named scopes, and everything downstream of them or of a label;
    # then what loss functions compute inside their own scope from the predictions alone
    seeds = {n.name for n in g.nodes if n.name in forward and (n.op in LOSS_OPS or loss_scoped(n.name))}
    labels = {p.name for p in placeholders if p.name not in switches and LABEL_NAME.match(p.name.rsplit("/", 1)[-1])}
    loss_region = seeds | _reach(g, seeds | labels, forward, strict=True)
    inside = loss_function_internals(g, forward, loss_region)
    # structurally, a placeholder whose every use is label-dependent (or inside a loss function) is a label
    more = set()
    for p in placeholders:
        if p.name in switches or p.name in labels:
            continue
        uses = [c for c in cons.get(p.name, ()) if c in forward]
        if uses and all(c in loss_region or c in inside for c in uses):
            more.add(p.name)
    if more:
        labels |= more
        loss_region = seeds | _reach(g, seeds | labels, forward, strict=True)
        inside = loss_function_internals(g, forward, loss_region)
    region = loss_region | inside
    if region:
        s.set_apart["loss_and_metrics"] = len(region)

    for p in placeholders:
        if p.name in switches:
            s.ignored_inputs.append(switches[p.name])
        elif p.name in labels:
            t = g.tensors.get(p.outputs[0])
            s.ignored_inputs.append(IgnoredInput(p.name, "label", "feeds only the loss and metrics", None,
                                                 t.dtype if t else None, t.shape if t else None))
        elif p.name in excluded:
            continue  # a saver's filename and the like: counted in set_apart
        else:
            s.inputs.append(_io(g, p))

    data_inputs = {i.name for i in s.inputs}
    from_data = _reach(g, data_inputs) if data_inputs else None  # computed from the data (once per graph)
    inference = forward - region if region else forward
    sinks, frontier, pure = [], [], set()  # frontier: feeds the label-dependent region
    for node in g.nodes:
        if node.name not in inference or node.op in NOT_OUTPUTS or not node.outputs:
            continue
        used_by = cons.get(node.name, ())
        in_inference = feeds_loss = False
        for c in used_by:
            if c in inference:
                in_inference = True
                break
        if region:
            for c in used_by:
                if c in region:
                    feeds_loss = True
                    break
        if in_inference and not feeds_loss:
            continue
        if from_data is not None and node.name not in from_data:
            continue  # computes nothing from the data: leftovers, constants, step counters
        if feeds_loss:
            frontier.append(node)
            if not in_inference:
                pure.add(node.name)
        else:
            sinks.append(node)
    # A training graph's outputs are what feeds its loss (logits), minus what is derived from those only
    # to feed a metric (argmax of logits); its plain sinks count only when computed from such an output
    # (probabilities = softmax(logits)): a sink that branches off earlier is a dead end (an unused batch
    # variance, say). A graph without a loss region keeps all its sinks.
    frontier_names = {n.name for n in frontier}
    below_frontier = _reach(g, frontier_names, strict=True)
    chosen = {n.name for n in frontier if n.name not in pure or n.name not in below_frontier}
    if frontier:
        below_chosen = _reach(g, chosen, strict=True)
        chosen |= {n.name for n in sinks if n.name in below_chosen}
    else:
        chosen |= {n.name for n in sinks}
    s.outputs = [_io(g, n) for n in g.nodes if n.name in chosen]
    return s


def suggest_tflite(model: Model) -> IOSuggestion:
    g = model.main
    s = IOSuggestion()
    for name in g.inputs:
        t = g.tensors[name]
        s.inputs.append(IOTensor(name=name, dtype=t.dtype, shape=t.shape_signature or t.shape, tensor=name))
    for name in g.outputs:
        t = g.tensors[name]
        s.outputs.append(IOTensor(name=name, dtype=t.dtype, shape=t.shape_signature or t.shape, tensor=name))
    for sig in model.signatures:
        s.signatures.append({
            "name": sig.name, "subgraph": sig.subgraph,
            "inputs": [{"key": k, "name": t.name, "dtype": t.dtype, "shape": t.shape_signature or t.shape}
                       for k, t in sig.inputs.items()],
            "outputs": [{"key": k, "name": t.name, "dtype": t.dtype, "shape": t.shape_signature or t.shape}
                        for k, t in sig.outputs.items()],
        })
    s.has_variables = any(n.op in ("VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE") for n in g.nodes)
    return s


def _signature_dicts(model: Model) -> list[dict]:
    def entry(key, t):
        return {"key": key, "name": t.name, "dtype": t.dtype, "shape": t.shape}

    return [{"name": sig.name, "subgraph": sig.subgraph, "method": sig.method,
             "inputs": [entry(k, t) for k, t in sig.inputs.items()],
             "outputs": [entry(k, t) for k, t in sig.outputs.items()]} for sig in model.signatures]


def suggest_savedmodel(model: Model, signature: str) -> IOSuggestion:
    """A SavedModel's inputs and outputs are its serving signature's: converters take the SavedModel and
    the signature key; the graph tensors are named for tools that work on the graph."""
    g = model.main
    sig = next(s for s in model.signatures if s.name == signature)
    s = IOSuggestion()

    def io(key, t):
        node, idx = split_tensor_name(t.name)
        gt = g.tensor(t.name)
        shape = t.shape
        if gt is not None and gt.shape is not None:  # inferred or fixed by the user: use it where it refines
            if shape is None or (len(shape) == len(gt.shape) and all(
                    a is None or a == b for a, b in zip(shape, gt.shape))):
                shape = list(gt.shape)
        return IOTensor(name=node if idx == 0 else t.name, dtype=t.dtype or (gt.dtype if gt else None),
                        shape=shape, tensor=t.name, note=f"signature {sig.name!r}, key {key!r}")

    s.inputs = [io(k, t) for k, t in sig.inputs.items()]
    s.outputs = [io(k, t) for k, t in sig.outputs.items()]
    s.has_variables = any(n.op in VARIABLE_OPS for n in g.nodes)
    s.signatures = _signature_dicts(model)
    s.signature = sig.name
    return s


def suggest_declared(model: Model) -> IOSuggestion:
    """Keras models (and TF.js layers models): the inputs and outputs the model config declares. Names are
    layer (node) names; a second output of a layer keeps its tensor name."""
    g = model.main
    s = IOSuggestion()

    def io(tname):
        t = g.tensors.get(tname)
        node, idx = split_tensor_name(tname)
        return IOTensor(name=node if idx == 0 else tname, dtype=t.dtype if t else None,
                        shape=t.shape if t else None, tensor=tname)

    s.inputs = [io(t) for t in g.inputs]
    s.outputs = [io(t) for t in g.outputs]
    return s


def suggest(model: Model) -> IOSuggestion:
    if model.main.dialect == "tflite":
        return suggest_tflite(model)
    if model.main.dialect == "keras":  # Keras files and TF.js layers models declare their inputs and outputs
        return suggest_declared(model)
    if model.details.get("serving_signature") in {s.name for s in model.signatures}:  # SavedModel signature
        return suggest_savedmodel(model, model.details["serving_signature"])
    s = suggest_graph(model.main)
    if model.signatures:
        s.signatures = _signature_dicts(model)
    return s
