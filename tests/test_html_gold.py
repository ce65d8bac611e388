"""Gold-file test of the HTML report: small samples rendered to HTML, scrubbed of what may differ between
runs, versions and machines, must equal the files under tests/gold/ byte for byte. A change of the page (the
template, a renderer, a section's data) shows here as a diff; when it is deliberate, rewrite the gold files:

    GRAPHREPORT_UPDATE_GOLD=1 .venv/bin/python -m pytest -q tests/test_html_gold.py

and review `git diff tests/gold/` before committing them.

Scrubbed: graphreport's version (in the generator string), the inlined report.css and report.js (their own
files are what changes them; the test would otherwise fail on every style or script edit) and the script's
hash in the Content-Security-Policy (it follows report.js). Left out: the diagram (built without it), since
Graphviz's layouts and its SVG depend on the installed Graphviz version (tests/test_diagram.py and
tests/test_browser.py cover it); a diagram's timing ("build_s") is scrubbed anyway. Nothing else in the page
depends on the run: the page holds the file's base name, never a path."""
import difflib
import os
import re
from pathlib import Path

import pytest

from conftest import SAMPLES
from graphreport import __version__
from graphreport.readers.detect import load
from graphreport.render.html import render_html
from graphreport.report import build_report

GOLD = Path(__file__).parent / "gold"
UPDATE = bool(os.environ.get("GRAPHREPORT_UPDATE_GOLD"))
SAMPLES_IN_GOLD = ["tiny_mobilenet.pb", "tiny_mobilenet_int8.tflite"]  # a GraphDef; a TFLite file (tensor table)

SCRUBS = [
    (re.compile(r"graphreport " + re.escape(__version__)), "graphreport VERSION"),
    (re.compile(r"<style>.*?</style>", re.S), "<style>/* templates/report.css */</style>"),
    (re.compile(r"<script>.*?</script>", re.S), "<script>/* templates/report.js */</script>"),
    (re.compile(r"'sha256-[A-Za-z0-9+/=]+'"), "'sha256-HASH'"),
    (re.compile(r'"build_s": [0-9.eE+-]+'), '"build_s": 0'),
]


def scrub(html: str) -> str:
    for pattern, repl in SCRUBS:
        html = pattern.sub(repl, html)
    return html


def page(sample: str) -> str:
    return scrub(render_html(build_report(load(str(SAMPLES / sample)), diagram=False)))


@pytest.mark.parametrize("sample", SAMPLES_IN_GOLD)
def test_html_matches_gold(sample):
    gold = GOLD / f"{sample}.html"
    got = page(sample)
    if UPDATE:
        GOLD.mkdir(exist_ok=True)
        gold.write_text(got, encoding="utf-8")
    assert gold.exists(), f"no gold file {gold.name}: run with GRAPHREPORT_UPDATE_GOLD=1 (see this file)"
    want = gold.read_text(encoding="utf-8")
    if got != want:
        diff = "\n".join(line.rstrip("\n")[:400] for line in list(
            difflib.unified_diff(want.splitlines(True), got.splitlines(True), "gold", "now", n=1))[:60])
        pytest.fail(f"{sample}: the page differs from {gold.name} (GRAPHREPORT_UPDATE_GOLD=1 to accept):\n{diff}")


def test_scrubs_leave_the_report_itself():
    """The scrubs take out the assets and the version, not the report: the data and the tables stay."""
    got = page("tiny_mobilenet.pb")
    assert "graphreport VERSION" in got and __version__ not in got.replace("graphreport VERSION", "")
    assert 'id="report-data">{"schema_version": 4, "generator": "graphreport VERSION"' in got
    assert got.count("<tr") > 20  # the node, op and I/O tables
