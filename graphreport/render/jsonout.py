"""The JSON report (see report.SCHEMA_VERSION).

Written in pieces: the top-level values one by one and the nodes a batch at a time, each encoded on its own
and indented to its depth, so a 200k-node report never holds the whole document as one Python structure
(nor the pure-Python encoder's millions of small chunks that `indent` implies). The bytes are those of
`json.dumps(report.to_dict(), indent=1, ensure_ascii=False)`: JSON strings hold no raw newline, so
re-indenting a value is replacing each newline with a newline and the value's depth in spaces."""
from __future__ import annotations

import json
import math
from json.encoder import encode_basestring as _string  # ensure_ascii=False's string encoder
from typing import Iterator

ITEMS_PER_CHUNK = 512  # list items encoded per piece


def _clean(o):
    if isinstance(o, float) and not math.isfinite(o):
        return str(o)
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    return o


def _dumps(o, depth: int, memo: dict = None) -> str:
    """`json.dumps(_clean(o), indent=1, ensure_ascii=False, default=str)` with each line after the first
    indented by `depth` more spaces: the same bytes, encoded here rather than by the json module's pure-Python
    indenting encoder, whose generators made a 200k-node report's nodes most of its time. `memo` (see
    _value) keeps the text of small lists and dicts for the next equal one at the same depth."""
    return _text(o, "\n" + " " * depth, {} if memo is None else memo)


_keys: dict[str, str] = {}  # a dict key -> its text and the ": " after it (the readers' names repeat)


def _key(k: str) -> str:
    text = _keys.get(k)
    if text is None:
        text = _string(k) + ": "
        if len(_keys) < 4096:
            _keys[k] = text
    return text


MEMO_REPR_MAX = 200  # lists and dicts whose repr is longer are encoded each time (and their text not kept)
MEMO_ENTRIES_MAX = 4096  # the memo is emptied when it holds this many texts


def _text(o, pad: str, memo: dict) -> str:
    """`o` encoded with each new line starting with `pad` (a newline and the indent). Strings inside a list
    or dict are encoded in the loop (most values), the other values by _value."""
    t = type(o)
    if t is dict:
        if not o:
            return "{}"
        inner = pad + " "
        try:
            items = [(_keys.get(k) or _key(k)) + (_string(v) if type(v) is str else int.__repr__(v) if type(v) is int
                                else _value(v, inner, memo)) for k, v in o.items()]
        except TypeError:  # a key that is not a string (_string takes only str): keys as str(), as _clean does
            if all(type(k) is str for k in o):
                raise
            return _text({str(k): v for k, v in o.items()}, pad, memo)  # two that collide keep the last value
        return "{" + inner + ("," + inner).join(items) + pad + "}"
    if t is list or t is tuple:
        if not o:
            return "[]"
        inner = pad + " "
        return ("[" + inner + ("," + inner).join([_string(v) if type(v) is str else _value(v, inner, memo)
                                                    for v in o]) + pad + "]")
    if isinstance(o, str):
        return _string(o)
    if o is None:
        return "null"
    if o is True:
        return "true"
    if o is False:
        return "false"
    if isinstance(o, int):
        return int.__repr__(o)
    if isinstance(o, float):
        return float.__repr__(o) if math.isfinite(o) else _string(str(o))
    if isinstance(o, (list, tuple, dict)):  # subclasses: as the plain type
        return _text(dict(o) if isinstance(o, dict) else list(o), pad, memo)
    return _string(str(o))  # default=str


def _value(v, pad: str, memo: dict) -> str:
    """_text(v, pad, memo), a list or dict from `memo` when an equal value was encoded at this indent before:
    a graph's nodes repeat the same inputs, shapes, outputs and attributes ({"T": "float32"}) over and over.
    The key is the value's repr, which names every element's type and value (for the builtin types the
    readers make: equal reprs are equal JSON; for any other, its text comes from str(), a function of it as
    repr is), so two values with one key have one text."""
    t = type(v)
    if t is int:
        return int.__repr__(v)
    if v is None:
        return "null"
    if t is not list and t is not dict:
        return _text(v, pad, memo)
    r = repr(v)
    if len(r) > MEMO_REPR_MAX:
        return _text(v, pad, memo)
    key = (pad, r)
    text = memo.get(key)
    if text is None:
        text = _text(v, pad, memo)
        if len(memo) >= MEMO_ENTRIES_MAX:
            memo.clear()
        memo[key] = text
    return text


def _parts(value, depth: int) -> Iterator[str]:
    """`value` encoded at `depth` (the indent of the line it starts on): a list item by item, in batches; a
    dict key by key; anything else (and an empty list or dict) in one piece."""
    if isinstance(value, (list, _Nodes)) and len(value):
        pad = "\n" + " " * (depth + 1)
        yield "["
        memo: dict = {}
        for i in range(0, len(value), ITEMS_PER_CHUNK):
            yield ("," if i else "") + ",".join(pad + _dumps(v, depth + 1, memo)
                                                for v in value[i:i + ITEMS_PER_CHUNK])
        yield "\n" + " " * depth + "]"
    elif isinstance(value, dict) and value:
        pad = "\n" + " " * (depth + 1)
        yield "{"
        for i, (k, v) in enumerate(value.items()):
            yield ("," if i else "") + pad + json.dumps(str(k), ensure_ascii=False) + ": "
            yield from _parts(v, depth + 1)
        yield "\n" + " " * depth + "}"
    else:
        yield _dumps(value, depth)


class _Nodes:
    """The report's nodes as a sequence of their JSON dicts, made a slice at a time."""

    def __init__(self, report):
        self.report, self.nodes = report, report.model.main.nodes

    def __len__(self):
        return len(self.nodes)

    def __getitem__(self, s: slice):
        return [self.report.node_dict(n) for n in self.nodes[s]]


def iter_json(report) -> Iterator[str]:
    """The JSON report as a sequence of strings (write them in order)."""
    top = report.to_dict(nodes=False)
    top["nodes"] = _Nodes(report) if report.model.main.nodes else []
    yield "{"
    for i, (key, value) in enumerate(top.items()):
        yield ("," if i else "") + "\n " + json.dumps(str(key), ensure_ascii=False) + ": "
        yield from _parts(value, 1)
    yield "\n}\n"


def compact_json(report, data: dict, safe=lambda s: s) -> str:
    """`safe(json.dumps(data, ensure_ascii=False, default=str))` where `data` is `report.to_dict(nodes=False)`
    (plus other keys), with "nodes" filled with every node's dict. `safe` must map text piece by piece (a
    per-character escape). See iter_compact_json."""
    return "".join(iter_compact_json(report, data, safe))


def _node_pieces(report, safe) -> Iterator[str]:
    """The JSON list of the report's nodes, a batch of nodes' dicts at a time."""
    nodes = _Nodes(report)
    yield "["
    for j in range(0, len(nodes), ITEMS_PER_CHUNK):
        text = json.dumps(nodes[j:j + ITEMS_PER_CHUNK], ensure_ascii=False, default=str)[1:-1]
        yield safe((", " if j else "") + text)
    yield "]"


def spool_nodes(report, safe=lambda s: s):
    """The nodes' JSON list (as iter_compact_json prints it) written now to an anonymous temporary file, to
    be copied into the page later: the HTML renderer of a big graph encodes its nodes while Graphviz lays out
    the diagram, without holding their text in memory."""
    import tempfile

    f = tempfile.TemporaryFile("w+", encoding="utf-8", newline="")
    f.writelines(_node_pieces(report, safe))
    f.seek(0)
    return f


def iter_compact_json(report, data: dict, safe=lambda s: s, nodes_file=None) -> Iterator[str]:
    """compact_json's text as pieces to write in turn: the nodes' dicts a batch at a time (or, given
    `nodes_file` from spool_nodes, its text a block at a time), and long lists in the other values (the
    diagram's items and layouts) a batch of items at a time, so neither the nodes' dicts nor the text is ever
    held whole."""
    yield from compact_items(report, data, safe, nodes_file)
    yield "}" if data else "{}"


def compact_items(report, data: dict, safe=lambda s: s, nodes_file=None, start: int = 0) -> Iterator[str]:
    """iter_compact_json's pieces of `data`'s items, without the closing brace; `start`: how many items of
    the same object were written before them (0: this opens it)."""
    for i, (k, v) in enumerate(data.items(), start):
        yield safe((", " if i else "{") + json.dumps(str(k), ensure_ascii=False) + ": ")
        if k == "nodes" and v is None:
            if nodes_file is None:
                yield from _node_pieces(report, safe)
            else:
                with nodes_file:
                    yield from iter(lambda: nodes_file.read(1 << 20), "")
        else:
            yield from _compact_parts(v, safe, 2)


def _compact_parts(v, safe, depth: int) -> Iterator[str]:
    """`safe(json.dumps(v, ensure_ascii=False, default=str))` in pieces: a long list a batch of items at a
    time, a dict (down to `depth` levels) value by value."""
    if type(v) is list and len(v) > ITEMS_PER_CHUNK:
        yield "["
        for j in range(0, len(v), ITEMS_PER_CHUNK):
            yield safe((", " if j else "") + json.dumps(v[j:j + ITEMS_PER_CHUNK], ensure_ascii=False,
                                                        default=str)[1:-1])
        yield "]"
    elif type(v) is dict and v and depth > 0 and all(type(k) is str for k in v):
        for i, (k, x) in enumerate(v.items()):
            yield safe((", " if i else "{") + json.dumps(k, ensure_ascii=False) + ": ")
            yield from _compact_parts(x, safe, depth - 1)
        yield "}"
    else:
        yield safe(json.dumps(v, ensure_ascii=False, default=str))


def render_json(report) -> str:
    return "".join(iter_json(report))
