"""Node matching between two graphs (the old and the new model), in order, each match saying how:

1. ``name``: the same node name (the same op vocabulary on both sides).
2. ``renamed``: the same node under another scope prefix ("model_a/conv1/Conv2D" -> "model_b/conv1/Conv2D").
   Prefix pairs are found by votes: every unmatched old node proposes the prefix pairs under which its name's
   tail names exactly one unmatched new node of its op; pairs with at least two votes (or all of a small
   graph's) are applied, most voted first, and a node is renamed only onto a node of the same op.
3. ``structural``: no name in common. First along edges from matched nodes (the consumer of a matched node
   at the same input slot, with the same op, or its producer), then by position among the unmatched ops of
   the same type in topological order, pairing equal output shapes and attributes first.
4. ``cross-format``: TensorFlow graph vs TFLite file, Keras model vs either. TFLite names carry the source
   names ("net/conv/Relu;net/conv/BiasAdd;net/conv/Conv2D" is one CONV_2D with a fused activation): the source
   op the builtin stands for is matched ``cross-format``, the other named source ops ``fused``; source ops
   computed from constants alone (batch-norm scale and shift folded into the convolution's weights) are
   ``folded`` into the op they feed, and pass-through ops (Identity) into their producer's counterpart. A Keras
   layer is matched to the graph ops under its name scope: the op its class stands for ``cross-format``, the
   rest ``fused``.

Only op nodes take part: constants are weights of their consumers (as the report's tables fold them).
Every pass is linear in nodes + edges (dictionaries, bounded name depth and window), the positional pass
sorts: n log n. ``Matching.work`` counts the elementary steps so that a test can check the growth.
"""
from __future__ import annotations

import json
import re
from collections import defaultdict, deque
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable, Optional

from ..model import Graph, Node, split_tensor_name

PREFIX_DEPTH = 3  # scope components a rename may replace on either side
WINDOW = 8  # look-ahead of the positional pass
HOWS = ("name", "renamed", "structural", "cross-format", "fused", "folded")
PASS_THROUGH = {"Identity", "IdentityN", "StopGradient", "Snapshot", "NoOp", "PreventGradient",
                "PlaceholderWithDefault", "EnsureShape", "CheckNumerics"}


@dataclass
class Match:
    old: str
    new: str
    old_op: str
    new_op: str
    how: str  # one of HOWS

    def to_dict(self) -> dict:
        return {"old": self.old, "new": self.new, "old_op": self.old_op, "new_op": self.new_op, "how": self.how}


@dataclass
class Matching:
    matches: list[Match] = field(default_factory=list)
    added: list[str] = field(default_factory=list)  # new op nodes with no counterpart
    removed: list[str] = field(default_factory=list)  # old op nodes with no counterpart
    prefixes: list[tuple[str, str, int]] = field(default_factory=list)  # (old prefix, new prefix, nodes renamed)
    cross_format: bool = False
    work: int = 0  # elementary steps taken (for the complexity test)
    old_to_new: dict[str, str] = field(default_factory=dict)  # first counterpart of each matched old node
    new_to_old: dict[str, str] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        out = {h: 0 for h in HOWS}
        for m in self.matches:
            out[m.how] += 1
        return out


class _Side:
    """One graph's op nodes with topological order, producers per input slot and consumers, built once."""

    def __init__(self, g: Graph, counter: list):
        self.g = g
        self.nodes: dict[str, Node] = {n.name: n for n in g.nodes if not n.is_const}
        self.inputs: dict[str, list[Optional[str]]] = {}  # node -> producer op node per data input slot
        self.consumers: dict[str, list[tuple[str, int]]] = defaultdict(list)  # node -> (consumer, slot)
        for n in self.nodes.values():
            prods = []
            for slot, t in enumerate(n.inputs):
                counter[0] += 1
                tt = g.tensors.get(t)
                p = tt.producer if tt is not None and tt.producer is not None else split_tensor_name(t)[0]
                if p in self.nodes and p != n.name:
                    prods.append(p)
                    self.consumers[p].append((n.name, slot))
                else:
                    prods.append(None)
            self.inputs[n.name] = prods
        self.order = self._topological(counter)
        self.rank = {name: i for i, name in enumerate(self.order)}

    def _topological(self, counter: list) -> list[str]:
        """Kahn's algorithm over data and control edges; nodes in cycles (TF1 loops) follow in file order."""
        indeg = {name: 0 for name in self.nodes}
        succ: dict[str, list[str]] = defaultdict(list)
        for n in self.nodes.values():
            deps = {p for p in self.inputs[n.name] if p is not None}
            deps.update(c for c in n.control_inputs if c in self.nodes and c != n.name)
            for p in deps:
                counter[0] += 1
                succ[p].append(n.name)
                indeg[n.name] += 1
        queue = deque(name for name in self.nodes if indeg[name] == 0)
        order = []
        while queue:
            counter[0] += 1
            name = queue.popleft()
            order.append(name)
            for s in succ[name]:
                indeg[s] -= 1
                if indeg[s] == 0:
                    queue.append(s)
        if len(order) < len(self.nodes):
            seen = set(order)
            order.extend(name for name in self.nodes if name not in seen)
        return order

    def shapes(self, name: str) -> tuple:
        n = self.nodes[name]
        return tuple((self.g.tensors[t].dtype, _tup(self.g.tensors[t].shape)) if t in self.g.tensors else None
                     for t in n.outputs)

    def signature(self, name: str) -> tuple:
        n = self.nodes[name]
        return (n.op, self.shapes(name), attrs_key(n.attrs))


def _tup(shape):
    return None if shape is None else tuple(shape)


def attrs_key(attrs: dict) -> str:
    """Attributes that describe the computation (not names, not private '_' attributes), as one string."""
    return json.dumps({k: v for k, v in attrs.items() if not k.startswith("_") and k != "name"},
                      sort_keys=True, default=str)


class _Matcher:
    def __init__(self, old: Graph, new: Graph, foldable_old: Iterable[str] = (), foldable_new: Iterable[str] = ()):
        self.counter = [0]
        self.a = _Side(old, self.counter)
        self.b = _Side(new, self.counter)
        self.foldable_a, self.foldable_b = set(foldable_old), set(foldable_new)
        self.matches: list[Match] = []
        self.a2b: dict[str, str] = {}
        self.b2a: dict[str, str] = {}
        self.prefixes: list[tuple[str, str, int]] = []

    # -- bookkeeping --------------------------------------------------------------------------------------
    def add(self, o: str, n: str, how: str) -> None:
        self.matches.append(Match(o, n, self.a.nodes[o].op if o in self.a.nodes else "",
                                  self.b.nodes[n].op if n in self.b.nodes else "", how))
        self.a2b.setdefault(o, n)
        self.b2a.setdefault(n, o)

    def free_a(self) -> list[str]:
        return [x for x in self.a.order if x not in self.a2b]

    def free_b(self) -> list[str]:
        return [x for x in self.b.order if x not in self.b2a]

    # -- 1. by name --------------------------------------------------------------------------------------
    def by_name(self, how: str) -> None:
        for name in self.a.order:
            self.counter[0] += 1
            if name in self.b.nodes and name not in self.b2a:
                self.add(name, name, how)

    # -- 2. renamed scope prefix -------------------------------------------------------------------------
    def renamed(self) -> None:
        free_a, free_b = self.free_a(), self.free_b()
        if not free_a or not free_b:
            return
        # new nodes by (components dropped, remaining tail): the tail must name a single node
        tails: dict[tuple[int, str], list[str]] = defaultdict(list)
        for name in free_b:
            parts = name.split("/")
            for k in range(min(PREFIX_DEPTH, len(parts) - 1) + 1):
                self.counter[0] += 1
                tails[(k, "/".join(parts[k:]))].append(name)
        votes: dict[tuple[str, str], int] = defaultdict(int)
        for name in free_a:
            parts = name.split("/")
            op = self.a.nodes[name].op
            for ko in range(min(PREFIX_DEPTH, len(parts) - 1) + 1):
                tail = "/".join(parts[ko:])
                for kn in range(PREFIX_DEPTH + 1):
                    self.counter[0] += 1
                    hits = tails.get((kn, tail))
                    if not hits or len(hits) != 1 or self.b.nodes[hits[0]].op != op:
                        continue
                    po, pn = "/".join(parts[:ko]), "/".join(hits[0].split("/")[:kn])
                    if po != pn:
                        votes[(po, pn)] += 1
        least = 2 if len(free_a) > 4 else 1
        ranked = sorted(((v, po, pn) for (po, pn), v in votes.items() if v >= least),
                        key=lambda x: (-x[0], -x[1].count("/"), x[1], x[2]))
        by_old_prefix: dict[str, list[str]] = defaultdict(list)
        for _, po, pn in ranked:
            by_old_prefix[po].append(pn)
        used: dict[tuple[str, str], int] = defaultdict(int)
        for name in free_a:
            parts = name.split("/")
            op = self.a.nodes[name].op
            done = False
            for ko in range(min(PREFIX_DEPTH, len(parts) - 1), -1, -1):  # the longest old prefix first
                po, tail = "/".join(parts[:ko]), "/".join(parts[ko:])
                for pn in by_old_prefix.get(po, ()):
                    self.counter[0] += 1
                    cand = f"{pn}/{tail}" if pn else tail
                    if cand in self.b.nodes and cand not in self.b2a and self.b.nodes[cand].op == op:
                        self.add(name, cand, "renamed")
                        used[(po, pn)] += 1
                        done = True
                        break
                if done:
                    break
        self.prefixes = sorted(((po, pn, k) for (po, pn), k in used.items()), key=lambda x: -x[2])

    # -- 3. structural -----------------------------------------------------------------------------------
    def along_edges(self) -> None:
        """From matched pairs to their unmatched consumers (same slot, same op) and producers, to a fixpoint."""
        queue = deque((o, n) for o, n in self.a2b.items())
        while queue:
            o, n = queue.popleft()
            # consumers at the same input slot with the same op
            cands: dict[tuple[str, int], list[str]] = defaultdict(list)
            for c, slot in self.a.consumers.get(o, ()):
                self.counter[0] += 1
                if c not in self.a2b:
                    cands[(self.a.nodes[c].op, slot)].append(c)
            for c, slot in self.b.consumers.get(n, ()):
                self.counter[0] += 1
                if c in self.b2a:
                    continue
                hit = self._pick(cands.get((self.b.nodes[c].op, slot), ()), c)
                if hit is not None:
                    self.add(hit, c, "structural")
                    cands[(self.b.nodes[c].op, slot)].remove(hit)
                    queue.append((hit, c))
            # producers at the same input slot
            pa, pb = self.a.inputs.get(o, []), self.b.inputs.get(n, [])
            for slot in range(min(len(pa), len(pb))):
                self.counter[0] += 1
                x, y = pa[slot], pb[slot]
                if x is None or y is None or x in self.a2b or y in self.b2a:
                    continue
                if self.a.nodes[x].op == self.b.nodes[y].op:
                    self.add(x, y, "structural")
                    queue.append((x, y))

    def _pick(self, cands, c: str) -> Optional[str]:
        if not cands:
            return None
        if len(cands) == 1:
            return cands[0]
        want = self.b.shapes(c)
        same = [x for x in cands[:WINDOW] if self.a.shapes(x) == want]
        return same[0] if len(same) == 1 else None

    def by_position(self) -> None:
        """Per op type, the unmatched nodes in topological order: equal signatures (shapes + attributes) pair
        first with a bounded look-ahead; when as many remain on both sides, they pair in order."""
        per_a: dict[str, list[str]] = defaultdict(list)
        per_b: dict[str, list[str]] = defaultdict(list)
        for x in self.free_a():
            per_a[self.a.nodes[x].op].append(x)
        for y in self.free_b():
            per_b[self.b.nodes[y].op].append(y)
        for op in sorted(per_a):
            A, B = per_a[op], per_b.get(op, [])
            if not B:
                continue
            sa = [self.a.signature(x) for x in A]
            sb = [self.b.signature(y) for y in B]
            i = j = 0
            while i < len(A) and j < len(B):
                self.counter[0] += 1
                if sa[i] == sb[j]:
                    self.add(A[i], B[j], "structural")
                    i += 1
                    j += 1
                    continue
                skip = None
                for k in range(1, WINDOW + 1):
                    self.counter[0] += 1
                    if j + k < len(B) and sa[i] == sb[j + k]:
                        skip = ("b", k)
                        break
                    if i + k < len(A) and sa[i + k] == sb[j]:
                        skip = ("a", k)
                        break
                if skip is None:
                    # no equal signature near: advance the side that is earlier in its graph
                    if self.a.rank[A[i]] / max(1, len(self.a.order)) <= self.b.rank[B[j]] / max(1, len(self.b.order)):
                        i += 1
                    else:
                        j += 1
                elif skip[0] == "b":
                    j += skip[1]
                else:
                    i += skip[1]
            rest_a = [x for x in A if x not in self.a2b]
            rest_b = [y for y in B if y not in self.b2a]
            if rest_a and len(rest_a) == len(rest_b):
                for x, y in zip(rest_a, rest_b):
                    self.counter[0] += 1
                    self.add(x, y, "structural")

    # -- 4. cross-format ---------------------------------------------------------------------------------
    def tflite_names(self, tf: "_Side", lite: "_Side", lite_is_new: bool) -> None:
        """TFLite op names list the source ops they came from, separated by ';'."""
        inverse = builtin_sources()
        a2b, b2a = (self.a2b, self.b2a)
        taken_tf = a2b if lite_is_new else b2a

        def pair(tf_name, lite_name, how):
            if lite_is_new:
                self.add(tf_name, lite_name, how)
            else:
                self.add(lite_name, tf_name, how)

        for lname in lite.order:
            lnode = lite.nodes[lname]
            named = []
            for comp in lname.split(";"):
                self.counter[0] += 1
                if not comp:
                    continue
                for cand in _unsuffixed(comp):
                    if cand in tf.nodes and cand not in named:
                        named.append(cand)
                        break
            named = [x for x in named if x not in taken_tf]
            if not named:
                continue
            sources = inverse.get(lnode.op, set())
            primary = next((x for x in named if tf.nodes[x].op in sources), None)
            if primary is None:
                primary = named[-1] if lnode.op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED") else named[0]
            lite_taken = (b2a if lite_is_new else a2b)
            if lname not in lite_taken:
                pair(primary, lname, "cross-format")
            for x in named:
                self.counter[0] += 1
                if x != primary:
                    pair(x, lname, "fused")

    def absorbed(self, tf: "_Side", tf_is_old: bool, foldable: set, ops=None) -> None:
        """Element-wise ops with one non-constant input whose producer is matched (BiasAdd, the batch-norm
        multiply and add after a convolution, an activation): the converter fuses them into that op."""
        taken = self.a2b if tf_is_old else self.b2a
        for name in tf.order:
            self.counter[0] += 1
            if name in taken or tf.nodes[name].op not in (ops or ABSORBED):
                continue
            prods = [p for p in tf.inputs[name] if p is not None and p not in foldable]
            if len(prods) == 1 and prods[0] in taken:
                other = taken[prods[0]]
                if tf_is_old:
                    self.add(name, other, "fused")
                else:
                    self.add(other, name, "fused")

    def cross_position(self, tf: "_Side", lite: "_Side", lite_is_new: bool) -> None:
        """TFLite ops still unmatched (named after an output tensor, say) and TF ops that convert to that
        builtin: paired in topological order when as many remain on both sides."""
        inverse = builtin_sources()
        taken_lite = self.b2a if lite_is_new else self.a2b
        taken_tf = self.a2b if lite_is_new else self.b2a
        per_op: dict[str, list[str]] = defaultdict(list)
        for x in lite.order:
            if x not in taken_lite:
                per_op[lite.nodes[x].op].append(x)
        free_tf = [x for x in tf.order if x not in taken_tf]
        for op, lites in per_op.items():
            sources = inverse.get(op, frozenset())
            cands = [x for x in free_tf if tf.nodes[x].op in sources]
            self.counter[0] += len(free_tf)
            if cands and len(cands) == len(lites):
                for x, y in zip(cands, lites):
                    if lite_is_new:
                        self.add(x, y, "cross-format")
                    else:
                        self.add(y, x, "cross-format")

    def folded_and_passthrough(self, tf: "_Side", foldable: set, tf_is_old: bool) -> None:
        """Source ops with no counterpart: computed from constants (folded into the weights of the op they
        feed) or pass-through (Identity: the converter drops it)."""
        taken = self.a2b if tf_is_old else self.b2a

        def pair(tf_name, other, how):
            if tf_is_old:
                self.add(tf_name, other, how)
            else:
                self.add(other, tf_name, how)

        # constant-derived ops: reverse topological order, so a chain folds into the first matched consumer
        for name in reversed(tf.order):
            self.counter[0] += 1
            if name in taken or name not in foldable:
                continue
            for c, _ in tf.consumers.get(name, ()):
                self.counter[0] += 1
                if c in taken:
                    pair(name, taken[c], "folded")
                    break
        for name in tf.order:
            self.counter[0] += 1
            if name in taken or tf.nodes[name].op not in PASS_THROUGH:
                continue
            p = next((x for x in tf.inputs[name] if x is not None), None)
            if p is not None and p in taken:
                pair(name, taken[p], "folded")

    def inputs_cross(self) -> None:
        """Graph inputs: a TF Placeholder / Keras InputLayer has no op on the TFLite side; its counterpart is
        the input tensor (serving_default_x:0 for x), or the one input when each side has one."""
        for side_a_is_tf in (True, False):
            tf, lite = (self.a, self.b) if side_a_is_tf else (self.b, self.a)
            if lite.g.dialect != "tflite" or tf.g.dialect == "tflite":
                continue
            taken = self.a2b if side_a_is_tf else self.b2a
            places = [x for x in tf.order if tf.nodes[x].op in ("Placeholder", "InputLayer") and x not in taken]
            ins = list(lite.g.inputs)
            for p in places:
                self.counter[0] += 1
                hit = next((t for t in ins if _bare(t) == p), None)
                if hit is None and len(places) == 1 and len(ins) == 1:
                    hit = ins[0]
                if hit is None:
                    continue
                ins.remove(hit)
                m = Match(p, hit, tf.nodes[p].op, "(input)", "cross-format") if side_a_is_tf else \
                    Match(hit, p, "(input)", tf.nodes[p].op, "cross-format")
                self.matches.append(m)
                taken[p] = hit

    def keras_layers(self, keras: "_Side", graph: "_Side", keras_is_old: bool) -> None:
        """A Keras layer and the ops under its name scope (frozen graph) or named in a TFLite op's name (one
        TFLite op may name several layers: Conv2D, BatchNormalization and ReLU fused)."""
        layers = set(keras.nodes)
        taken_graph = self.b2a if keras_is_old else self.a2b
        groups: dict[str, list[str]] = defaultdict(list)
        for name in graph.order:
            if name in taken_graph:
                continue
            for comp in name.split(";"):
                parts = comp.split("/")[:-1]
                for part in reversed(parts):  # the innermost scope that names a layer
                    self.counter[0] += 1
                    base = _KERAS_SUFFIX.sub("", part)
                    layer = part if part in layers else base if base in layers else None
                    if layer is not None:
                        if name not in groups[layer]:
                            groups[layer].append(name)
                        break
        for layer in keras.order:
            ops = groups.get(layer)
            if not ops:
                continue
            main = KERAS_MAIN_OPS.get(keras.nodes[layer].op, ())
            primary = next((x for x in ops if graph.nodes[x].op in main), ops[0])
            for x in ops:
                self.counter[0] += 1
                how = "cross-format" if x == primary else "fused"
                if keras_is_old:
                    self.add(layer, x, how)
                else:
                    self.add(x, layer, how)

    def keras_absorbed(self, keras: "_Side", keras_is_old: bool) -> None:
        """Layers the converter fuses into the op before them (batch norm into the convolution, an activation)
        when no op name carries them."""
        taken = self.a2b if keras_is_old else self.b2a
        for name in keras.order:
            self.counter[0] += 1
            if name in taken or keras.nodes[name].op not in KERAS_ABSORBED:
                continue
            prods = [p for p in keras.inputs[name] if p is not None]
            if len(prods) == 1 and prods[0] in taken:
                other = taken[prods[0]]
                if keras_is_old:
                    self.add(name, other, "fused")
                else:
                    self.add(other, name, "fused")

    # -----------------------------------------------------------------------------------------------------
    def run(self) -> Matching:
        da, db = self.a.g.dialect, self.b.g.dialect
        cross = da != db
        self.by_name("cross-format" if cross else "name")
        if not cross:
            self.renamed()
            self.along_edges()
            self.by_position()
        else:
            if "keras" in (da, db):
                keras_old = da == "keras"
                keras, graph = (self.a, self.b) if keras_old else (self.b, self.a)
                fold = self.foldable_b if keras_old else self.foldable_a
                self.keras_layers(keras, graph, keras_old)
                self.keras_absorbed(keras, keras_old)
                self.absorbed(graph, not keras_old, fold, ABSORBED | GRAPH_TAIL)
                self.folded_and_passthrough(graph, fold, not keras_old)
            elif "tflite" in (da, db):
                lite_new = db == "tflite"
                tf, lite = (self.a, self.b) if lite_new else (self.b, self.a)
                fold = self.foldable_a if lite_new else self.foldable_b
                self.tflite_names(tf, lite, lite_new)
                self.absorbed(tf, lite_new, fold)
                self.cross_position(tf, lite, lite_new)
                self.absorbed(tf, lite_new, fold)
                self.folded_and_passthrough(tf, fold, lite_new)
            self.inputs_cross()
        out = Matching(matches=self.matches, prefixes=self.prefixes, cross_format=cross)
        taken_a = {m.old for m in self.matches}
        taken_b = {m.new for m in self.matches}
        out.removed = [x for x in self.a.order if x not in taken_a]
        out.added = [x for x in self.b.order if x not in taken_b]
        out.old_to_new, out.new_to_old = dict(self.a2b), dict(self.b2a)
        out.work = self.counter[0]
        return out


ABSORBED = {"BiasAdd", "Mul", "AddV2", "Add", "Sub", "Relu", "Relu6", "Elu", "Tanh", "Sigmoid", "LeakyRelu",
            "FusedBatchNorm", "FusedBatchNormV3"}

KERAS_ABSORBED = {"BatchNormalization", "ReLU", "Activation", "Dropout", "SpatialDropout2D", "GaussianNoise"}
GRAPH_TAIL = {"Softmax", "SOFTMAX", "LOGISTIC", "RELU", "RELU6", "TANH", "ADD", "MUL"} | PASS_THROUGH


def _unsuffixed(comp: str) -> list[str]:
    """A TFLite name component and the same without the digits the converter appends ('MatMul2' -> 'MatMul')."""
    out = [comp]
    while len(out) < 4 and out[-1][-1:].isdigit():
        out.append(out[-1][:-1])
    return out


_KERAS_SUFFIX = re.compile(r"_\d+$")

# the graph op a Keras layer class stands for (the first found under the layer's scope otherwise)
KERAS_MAIN_OPS = {
    "Conv2D": ("Conv2D", "CONV_2D"), "Conv1D": ("Conv2D", "CONV_2D"), "Conv3D": ("Conv3D", "CONV_3D"),
    "DepthwiseConv2D": ("DepthwiseConv2dNative", "DEPTHWISE_CONV_2D"),
    "SeparableConv2D": ("DepthwiseConv2dNative", "DEPTHWISE_CONV_2D"),
    "Conv2DTranspose": ("Conv2DBackpropInput", "TRANSPOSE_CONV"),
    "Dense": ("MatMul", "FULLY_CONNECTED", "BATCH_MATMUL"), "EinsumDense": ("Einsum", "MatMul", "FULLY_CONNECTED"),
    "BatchNormalization": ("Mul", "MUL"), "ReLU": ("Relu6", "Relu", "RELU6", "RELU"),
    "Add": ("AddV2", "ADD"), "Multiply": ("Mul", "MUL"), "Concatenate": ("ConcatV2", "CONCATENATION"),
    "GlobalAveragePooling2D": ("Mean", "MEAN"), "AveragePooling2D": ("AvgPool", "AVERAGE_POOL_2D"),
    "MaxPooling2D": ("MaxPool", "MAX_POOL_2D"), "ZeroPadding2D": ("Pad", "PAD"), "Softmax": ("Softmax", "SOFTMAX"),
    "Activation": ("Relu", "Relu6", "Softmax", "Sigmoid", "Tanh", "RELU", "SOFTMAX", "LOGISTIC", "TANH"),
    "Reshape": ("Reshape", "RESHAPE"), "Flatten": ("Reshape", "RESHAPE"),
}


def _bare(tensor: str) -> str:
    name = split_tensor_name(tensor)[0]
    return name[len("serving_default_"):] if name.startswith("serving_default_") else name


@lru_cache(maxsize=1)
def builtin_sources() -> dict[str, frozenset]:
    """TFLite builtin -> the TensorFlow ops that convert to it (from the probed compatibility table)."""
    from ..analysis.compat import load_table

    inv: dict[str, set] = defaultdict(set)
    for op, entry in load_table().get("ops", {}).items():
        if not isinstance(entry, dict):
            continue
        alts = [entry] + list(entry.get("attrs") or []) + list(entry.get("cases") or [])
        for alt in alts:
            lite = alt.get("tflite") or []
            if lite:
                inv[lite[-1]].add(op)  # the last builtin of a lowering is the op itself (TRANSPOSE, CONV_2D)
    inv.setdefault("ADD", set()).update({"BiasAdd", "AddV2", "Add"})
    return {k: frozenset(v) for k, v in inv.items()}


def match_graphs(old: Graph, new: Graph, foldable_old: Iterable[str] = (), foldable_new: Iterable[str] = ()) -> Matching:
    """Match the op nodes of two graphs (see the module docstring). `foldable_*`: nodes whose inputs are all
    constant-derived (the cost report's `foldable`), needed only for TFLite cross-format matching."""
    return _Matcher(old, new, foldable_old, foldable_new).run()
