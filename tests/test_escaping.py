"""Every model-provided string is escaped: in HTML, in the embedded JSON, and in Graphviz labels."""
import json
import re
import xml.dom.minidom

from conftest import run_cli
from hostile import EVIL_NAMES, evil_graphdef


def _report(tmp_path, fmt="html"):
    model = tmp_path / "evil.pb"
    model.write_bytes(evil_graphdef())
    out = tmp_path / f"evil.{fmt}"
    p = run_cli("report", model, "-o", out)
    assert p.returncode == 0, p.stderr
    return out.read_text()


def test_html_has_no_raw_model_markup(tmp_path):
    html = _report(tmp_path)
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "<b>bold</b>" not in html
    # exactly our two script elements (data + code), nothing injected
    assert len(re.findall(r"<script\b", html)) == 2
    assert html.count("</script>") == 2
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_embedded_json_is_escaped_and_round_trips(tmp_path):
    html = _report(tmp_path)
    m = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S)
    assert m
    raw = m.group(1)
    assert "<" not in raw and ">" not in raw and "&" not in raw
    data = json.loads(raw)
    names = [n["name"] for n in data["nodes"]]
    for name in EVIL_NAMES:
        assert name in names


def test_svg_is_well_formed_and_labels_escaped(tmp_path):
    html = _report(tmp_path)
    for other in re.findall(r"<svg.*?</svg>", html, re.S):  # the diagram and the charts
        xml.dom.minidom.parseString(other)  # raises if a label broke the markup
    m = re.search(r'<div class="diagram">(<svg.*?</svg>)', html, re.S)
    assert m, "diagram missing"
    svg = m.group(1)
    # the injected Graphviz statement did not create a node called evil
    assert not re.search(r"<title>evil</title>", svg)
    # one box per op node: 6 hostile nodes + out
    assert len(re.findall(r'<g id="n\d+" class="node"', svg)) == 7


def test_markdown_and_commands_quote_names(tmp_path):
    md = _report(tmp_path, "md")
    assert "<script>" not in md and "<img" not in md
    assert "&lt;script&gt;" in md
    rows = [line for line in md.splitlines() if line.startswith("| input") or line.startswith("| output")]
    assert rows
    for line in rows:  # a name with '|' or a newline must not break the table row
        assert len(re.findall(r"(?<!\\)\|", line)) == 5
