"""The HTML report in a real headless Chromium (Debian's, driven by Playwright): no console error, no network
request of any kind, the diagram and the tables are visible, and the node filter works; a small graph's
diagram (the whole graph, drawn by Graphviz) can be searched, zoomed, and collapsed into scopes.
The big-graph diagram is tested in test_browser_big.py."""
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from conftest import run_cli

pytestmark = pytest.mark.slow  # headless Chromium

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run `make setup` (it installs Debian's chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


def _open(browser, html_path: Path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors, requests = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(html_path.as_uri())
    page.wait_for_load_state("load")
    return page, errors, requests


@pytest.mark.parametrize("model", ["tiny_mobilenet.pb", "tf1_training.pb", "tiny_mobilenet_int8.tflite"])
def test_report_in_chromium(browser, tmp_path, samples_dir, model):
    out = tmp_path / "report.html"
    p = run_cli("report", samples_dir / model, "-o", out)
    assert p.returncode == 0, p.stderr
    page, errors, requests = _open(browser, out)
    try:
        assert errors == []
        # the only request is the file itself: no font, script, stylesheet or image from anywhere
        assert requests == [out.as_uri()]
        assert page.locator(".diagram svg").is_visible()
        assert page.locator(".diagram svg g.node").count() > 3
        assert page.locator("#io-table").is_visible()
        assert page.locator("#op-table tbody tr").count() >= 3
        rows = page.locator("#nodes tbody tr")
        total = rows.count()
        assert total > 3
        # filter by the op of the last row: only matching rows stay visible
        op = rows.nth(total - 1).locator("td").nth(2).inner_text()
        page.fill("#node-filter", op.lower())
        visible = page.locator("#nodes tbody tr:not([hidden])")
        n = visible.count()
        assert 1 <= n < total
        for i in range(n):
            assert op.lower() in visible.nth(i).inner_text().lower()
        page.fill("#node-filter", "no-such-node-anywhere")
        assert page.locator("#nodes tbody tr:not([hidden])").count() == 0
        page.fill("#node-filter", "")
        assert page.locator("#nodes tbody tr:not([hidden])").count() == total
        # clicking a box in the diagram filters the table to that node
        page.locator(".diagram svg g.node").first.click()
        assert page.locator("#nodes tbody tr:not([hidden])").count() >= 1
        page.screenshot(path=str(tmp_path / "shot.png"), full_page=False)
        assert errors == []
    finally:
        page.close()


def test_small_diagram_search_zoom_and_collapse(browser, tmp_path, samples_dir):
    out = tmp_path / "report.html"
    assert run_cli("report", samples_dir / "tiny_mobilenet.pb", "-o", out).returncode == 0
    page, errors, requests = _open(browser, out)
    try:
        static = page.locator(".diagram svg:not(.composed)")
        assert static.count() == 1  # the whole graph, as Graphviz drew it
        # each op carries its TFLite status as a strip, as in the boxes (the legend's colours; the fill is its family)
        nodes = static.locator("g.node").count()
        assert nodes > 10 and static.locator("g.node rect.status").count() == nodes
        assert static.locator("g.node", has_text="Relu6").first.locator("rect.status").get_attribute(
            "fill") == "#1a7f37"  # builtin: green, though the box is filled pink (an activation)
        # search an op: its boxes are highlighted, in the same picture
        page.fill(".dfind", "relu6")
        page.press(".dfind", "Enter")
        assert page.locator(".diagram svg g.node.hit").count() == 3
        assert page.locator(".dtools .dcount").inner_text() == "1 of 3"
        assert static.count() == 1
        vb = page.locator(".diagram svg").get_attribute("viewBox")
        page.locator(".dtools button[title='zoom out']").click()
        assert page.locator(".diagram svg").get_attribute("viewBox") != vb
        # close a scope: the page draws the scopes itself, from the embedded layouts
        page.locator(".dtools button", has_text="overview").click()
        boxes = page.locator(".diagram svg.composed g.node")
        n_open = boxes.count()
        frame = page.locator(".diagram svg.composed g.node.open", has=page.locator("text.head", has_text="conv1_bn_1"))
        frame.locator("g.toggle").click()
        assert boxes.count() == n_open - 2  # its two ops are hidden behind one box
        closed = page.locator(".diagram svg.composed g.node.scope:not(.open)", has=page.locator(
            "tspan", has_text="conv1_bn_1"))
        assert closed.count() == 1
        closed.locator("g.toggle").click()
        assert boxes.count() == n_open
        assert errors == [] and requests == [out.as_uri()]
    finally:
        page.close()


def test_hostile_report_runs_no_script(browser, tmp_path):
    from hostile import evil_graphdef
    model = tmp_path / "evil.pb"
    model.write_bytes(evil_graphdef())
    out = tmp_path / "evil.html"
    assert run_cli("report", model, "-o", out).returncode == 0
    page = browser.new_page()
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(out.as_uri())
    page.wait_for_load_state("load")
    assert dialogs == []
    assert page.locator("#nodes tbody tr").count() == 7
    page.close()
