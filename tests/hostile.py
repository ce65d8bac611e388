"""Hand-built GraphDefs with hostile names, written with graphreport's own protobuf classes."""
from graphreport.readers import tfproto

EVIL_NAMES = ['<script>alert(1)</script>', 'x"];evil[label="', "a&b</title><img src=x onerror=alert(2)>",
              "back\\slash\\N\\G", "line\nbreak", "</script><script>alert(3)</script>"]


def _node(g, name, op, inputs=(), dtype=1, shape=None):
    n = g.node.add(name=name, op=op)
    n.input.extend(inputs)
    n.attr["T" if op not in ("Placeholder", "Const") else "dtype"].type = dtype
    if shape is not None:
        for d in shape:
            n.attr["shape"].shape.dim.add(size=d)
    return n


def evil_graphdef() -> bytes:
    g = tfproto.GraphDef()
    _node(g, EVIL_NAMES[0], "Placeholder", shape=[1, 4])
    prev = EVIL_NAMES[0]
    for name in EVIL_NAMES[1:]:
        _node(g, name, "Relu", [prev])
        prev = name
    n = _node(g, "out", EVIL_NAMES[5], [prev])  # an op type that is itself hostile
    n.attr["evil_attr"].s = b"<b>bold</b>\"'"
    return g.SerializeToString()
