"""TFLite reader: the flatbuffer read directly, every offset and length checked, no tensorflow import.

Field slots, enum values and options tables come from opdata/tflite_schema.json (generated from TensorFlow's
schema by tools/gen_tflite_schema.py). Unknown builtin codes and options tables are shown, never fatal.
"""
from __future__ import annotations

import json
import struct
from functools import lru_cache
from pathlib import Path

from ..errors import BadModelError
from ..model import ConstData, Graph, Model, Node, Quantization, Signature, Tensor

MAGIC = b"TFL3"
MAX_ITEMS = 10_000_000  # no vector in a model file is longer than this
SCALAR_FMT = {"int8": "<b", "uint8": "<B", "bool": "<?", "int16": "<h", "uint16": "<H", "int32": "<i",
              "uint32": "<I", "int64": "<q", "uint64": "<Q", "float32": "<f", "float64": "<d"}
NP_TYPES = {"float32": "<f4", "float16": "<f2", "int32": "<i4", "uint8": "u1", "int64": "<i8", "bool": "?",
            "int16": "<i2", "int8": "i1", "float64": "<f8", "uint64": "<u8", "uint32": "<u4", "uint16": "<u2"}
ENUM_FIELDS = {"padding": "Padding", "fused_activation_function": "ActivationFunctionType",
               "weights_format": "FullyConnectedOptionsWeightsFormat", "mode": "MirrorPadMode"}
TYPE_FIELDS = {"out_type", "in_data_type", "out_data_type", "output_type", "idx_out_type"}
SUBGRAPH_FIELDS = {"then_subgraph_index", "else_subgraph_index", "cond_subgraph_index", "body_subgraph_index",
                   "init_subgraph_index", "subgraph_index", "decomposition_subgraph_index"}


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads((Path(__file__).resolve().parent.parent / "opdata" / "tflite_schema.json").read_text())


def match(head: bytes) -> bool:
    return head[4:8] == MAGIC


class _Bad(Exception):
    pass


class FlatBuffer:
    """Bounds-checked access to tables, vectors and strings of one flatbuffer."""

    def __init__(self, data: bytes):
        self.buf = memoryview(data)
        self.n = len(data)
        self.end = 0  # highest byte offset touched: tells where the flatbuffer proper ends

    def _need(self, off: int, size: int, what: str) -> None:
        if off < 0 or size < 0 or off + size > self.n:
            raise _Bad(f"{what} points outside the file")
        self.end = max(self.end, off + size)

    def scalar(self, off: int, fmt: str, what: str = "a field"):
        size = struct.calcsize(fmt)
        self._need(off, size, what)
        return struct.unpack_from(fmt, self.buf, off)[0]

    def table(self, pos: int, what: str) -> tuple[int, int, int]:
        """(table position, vtable position, vtable length)."""
        vt = pos - self.scalar(pos, "<i", what)
        vlen = self.scalar(vt, "<H", what)
        if vlen < 4 or vlen % 2:
            raise _Bad(f"{what} has a malformed vtable")
        self._need(vt, vlen, what)
        return pos, vt, vlen

    def _field(self, t, slot: int) -> int:
        pos, vt, vlen = t
        voff = 4 + 2 * slot
        if voff >= vlen:
            return 0
        off = self.scalar(vt + voff, "<H")
        return pos + off if off else 0

    def get(self, t, slot: int, fmt: str, default=0, what: str = "a field"):
        p = self._field(t, slot)
        return self.scalar(p, fmt, what) if p else default

    def _ref(self, t, slot: int, what: str):
        p = self._field(t, slot)
        if not p:
            return None
        return p + self.scalar(p, "<I", what)

    def sub(self, t, slot: int, what: str):
        p = self._ref(t, slot, what)
        return self.table(p, what) if p is not None else None

    def vector(self, t, slot: int, elem: int, what: str):
        """(first element position, length) or None."""
        p = self._ref(t, slot, what)
        if p is None:
            return None
        length = self.scalar(p, "<I", what)
        if length > MAX_ITEMS or length * elem > self.n:
            raise _Bad(f"{what} claims {length} items, more than the file could hold")
        self._need(p + 4, length * elem, what)
        return p + 4, length

    def scalars(self, t, slot: int, fmt: str, what: str) -> list:
        size = struct.calcsize(fmt)
        v = self.vector(t, slot, size, what)
        if v is None:
            return []
        start, length = v
        return list(struct.unpack_from(f"<{length}{fmt[-1]}", self.buf, start))

    def string(self, t, slot: int, what: str = "a string") -> str:
        v = self.vector(t, slot, 1, what)
        if v is None:
            return ""
        start, length = v
        return bytes(self.buf[start:start + length]).decode("utf-8", errors="replace")

    def tables(self, t, slot: int, what: str) -> list:
        v = self.vector(t, slot, 4, what)
        if v is None:
            return []
        start, length = v
        return [self.table(start + 4 * i + self.scalar(start + 4 * i, "<I", what), f"{what} {i}")
                for i in range(length)]


def read(path: str, data: bytes) -> Model:
    if len(data) < 8 or not match(data[:8]):
        raise BadModelError("not a TFLite flatbuffer (no TFL3 identifier)", path)
    fb = FlatBuffer(data)
    try:
        return _read(fb, path, len(data))
    except _Bad as e:
        raise BadModelError(f"not a valid TFLite flatbuffer: {e}", path) from None
    except (struct.error, ValueError, OverflowError, IndexError) as e:
        raise BadModelError(f"not a valid TFLite flatbuffer ({type(e).__name__}: {e})", path) from None


def _read(fb: FlatBuffer, path: str, size: int) -> Model:
    sch = schema()
    root = fb.table(fb.scalar(0, "<I", "the root table"), "the root table")
    model = Model(format="tflite", path=path, file_size=size)
    model.format_version = str(fb.get(root, 0, "<I", 0))
    model.producer = fb.string(root, 3, "the description") or None

    opcodes = []
    for i, oc in enumerate(fb.tables(root, 1, "operator code")):
        code = max(fb.get(oc, 0, "<b", 0), fb.get(oc, 3, "<i", 0))
        custom = fb.string(oc, 1, "a custom code")
        version = fb.get(oc, 2, "<i", 1)
        name = sch["builtin_ops"].get(str(code), f"BUILTIN_{code}")
        opcodes.append((custom or name, bool(custom) and name == "CUSTOM", version))

    buffers = []  # (start, length) of each buffer's data
    for b in fb.tables(root, 4, "buffer"):
        v = fb.vector(b, 0, 1, "buffer data")
        if v is not None and v[1]:
            buffers.append(v)
        else:
            off, sz = fb.get(b, 1, "<Q", 0), fb.get(b, 2, "<Q", 0)
            if off > 1 and sz:
                fb._need(off, sz, "a large buffer")
                buffers.append((off, sz))
            else:
                buffers.append((0, 0))

    subgraphs = fb.tables(root, 2, "subgraph")
    names = [fb.string(sg, 4, "a subgraph name") or f"subgraph_{i}" for i, sg in enumerate(subgraphs)]
    for gi, sg in enumerate(subgraphs):
        model.graphs.append(_read_subgraph(fb, sg, names, gi, opcodes, buffers, sch))

    for m in fb.tables(root, 6, "metadata"):
        name = fb.string(m, 0, "a metadata name")
        bi = fb.get(m, 1, "<I", 0)
        nbytes = buffers[bi][1] if bi < len(buffers) else 0
        entry = {"buffer": bi, "bytes": nbytes}
        if name == "min_runtime_version" and bi < len(buffers) and nbytes <= 64:
            start, length = buffers[bi]
            entry["value"] = bytes(fb.buf[start:start + length]).split(b"\0")[0].decode("utf-8", "replace")
        model.metadata[name] = entry

    for sd in fb.tables(root, 7, "signature def"):
        gi = fb.get(sd, 4, "<I", 0)
        g = model.graphs[gi] if gi < len(model.graphs) else None
        sig = Signature(name=fb.string(sd, 2, "a signature key"), subgraph=gi)
        for slot, target in ((0, sig.inputs), (1, sig.outputs)):
            for tm in fb.tables(sd, slot, "signature tensor"):
                key = fb.string(tm, 0, "a signature name")
                idx = fb.get(tm, 1, "<I", 0)
                if g is not None and idx < len(g.details_keys):
                    target[key] = g.tensors[g.details_keys[idx]]
        model.signatures.append(sig)

    model.details = {
        "subgraphs": len(subgraphs), "buffers": len(buffers),
        "operator_codes": [o[0] for o in opcodes],
        "flatbuffer_size": fb.end, "trailing_bytes": max(0, size - fb.end),
    }
    for g in model.graphs:
        del g.details_keys
    return model


def _read_subgraph(fb, sg, names, gi, opcodes, buffers, sch) -> Graph:
    g = Graph(name=names[gi], kind="main" if gi == 0 else "subgraph")
    types = sch["tensor_types"]
    keys: list[str] = []
    seen: dict[str, int] = {}
    raw = fb.tables(sg, 0, "tensor")
    for ti, t in enumerate(raw):
        name = fb.string(t, 3, "a tensor name")
        seen[name] = seen.get(name, 0) + 1
    taken: set[str] = set()
    for ti, t in enumerate(raw):
        name = fb.string(t, 3, "a tensor name")
        key = name if name and seen[name] == 1 else f"{name}#{ti}"
        while key in taken:
            key += "'"
        taken.add(key)
        keys.append(key)
        dtype = types.get(str(fb.get(t, 1, "<b", 0)), None)
        dtype = dtype.lower() if dtype else f"type_{fb.get(t, 1, '<b', 0)}"
        shape = fb.scalars(t, 0, "<i", f"tensor {ti} shape")
        sig = fb.scalars(t, 7, "<i", f"tensor {ti} shape signature") if fb._field(t, 7) else None
        tensor = Tensor(name=key, dtype=dtype, shape=shape,
                        shape_signature=[None if d < 0 else d for d in sig] if sig is not None else None,
                        is_variable=bool(fb.get(t, 5, "<?", False)))
        bi = fb.get(t, 2, "<I", 0)
        if bi and bi < len(buffers) and buffers[bi][1]:
            start, length = buffers[bi]
            tensor.const = ConstData(nbytes=length, loader=_loader(fb.buf, start, length, dtype, shape))
        q = fb.sub(t, 4, f"tensor {ti} quantization")
        if q is not None:
            scale = fb.scalars(q, 2, "<f", "quantization scales")
            zp = fb.scalars(q, 3, "<q", "quantization zero points")
            mn, mx = fb.scalars(q, 0, "<f", "quantization min"), fb.scalars(q, 1, "<f", "quantization max")
            if scale or mn or mx:
                tensor.quantization = Quantization(scale=scale, zero_point=zp, min=mn, max=mx,
                                                   axis=fb.get(q, 6, "<i", 0) if len(scale) > 1 else None)
        sp = fb.sub(t, 6, f"tensor {ti} sparsity")
        if sp is not None:
            tensor.sparsity = {"traversal_order": fb.scalars(sp, 0, "<i", "sparsity order"),
                               "block_map": fb.scalars(sp, 1, "<i", "sparsity block map"),
                               "dim_metadata": len(fb.tables(sp, 2, "sparsity dim metadata"))}
        g.tensors[key] = tensor

    def tkeys(idx: list[int]) -> list[str]:
        out = []
        for i in idx:
            if i < 0:
                continue  # an omitted optional input
            if i >= len(keys):
                raise _Bad(f"an operator names tensor {i}, but the subgraph has {len(keys)}")
            out.append(keys[i])
        return out

    g.inputs = tkeys(fb.scalars(sg, 1, "<i", "subgraph inputs"))
    g.outputs = tkeys(fb.scalars(sg, 2, "<i", "subgraph outputs"))
    node_names: set[str] = set()
    for oi, op in enumerate(fb.tables(sg, 3, "operator")):
        idx = fb.get(op, 0, "<I", 0)
        if idx >= len(opcodes):
            raise _Bad(f"operator {oi} uses opcode {idx}, but the model has {len(opcodes)}")
        opname, custom, version = opcodes[idx]
        ins = tkeys(fb.scalars(op, 1, "<i", "operator inputs"))
        outs = tkeys(fb.scalars(op, 2, "<i", "operator outputs"))
        base = outs[0] if outs else f"{opname}_{oi}"
        name, k = base, 1
        while name in node_names:
            name, k = f"{base}#{k}", k + 1
        node_names.add(name)
        node = Node(name=name, op=opname, inputs=ins, outputs=outs, custom=custom, op_version=version)
        if not custom:
            node.attrs = _options(fb, op, sch, names)
            node.calls = [names[v] for k2, v in node.attrs.items()
                          if k2 in SUBGRAPH_FIELDS and isinstance(v, int) and 0 <= v < len(names)]
        else:
            v = fb.vector(op, 5, 1, "custom options")
            if v is not None:
                node.attrs = {"custom_options_bytes": v[1]}
        for o in outs:
            g.tensors[o].producer = name
        g.nodes.append(node)
    g.details_keys = keys  # index -> key, for signature defs; removed after reading
    return g


def _options(fb, op, sch, names) -> dict:
    otype = fb.get(op, 3, "<B", 0)
    if not otype:
        return {}
    table_name = sch["builtin_options"].get(str(otype))
    fields = sch["options_tables"].get(table_name or "")
    if fields is None:
        return {"options": f"{table_name or otype} (not decoded)"}
    t = fb.sub(op, 4, "builtin options")
    if t is None:
        return {}
    out = {}
    for fname, slot, ftype, default in fields:
        if ftype.startswith("["):
            val = fb.scalars(t, slot, SCALAR_FMT[ftype[1:-1]], f"option {fname}")
        else:
            val = fb.get(t, slot, SCALAR_FMT[ftype], default, f"option {fname}")
        if fname in ENUM_FIELDS:
            val = sch["enums"].get(ENUM_FIELDS[fname], {}).get(str(val), val)
        elif fname in TYPE_FIELDS and isinstance(val, int):
            val = sch["tensor_types"].get(str(val), str(val)).lower()
        elif isinstance(val, float):
            val = round(val, 7)
        out[fname] = val
    return out


def _loader(buf, start: int, length: int, dtype: str, shape: list):
    np_type = NP_TYPES.get(dtype)
    if np_type is None:
        return None

    def load():
        import numpy as np

        arr = np.frombuffer(buf[start:start + length], dtype=np_type)
        n = 1
        for d in shape:
            n *= d
        return arr.reshape(shape) if arr.size == n else arr
    return load
