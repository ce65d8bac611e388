"""Static shape inference over the format-neutral graph.

For sources that do not store shapes (GraphDef, MetaGraph, SavedModel functions, TF.js), each graph is walked
in topological order and every node's shape rule (ops/ registry) is called with a narrow context: input
shapes and dtypes, attributes, and the values of small constant (or constant-derived) inputs. Small integer
tensors are evaluated with numpy along the way (Shape -> StridedSlice -> Pack -> Reshape chains), kept in a
side dictionary, never in the model.

Rules:
- A shape that the file declared is never overwritten, only refined (an unknown dimension filled in). When
  the user fixes input shapes, declared shapes that contradict the new inputs give way to inferred ones.
- What stays unknown gets ``Tensor.shape_note``: the reason, or the tensor it inherits its unknown from.
- Cycles (TF1 while loops: Merge <- NextIteration) are broken at a Merge; shapes inside stay unknown unless
  the loop body pins them.
- ``input_shapes`` names nodes (``"x"``, no ``:0``); an unknown name raises UsageError.
- Function calls (PartitionedCall / StatefulPartitionedCall): a function graph of the same model
  (``Graph(kind="function")``) with declared ``inputs``/``outputs`` is inferred with the call's input shapes.
"""
from __future__ import annotations

import heapq
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from ..errors import UsageError
from . import LIST_LIMIT
from ..model import FLOAT_DTYPES, Graph, Model, Node, SmallValue, Tensor, split_tensor_name
from ..opdata import roles as op_roles
from ..ops.helpers import (MAX_VALUE_ELEMENTS, NP_DTYPES, ShapeError, Unknown, known, merge_shapes, num_elements,
                           same_shape)
from ..ops.registry import Ctx, lookup, node_ctx
from ..shapespec import format_shape

PLACEHOLDER_OPS = op_roles.ops("placeholder", "placeholder_default")
CALL_OPS = op_roles.ops("call", "call_tpu")
MERGE_OPS = op_roles.ops("merge")

@dataclass
class UnknownShape:
    graph: str
    tensor: str
    node: Optional[str]
    op: Optional[str]
    shape: Optional[list]  # what is known (None = not even the rank)
    reason: str


@dataclass
class ShapeStats:
    known: int = 0  # non-constant tensors with fully known shapes
    partial: int = 0  # rank known, some dimension unknown
    unknown: int = 0  # rank unknown
    inferred: int = 0  # tensors whose shape this pass filled in or refined
    unknown_tensors: list[UnknownShape] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)  # declared shapes that contradicted inferred ones
    overridden: dict[str, list] = field(default_factory=dict)  # node -> shape fixed by the user
    cycles_broken: list[str] = field(default_factory=list)  # nodes processed before all of their inputs
    values: dict[str, dict[str, Any]] = field(default_factory=dict)  # graph -> tensor -> small value
    assumed: dict[str, list] = field(default_factory=dict)  # input -> shape with batch 1 assumed (batch_one)

    @property
    def total(self) -> int:
        return self.known + self.partial + self.unknown

    def to_json(self) -> dict:
        """The report JSON's `shapes` (long lists cut at LIST_LIMIT)."""
        return {"known": self.known, "partial": self.partial, "unknown": self.unknown, "inferred": self.inferred,
                "unknown_tensors": [asdict(u) for u in self.unknown_tensors[:LIST_LIMIT]],
                "conflicts": self.conflicts[:LIST_LIMIT], "overridden": self.overridden}


def topological_order(g: Graph) -> tuple[list[Node], list[str]]:
    """Nodes in an order where every node follows the producers of its data inputs. Among ready nodes the
    one earliest in the file goes first. Cycles are broken at the earliest Merge (else the earliest node)
    still waiting; their names are returned second. Computed once per graph (shapes, cost, memory and
    compatibility share it): callers must not change the lists. O(n log n) in nodes + edges."""
    return g.memo("topological_order", lambda: _topological_order(g))


def _topological_order(g: Graph) -> tuple[list[Node], list[str]]:
    index = {n.name: i for i, n in enumerate(g.nodes)}
    if _in_file_order(g, index):
        return list(g.nodes), []
    n_nodes = len(g.nodes)
    waiting = [0] * n_nodes
    users: dict[int, list[int]] = {}
    for i, n in enumerate(g.nodes):
        d = set()
        for t in n.inputs:
            tensor = g.tensors.get(t)
            prod = tensor.producer if tensor is not None else None
            j = index.get(prod) if prod is not None else None
            if j is not None and j != i:
                d.add(j)
        waiting[i] = len(d)
        for j in d:
            users.setdefault(j, []).append(i)
    ready = [i for i, w in enumerate(waiting) if w == 0]
    heapq.heapify(ready)
    done = [False] * n_nodes
    order: list[Node] = []
    broken: list[str] = []
    remaining = n_nodes
    merges = [i for i, n in enumerate(g.nodes) if n.op in MERGE_OPS]
    next_merge = next_left = 0  # the earliest Merge / node that may still be waiting (only move forward)
    while remaining:
        if not ready:
            while next_merge < len(merges) and done[merges[next_merge]]:
                next_merge += 1
            if next_merge < len(merges):
                pick = merges[next_merge]
            else:
                while done[next_left]:
                    next_left += 1
                pick = next_left
            broken.append(g.nodes[pick].name)
            waiting[pick] = 0
            heapq.heappush(ready, pick)
        i = heapq.heappop(ready)
        if done[i]:
            continue
        done[i] = True
        remaining -= 1
        order.append(g.nodes[i])
        for u in users.get(i, ()):
            if not done[u]:
                waiting[u] -= 1
                if waiting[u] == 0:
                    heapq.heappush(ready, u)
    return order, broken


def _in_file_order(g: Graph, index: dict[str, int]) -> bool:
    """Every node comes after the producers of its data inputs in the file (most graphs are written so).
    Then the file order is the order `_topological_order` makes: whenever the nodes before node k are
    placed, node k is ready and is the earliest of the ready nodes that are left, so it goes next."""
    get, at = g.tensors.get, index.get
    for i, n in enumerate(g.nodes):
        for t in n.inputs:
            tensor = get(t)
            if tensor is not None and tensor.producer is not None:
                j = at(tensor.producer)
                if j is not None and j > i:
                    return False
    return True


def _normalize_override(name: str, shape) -> list:
    if shape is None or isinstance(shape, (str, bytes)) or not hasattr(shape, "__iter__"):
        raise UsageError(f"input_shapes[{name!r}] must be a list of dimensions, e.g. [1, 224, 224, 3]")
    out = []
    for d in shape:
        if d is None or (isinstance(d, int) and d < 0):
            out.append(None)
        elif isinstance(d, int) and not isinstance(d, bool):
            out.append(d)
        else:
            raise UsageError(f"input_shapes[{name!r}]: dimension {d!r} is not an integer")
    return out


def resolve_input_shapes(g: Graph, input_shapes: Optional[dict]) -> dict[str, list]:
    """Validate user-fixed shapes against the graph: node name -> shape."""
    out: dict[str, list] = {}
    for name, shape in (input_shapes or {}).items():
        node_name = name
        if g.node(node_name) is None and ":" in name:
            node_name = name.rsplit(":", 1)[0]
        node = g.node(node_name)
        if node is None:
            placeholders = [n.name for n in g.nodes if n.op in PLACEHOLDER_OPS][:10]
            hint = f"; placeholders are: {', '.join(placeholders)}" if placeholders else ""
            raise UsageError(f"input_shapes names {name!r}, which is not a node of the graph{hint}")
        if not node.outputs:
            raise UsageError(f"input_shapes names {name!r}, a node without outputs")
        shape = _normalize_override(name, shape)
        declared = g.tensors[node.outputs[0]].shape
        if node.op in PLACEHOLDER_OPS and "shape" in node.attrs:
            declared = node.attrs.get("shape")
        if declared is not None and len(declared) != len(shape):
            raise UsageError(f"input_shapes[{name!r}] = {shape} has rank {len(shape)}, but {node_name} is "
                             f"declared with shape {format_shape(declared)}")
        out[node.name] = shape
    return out


class _Walker:
    def __init__(self, model: Model, g: Graph, overrides: dict, stats: ShapeStats, session: "_Session"):
        self.model, self.g, self.overrides, self.stats, self.session = model, g, overrides, stats, session
        self.values: dict[str, Any] = stats.values.setdefault(g.name, {})
        self.origin: dict[str, tuple[str, str]] = {}  # tensor -> (root tensor, root reason)
        # float tensors of known shape whose producer's value rule has not run: it runs when a rule asks for
        # the value (value_of). Frozen graphs are full of constant float arithmetic (batch norm folded into
        # Rsqrt/Mul/Sub chains) whose values no shape depends on; evaluating them cost a third of this pass.
        self.pending: dict[str, Node] = {}
        self.lazy = False

    # -- values ---------------------------------------------------------------------------------------
    def value_of(self, tname: str):
        if tname in self.values:
            return self.values[tname]
        if tname in self.pending:
            self._force(tname)
            if tname in self.values:
                return self.values[tname]
        t = self.g.tensors.get(tname)
        v = None
        if t is not None and t.const is not None and t.const.loader is not None:
            n = num_elements(t.shape)
            if n is not None and n <= MAX_VALUE_ELEMENTS:
                try:
                    v = t.const.value()
                except Exception:  # noqa: BLE001 - a damaged constant is just not a known value
                    v = None
        self.values[tname] = v
        return v

    def ctx_for(self, node: Node) -> Ctx:
        return node_ctx(self.g, node, self.value_of)

    # -- walking --------------------------------------------------------------------------------------
    def run(self) -> None:
        order, broken = topological_order(self.g)
        self.stats.cycles_broken.extend(broken)
        self.broken = set(broken)
        self.lazy = not broken  # in a loop a value may be asked for before its producer is visited: eager
        for node in order:
            self.visit(node)

    def visit(self, node: Node) -> None:
        g = self.g
        if not node.outputs:
            return
        outs = [g.tensors[t] for t in node.outputs]
        if node.is_const:
            for t in outs:
                if t.shape is None and t.const is None:
                    self._note(t, "constant without a declared shape")
            return
        if node.name in self.overrides:
            shape = list(self.overrides[node.name])
            outs[0].shape = shape
            self.stats.overridden[node.name] = shape
            self.stats.inferred += 1
            self._finish(node, outs, None, placeholder=True)
            return
        ctx = None  # made when a rule needs it: not for same_shape, not for a value rule left pending
        info = lookup(node.op, g.dialect)
        reason = None
        result = None
        try:
            if node.op == "Placeholder" and self.session.legacy_scalar_placeholders \
                    and node.attrs.get("shape") == []:
                # TensorFlow reads a scalar placeholder shape in GraphDefs of producer version <= 21 (or none)
                # as "unknown shape": the two could not be told apart in those versions.
                outs[0].shape = None
                raise Unknown("placeholder of an old GraphDef (producer version <= 21): its scalar shape "
                              "attribute means 'unknown shape'; fix it with input_shapes")
            if node.op in CALL_OPS:
                result = self.session.call(self.model, g, node, self.ctx_for(node))
            elif info is not None and info.shape is same_shape:  # [ctx.shape(0)]
                t0 = g.tensors.get(node.inputs[0]) if node.inputs else None
                result = [t0.shape if t0 is not None else None]
            elif info is not None and info.shape is not None:
                ctx = self.ctx_for(node)
                result = info.shape(ctx)
            elif _declared_output_shapes(node, len(outs)) is not None:
                result = _declared_output_shapes(node, len(outs))
            else:
                reason = f"no shape rule for op {node.op}"
        except Unknown as e:
            reason = str(e)
        except RecursionError:
            reason = "shape rule failed: recursion too deep"
        except Exception as e:  # noqa: BLE001 - a rule bug must not break the report; say so instead
            reason = f"shape rule for {node.op} failed: {type(e).__name__}: {e}"
        if node.name in self.broken and node.op in MERGE_OPS:
            reason = reason or "loop variable (Merge <- NextIteration cycle): shape may change per iteration"
            if result is not None:
                result = [None] + list(result[1:])
        out_reasons: Optional[dict[int, str]] = None
        if result is not None:
            for i, t in enumerate(outs):
                if i < len(result):
                    if isinstance(result[i], Unknown):  # a rule may explain one output it cannot know
                        if out_reasons is None:
                            out_reasons = {}
                        out_reasons[i] = str(result[i])
                    else:
                        self._merge(t, result[i])
        if info is not None and info.value is not None and not self._too_big(outs):
            defer = self.lazy
            if defer:
                for t in outs:  # float outputs of known shape whose value is not known yet
                    if t.dtype not in FLOAT_DTYPES or not known(t.shape) or t.name in self.values:
                        defer = False
                        break
            if defer:
                for t in outs:  # its value can no longer change a shape here: computed if asked for
                    self.pending[t.name] = node
            else:
                self._values(node, info, ctx, outs)
        self._finish(node, outs, reason, placeholder=node.op in PLACEHOLDER_OPS, out_reasons=out_reasons)

    def _values(self, node: Node, info, ctx: Optional[Ctx], outs: list) -> None:
        """Run node's value rule and keep the small values it gives."""
        if ctx is None:
            vctx = self.ctx_for(node)
        elif set(node.inputs).isdisjoint(node.outputs):  # inputs unchanged: the same context, new outputs
            ctx.out_shapes = [t.shape for t in outs]
            vctx = ctx
        else:
            vctx = self.ctx_for(node)
        try:
            vals = info.value(vctx)
        except Exception:  # noqa: BLE001 - values are an optimisation for shape arithmetic only
            vals = None
        for t, v in zip(outs, vals or []):
            self._store_value(t, v)

    def _force(self, tname: str) -> None:
        """Run the pending value rules `tname` depends on, inputs first (no recursion: a chain may be long)."""
        g = self.g
        stack = [self.pending[tname]]
        while stack:
            node = stack[-1]
            if not any(t in self.pending for t in node.outputs):
                stack.pop()
                continue
            deps = [self.pending[t] for t in node.inputs if t in self.pending and t not in node.outputs]
            if deps:
                stack.extend(deps)
                continue
            stack.pop()
            for t in node.outputs:
                self.pending.pop(t, None)
            outs = [g.tensors[t] for t in node.outputs]
            self._values(node, lookup(node.op, g.dialect), self.ctx_for(node), outs)

    def _too_big(self, outs) -> bool:
        for t in outs:
            n = num_elements(t.shape)
            if n is not None and n > MAX_VALUE_ELEMENTS:
                return True
        return False

    def _store_value(self, t: Tensor, v) -> None:
        if v is None:
            return
        if isinstance(v, list):
            if t.shape is not None and (len(t.shape) != 1 or (t.shape[0] is not None and t.shape[0] != len(v))):
                return
            if all(x is not None for x in v):
                # a fully known integer list: kept as a SmallValue (numpy only if a rule computes with it)
                v = SmallValue(list(v), (len(v),), t.dtype if t.dtype in NP_DTYPES else "int32")
            else:
                self.values[t.name] = v
                return
        size = getattr(v, "size", None)
        if size is None or size > MAX_VALUE_ELEMENTS:
            return
        if t.shape is not None and known(t.shape) and list(v.shape) != list(t.shape):
            return  # a value rule disagreeing with the shape is not trusted
        self.values[t.name] = v
        if t.shape is None or not known(t.shape):
            self._merge(t, list(v.shape))

    def _merge(self, t: Tensor, new) -> None:
        if new is None:
            return
        new = [None if (d is None or (isinstance(d, int) and d < 0)) else int(d) for d in new]
        old = t.shape
        if old is None:
            t.shape = new
            self.stats.inferred += 1
            return
        try:
            merged = merge_shapes(old, new)
        except ShapeError:
            if self.session.user_fixed:
                t.shape = new
                self.stats.inferred += 1
            self.stats.conflicts.append(f"{t.name}: declared {format_shape(old)}, inferred {format_shape(new)}"
                                        + (" (inferred kept: input shapes were fixed)"
                                           if self.session.user_fixed else " (declared kept)"))
            return
        if merged != old:
            t.shape = merged
            self.stats.inferred += 1

    def _finish(self, node: Node, outs: list, reason: Optional[str], placeholder: bool = False,
                out_reasons: Optional[dict] = None) -> None:
        for i, t in enumerate(outs):
            if known(t.shape):
                t.shape_note = None
                self.origin.pop(t.name, None)
                continue
            if out_reasons and i in out_reasons:
                self._note(t, out_reasons[i])
                continue
            if placeholder:
                note = reason or (f"input {node.name} leaves {'its rank' if t.shape is None else 'dimensions'} "
                                  f"unknown: fix it with input_shapes")
                self._note(t, note)
                continue
            root = None
            for name in node.inputs:
                if name in self.origin:
                    root = self.origin[name]
                    break
            if reason is None and root is not None:
                self.origin[t.name] = root
                t.shape_note = f"depends on {root[0]}: {root[1]}"
            elif reason is not None:
                self._note(t, reason)
            else:
                self._note(t, f"{node.op} result depends on values not known statically")

    def _note(self, t: Tensor, reason: str) -> None:
        t.shape_note = reason
        self.origin[t.name] = (t.name, reason)


def _declared_output_shapes(node: Node, n: int) -> Optional[list]:
    """Ops such as While / If / function calls may carry an `output_shapes` attribute."""
    shapes = node.attrs.get("output_shapes")
    if isinstance(shapes, list) and len(shapes) == n and all(s is None or isinstance(s, list) for s in shapes):
        return shapes
    return None


class _Session:
    """State shared across the graphs of one inference run (function-call resolution, user overrides)."""

    def __init__(self, stats: ShapeStats, user_fixed: bool, legacy_scalar_placeholders: bool = False):
        self.stats = stats
        self.user_fixed = user_fixed
        self.legacy_scalar_placeholders = legacy_scalar_placeholders
        self.walked: set[str] = set()
        self.active: set[str] = set()

    def call(self, model: Model, g: Graph, node: Node, ctx: Ctx) -> Optional[list]:
        f = node.attrs.get("f")
        fname = f.get("func") if isinstance(f, dict) else None
        declared = _declared_output_shapes(node, ctx.n_out)
        body = model.graph_named(fname, other_than=g) if fname else None
        if body is None:
            if declared is not None:
                return declared
            raise Unknown(f"calls function {fname or '?'}, whose body is not part of this model's graphs")
        if fname in self.active:
            raise Unknown(f"recursive call of function {fname}")
        if not body.inputs or not body.outputs:
            if declared is not None:
                return declared
            raise Unknown(f"function {fname} does not declare its inputs and outputs")
        for tname, shape in zip(body.inputs, ctx.in_shapes):
            t = body.tensors.get(tname)
            if t is not None and shape is not None:
                try:
                    t.shape = merge_shapes(t.shape, shape)
                except ShapeError:
                    t.shape = list(shape)
        self.active.add(fname)
        try:
            _Walker(model, body, {}, self.stats, self).run()
        finally:
            self.active.discard(fname)
        self.walked.add(body.name)
        out = []
        for tname in body.outputs:
            t = body.tensor(tname)
            out.append(None if t is None else t.shape)
        return out


def batch_one(model: Model, inputs: list[str], input_shapes: Optional[dict] = None) -> dict[str, list]:
    """The inputs whose only unknown dimension is the first (the batch), with it set to 1: figures are per
    example. Inputs the user fixed (`input_shapes`) and any other unknown dimension are left alone."""
    g = model.main
    fixed = {split_tensor_name(k)[0] for k in (input_shapes or {})}
    out: dict[str, list] = {}
    for name in inputs:
        node = g.node(split_tensor_name(name)[0])
        if node is None or node.name in fixed or not node.outputs:
            continue
        t = g.tensors.get(node.outputs[0])
        s = t.shape if t is not None else None
        if s and s[0] is None and all(d is not None for d in s[1:]):
            out[node.name] = [1, *s[1:]]
    return out


def infer_shapes(model: Model, input_shapes: Optional[dict] = None) -> ShapeStats:
    """Fill in unknown tensor shapes of every graph of `model` (in place) and return the counts, the
    tensors left unknown with the reason, and the small constant values found along the way."""
    stats = ShapeStats()
    if not model.graphs:
        return stats
    overrides = resolve_input_shapes(model.main, input_shapes)
    session = _Session(stats, user_fixed=bool(overrides), legacy_scalar_placeholders=model.legacy_placeholder_shapes)
    for g in model.graphs:
        if g.name in session.walked:
            continue
        session.walked.add(g.name)
        _Walker(model, g, overrides if g is model.main else {}, stats, session).run()
    for g in model.graphs:
        _count(g, stats)
    return stats


def _count(g: Graph, stats: ShapeStats) -> None:
    producers = g.by_name()
    for t in g.tensors.values():
        if t.const is not None:
            continue
        if known(t.shape):
            stats.known += 1
            continue
        if t.shape is None:
            stats.unknown += 1
        else:
            stats.partial += 1
        node = producers.get(t.producer) if t.producer else None
        reason = t.shape_note or ("produced by no node of this graph" if node is None else "not inferred")
        stats.unknown_tensors.append(UnknownShape(graph=g.name, tensor=t.name, node=node.name if node else None,
                                                  op=node.op if node else None, shape=t.shape, reason=reason))
