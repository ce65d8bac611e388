"""The big-graph diagram in a real headless Chromium (Debian's, driven by Playwright), on an 11.5k-node
transformer-like GraphDef built without TensorFlow (256 identical encoder layers): the page opens with no
console error and no network request, the overview paints with the repeated layers as one series box, a
scope opens and closes, search finds a deep node (opening its ancestors), pan and zoom move the view, and a
click on a box filters the node table to its rows."""
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from conftest import run_cli
from test_diagram import transformer_graphdef

pytestmark = pytest.mark.slow  # headless Chromium

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
SHOTS = Path(__file__).resolve().parent.parent / ".cache" / "screenshots"


@pytest.fixture(scope="module")
def page_of_big_graph(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run `make setup` (it installs Debian's chromium)")
    d = tmp_path_factory.mktemp("big")
    model = d / "transformer_256.pb"
    model.write_bytes(transformer_graphdef(256))
    out = d / "transformer_256.html"
    p = run_cli("report", model, "-o", out)
    assert p.returncode == 0, p.stderr
    assert out.stat().st_size < 20_000_000
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = b.new_page(viewport={"width": 1400, "height": 1000})
        errors, requests = [], []
        page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(out.as_uri())
        page.wait_for_load_state("load")
        yield page, errors, requests, out
        b.close()


def _boxes(page):
    return page.locator(".diagram svg.composed g.node")


def _view_box(page):
    return page.locator(".diagram svg").get_attribute("viewBox")


def _box_of(page, label):
    """The <g class="node"> whose text is exactly `label` on its first line."""
    return page.locator(".diagram svg.composed g.node", has=page.locator("tspan", has_text=re.compile(
        "^" + re.escape(label) + "$"))).first


def test_overview_paints_collapsed(page_of_big_graph):
    page, errors, requests, out = page_of_big_graph
    assert errors == []
    assert requests == [out.as_uri()]  # no font, script, stylesheet or image from anywhere
    svg = page.locator(".diagram svg.composed")
    assert svg.is_visible()
    n = _boxes(page).count()
    assert 3 <= n <= 40  # an overview, not 9,000 boxes
    series = _box_of(page, "layer_[0-255] ×256")
    assert series.is_visible()
    assert "35 ops each" in series.text_content()
    page.locator("#diagram").screenshot(path=str(_shot("big_1_overview.png")))
    # each closed box's "+" badge (top right corner) covers none of its label (13 of MediaPipe pose's 14
    # overview boxes had a digit under it before the boxes that open got room for it)
    checked, covered = page.evaluate(BADGE_OVER_TEXT)
    assert checked >= 2 and covered == []


BADGE_OVER_TEXT = """() => { const covered = []; let checked = 0;
  document.querySelectorAll('.diagram svg.composed g.node:not(.open)').forEach(g => {
    const badge = g.querySelector(':scope > g.toggle rect'), label = g.querySelector(':scope > text');
    if (!badge || !label) { return; }
    checked++;
    const a = badge.getBoundingClientRect(), b = label.getBoundingClientRect();
    if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) {
      covered.push(label.textContent);
    }
  });
  return [checked, covered]; }"""


def test_open_a_series_and_a_scope_then_close(page_of_big_graph):
    page, errors, _, _ = page_of_big_graph
    before = _boxes(page).count()
    _box_of(page, "layer_[0-255] ×256").locator("g.toggle").click()
    assert _boxes(page).count() >= before + 256  # the 256 layers, each closed
    layer = _box_of(page, "layer_3")
    assert layer.is_visible()
    layer.locator("g.toggle").click()
    inner = page.locator('.diagram svg.composed g.node title', has_text="encoder/layer_3/ln_1")
    assert inner.count() == 1
    page.locator("#diagram").screenshot(path=str(_shot("big_2_open_layer_3.png")))
    # close it again from its frame
    page.locator('.diagram svg.composed g.node.open', has=page.locator("text.head", has_text="layer_3 ·")) \
        .locator("g.toggle").click()
    assert page.locator('.diagram svg.composed g.node title', has_text="encoder/layer_3/ln_1").count() == 0
    assert errors == []


def test_search_finds_a_deep_node(page_of_big_graph):
    page, errors, _, _ = page_of_big_graph
    page.locator(".dtools button", has_text="overview").click()
    assert _boxes(page).count() <= 40
    page.fill(".dfind", "layer_200/attention/query/MatMul")
    page.press(".dfind", "Enter")
    current = page.locator(".diagram svg.composed g.node.current")
    assert current.count() == 1
    assert "encoder/layer_200/attention/query/MatMul" in current.locator("title").text_content()
    assert page.locator(".dtools .dcount").inner_text() == "1 of 1"
    # it is in view: inside the diagram's frame on screen
    box, frame = current.bounding_box(), page.locator(".diagram").bounding_box()
    assert frame["x"] <= box["x"] and box["x"] + box["width"] <= frame["x"] + frame["width"]
    assert frame["y"] <= box["y"] and box["y"] + box["height"] <= frame["y"] + frame["height"]
    page.locator("#diagram").screenshot(path=str(_shot("big_3_search.png")))
    # an op type matches too: every Softmax (256 layers + the head)
    page.fill(".dfind", "softmax")
    page.press(".dfind", "Enter")
    assert page.locator(".dtools .dcount").inner_text() == "1 of 257"
    assert errors == []


def test_pan_and_zoom(page_of_big_graph):
    page, errors, _, _ = page_of_big_graph
    vb = _view_box(page)
    page.locator(".dtools button[title='zoom in']").click()
    assert _view_box(page) != vb
    frame = page.locator(".diagram").bounding_box()
    cx, cy = frame["x"] + frame["width"] / 2, frame["y"] + frame["height"] / 2
    vb = _view_box(page)
    page.mouse.move(cx, cy)
    page.mouse.wheel(0, 300)
    page.wait_for_function("v => document.querySelector('.diagram svg').getAttribute('viewBox') !== v", arg=vb)
    w0, w1 = float(vb.split()[2]), float(_view_box(page).split()[2])
    assert w1 > w0  # zoomed out
    vb = _view_box(page)
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 120, cy + 60, steps=5)
    page.mouse.up()
    x0, x1 = float(vb.split()[0]), float(_view_box(page).split()[0])
    assert x1 < x0  # dragged right: the view moved left
    page.locator(".dtools button", has_text="fit").click()
    assert errors == []


def test_click_a_box_filters_the_node_table(page_of_big_graph):
    page, errors, _, _ = page_of_big_graph
    page.locator(".dtools button", has_text="overview").click()
    page.fill(".dfind", "encoder/layer_7")  # the first match is the scope itself: its series opens
    page.press(".dfind", "Enter")
    _box_of(page, "layer_7").locator("rect.box").click()
    page.wait_for_selector("#node-count:has-text('the ops of layer_7')")
    visible = page.locator("#nodes tbody tr:not([hidden])")
    assert visible.count() == 35  # the 35 ops of layer_7
    assert all(n.startswith("encoder/layer_7/") for n in
               visible.evaluate_all("rows => rows.map(r => r.getAttribute('data-name'))"))
    # a double-click opens the box (and does not filter the table)
    page.locator("#diagram").scroll_into_view_if_needed()
    _box_of(page, "layer_8").locator("rect.box").dblclick()
    assert page.locator('.diagram svg.composed g.node title', has_text="encoder/layer_8/ln_1").count() == 1
    assert "layer_8" not in page.locator("#node-count").inner_text()
    # an op box: the table shows that node
    page.fill(".dfind", "layer_7/ln_1/Rsqrt")
    page.press(".dfind", "Enter")
    page.locator(".diagram svg.composed g.node.current rect.box").click()
    assert page.input_value("#node-filter") == "encoder/layer_7/ln_1/Rsqrt"
    assert page.locator("#nodes tbody tr:not([hidden])").count() == 1
    assert errors == []


def _shot(name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS / name


def test_big_node_table_is_drawn_from_the_data(page_of_big_graph):
    """Above 3,000 op nodes the table's rows are not in the HTML: report.js draws the filter's matches (at most
    500 at a time) from the embedded report data, sorts them, and shows the same cells as the static table."""
    page, errors, _, out = page_of_big_graph
    html = out.read_text(encoding="utf-8")
    assert 'id="nodes" data-virtual="1"' in html and html.count("<tr data-id=") == 0
    page.fill("#node-filter", "")
    page.dispatch_event("#node-filter", "input")
    assert page.locator("#nodes tbody tr").count() == 500
    assert page.locator("#node-count").inner_text().startswith("8,965 shown")  # the graph's op nodes
    page.fill("#node-filter", "layer_200/attention/")
    page.dispatch_event("#node-filter", "input")
    names = page.locator("#nodes tbody tr").evaluate_all("rows => rows.map(r => r.getAttribute('data-name'))")
    assert len(names) == 11 and all(n.startswith("encoder/layer_200/attention/") for n in names)
    cells = page.locator("#nodes tbody tr[data-name='encoder/layer_200/attention/query/MatMul'] td")
    assert cells.nth(2).inner_text() == "MatMul" and cells.nth(6).inner_text() != ""  # op, MACs
    # sort by FLOPs, largest first: the first drawn row has the largest FLOPs among the matches
    th = page.locator("#nodes thead th", has_text="FLOPs")
    th.click()
    th.click()
    flops = page.locator("#nodes tbody tr td:nth-child(8)").evaluate_all(
        "cells => cells.map(c => parseInt(c.textContent.replace(/,/g, '')) || 0)")
    assert flops == sorted(flops, reverse=True) and flops[0] > 0
    page.fill("#node-filter", "")
    page.dispatch_event("#node-filter", "input")
    assert errors == []
