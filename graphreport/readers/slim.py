"""A binary GraphDef with its big Const weights cut out, made before protobuf parses it.

Parsing copies every byte it keeps: the 95 MB of weights in a frozen InceptionV3 cost protobuf 60 ms to copy
and our reader another 10-25 ms to measure (each read of a bytes field copies it), while the report needs only
their sizes. So the reader first walks the file's protobuf wire format, node by node (about 1 µs a node),
and gives protobuf a copy of the file without the `tensor_content` of each Const's `value` tensor of more
than CUT_BYTES, each node rewritten with its new lengths, and the cut sizes by node index. A cut tensor
keeps its dtype and shape; its value was never loaded anyway (only tensors of up to MAX_SMALL_CONST
elements, far less than CUT_BYTES, are).

Anything unexpected in a node (a field given twice where protobuf would merge or replace, a list of
tensors, a length past its end) leaves that node as it is; a damaged file is passed whole to protobuf,
which says what is wrong with it.

GraphDef: node = 1 (NodeDef). NodeDef: attr = 5 (map entries: key = 1, value = 2, an AttrValue).
AttrValue: tensor = 8 (TensorProto). TensorProto: tensor_content = 4 (tensorflow/core/framework/*.proto).
"""
from __future__ import annotations

from .tfproto import record

CUT_BYTES = 64 * 1024  # a tensor_content this long or longer is cut (32 KB: the biggest value ever loaded)
_LEN = 2  # wire type of a length-delimited field


def _varint(buf, i: int) -> tuple[int, int]:
    """(value, position after it) of the varint at buf[i]."""
    b = buf[i]
    if b < 0x80:
        return b, i + 1
    value, shift = b & 0x7F, 7
    while True:
        i += 1
        b = buf[i]
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, i + 1
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(buf, start: int, end: int):
    """(field number, wire type, start of the field's record, start of its value, end of its value) of
    each field in buf[start:end]."""
    i = start
    while i < end:
        rec = i
        key, i = _varint(buf, i)
        wt = key & 7
        if wt == 0:
            _, j = _varint(buf, i)
        elif wt == 1:
            j = i + 8
        elif wt == _LEN:
            n, i = _varint(buf, i)
            j = i + n
        elif wt == 5:
            j = i + 4
        else:
            raise ValueError("unexpected wire type")
        if j > end:
            raise ValueError("field past its end")
        yield key >> 3, wt, rec, i, j
        i = j


def _only(buf, start: int, end: int, field: int):
    """(start, end) of the one length-delimited `field` in buf[start:end], with nothing else given twice;
    None when it is missing or repeated."""
    found, seen = None, set()
    for f, wt, _rec, s, e in _fields(buf, start, end):
        if f in seen:
            return None
        seen.add(f)
        if f == field:
            if wt != _LEN:
                return None
            found = s, e
    return found


def _slim_node(buf, start: int, end: int) -> tuple[bytes, int] | None:
    """(the NodeDef in buf[start:end] without its `value` tensor's content, the content's length), or None
    to keep it as it is."""
    entries = [(s, e) for f, wt, _r, s, e in _fields(buf, start, end) if f == 5 and wt == _LEN]
    value = None
    for s, e in entries:
        key = _only(buf, s, e, 1)
        if key is not None and bytes(buf[key[0]:key[1]]) == b"value":
            if value is not None:
                return None  # two entries "value": the map keeps the last; not ours to decide
            value = s, e
    if value is None:
        return None
    attr = _only(buf, *value, 2)
    tensor = attr and _only(buf, *attr, 8)
    content = tensor and _only(buf, *tensor, 4)
    if not content or content[1] - content[0] < CUT_BYTES:
        return None
    # rebuild from the inside out: TensorProto without field 4, its AttrValue, the map entry, the NodeDef
    t_body = b"".join(bytes(buf[r:e]) for f, _wt, r, _s, e in _fields(buf, *tensor) if f != 4)
    a_body = _replace(buf, attr, tensor, record(8, t_body))
    m_body = _replace(buf, value, attr, record(2, a_body))
    node = _replace(buf, (start, end), value, record(5, m_body))
    return node, content[1] - content[0]


def _replace(buf, outer: tuple[int, int], inner: tuple[int, int], new: bytes) -> bytes:
    """The body outer of buf with the field record whose value is buf[inner] replaced by `new` (a record)."""
    for _f, _wt, r, s, e in _fields(buf, *outer):
        if (s, e) == inner:
            return bytes(buf[outer[0]:r]) + new + bytes(buf[e:outer[1]])
    raise ValueError("field not found")


def slim_graphdef(buf) -> tuple[object, dict[int, int]]:
    """(a GraphDef's bytes with big Const contents cut, {node index: the cut content's length}); `buf` itself
    and {} when nothing is cut or the file is not as expected (see above)."""
    pieces, cut, kept_from, index, i, end = [], {}, 0, 0, 0, len(buf)
    try:
        while i < end:  # the GraphDef's fields; a node's (tag 0x0A, its length) read here, without a call
            rec = i
            if buf[i] == 0x0A:
                n = buf[i + 1]
                i += 2
                if n >= 0x80:
                    n, i = _varint(buf, i - 1)
                e = i + n
                if e > end:
                    raise ValueError("node past the end")
                if n >= CUT_BYTES:
                    slim = _slim_node(buf, i, e)
                    if slim is not None:
                        pieces.append(buf[kept_from:rec])
                        pieces.append(record(1, slim[0]))
                        kept_from = e
                        cut[index] = slim[1]
                index += 1
                i = e
            else:
                for f, _wt, _rec, _s, e in _fields(buf, i, end):
                    if f == 1:
                        raise ValueError("a node that is not a message")
                    i = e
                    break
    except (ValueError, IndexError):
        return buf, {}
    if not cut:
        return buf, {}
    pieces.append(buf[kept_from:])
    return b"".join(pieces), cut
