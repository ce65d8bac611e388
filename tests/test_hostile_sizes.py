"""Issue 13: work and memory follow what a file holds, never a number written in it."""
import tracemalloc

import pytest

from graphreport.errors import BadModelError
from graphreport.readers import graphdef, tfproto


def _amplifier(nodes: int, index: int) -> bytes:
    gd = tfproto.GraphDef()
    for i in range(nodes):
        p = gd.node.add()
        p.name, p.op = f"p{i}", "Placeholder"
        p.attr["dtype"].type = 1
        r = gd.node.add()
        r.name, r.op = f"r{i}", "Relu"
        r.input.append(f"p{i}:{index}")
        r.attr["T"].type = 1
    return gd.SerializeToString()


@pytest.mark.parametrize("nodes", [2, 200])
def test_output_index_amplification_is_refused_with_bounded_memory(nodes):
    # 200 Placeholders each read at output 99,999 (under the 100,000 cap per node) asked for 20 million
    # tensors: killed after 120 s at 1.1 GB. Now refused before any tensor is made.
    data = _amplifier(nodes, 99_999)
    tracemalloc.start()
    try:
        with pytest.raises(BadModelError, match="not a plausible GraphDef"):
            graphdef.read("amp.pb", data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000, peak


def test_real_multi_output_references_still_read():
    # a node read at its output 40 (e.g. a Split) is ordinary: 41 tensors on that node
    g = graphdef.read("ok.pb", _amplifier(3, 40)).main
    assert len(g.node("p0").outputs) == 41 and g.tensor("p2:40") is not None
