"""Memory per node (issue 13): a 200k-node GraphDef must report within 600 MB of peak RSS.

The graphs are issue 13's flat ones, built without TensorFlow by bench/biggraphs.py: a Placeholder and a
chain of Identity nodes, and a Placeholder read by that many Relu nodes. Reporting 200k nodes takes tens of
seconds, so the test measures two smaller sizes and asserts the memory each node adds: the whole CLI runs in
a child process, in that process itself (GRAPHREPORT_TIME_LIMIT=0: no forked worker under the time guard),
and its own peak RSS (VmHWM) is read as it exits, never a time. The bound per node comes from the target:
600 MB at 200,000 nodes, less the fixed part (the interpreter, the imports and the small graph's report,
measured here) leaves (600 MB - fixed) / 200,000 bytes for each node (about 2.9 KB). The HTML case here runs
without the diagram. The diagram of a graph of more than 120k drawn ops is laid out within a smaller budget
(render/boxlayout.py HUGE_OPS), so its memory per node at 40k nodes does not extrapolate to 200k: the HTML
report with its diagram is measured at 200k nodes itself (a slow test: tens of seconds per graph), its peak
RSS against 600 MB (10^6 bytes, as bench/bench_big.py --flat reports it). bench/bench_big.py --flat
measures the 200k-node runs (README: Performance).
"""
import sys
from pathlib import Path

import pytest

from test_big_files import run_measured

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import biggraphs  # noqa: E402

TARGET_BYTES, TARGET_NODES = 600 * 1024**2, 200_000  # issue 13
# the sizes measured: 24k nodes give the per-node figure 40k gave (within 1 %, relu_fanout HTML, the closest to
# its bound: 2,817 and 2,835 bytes a node; 20k gave 2,898, a dict-growth step) at 60 % of the time
SMALL, BIG = 2_000, 24_000


def _peak(tmp_path, mix: str, nodes: int, fmt: str, *extra) -> int:
    model = tmp_path / f"{mix}_{nodes}.pb"
    if not model.exists():
        model.write_bytes(biggraphs.graphdef_bytes(mix, 1, unit=nodes))
    out = tmp_path / f"out.{fmt}"
    code, _, err, rss = run_measured("report", model, "--format", fmt, "-o", out, *extra)
    assert code == 0, err
    assert out.stat().st_size > nodes * 20  # every node is in the report
    return rss


@pytest.mark.parametrize("mix", ["identity_chain", "relu_fanout"])
@pytest.mark.parametrize("fmt,extra", [("json", ()), ("html", ("--no-diagram",))], ids=["json", "html"])
def test_memory_per_node_fits_200k_nodes_in_600_mb(tmp_path, mix, fmt, extra):
    small = _peak(tmp_path, mix, SMALL, fmt, *extra)
    big = _peak(tmp_path, mix, BIG, fmt, *extra)
    per_node_allowed = (TARGET_BYTES - small) / TARGET_NODES
    per_node = (big - small) / (BIG - SMALL)
    projected = small + per_node * (TARGET_NODES - SMALL)
    assert per_node <= per_node_allowed, (
        f"{mix} {fmt}: {per_node:,.0f} bytes of peak RSS per node (fixed part {small / 1e6:.0f} MB): "
        f"{projected / 1e6:,.0f} MB projected at 200k nodes, over {TARGET_BYTES / 1e6:.0f} MB")


@pytest.mark.slow  # a 200k-node report: tens of seconds each
@pytest.mark.bench  # `make test` runs it; `make test-fast` does not (the pair alone is over a minute of CPU)
@pytest.mark.parametrize("mix", ["identity_chain", "relu_fanout"])
def test_html_with_diagram_at_200k_nodes_fits_600_mb(tmp_path, mix):
    rss = _peak(tmp_path, mix, TARGET_NODES, "html")
    page = (tmp_path / "out.html").read_text(encoding="utf-8")
    assert '"diagram": {"v": 1' in page  # the interactive diagram is in the page
    assert rss <= 600 * 10**6, f"{mix} html with diagram: peak RSS {rss / 1e6:,.0f} MB at 200k nodes, over 600 MB"
