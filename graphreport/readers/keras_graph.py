"""Keras reader, part 2: the graph built from the layer tree: one node per layer call, output shapes from
the layer rules registered in ops/ (dialect "keras") or recorded in the config, weights attached as
constant tensors. See keras.py."""
from __future__ import annotations

import heapq
import math
import re
from typing import Optional

from ..model import ConstData, Graph, Node, Tensor
from ..ops.helpers import Unknown
from ..ops.registry import Ctx, lookup
from .keras_config import (BN_CLASSES, Layer, MAX_LAYER_OUTPUTS, NON_TRAINABLE_NAMES, Warnings, Weight,
                           layer_attrs, policy_dtype)

# ----------------------------------------------------------------------------------------------------------
# Output shapes: the layer rules registered in ops/ (dialect "keras"), called with the layer's config
# ----------------------------------------------------------------------------------------------------------

def layer_output_shapes(op: str, attrs: dict, in_shapes: list, in_dtypes: list, n_out: int) -> list:
    """Output shapes of one call of a (non-model) layer from its registered shape rule; raises
    ops.helpers.Unknown with a reason."""
    info = lookup(op, "keras")
    if info is None or info.shape is None:
        raise Unknown(f"no shape rule for Keras layer {op}")
    return info.shape(Ctx(op, attrs, in_shapes=in_shapes, in_dtypes=in_dtypes, n_out=n_out))


def input_layer_shape(cfg: dict) -> Optional[list]:
    for key in ("batch_shape", "batch_input_shape"):
        s = cfg.get(key)
        if isinstance(s, list) and all(d is None or (isinstance(d, int) and not isinstance(d, bool)) for d in s):
            return [None if d is None or d < 0 else d for d in s]
    s = cfg.get("shape") if isinstance(cfg.get("shape"), list) else cfg.get("input_shape")
    if isinstance(s, list) and all(d is None or isinstance(d, int) for d in s):
        b = cfg.get("batch_size")
        return [b if isinstance(b, int) else None, *[None if d is None or d < 0 else d for d in s]]
    return None


# ----------------------------------------------------------------------------------------------------------
# Graph building
# ----------------------------------------------------------------------------------------------------------

class GraphBuilder:
    def __init__(self, root: Layer, warnings: Warnings, use_declared: bool = True):
        self.root = root
        self.g = Graph(name="main", consts_are_weights=True, dialect="keras")
        self.warnings = warnings
        self.use_declared = use_declared
        self.nodes_by_path: dict[tuple, list[Node]] = {}
        self.shape_disagreements: list[dict] = []
        self.weights: dict[tuple, list[Weight]] = {}
        self.unattached: list[tuple[str, Weight]] = []
        self.layer_params: dict[str, dict] = {}

    # -- structure -----------------------------------------------------------------------------------------
    def build(self) -> Graph:
        if self.root.is_model:
            self.g.outputs = self._container(self.root, "", None)
        else:
            # a subclassed model or a bare layer: no layer graph in the config
            self.warnings.append(f"'{self.root.local}' ({self.root.cls}) has no layer graph in its config "
                                 "(a subclassed model?): shown as one node")
            node = self._leaf(self.root, 0, [], self.root.local, {}, {})
            self.g.outputs = list(node.outputs)
        return self.g

    def _container(self, m: Layer, prefix: str, outer: Optional[list]) -> list:
        if m.kind == "sequential":
            return self._sequential(m, prefix, outer)
        return self._functional(m, prefix, outer)

    def _input_node(self, layer: Layer, name: str, top: bool) -> str:
        node = Node(name=name, op="InputLayer", attrs=layer_attrs(layer))
        shape = input_layer_shape(layer.config)
        dtype = layer.config.get("dtype") if isinstance(layer.config.get("dtype"), str) else policy_dtype(
            layer.config)
        t = Tensor(name=f"{name}:0", dtype=dtype or "float32", shape=shape, producer=name)
        if shape is None:
            t.shape_note = "the InputLayer config gives no shape"
        node.outputs.append(t.name)
        self.g.tensors[t.name] = t
        self.g.nodes.append(node)
        self.nodes_by_path.setdefault(layer.path, []).append(node)
        if top:
            self.g.inputs.append(t.name)
        return t.name

    def _offset(self, m: Layer, child: Layer) -> int:
        """Keras 2 counts a nested model's own input->output node as node 0 of that layer."""
        if m.keras3_nodes or any(c.keras3_nodes for c in (m.children or [])):
            return 0
        if child.is_model and child.children and (
                child.kind == "functional" or child.children[0].cls == "InputLayer"):
            return 1
        return 0

    def _functional(self, m: Layer, prefix: str, outer: Optional[list]) -> list:
        children = m.children or []
        by_name = {c.local: c for c in children}
        tmap: dict[tuple, str] = {}  # (layer, call, tensor) -> graph tensor name
        declared: dict[tuple, tuple] = {}
        needed: dict[tuple, int] = {}  # (layer, call) -> number of outputs referenced

        def key(ref) -> Optional[tuple]:
            c = by_name.get(ref[0])
            if c is None:
                return None
            if not isinstance(ref[2], int) or not 0 <= ref[2] < MAX_LAYER_OUTPUTS:
                # an output index is a number written in the file: outputs made for it must not follow it
                self.warnings.add("unresolved inputs", f"a reference to output {str(ref[2])[:20]} of layer "
                                  f"'{prefix}{c.local}': no layer has more than {MAX_LAYER_OUTPUTS} outputs")
                return None
            if c.cls == "InputLayer" and not c.calls:
                return (c.local, 0, ref[2])
            k = ref[1] - self._offset(m, c)
            if not 0 <= k < len(c.calls):
                k = ref[1]
            return (c.local, k, ref[2])

        for c in children:
            for ref, d in c.declared.items():
                kk = key(ref)
                if kk is not None:
                    declared[kk] = d
            for call in c.calls:
                for ref in call:
                    kk = key(ref)
                    if kk is not None:
                        needed[kk[:2]] = max(needed.get(kk[:2], 0), kk[2] + 1)
        for ref in m.output_refs:
            kk = key(ref)
            if kk is not None:
                needed[kk[:2]] = max(needed.get(kk[:2], 0), kk[2] + 1)

        for i, ref in enumerate(m.input_refs):
            if outer is not None and i < len(outer):
                tmap[(ref[0], 0, ref[2])] = outer[i]
        if outer is not None and len(outer) != len(m.input_refs):
            self.warnings.add("nested calls", f"model '{prefix.rstrip('/')}' takes {len(m.input_refs)} inputs but "
                              f"is called with {len(outer)}")
        for c in children:
            if c.cls == "InputLayer" and (c.local, 0, 0) not in tmap:
                tmap[(c.local, 0, 0)] = self._input_node(c, prefix + c.local, top=outer is None)

        # calls in dependency order (Kahn), whatever order the config lists them in
        calls = [(c, k) for c in children if c.cls != "InputLayer" for k in range(len(c.calls))]
        order = {(c.local, k): i for i, (c, k) in enumerate(calls)}
        waiting: dict[tuple, list] = {}
        missing: dict[tuple, int] = {}
        ready: list = []  # heap of (config position, layer name, call): config order wherever possible
        produced = {kk[:2] for kk in tmap}
        call_keys = {(c.local, k) for c, k in calls}
        for c, k in calls:
            deps = set()
            for ref in c.calls[k]:
                kk = key(ref)
                if kk is not None and kk[:2] not in produced and kk[:2] in call_keys:
                    deps.add(kk[:2])
            missing[(c.local, k)] = len(deps)
            for d in deps:
                waiting.setdefault(d, []).append((c, k))
            if not deps:
                heapq.heappush(ready, (order[(c.local, k)], c.local, k))
        by_key = {(c.local, k): c for c, k in calls}
        done = set()
        while ready:
            _, lname, k = heapq.heappop(ready)
            if (lname, k) in done:
                continue
            done.add((lname, k))
            self._do_call(m, by_key[(lname, k)], k, prefix, tmap, key, declared, needed)
            for w in waiting.pop((lname, k), []):
                wk = (w[0].local, w[1])
                missing[wk] -= 1
                if missing[wk] == 0:
                    heapq.heappush(ready, (order[wk], wk[0], wk[1]))
        for c, k in calls:
            if (c.local, k) not in done:
                self.warnings.add("cycles", f"layer '{prefix}{c.local}' sits in a cycle of the model config; "
                                     "drawn without its unresolved inputs")
                done.add((c.local, k))
                self._do_call(m, c, k, prefix, tmap, key, declared, needed)

        outs = []
        for ref in m.output_refs:
            kk = key(ref)
            t = tmap.get(kk) if kk else None
            if t is None:
                self.warnings.add("outputs", f"model output {ref[0]}[{ref[1]}][{ref[2]}] names no layer output")
                continue
            outs.append(t)
        return outs

    def _do_call(self, m, c: Layer, k: int, prefix: str, tmap, key, declared, needed) -> None:
        ins = []
        for ref in c.calls[k]:
            kk = key(ref)
            t = tmap.get(kk) if kk else None
            if t is None:
                self.warnings.add("unresolved inputs", f"layer '{prefix}{c.local}' refers to "
                                  f"{ref[0]}[{ref[1]}][{ref[2]}], "
                                     "which the model does not define")
                continue
            ins.append(t)
        name = prefix + c.local + (f"#{k}" if k else "")
        if c.is_model:
            outs = self._container(c, name + "/", ins)
            for t, tname in enumerate(outs):
                tmap[(c.local, k, t)] = tname
            return
        decl = {t: declared[(c.local, k, t)] for t in range(needed.get((c.local, k), 1))
                if (c.local, k, t) in declared}
        node = self._leaf(c, k, ins, name, decl, needed)
        for t, tname in enumerate(node.outputs):
            tmap[(c.local, k, t)] = tname

    def _sequential(self, m: Layer, prefix: str, outer: Optional[list]) -> list:
        layers = list(m.children or [])
        cur: Optional[str] = outer[0] if outer else None
        if layers and layers[0].cls == "InputLayer":
            first = layers.pop(0)
            if cur is None:
                cur = self._input_node(first, prefix + first.local, top=outer is None)
        elif cur is None and layers:
            shape = input_layer_shape(layers[0].config) or (
                m.config.get("build_input_shape") if isinstance(m.config.get("build_input_shape"), list) else None)
            if shape is not None:
                synthetic = Layer(local=f"{layers[0].local}_input", cls="InputLayer",
                                  config={"batch_input_shape": shape,
                                          "dtype": policy_dtype(layers[0].config) or "float32"},
                                  path=m.path + (f"{layers[0].local}_input",))
                cur = self._input_node(synthetic, prefix + synthetic.local, top=outer is None)
        for c in layers:
            if c.cls == "InputLayer":
                continue
            ins = [cur] if cur else []
            if c.is_model:
                outs = self._container(c, prefix + c.local + "/", ins)
                cur = outs[0] if outs else None
            else:
                node = self._leaf(c, 0, ins, prefix + c.local, {}, {})
                cur = node.outputs[0]
        return [cur] if cur else []

    def _leaf(self, c: Layer, k: int, ins: list, name: str, decl: dict, needed: dict) -> Node:
        node = Node(name=name, op=c.cls, inputs=list(ins), attrs=layer_attrs(c))
        tensors = [self.g.tensors.get(t) for t in ins]
        in_shapes = [t.shape if t is not None else None for t in tensors]
        in_dtypes = [t.dtype if t is not None else None for t in tensors]
        note = None
        want = max(needed.get((c.local, k), 1), max(decl) + 1 if decl else 1)
        try:
            shapes = layer_output_shapes(c.cls, node.attrs, in_shapes, in_dtypes, want)
        except Unknown as e:
            shapes, note = None, str(e)
        except (TypeError, ValueError, ZeroDivisionError, IndexError, KeyError, AttributeError) as e:
            shapes, note = None, f"cannot apply the shape rule ({type(e).__name__})"
        shapes = [None if isinstance(s, Unknown) else s for s in shapes] if shapes else shapes
        n_out = max(needed.get((c.local, k), 1), len(shapes) if shapes else 1, max(decl) + 1 if decl else 1)
        dtype = policy_dtype(c.config) or "float32"
        for t in range(n_out):
            shape = shapes[t] if shapes and t < len(shapes) else None
            tdtype = dtype
            tnote = note if shape is None else None
            if t in decl:
                dshape, ddtype = decl[t]
                if shape is not None and shape != dshape:
                    self.shape_disagreements.append({"node": name, "rule": shape, "recorded": dshape})
                if self.use_declared:
                    shape, tnote = dshape, None
                    tdtype = ddtype or dtype
            tn = Tensor(name=f"{name}:{t}", dtype=tdtype, shape=shape, producer=name, shape_note=tnote)
            if shape is None and tnote is None:
                tn.shape_note = "no shape rule for this output"
            node.outputs.append(tn.name)
            self.g.tensors[tn.name] = tn
        self.g.nodes.append(node)
        self.nodes_by_path.setdefault(c.path, []).append(node)
        return node

    # -- weights -------------------------------------------------------------------------------------------
    def layer_at(self, path: tuple) -> Optional[Layer]:
        cur = self.root
        for p in path:
            cur = cur.child(p) if cur is not None else None
        return cur

    def add_weight(self, layer: Optional[Layer], w: Weight, where: str = "") -> None:
        if layer is None or layer is self.root and self.root.is_model:
            self.unattached.append((where or w.name, w))
            return
        lst = self.weights.setdefault(layer.path, [])
        names = {x.name for x in lst}
        base, i = w.name, 1
        while w.name in names:
            w.name = f"{base}_{i}"
            i += 1
        if not layer.trainable:
            w.trainable = False
        lst.append(w)

    def attach_weights(self) -> dict:
        totals = {"trainable": 0, "non_trainable": 0}
        for path, ws in self.weights.items():
            nodes = self.nodes_by_path.get(path)
            if not nodes:
                for w in ws:
                    self.unattached.append(("/".join(path) + "/" + w.name, w))
                continue
            base = "/".join(path) if path else self.root.local
            per = {"trainable": 0, "non_trainable": 0}
            for w in ws:
                tname = f"{base}/{w.name}"
                if tname in self.g.tensors:
                    tname += "#w"
                self.g.tensors[tname] = Tensor(name=tname, dtype=w.dtype, shape=list(w.shape),
                                               const=ConstData(nbytes=int(w.nbytes), loader=None),
                                               quantization=w.quantization)
                for node in nodes:
                    node.inputs.append(tname)
                n = 1
                for d in w.shape:
                    n *= d
                per["trainable" if w.trainable else "non_trainable"] += n
            self.layer_params[nodes[0].name] = per
            totals["trainable"] += per["trainable"]
            totals["non_trainable"] += per["non_trainable"]
        self.g.invalidate()
        if self.unattached:
            n = sum(math.prod(w.shape) for _, w in self.unattached)
            names = ", ".join(x for x, _ in self.unattached[:5])
            self.warnings.append(f"{len(self.unattached)} weight(s) ({n} values) match no layer of the config and "
                                 f"are not counted: {names}{' ...' if len(self.unattached) > 5 else ''}")
        return totals


def assign_named(b: GraphBuilder, top: Optional[Layer], wname: str, w: Weight) -> None:
    """Legacy HDF5 / TF.js layers models: a weight named like 'outer/inner/kernel:0' goes to the deepest layer
    its name components lead to, starting from ``top`` (the layer whose HDF5 group holds it) or the root."""
    comps = [c for c in wname.split("/") if c]
    if comps:
        comps[-1] = re.sub(r":\d+$", "", comps[-1])
    cur = top if top is not None else b.root
    last = -1
    for i, comp in enumerate(comps[:-1]):
        if cur.children is None:
            break
        child = cur.child(comp)
        if child is not None:
            cur, last = child, i
    if cur.is_model:
        # the name led nowhere inside a model: fall back to a unique layer of that name anywhere below
        for i, comp in enumerate(comps[:-1]):
            hit = find_unique(cur, comp)
            if hit is not None:
                cur, last = hit, i
                break
    if cur.local in comps[:-1]:
        last = max(last, len(comps) - 2 - comps[:-1][::-1].index(cur.local))
    rel = "/".join(comps[last + 1:]) or (comps[-1] if comps else "weight")
    w.name = rel
    if non_trainable(cur, rel):
        w.trainable = False
    b.add_weight(None if cur.is_model else cur, w, wname)


def find_unique(m: Layer, name: str) -> Optional[Layer]:
    hits = []
    stack = list(m.children or [])
    while stack and len(hits) < 2:
        c = stack.pop()
        if c.local == name and not c.is_model:
            hits.append(c)
        stack.extend(c.children or [])
    return hits[0] if len(hits) == 1 else None


def non_trainable(layer: Layer, wname: str) -> bool:
    base = wname.rsplit("/", 1)[-1]
    if base in NON_TRAINABLE_NAMES:
        return True
    if layer.cls == "Normalization":
        return True
    return False


def v3_names(layer: Layer, n: int) -> list:
    cls, cfg = layer.cls, layer.config
    names: list = []
    if cls in BN_CLASSES:
        names = (["gamma"] if cfg.get("scale", True) else []) + (["beta"] if cfg.get("center", True) else []) \
            + ["moving_mean", "moving_variance"]
    elif cls in ("LayerNormalization", "GroupNormalization"):
        names = (["gamma"] if cfg.get("scale", True) else []) + (["beta"] if cfg.get("center", True) else [])
    elif cls == "RMSNormalization":
        names = ["scale"]
    elif re.fullmatch(r"SeparableConv(olution)?[12]D", cls):
        names = ["depthwise_kernel", "pointwise_kernel", "bias"]
    elif cls in ("Dense", "EinsumDense") or re.fullmatch(r"(Conv|Convolution|DepthwiseConv)[123]D(Transpose)?", cls):
        names = ["kernel", "bias"]
    elif cls in ("Embedding", "ReversibleEmbedding"):
        names = ["embeddings"]
    elif cls == "PReLU":
        names = ["alpha"]
    elif cls == "Normalization":
        names = ["mean", "variance", "count"]
    elif cls in ("LSTMCell", "GRUCell", "SimpleRNNCell"):
        names = ["kernel", "recurrent_kernel", "bias"]
    if len(names) != n:
        names = [f"var_{i}" for i in range(n)]
    return names
