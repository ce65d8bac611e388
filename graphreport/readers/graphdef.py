"""GraphDef reader: binary .pb and text .pbtxt, parsed with protobuf directly (no tensorflow import)."""
from __future__ import annotations

import os
import re
import struct
import sys

from google.protobuf.message import DecodeError

from ..collector import BIG_FILE_BYTES, paused
from ..errors import BadModelError, LimitError
from ..model import DTYPE_SIZES, ConstData, Graph, Model, Node, SmallValue, Tensor, num_elements, split_tensor_name
from ..opdata import roles as op_roles
from . import tfproto
from .files import map_bytes, unmap
from .slim import slim_graphdef
from .tfproto import dtype_name

MAX_OUTPUTS = 100_000  # an input naming `node:999999999` must not make a billion tensors
TENSORS_PER_ITEM, TENSORS_SLACK = 16, 100_000  # output tensors made <= 16 per node or input named + 100k
MAX_SMALL_CONST = 4096  # elements: constants up to this size can be loaded for shape arithmetic
SLIM_ABOVE = 1 << 20  # bytes: a smaller binary GraphDef is parsed as it is (too little to cut to pay the walk)
_TEXT_START = re.compile(rb"^\s*(#[^\n]*\n\s*)*(node|library|versions)\s*[{:]")


def looks_like_text(head: bytes) -> bool:
    return bool(_TEXT_START.match(head[:4096]))


def parse_graphdef(data: bytes, path: str):
    """Bytes -> GraphDef message (binary, or text when it looks like text)."""
    msg = tfproto.GraphDef()
    try:
        if looks_like_text(data):
            tfproto.parse_text(data, msg)
        else:
            with memoryview(data) as view:  # bytes or a mapped file
                msg.ParseFromString(view)
    except (DecodeError, RecursionError, ValueError) as e:
        raise BadModelError(f"not a TensorFlow GraphDef ({_one_line(e)})", path) from None
    if not msg.node and not msg.library.function:
        raise BadModelError("not a TensorFlow GraphDef: it parses but holds no nodes", path)
    for n in msg.node:
        if not n.op or not n.name:
            raise BadModelError("not a TensorFlow GraphDef: a node has no name or op", path)
    return msg


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())[:200] or type(e).__name__


def shape_of(shape_proto) -> list | None:
    if shape_proto.unknown_rank:
        return None
    return [d.size if d.size >= 0 else None for d in shape_proto.dim]


def _tensor_nbytes(t) -> int:
    content = t.tensor_content  # each read of a bytes field copies it (95 MB of weights in InceptionV3): once
    if content:
        return len(content)
    n = num_elements(shape_of(t.tensor_shape)) or 0
    size = DTYPE_SIZES.get(dtype_name(t.dtype) or "", 0)
    if dtype_name(t.dtype) == "string":
        return sum(len(s) for s in t.string_val)
    return int(n * size)


_VALUE_FIELDS = {"float32": "float_val", "float64": "double_val", "int64": "int64_val", "bool": "bool_val",
                 "uint32": "uint32_val", "uint64": "uint64_val", "float16": "half_val"}  # others: int_val


# dtype name -> struct format of one element (little-endian, as TensorFlow writes tensor_content)
_STRUCT = {"float32": "f", "float64": "d", "int32": "i", "int64": "q", "uint8": "B", "int8": "b", "int16": "h",
           "uint16": "H", "bool": "?", "float16": "e", "uint32": "I", "uint64": "Q"}


def tensor_value(t) -> SmallValue | None:
    """TensorProto -> its value as a SmallValue (only call for small tensors), or None when the proto does not
    hold one: an unsupported dtype, a tensor_content of the wrong length, values out of the dtype's range.
    Fewer values than elements: TensorFlow repeats the last one (none at all: zeros)."""
    dt = dtype_name(t.dtype) or ""
    shape = shape_of(t.tensor_shape) or []
    n = num_elements(shape) or 0
    if dt == "string":
        items = list(t.string_val)
        if len(items) == 1 and n > 1:
            items = items * n
        return SmallValue(items, shape, dt) if len(items) == n else None
    fmt = _STRUCT.get(dt)
    if fmt is None:
        return None
    try:
        if t.tensor_content:
            raw = t.tensor_content
            if len(raw) % struct.calcsize(fmt):
                return None
            items = list(struct.unpack(f"<{len(raw) // struct.calcsize(fmt)}{fmt}", raw))
        elif dt == "float16":  # half_val holds each value's 16 bits
            bits = list(t.half_val)
            items = list(struct.unpack(f"<{len(bits)}e", struct.pack(f"<{len(bits)}H", *bits)))
        else:
            items = list(getattr(t, _VALUE_FIELDS.get(dt, "int_val")))
            struct.pack(f"<{len(items)}{fmt}", *items)  # out of the dtype's range: no value
    except (struct.error, OverflowError):
        return None
    if not items:
        items = [False if dt == "bool" else 0.0 if dt.startswith("float") else 0]
    if len(items) < n:
        items = items + [items[-1]] * (n - len(items))
    return SmallValue(items, shape, dt) if len(items) == n else None


def decode_attr(v, key: str = ""):
    """AttrValue -> JSON-friendly Python value."""
    kind = v.WhichOneof("value")
    if kind == "s":
        return v.s.decode("utf-8", errors="replace")
    if kind in ("i", "f", "b"):
        return getattr(v, kind)
    if kind == "type":
        return dtype_name(v.type)
    if kind == "shape":
        return shape_of(v.shape)
    if kind == "tensor":
        t = v.tensor
        out = {"dtype": dtype_name(t.dtype), "shape": shape_of(t.tensor_shape)}
        n = num_elements(out["shape"])
        if n is not None and n <= 16:
            val = tensor_value(t)
            if val is not None:
                out["value"] = [x.decode("utf-8", "replace") if isinstance(x, bytes) else x for x in val.items]
        return out
    if kind == "func":
        return {"func": v.func.name}
    if kind == "placeholder":
        return {"placeholder": v.placeholder}
    if kind == "list":
        lv = v.list
        if lv.s:
            return [s.decode("utf-8", errors="replace") for s in lv.s]
        if lv.i:
            return list(lv.i)
        if lv.f:
            return list(lv.f)
        if lv.b:
            return list(lv.b)
        if lv.type:
            return [dtype_name(t) for t in lv.type]
        if lv.shape:
            return [shape_of(s) for s in lv.shape]
        if lv.func:
            return [{"func": f.name} for f in lv.func]
        if lv.tensor:
            return [{"dtype": dtype_name(t.dtype), "shape": shape_of(t.tensor_shape)} for t in lv.tensor]
        return []
    return None


_output_dtype = None


SHAPE_ATTR_OPS = op_roles.FEEDABLE | op_roles.VARIABLES  # ops whose `shape` attribute TensorFlow types as a shape


def _is_dims(v) -> bool:
    """None (no attribute, or an unknown rank) or a list of dims (int, or None for unknown)."""
    return v is None or (isinstance(v, list) and all(d is None or (isinstance(d, int) and not isinstance(d, bool))
                                                     for d in v))


def _out_dtype(op: str, attrs: dict, index: int):
    global _output_dtype
    if _output_dtype is None:  # imported on first use: the op registry imports this module's neighbours
        from ..ops.registry import output_dtype as _output_dtype
    return _output_dtype(op, attrs, index)


def build_graph(nodedefs, name: str, kind: str = "main", cut=None) -> Graph:
    """NodeDefs -> Graph. Const nodes (and Identity chains on them) become folded constants; `cut`: {node
    index: length} of the Const contents cut out of the NodeDefs (slim.py): their sizes, and no value.

    One pass over the NodeDefs makes the nodes (no NodeDef is held after its node is made: the protobuf
    wrappers are the biggest per-node cost), a second pass over the nodes makes their output tensors, once
    the highest output index each node is read at is known. Op types, attribute keys and devices are
    interned, and each tensor name is one string object wherever it appears. The loops are written out
    (no helper call, no generator per node): they run once per node of graphs of 200,000 nodes."""
    g = Graph(name=name, kind=kind)
    max_index: dict[str, int] = {}
    canon: dict[str, str] = {}  # tensor name -> the one string object used for it
    special: dict[int, tuple] = {}  # node index -> (Const TensorProto, _output_shapes), only when present
    nodes = g.nodes
    n_refs = 0
    shared_attrs: dict[tuple, dict] = {}
    intern, scalars, variables, no_calls = _intern, _SCALARS, op_roles.VARIABLES, _NO_CALLS
    for nd in nodedefs:
        data_inputs, control = [], []
        for inp in nd.input:
            if ":" in inp or inp[:1] == "^":
                node, idx = split_tensor_name(inp)
                if idx < 0:
                    control.append(node)
                    continue
                tname = f"{node}:{idx}"
                if idx > max_index.get(node, 0):
                    max_index[node] = idx
                elif node not in max_index:
                    max_index[node] = 0
            else:  # a bare node name: its output 0
                tname = inp + ":0"
                if inp not in max_index:
                    max_index[inp] = 0
            data_inputs.append(canon.setdefault(tname, tname))
        n_refs += len(data_inputs)
        op = intern(nd.op)
        attrs = {}
        value = out_shapes_attr = None
        scalar = True
        at = nd.attr
        for k in sorted(at):  # sorted: a protobuf map's order changes from run to run
            v = at[k]
            if k == "value":
                value = v
            elif k == "_output_shapes":
                out_shapes_attr = v
            else:
                d = attrs[intern(k)] = dtype_name(v.type) if v.WhichOneof("value") == "type" else decode_attr(v, k)
                if scalar and type(d) not in scalars:
                    scalar = False
        t = value.tensor if op == "Const" and value is not None else None
        if t is not None:
            attrs["value"] = {"dtype": dtype_name(t.dtype), "shape": shape_of(t.tensor_shape)}
        if t is not None or out_shapes_attr is not None:
            special[len(nodes)] = (t, None if out_shapes_attr is None else
                                   [shape_of(s) for s in out_shapes_attr.list.shape])
        if t is None and scalar and op not in variables:
            # nodes of one op type mostly carry the same few scalar attributes ({"T": "float32"}): one dict
            # for all of them (nothing changes a node's attributes after reading but the variable readers)
            key = (op, *attrs.items(), *map(type, attrs.values()))  # True and 1 are equal keys: typed
            attrs = shared_attrs.setdefault(key, attrs)
        nodes.append(Node(nd.name, op, data_inputs, [], control, attrs, intern(nd.device), no_calls))
    # output tensors are made up to the highest index an input names: their number must stay proportional
    # to what the file holds (`p:99999` on each of 200 placeholders would otherwise make 20 million tensors)
    names = {n.name for n in nodes}
    implied = sum(i + 1 for node, i in max_index.items() if node in names)
    if implied > TENSORS_PER_ITEM * (len(nodes) + n_refs) + TENSORS_SLACK:
        worst = max((i, node) for node, i in max_index.items() if node in names)
        raise BadModelError(f"not a plausible GraphDef: its inputs name {implied:,} output tensors on "
                            f"{len(nodes):,} nodes (e.g. {worst[1]!r} at output {worst[0]:,})")
    del names
    tensors = g.tensors
    shared = {id(d) for d in shared_attrs.values()}  # (the dicts stay alive: ids are not reused)
    dtypes: dict[tuple, object] = {}  # (id of a shared attrs dict, output index) -> dtype
    roles: dict[str, tuple] = {}  # op -> (shape attribute is typed a shape, feedable, variable)
    for k, node in enumerate(nodes):
        nname, op, attrs = node.name, node.op, node.attrs
        t, out_shapes = special.get(k, _NO_SPECIAL)
        n_out = max_index.get(nname, -1) + 1
        if out_shapes and len(out_shapes) > n_out:
            n_out = len(out_shapes)
        if not n_out and op != "NoOp":
            n_out = 1
        if n_out > MAX_OUTPUTS:
            raise BadModelError(f"not a plausible GraphDef: node {nname!r} is used with output index "
                                f"{n_out - 1}; no op has more than {MAX_OUTPUTS} outputs")
        outputs = node.outputs
        is_shared = id(attrs) in shared
        for i in range(n_out):
            tname = f"{nname}:{i}"
            tname = canon.get(tname, tname)
            if is_shared:  # nodes that share one attrs dict (and so one op) share their dtypes
                dtype = dtypes.get((id(attrs), i), dtypes)
                if dtype is dtypes:
                    dtype = dtypes[(id(attrs), i)] = _out_dtype(op, attrs, i)
            else:
                dtype = _out_dtype(op, attrs, i)
            tensor = Tensor(tname, dtype, None, None, nname)
            if out_shapes and i < len(out_shapes):
                tensor.shape = out_shapes[i]
            outputs.append(tname)
            tensors[tname] = tensor
        role = roles.get(op)
        if role is None:
            role = roles[op] = (op in SHAPE_ATTR_OPS, op in op_roles.FEEDABLE, op in op_roles.VARIABLES)
        if role[0] and not _is_dims(attrs.get("shape")):  # TensorFlow's op defs: type shape
            raise BadModelError(f"node {nname!r} ({op}): its shape attribute is not a shape "
                                f"({type(attrs['shape']).__name__})")
        if role[1] and "shape" in attrs:
            tensors[outputs[0]].shape = attrs["shape"]
        if role[2]:
            tensors[outputs[0]].is_variable = True
            if "shape" in attrs and op != "VarHandleOp":
                tensors[outputs[0]].shape = attrs["shape"]
        if t is not None:
            tensor = tensors[outputs[0]]
            tensor.shape = shape_of(t.tensor_shape)
            tensor.dtype = dtype_name(t.dtype) or tensor.dtype
            nbytes = cut.get(k) if cut else None
            if nbytes is None:
                n = num_elements(tensor.shape)
                tensor.const = ConstData(nbytes=_tensor_nbytes(t), loader=_small_value_loader(t, n))
            else:
                tensor.const = ConstData(nbytes=nbytes, loader=None)
            node.is_const = True
    _fold_identity_of_const(g)
    return g


_SCALARS = frozenset((str, int, float, bool, type(None)))
_NO_CALLS: tuple = ()  # a GraphDef node calls no function of its own (inline.py sets the call sites it makes)
_NO_SPECIAL = (None, None)


def _intern(s: str) -> str:
    """Short strings that repeat across nodes (op types, attribute keys, devices): one object each."""
    return sys.intern(s) if len(s) <= 256 else s


def _small_value_loader(t, n):
    """A loader of a small constant's value that keeps a copy of its TensorProto's bytes, not the
    TensorProto: a sub-message keeps the whole parsed GraphDef (every weight) alive as long as it lives."""
    if n is None or n > MAX_SMALL_CONST:
        return None
    blob = t.SerializeToString()
    return lambda: tensor_value(tfproto.TensorProto.FromString(blob))


def _fold_identity_of_const(g: Graph, by_name=None) -> None:
    """`w/read = Identity(w)` with w a Const is itself a constant (TF1 frozen graphs are full of them).
    One pass: each Identity waits for its input tensor to become constant, whatever the node order."""
    if not any(t.const is not None for t in g.tensors.values()):
        return  # no constant to start from (a graph of 200k Identity ops would fill `waiting` for nothing)
    waiting: dict[str, list[Node]] = {}
    for node in g.nodes:
        if not node.is_const and node.op in op_roles.FORWARD and len(node.inputs) == 1:
            waiting.setdefault(node.inputs[0], []).append(node)
    ready = [t for t in waiting if t in g.tensors and g.tensors[t].const is not None]
    while ready:
        tname = ready.pop()
        src = g.tensors[tname]
        for node in waiting.pop(tname, ()):
            if node.is_const:
                continue
            node.is_const = True
            out = g.tensors[node.outputs[0]]
            out.const, out.shape, out.dtype = src.const, src.shape, src.dtype
            if out.name in waiting:
                ready.append(out.name)


MAX_PROTO_BYTES = 2**31 - 1  # protobuf cannot parse (or write) one serialized message of 2 GiB or more


def check_size(path: str, size: int) -> None:
    """A GraphDef file over protobuf's 2 GiB limit: one clear message (exit 2) before anything is read."""
    if size > MAX_PROTO_BYTES:
        raise LimitError(f"is {size:,} bytes: over protobuf's 2 GiB limit for one message, so it cannot be "
                         "parsed as a GraphDef (TensorFlow cannot load it either); export a SavedModel, which "
                         "keeps the weights in variables/ outside the graph", path)


def read(path: str, data: bytes) -> Model:
    check_size(path, len(data))
    with paused(big=len(data) >= BIG_FILE_BYTES):  # a million objects, no cycle: see collector.py
        # big weights cut out before parsing (slim.py): only their sizes are read
        slim, cut = (data, {}) if len(data) < SLIM_ABOVE or looks_like_text(data) else slim_graphdef(data)
        msg = parse_graphdef(slim, path)
        del slim
        model = model_from_graphdef(msg, path, len(data), cut=cut)
        del msg
    trim_heap()
    return model


def trim_heap() -> None:
    """Give the parsed message's freed memory back to the system (glibc keeps freed heap pages otherwise,
    and Python's own allocator, which maps its arenas separately, cannot reuse them): the analyses that
    follow then start from the model's size, not the model's plus the protobuf message's."""
    global _malloc_trim
    if _malloc_trim is None:
        try:
            import ctypes

            _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim = None


def model_from_graphdef(msg, path: str, file_size: int, fmt: str = "graphdef", cut=None) -> Model:
    """`cut`: {node index: length} of the Const contents slim_graphdef cut out of `msg`."""
    try:
        g = build_graph(msg.node, "main", cut=cut)
    except BadModelError as e:
        if e.path:
            raise
        raise BadModelError(str(e), path) from None
    model = Model(format=fmt, path=path, file_size=file_size, graphs=[g])
    producer = msg.versions.producer if msg.HasField("versions") else msg.version
    if producer:
        model.producer = f"GraphDef producer version {producer}"
        model.format_version = str(producer)
    model.legacy_placeholder_shapes = not producer or producer <= 21
    for f in msg.library.function:
        model.functions.append(f.signature.name)
    model.details["functions"] = [
        {"name": f.signature.name, "nodes": len(f.node_def),
         "inputs": [a.name for a in f.signature.input_arg], "outputs": [a.name for a in f.signature.output_arg]}
        for f in msg.library.function
    ]
    return model


# The reader protocol (registry.py): any file no other reader claims is tried as a GraphDef.
def match(path: str, head: bytes) -> bool:
    return os.path.isfile(path)


def read_file(path: str) -> Model:
    check_size(path, os.path.getsize(path))  # over protobuf's limit: say so before reading it
    data = map_bytes(path)
    try:
        if not data:
            raise BadModelError("the file is empty", path)
        return read(path, data)
    finally:
        unmap(data)
