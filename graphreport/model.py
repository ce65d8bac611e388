"""The format-neutral graph model that every reader fills and every analysis reads.

Conventions (see ../shared/design.md):
- Node names carry no ``:0``; tensor names do for GraphDef-like formats (``conv/Conv2D:0``). TFLite
  tensors keep the name the file gives them.
- A shape is a list whose items are ``int`` or ``None`` (unknown dimension); ``None`` for the whole shape
  means the rank is unknown.
- Memory: a 200k-node graph must report in a few hundred MB, so Node, Tensor and the analyses' per-node
  records have __slots__ (no per-instance dict), readers share one string object per op type, attribute
  key and tensor name (a tensor's name in `Graph.tensors`, its producer's `outputs` and its consumers'
  `inputs` is the same object), and constants keep their payload by reference (ConstData.loader).
- Constants (weights, shape operands) are ``Tensor`` objects with ``const`` set. In GraphDef they come from
  Const nodes, which stay in ``Graph.nodes`` with ``is_const`` true so that counts stay honest, but tables
  and diagrams fold them into their consumers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional

Shape = Optional[list]  # list[int | None] or None (unknown rank)

DTYPE_SIZES = {
    "float16": 2, "bfloat16": 2, "float32": 4, "float64": 8,
    "int4": 0.5, "uint4": 0.5, "int8": 1, "uint8": 1, "int16": 2, "uint16": 2, "int32": 4, "uint32": 4,
    "int64": 8, "uint64": 8, "bool": 1, "complex64": 8, "complex128": 16,
    "qint8": 1, "quint8": 1, "qint16": 2, "quint16": 2, "qint32": 4,
}
FLOAT_DTYPES = {"float16", "bfloat16", "float32", "float64"}


def num_elements(shape: Shape) -> Optional[int]:
    """Element count of a fully known shape, else None."""
    if shape is None:
        return None
    n = 1
    for d in shape:
        if d is None or d < 0:
            return None
        n *= int(d)
    return n


class SmallValue:
    """A small constant's value in plain Python: its elements in row-major order, its shape and dtype name.

    Readers that decode constants themselves (GraphDef) give this instead of a numpy array, so a report whose
    rules only read paddings, axes or new shapes (``Ctx.ints``) never imports numpy (about 0.1 s of a small
    model's report); ``Ctx.value`` turns it into an array for rules that compute with it."""

    __slots__ = ("items", "shape", "dtype")

    def __init__(self, items: list, shape, dtype: str):
        self.items = items
        self.shape = tuple(shape)
        self.dtype = dtype

    @property
    def size(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return f"SmallValue({self.items!r}, shape={list(self.shape)}, dtype={self.dtype})"


def tensor_name(node: str, index: int = 0) -> str:
    return f"{node}:{index}"


def split_tensor_name(name: str) -> tuple[str, int]:
    """'a/b:1' -> ('a/b', 1); 'a/b' -> ('a/b', 0); '^a' -> ('a', -1) for a control input."""
    if name.startswith("^"):
        return name[1:], -1
    node, sep, idx = name.rpartition(":")
    if sep and idx.isdigit():
        return node, int(idx)
    return name, 0


@dataclass(slots=True)
class Quantization:
    scale: list[float] = field(default_factory=list)
    zero_point: list[int] = field(default_factory=list)
    axis: Optional[int] = None  # quantized dimension when per-axis (len(scale) > 1)
    min: list[float] = field(default_factory=list)
    max: list[float] = field(default_factory=list)

    @property
    def per_axis(self) -> bool:
        return len(self.scale) > 1


@dataclass(slots=True)
class ConstData:
    """A constant's payload by reference: its byte size, and a loader for the value when needed."""
    nbytes: int
    loader: Optional[Callable[[], Any]] = None  # a numpy array or SmallValue; only called for small tensors

    def value(self):
        return self.loader() if self.loader else None


@dataclass(slots=True)
class Tensor:
    name: str
    dtype: Optional[str] = None
    shape: Shape = None
    shape_signature: Shape = None  # TFLite: shape with -1 dims as None
    producer: Optional[str] = None  # node name, None for graph inputs and constants without a node
    const: Optional[ConstData] = None
    quantization: Optional[Quantization] = None
    sparsity: Optional[dict] = None
    is_variable: bool = False
    shape_note: Optional[str] = None  # why a shape is unknown, when known

    @property
    def is_const(self) -> bool:
        return self.const is not None


@dataclass(slots=True)
class Node:
    name: str
    op: str
    inputs: list[str] = field(default_factory=list)  # tensor names, data inputs only, in order
    outputs: list[str] = field(default_factory=list)  # tensor names
    control_inputs: list[str] = field(default_factory=list)  # node names
    attrs: dict[str, Any] = field(default_factory=dict)  # decoded, JSON-friendly values
    device: str = ""
    calls: list[str] = field(default_factory=list)  # names of functions / subgraphs this node runs
    is_const: bool = False  # a Const node (or an Identity of one): folded into its consumers
    custom: bool = False  # TFLite custom op
    op_version: Optional[int] = None
    function: Optional[str] = None  # the function it lives in, when expanded from a function library

    @property
    def scope(self) -> str:
        return self.name.rpartition("/")[0]


@dataclass
class Graph:
    name: str
    nodes: list[Node] = field(default_factory=list)
    tensors: dict[str, Tensor] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)  # declared inputs (tensor names), when the format has them
    outputs: list[str] = field(default_factory=list)  # declared outputs (tensor names)
    kind: str = "main"  # main | function | subgraph
    consts_are_weights: bool = False  # every constant is a learned weight (Keras layers), scalars included
    dialect: str = "tf"  # whose op names the nodes carry: "tf" ops, "tflite" builtins, "keras" layer classes
    fused_names: bool = False  # a node's name joins the names of the ops fused into it with ';' (TFLite)

    _by_name: dict = field(default_factory=dict, repr=False, compare=False)
    _by_name_of: int = field(default=-1, repr=False, compare=False)  # len(nodes) when _by_name was built
    _consumers: dict = field(default_factory=dict, repr=False, compare=False)
    _memo: dict = field(default_factory=dict, repr=False, compare=False)  # per-graph facts computed once

    def node(self, name: str) -> Optional[Node]:
        if self._by_name_of != len(self.nodes):
            self._by_name = {n.name: n for n in self.nodes}
            self._by_name_of = len(self.nodes)
        return self._by_name.get(name)

    def by_name(self) -> dict[str, Node]:
        """Node name -> node, as `node()` looks them up: for a loop that looks up many (read it, never change it)."""
        if self._by_name_of != len(self.nodes):
            self.node("")
        return self._by_name

    def tensor(self, name: str) -> Optional[Tensor]:
        t = self.tensors.get(name)
        if t is None and ":" not in name:
            t = self.tensors.get(name + ":0")
        return t

    def consumers(self) -> dict[str, list[str]]:
        """node name -> names of nodes that consume any of its outputs (data edges only)."""
        if not self._consumers:
            out: dict[str, list[str]] = {n.name: [] for n in self.nodes}
            get = self.tensors.get
            for n in self.nodes:
                name = n.name
                for t in n.inputs:
                    tensor = get(t)
                    prod = tensor.producer if tensor is not None else split_tensor_name(t)[0]
                    if prod is not None:
                        users = out.get(prod)
                        if users is not None:
                            users.append(name)
            self._consumers = out
        return self._consumers

    def producer(self, tensor: str) -> Optional[str]:
        """The name of the node that makes `tensor` (a tensor name; a bare node name stands for its node),
        or None when no node of the graph makes it."""
        t = self.tensors.get(tensor)
        if t is not None:
            return t.producer
        name = split_tensor_name(tensor)[0]
        return name if self.node(name) is not None else None

    def ancestors(self, starts, control: bool = False) -> set[str]:
        """Names of the nodes that the nodes (or tensors) `starts` depend on, through data edges, and control
        edges too with `control`. One visit per node. A start is in the result only if another start needs it."""
        seen: set[str] = set()
        stack = list(starts)
        by_name, get = self.by_name(), self.tensors.get
        while stack:
            name = stack.pop()
            node = by_name.get(name) or by_name.get(split_tensor_name(name)[0])
            if node is None:
                continue
            for t in node.inputs:  # self.producer(t), written out: this runs once per edge
                tensor = get(t)
                if tensor is not None:
                    p = tensor.producer
                else:
                    p = split_tensor_name(t)[0]
                    if p not in by_name:
                        continue
                if p and p not in seen:
                    seen.add(p)
                    stack.append(p)
            if control:
                for p in node.control_inputs:
                    if p and p not in seen:
                        seen.add(p)
                        stack.append(p)
        return seen

    def memo(self, key: str, compute: Callable[[], Any]) -> Any:
        """A fact of the graph's structure (nodes, ops, names, edges; not shapes), computed once per graph:
        a topological order, the category of each node ... `invalidate()` after changing the structure."""
        memo = self._memo
        if memo.get("_nodes") != len(self.nodes):
            memo.clear()
            memo["_nodes"] = len(self.nodes)
        if key not in memo:
            memo[key] = compute()
        return memo[key]

    def op_nodes(self) -> Iterator[Node]:
        """Nodes that do work: everything but folded constants."""
        return (n for n in self.nodes if not n.is_const)

    def invalidate(self) -> None:
        self._by_name = {}
        self._by_name_of = -1
        self._consumers = {}
        self._memo = {}


@dataclass
class Signature:
    name: str
    inputs: dict[str, Tensor] = field(default_factory=dict)  # key -> tensor (name is the graph's tensor)
    outputs: dict[str, Tensor] = field(default_factory=dict)
    method: str = ""
    subgraph: int = 0


@dataclass
class Variable:
    name: str
    dtype: Optional[str]
    shape: Shape
    nbytes: Optional[int] = None


@dataclass
class Model:
    format: str  # graphdef | tflite | savedmodel | checkpoint | keras | tfjs
    path: str
    file_size: int
    graphs: list[Graph] = field(default_factory=list)  # the main graph first
    producer: Optional[str] = None  # e.g. "TF GraphDef producer 1882", "TOCO Converted."
    format_version: Optional[str] = None
    signatures: list[Signature] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)  # named metadata entries -> size or value
    functions: list[str] = field(default_factory=list)  # function library names (GraphDef)
    variables: list[Variable] = field(default_factory=list)  # from a checkpoint, when read
    warnings: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)  # format-specific facts worth showing
    # What the file itself says, set by its reader: analyses and renderers test these (and Graph.dialect,
    # Graph.consts_are_weights), never the format's name (Model.format is for display and for the converter).
    execution_order_is_file_order: bool = False  # nodes are stored in the order they run (TFLite operators)
    stores_shapes: bool = False  # every tensor's shape is fixed in the file (TFLite): no inference, no --input-shape
    declares_io: bool = False  # the file declares its inputs and outputs and holds nothing else (TFLite): no output
    #                            to suggest, no training part to leave out of the diagram
    lists_tensors: bool = False  # the file has a tensor table of its own (TFLite): the report lists it
    has_architecture: bool = True  # False: weights only, no graph to judge (a TF.js weights manifest)
    variables_freeze_on_conversion: bool = False  # its converter freezes variables into constants (SavedModel,
    #                                               Keras, TF.js): a variable op is no blocker
    legacy_placeholder_shapes: bool = False  # a GraphDef of producer version <= 21 (or none): a scalar Placeholder
    #                                          shape attribute means "unknown shape" there

    _graphs_by_name: dict = field(default_factory=dict, repr=False, compare=False)
    _graphs_of: int = field(default=-1, repr=False, compare=False)  # len(graphs) when indexed

    @property
    def main(self) -> Graph:
        return self.graphs[0]

    def graph_named(self, name: str, other_than: Optional[Graph] = None) -> Optional[Graph]:
        """The first graph called `name` (a function's body) that is not `other_than`; O(1)."""
        if self._graphs_of != len(self.graphs):
            index: dict[str, list[Graph]] = {}
            for g in self.graphs:
                index.setdefault(g.name, []).append(g)
            self._graphs_by_name, self._graphs_of = index, len(self.graphs)
        for g in self._graphs_by_name.get(name, ()):
            if g is not other_than:
                return g
        return None
