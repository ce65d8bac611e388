"""TFLite reader: the flatbuffer read directly, every offset and length checked, no tensorflow import.

Field ids below are those of TensorFlow's TFLite schema (tensorflow/compiler/mlir/lite/schema/schema.fbs);
op names, tensor types and the layout of every options table come from opdata/tflite_builtin_ops.json,
generated from TF's schema bindings by tools/gen_tflite_ops.py. Unknown builtin codes and options tables
are shown, never fatal; anything inconsistent in the file raises BadModelError.

Files are mapped (read_file), never read whole: tables, vectors and strings are decoded in place from the
mapping, and a buffer is only its (start, length) until a figure needs its value (ConstData.loader, called by
the analyses for small constants only). Memory and time therefore follow the size of the tables, not of the
weights: a 1 GB file of four dense layers touches a few pages, and a buffer that lies in a sparse hole of the
file is never read.
"""
from __future__ import annotations

import errno
import json
import mmap
import os
import struct
from functools import lru_cache
from pathlib import Path

from ..errors import BadModelError
from ..model import ConstData, Graph, Model, Node, Quantization, Signature, Tensor
from .files import TFLITE_MAGIC

OPDATA = Path(__file__).resolve().parent.parent / "opdata" / "tflite_builtin_ops.json"

# Field ids per table (the vtable slot of field k is at byte 4 + 2k of the vtable).
M_VERSION, M_OPCODES, M_SUBGRAPHS, M_DESCRIPTION, M_BUFFERS, M_METADATA_BUFFER, M_METADATA, M_SIGNATURES = range(8)
M_EXTERNAL_BUFFERS = 9
OC_DEPRECATED_CODE, OC_CUSTOM_CODE, OC_VERSION, OC_BUILTIN_CODE = range(4)
SG_TENSORS, SG_INPUTS, SG_OUTPUTS, SG_OPERATORS, SG_NAME = range(5)
T_SHAPE, T_TYPE, T_BUFFER, T_NAME, T_QUANT, T_IS_VARIABLE, T_SPARSITY, T_SHAPE_SIGNATURE = range(8)
T_EXTERNAL_BUFFER = 10
Q_MIN, Q_MAX, Q_SCALE, Q_ZERO_POINT, Q_DIMENSION = 0, 1, 2, 3, 6
SP_TRAVERSAL_ORDER, SP_BLOCK_MAP, SP_DIM_METADATA = range(3)
DM_FORMAT, DM_DENSE_SIZE = range(2)
OP_OPCODE, OP_INPUTS, OP_OUTPUTS, OP_OPTIONS_TYPE, OP_OPTIONS, OP_CUSTOM_OPTIONS = range(6)
OP_LARGE_CUSTOM_SIZE, OP_OPTIONS_2_TYPE, OP_OPTIONS_2 = 10, 11, 12
B_DATA, B_OFFSET, B_SIZE = range(3)
MD_NAME, MD_BUFFER = range(2)
SD_INPUTS, SD_OUTPUTS, SD_KEY, SD_SUBGRAPH = 0, 1, 2, 4
TM_NAME, TM_INDEX = range(2)
EB_ID, EB_LENGTH = 0, 3

FORMATS = {"bool": "?", "int8": "b", "uint8": "B", "int16": "h", "uint16": "H", "int32": "i", "uint32": "I",
           "int64": "q", "uint64": "Q", "float32": "f", "float64": "d"}
NUMPY_TYPES = {"float16": ("<f2", 2), "float32": ("<f4", 4), "float64": ("<f8", 8), "int8": ("i1", 1),
               "uint8": ("u1", 1), "int16": ("<i2", 2), "uint16": ("<u2", 2), "int32": ("<i4", 4),
               "uint32": ("<u4", 4), "int64": ("<i8", 8), "uint64": ("<u8", 8), "bool": ("?", 1),
               "complex64": ("<c8", 8), "complex128": ("<c16", 16)}


_STRUCTS = {f: struct.Struct("<" + f) for f in "?bBhHiIqQfd"}  # little-endian scalars, compiled once


@lru_cache(maxsize=1)
def opdata() -> dict:
    return json.loads(OPDATA.read_text())


class Malformed(Exception):
    """An inconsistency in the flatbuffer; read() turns it into BadModelError."""


class Buffer:
    """Bounds-checked reads from one flatbuffer, with a work budget against aliased (overlapping) vectors."""

    def __init__(self, data, present: int | None = None):
        self.view = memoryview(data)
        self.size = len(data)
        self.end = 0  # highest byte the flatbuffer's own structures reach
        # Items a well-formed file can make us decode: twice its bytes, counting only the bytes the file
        # really holds (`present`, for a mapped file), so that a sparse hole cannot buy time for aliased vectors.
        self.budget = 2 * (self.size if present is None else min(present, self.size)) + 4096

    def check(self, pos: int, length: int, what: str) -> None:
        end = pos + length
        if pos < 0 or length < 0 or end > self.size:
            raise Malformed(f"{what} points outside the file")
        if end > self.end:
            self.end = end

    def unpack(self, fmt: str, pos: int, what: str):
        s = _STRUCTS[fmt]
        end = pos + s.size
        if pos < 0 or end > self.size:
            raise Malformed(f"{what} points outside the file")
        if end > self.end:
            self.end = end
        return s.unpack_from(self.view, pos)[0]

    def spend(self, items: int, what: str) -> None:
        self.budget -= items
        if self.budget < 0:
            raise Malformed(f"{what} reuses data so often that reading it would not end (overlapping vectors)")

    def table(self, pos: int, what: str) -> "Table":
        vtable = pos - self.unpack("i", pos, what)
        vlen = self.unpack("H", vtable, what)
        if vlen < 4 or vlen % 2:
            raise Malformed(f"{what} has a malformed vtable")
        self.check(vtable, vlen, what)
        return Table(self, pos, vtable, vlen, what)

    def root(self) -> "Table":
        return self.table(self.unpack("I", 0, "the root table"), "the model table")


class Table:
    """One flatbuffer table: typed access to its fields by field id."""

    def __init__(self, buf: Buffer, pos: int, vtable: int, vlen: int, what: str):
        self.buf, self.pos, self.vtable, self.vlen, self.what = buf, pos, vtable, vlen, what

    def _field(self, fid: int) -> int:
        slot = 4 + 2 * fid
        if slot + 2 > self.vlen:
            return 0
        off = self.buf.unpack("H", self.vtable + slot, self.what)
        return self.pos + off if off else 0

    def has(self, fid: int) -> bool:
        return self._field(fid) != 0

    def scalar(self, fid: int, fmt: str, default=0):
        pos = self._field(fid)
        return self.buf.unpack(fmt, pos, self.what) if pos else default

    def _target(self, fid: int):
        pos = self._field(fid)
        return pos + self.buf.unpack("I", pos, self.what) if pos else None

    def table(self, fid: int, what: str):
        pos = self._target(fid)
        return None if pos is None else self.buf.table(pos, f"{self.what}: {what}")

    def vector(self, fid: int, elem_size: int):
        """(position of the first element, element count), or None when the field is absent."""
        pos = self._target(fid)
        if pos is None:
            return None
        count = self.buf.unpack("I", pos, self.what)
        self.buf.check(pos + 4, count * elem_size, self.what)
        return pos + 4, count

    def scalars(self, fid: int, fmt: str):
        """A vector of scalars as a list, or None when the field is absent."""
        vec = self.vector(fid, struct.calcsize(fmt))
        if vec is None:
            return None
        self.buf.spend(vec[1], self.what)
        return list(struct.unpack_from(f"<{vec[1]}{fmt}", self.buf.view, vec[0]))

    def string(self, fid: int) -> str:
        vec = self.vector(fid, 1)
        if vec is None:
            return ""
        self.buf.spend(vec[1], self.what)
        return bytes(self.buf.view[vec[0]:vec[0] + vec[1]]).decode("utf-8", errors="replace")

    def tables(self, fid: int, what: str) -> list:
        vec = self.vector(fid, 4)
        if vec is None:
            return []
        start, count = vec
        self.buf.spend(count, self.what)
        out = []
        for i in range(count):
            pos = start + 4 * i
            out.append(self.buf.table(pos + self.buf.unpack("I", pos, self.what), f"{what} {i}"))
        return out


def read_file(path: str) -> Model:
    """Read a .tflite file through a read-only memory map: only the pages the tables live on are touched."""
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            size = st.st_size
            if size < 8:
                raise BadModelError("not a TFLite flatbuffer (the file is too short)", path)
            try:
                mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError):  # a file system that cannot map files: read it, as other readers do
                from .files import read_bytes

                return read(path, read_bytes(path))
            present = _present_bytes(f.fileno(), st)
    except OSError as e:
        raise BadModelError(f"cannot read the file ({e.strerror or e})", path) from None
    if hasattr(mapped, "madvise") and hasattr(mmap, "MADV_RANDOM"):
        mapped.madvise(mmap.MADV_RANDOM)  # no read-ahead: a table read must not pull in the weights around it
    # The mapping stays open as long as a loader (a memoryview of it) may still read a constant's value.
    return read(path, mapped, present=present)


def _present_bytes(fd: int, st: os.stat_result) -> int:
    """The bytes a file really holds: all of them, less its holes when it is sparse (found with SEEK_DATA /
    SEEK_HOLE, one step per data extent, so in time proportional to what the file holds)."""
    blocks = getattr(st, "st_blocks", None)
    if blocks is None or blocks * 512 >= st.st_size or not hasattr(os, "SEEK_HOLE"):
        return st.st_size  # no hole (or no way to see one)
    present, pos = 0, 0
    try:
        while pos < st.st_size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError as e:
                if e.errno == errno.ENXIO:  # nothing but a hole from pos to the end
                    break
                raise
            pos = os.lseek(fd, start, os.SEEK_HOLE)
            present += pos - start
    except OSError:
        return st.st_size
    return present


def read(path: str, data, present: int | None = None) -> Model:
    """Read a flatbuffer held in `data` (bytes, or a memory map from read_file), in place. `present`: how many
    of its bytes the file really holds (read_file's measure of a sparse file), for the work budget."""
    at, identifier = TFLITE_MAGIC
    if len(data) < 8 or data[at:at + len(identifier)] != identifier:
        raise BadModelError("not a TFLite flatbuffer (no TFL3 file identifier)", path)
    try:
        return _Reader(Buffer(data, present), path).model()
    except Malformed as e:
        raise BadModelError(f"not a valid TFLite flatbuffer: {e}", path) from None
    except (struct.error, ValueError, IndexError, KeyError, OverflowError, RecursionError) as e:
        # Defence in depth: every read above is checked, so this means a check is missing.
        raise BadModelError(f"not a valid TFLite flatbuffer ({type(e).__name__}: {e})", path) from None


class _Reader:
    def __init__(self, buf: Buffer, path: str):
        self.buf, self.path = buf, path
        self.schema = opdata()
        self.warnings: list[str] = []

    def model(self) -> Model:
        buf, root = self.buf, self.buf.root()
        model = Model(format="tflite", path=self.path, file_size=buf.size)
        model.format_version = str(root.scalar(M_VERSION, "I"))
        model.execution_order_is_file_order = True  # operators are listed in execution order
        model.stores_shapes = model.declares_io = model.lists_tensors = True  # a converted model: tensors, shapes
        # and inputs/outputs are fixed by the converter, and nothing but the inference graph is kept
        model.producer = root.string(M_DESCRIPTION) or None
        self.opcodes = [self._opcode(oc) for oc in root.tables(M_OPCODES, "operator code")]
        self.buffers = [self._buffer(b) for b in root.tables(M_BUFFERS, "buffer")]
        self.external = {eb.scalar(EB_ID, "I"): eb.scalar(EB_LENGTH, "Q")
                         for eb in root.tables(M_EXTERNAL_BUFFERS, "external buffer")}
        root.vector(M_METADATA_BUFFER, 4)  # deprecated, but part of the flatbuffer's extent
        subgraphs = root.tables(M_SUBGRAPHS, "subgraph")
        taken: dict[str, int] = {}
        self.graph_names = [_unique(sg.string(SG_NAME) or f"subgraph_{i}", taken) for i, sg in enumerate(subgraphs)]
        self.tensor_keys: list[list[str]] = []
        model.graphs = [self._graph(gi, sg) for gi, sg in enumerate(subgraphs)]
        if not model.graphs:
            raise Malformed("the model has no subgraph")
        model.metadata = self._metadata(root)
        model.signatures = [self._signature(sd, model.graphs) for sd in root.tables(M_SIGNATURES, "signature")]
        data_end = max([buf.end] + [start + length for start, length, external in self.buffers if external])
        if buf.size - data_end < 64 and not any(buf.view[data_end:]):
            data_end = buf.size  # zero padding after buffers stored past the flatbuffer, not appended data
        model.details = {
            "subgraphs": len(subgraphs), "buffers": len(self.buffers),
            "operator_codes": [name for name, _, _ in self.opcodes],
            "flatbuffer_size": buf.end, "trailing_bytes": buf.size - data_end,
        }
        if self.external:
            model.details["external_buffers"] = len(self.external)
        model.warnings = self.warnings
        return model

    def _opcode(self, oc: Table) -> tuple[str, bool, int]:
        """(op name, is custom, version) of one operator code."""
        code = max(oc.scalar(OC_DEPRECATED_CODE, "b"), oc.scalar(OC_BUILTIN_CODE, "i"))
        name = self.schema["builtin_ops"].get(str(code))
        if name == "CUSTOM":
            return oc.string(OC_CUSTOM_CODE) or "CUSTOM", True, oc.scalar(OC_VERSION, "i", 1)
        if name is None:
            name = f"BUILTIN_{code}"
            self.warnings.append(f"{oc.what} has builtin code {code}, unknown to TensorFlow "
                                 f"{self.schema['tf_version_basis']}")
        return name, False, oc.scalar(OC_VERSION, "i", 1)

    def _buffer(self, b: Table) -> tuple[int, int, bool]:
        """(start, length, stored after the flatbuffer) of one buffer's data; length 0 when empty."""
        vec = b.vector(B_DATA, 1)
        if vec is not None and vec[1]:
            return vec[0], vec[1], False
        offset, size = b.scalar(B_OFFSET, "Q"), b.scalar(B_SIZE, "Q")
        if offset > 1 and size:  # a model over 2 GB keeps data after the flatbuffer (offset from file start)
            if offset + size > self.buf.size:
                raise Malformed(f"{b.what} points outside the file")
            return offset, size, True
        return 0, 0, False

    def _buffer_at(self, index: int, what: str) -> tuple[int, int, bool]:
        if index == 0 and not self.buffers:
            return 0, 0, False  # buffer 0 is the empty sentinel; a hand-made model may omit the list
        if index >= len(self.buffers):
            raise Malformed(f"{what} names buffer {index}, but the model has {len(self.buffers)}")
        return self.buffers[index]

    def _graph(self, gi: int, sg: Table) -> Graph:
        g = Graph(name=self.graph_names[gi], kind="main" if gi == 0 else "subgraph", dialect="tflite",
                  fused_names=True)
        label = "tensor" if gi == 0 else f"subgraph {gi} tensor"
        raw = sg.tables(SG_TENSORS, label)
        keys = _unique_keys([t.string(T_NAME) for t in raw])
        self.tensor_keys.append(keys)
        for t, key in zip(raw, keys):
            g.tensors[key] = self._tensor(t, key)

        def names(indices, what: str) -> list[str]:
            out = []
            for i in indices or ():
                if i < 0:
                    continue  # an omitted optional input
                if i >= len(keys):
                    raise Malformed(f"{what} names tensor {i}, but its subgraph has {len(keys)}")
                out.append(keys[i])
            return out

        g.inputs = names(sg.scalars(SG_INPUTS, "i"), f"subgraph {gi} inputs")
        g.outputs = names(sg.scalars(SG_OUTPUTS, "i"), f"subgraph {gi} outputs")
        taken: dict[str, int] = {}
        label = "operator" if gi == 0 else f"subgraph {gi} operator"
        for oi, op in enumerate(sg.tables(SG_OPERATORS, label)):
            node = self._node(op, names(op.scalars(OP_INPUTS, "i"), op.what),
                              names(op.scalars(OP_OUTPUTS, "i"), op.what), oi, taken)
            for key in node.outputs:
                g.tensors[key].producer = node.name
            g.nodes.append(node)
        return g

    def _tensor(self, t: Table, key: str) -> Tensor:
        code = t.scalar(T_TYPE, "b")
        dtype = self.schema["tensor_types"].get(str(code), f"type_{code}")
        shape = t.scalars(T_SHAPE, "i") or []
        signature = t.scalars(T_SHAPE_SIGNATURE, "i")
        tensor = Tensor(name=key, dtype=dtype, shape=shape, is_variable=bool(t.scalar(T_IS_VARIABLE, "B")),
                        shape_signature=None if signature is None else [d if d >= 0 else None for d in signature])
        start, length, _ = self._buffer_at(t.scalar(T_BUFFER, "I"), t.what)
        if length:
            tensor.const = ConstData(nbytes=length, loader=_loader(self.buf.view, start, length, dtype, shape))
        elif (external := t.scalar(T_EXTERNAL_BUFFER, "I")) in self.external:
            tensor.const = ConstData(nbytes=self.external[external])  # data in another file: size only
        q = t.table(T_QUANT, "quantization")
        if q is not None:
            scale = q.scalars(Q_SCALE, "f") or []
            lo, hi = q.scalars(Q_MIN, "f") or [], q.scalars(Q_MAX, "f") or []
            if scale or lo or hi:
                tensor.quantization = Quantization(
                    scale=scale, zero_point=q.scalars(Q_ZERO_POINT, "q") or [], min=lo, max=hi,
                    axis=q.scalar(Q_DIMENSION, "i") if len(scale) > 1 else None)
        sp = t.table(T_SPARSITY, "sparsity")
        if sp is not None:
            formats = self.schema["enums"]["DimensionType"]
            dims = sp.tables(SP_DIM_METADATA, f"{t.what}: sparsity dimension")
            tensor.sparsity = {
                "traversal_order": sp.scalars(SP_TRAVERSAL_ORDER, "i") or [],
                "block_map": sp.scalars(SP_BLOCK_MAP, "i") or [],
                "dim_format": [formats.get(str(d.scalar(DM_FORMAT, "b")), "UNKNOWN") for d in dims],
                "dense_size": [d.scalar(DM_DENSE_SIZE, "i") for d in dims],
            }
        return tensor

    def _node(self, op: Table, inputs: list[str], outputs: list[str], index: int, taken: dict) -> Node:
        code = op.scalar(OP_OPCODE, "I")
        if code >= len(self.opcodes):
            raise Malformed(f"{op.what} uses operator code {code}, but the model has {len(self.opcodes)}")
        name, custom, version = self.opcodes[code]
        node = Node(name=_unique(outputs[0] if outputs else f"{name}_{index}", taken), op=name,
                    inputs=inputs, outputs=outputs, custom=custom, op_version=version)
        if custom:
            vec = op.vector(OP_CUSTOM_OPTIONS, 1)
            size = vec[1] if vec else op.scalar(OP_LARGE_CUSTOM_SIZE, "Q")
            if size:
                node.attrs["custom_options_bytes"] = size
            return node
        node.attrs = {**self._options(op, OP_OPTIONS_TYPE, OP_OPTIONS, "BuiltinOptions"),
                      **self._options(op, OP_OPTIONS_2_TYPE, OP_OPTIONS_2, "BuiltinOptions2")}
        for field, value in node.attrs.items():
            if field.endswith(("subgraph_index", "subgraph_indices")):
                for gi in value if isinstance(value, list) else [value]:
                    if not 0 <= gi < len(self.graph_names):
                        raise Malformed(f"{op.what} ({name}) calls subgraph {gi}, "
                                        f"but the model has {len(self.graph_names)}")
                    node.calls.append(self.graph_names[gi])
        return node

    def _options(self, op: Table, type_field: int, table_field: int, union: str) -> dict:
        """The decoded options table of one union (BuiltinOptions or BuiltinOptions2) of an operator."""
        kind = op.scalar(type_field, "B")
        if not kind:
            return {}
        tables = self.schema["builtin_options" if union == "BuiltinOptions" else "builtin_options_2"]
        table_name = tables.get(str(kind), f"{union}_{kind}")
        layout = self.schema["options_tables"].get(table_name)
        if layout is None:
            return {"options": f"{table_name} (not decoded)"}
        t = op.table(table_field, table_name)
        if t is None:
            return {}
        enums, option_enums = self.schema["enums"], self.schema["option_enums"]
        out = {}
        for field, fid, ftype, default in layout:
            if ftype.startswith("["):
                value = t.scalars(fid, FORMATS[ftype[1:-1]])
                if value is None:
                    continue
            else:
                value = t.scalar(fid, FORMATS[ftype], default)
            if field in option_enums:
                names = self.schema["tensor_types"] if option_enums[field] == "TensorType" \
                    else enums[option_enums[field]]
                value = names.get(str(value), value)
            elif ftype == "float32":
                value = float(f"{value:.7g}")
            elif ftype == "bool":
                value = bool(value)
            out[field] = value
        return out

    def _metadata(self, root: Table) -> dict:
        out = {}
        for m in root.tables(M_METADATA, "metadata"):
            name, index = m.string(MD_NAME), m.scalar(MD_BUFFER, "I")
            start, length, _ = self._buffer_at(index, m.what)
            entry = {"buffer": index, "bytes": length}
            if name == "min_runtime_version" and length:
                raw = bytes(self.buf.view[start:start + min(length, 64)])
                entry["value"] = raw.split(b"\0")[0].decode("utf-8", errors="replace")
            out[name] = entry
        return out

    def _signature(self, sd: Table, graphs: list[Graph]) -> Signature:
        gi = sd.scalar(SD_SUBGRAPH, "I")
        if gi >= len(graphs):
            raise Malformed(f"{sd.what} names subgraph {gi}, but the model has {len(graphs)}")
        keys, tensors = self.tensor_keys[gi], graphs[gi].tensors
        sig = Signature(name=sd.string(SD_KEY), subgraph=gi)
        for field, target in ((SD_INPUTS, sig.inputs), (SD_OUTPUTS, sig.outputs)):
            for tm in sd.tables(field, f"{sd.what} tensor"):
                index = tm.scalar(TM_INDEX, "I")
                if index >= len(keys):
                    raise Malformed(f"{tm.what} names tensor {index}, but its subgraph has {len(keys)}")
                target[tm.string(TM_NAME)] = tensors[keys[index]]
        return sig


def _unique_keys(names: list[str]) -> list[str]:
    """Tensor keys: the file's name, or name#index when it is empty or shared by several tensors."""
    count: dict[str, int] = {}
    for name in names:
        count[name] = count.get(name, 0) + 1
    taken = {name: 1 for name in names if name and count[name] == 1}
    keys = []
    for i, name in enumerate(names):
        if name and count[name] == 1:
            keys.append(name)
        else:
            keys.append(_unique(f"{name}#{i}", taken))
    return keys


def _unique(base: str, taken: dict) -> str:
    """base, or base#k for the first free k; taken maps each name handed out to the next k to try."""
    if base not in taken:
        taken[base] = 1
        return base
    k = taken[base]
    while f"{base}#{k}" in taken:
        k += 1
    taken[base] = k + 1
    taken[f"{base}#{k}"] = 1
    return f"{base}#{k}"


def _loader(view: memoryview, start: int, length: int, dtype: str, shape: list):
    """A loader for a constant's value, when numpy knows the dtype and the size matches the shape."""
    if dtype not in NUMPY_TYPES or any(d < 0 for d in shape):
        return None
    np_type, itemsize = NUMPY_TYPES[dtype]
    count = 1
    for d in shape:
        count *= d
    if count * itemsize != length:
        return None

    def load():
        import numpy as np

        return np.frombuffer(view[start:start + length], dtype=np_type).reshape(shape)
    return load
