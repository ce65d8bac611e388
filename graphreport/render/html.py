"""Self-contained HTML: Jinja2 with autoescape, CSS/JS/SVG inlined, data embedded as escaped JSON,
and a Content-Security-Policy that allows no network request."""
from __future__ import annotations

import base64
import hashlib
import json
import os

import jinja2
from markupsafe import Markup, escape

from ..readers.registry import display_names
from .charts import _si, bar_chart
from .jsonout import compact_items, spool_nodes
from ..shapespec import compact_shape, format_shape
from .drawing import attach_diagram
from .text import figure_text, human_bytes

FORMAT_NAMES = display_names()  # format -> how reports name it, from the readers' registry


_TEMPLATES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "templates")


def _read(name: str) -> str:
    """A file of the graphreport.templates package (read from its folder: importlib.resources costs an
    import of its own; it is the fallback for an installation without one, e.g. a zip)."""
    try:
        with open(os.path.join(_TEMPLATES, name), encoding="utf-8") as f:
            return f.read()
    except OSError:
        from importlib import resources

        return resources.files("graphreport.templates").joinpath(name).read_text(encoding="utf-8")


def script_json(obj) -> str:
    """JSON safe inside <script>: no '<', '>' or '&' can close the element or open a comment."""
    return script_safe(json.dumps(obj, ensure_ascii=False, sort_keys=False, default=str))


def script_safe(s: str) -> str:
    """JSON text made safe inside <script> (see script_json)."""
    return (s.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _esc(s: str) -> str:
    """markupsafe's escape of a string, as a str, the string itself when it has nothing to escape (most
    names, dtypes and shapes: five `in` tests cost a fifth of an escape call)."""
    if "&" in s or "<" in s or ">" in s or '"' in s or "'" in s:
        return str(escape(s))
    return s


def _num(v) -> str:
    return f"{v:,}" if isinstance(v, (int, float)) else "?"


def _quant(q) -> str:
    if not q or not q.get("scale"):
        return ""
    s, z = q["scale"], q["zero_point"]
    if len(s) == 1:
        return f"{s[0]:.6g}, {z[0] if z else 0}"
    return f"per-axis (axis {q.get('axis')}, {len(s)} scales: {min(s):.3g}…{max(s):.3g})"


_to_json = json.JSONEncoder(ensure_ascii=False, default=str).encode  # json.dumps with these options, made once


def _attrs(attrs: dict) -> str:
    parts = []
    for k, v in attrs.items():
        if k.startswith("_"):
            continue
        txt = _to_json(v)
        parts.append(f"{k}={txt if len(txt) <= 120 else txt[:117] + '...'}")
    return ", ".join(parts)


_ENV_OPTIONS = {"autoescape": True, "undefined": jinja2.StrictUndefined, "trim_blocks": False}


def _env() -> jinja2.Environment:
    # Templates are compiled once and kept in a per-user cache (render/template_cache.py): compiling
    # report.html.j2 on every run cost about 0.2 s. The cache key covers these options.
    from .template_cache import bytecode_cache

    env = jinja2.Environment(**_ENV_OPTIONS, loader=jinja2.FunctionLoader(lambda name: _read(name)),
                             bytecode_cache=bytecode_cache(repr(sorted(_ENV_OPTIONS.items(), key=str))))
    env.filters["num"] = _num
    env.filters["bytes"] = human_bytes
    env.filters["shape"] = format_shape
    env.filters["quant"] = _quant
    env.filters["si"] = lambda v: "?" if v is None else _si(v)
    env.globals["figure"] = lambda totals, key, unit="num": figure_text(
        totals, key, {"num": _num, "si": _si, "bytes": human_bytes}[unit])
    return env


# above this many op nodes the node table is drawn in the page from the embedded report data (report.js),
# not written row by row into the HTML: a 100k-node graph's rows alone were 42 MB of HTML
TABLE_ROWS_MAX = 3000


def node_rows(report) -> str:
    """The node table's rows as HTML (written here, not by the template: a Jinja loop over a few thousand
    rows of ten escaped cells each was a tenth of a report's time). Each row ends with the template's
    line break and indent."""
    g = report.model.main
    weights = report.summary.weights_by_node
    costs = report.node_costs()
    ids = report.diagram_ids
    compat = report.compat.nodes if report.compat else {}
    out = []
    for i, n in enumerate(g.nodes):
        if n.is_const:
            continue
        w = [f"{t.rsplit(':', 1)[0] if t.endswith(':0') else t} {compact_shape(g.tensors[t].shape)}"
             for t in weights.get(n.name, [])]
        const = set(weights.get(n.name, []))
        ins = [t[:-2] if t.endswith(":0") else t for t in n.inputs if t not in const]
        outs = [f"{g.tensors[t].dtype or '?'} {compact_shape(g.tensors[t].shape)}" for t in n.outputs]
        c = compat.get(n.name)
        k = costs.get(n.name)
        flops_text = ("?" if not k.known else (f"{k.flops:,}" if k.flops else "")) if k else ""
        macs = k.macs if k and k.known else None
        flops = k.flops if k and k.known else None
        name = _esc(n.name)
        search = _esc(f"{n.name} {n.op} {' '.join(outs)}".lower())
        out.append(
            f'<tr data-id="{_esc(ids.get(n.name, ""))}" data-name="{name}" data-search="{search}">'
            f'<td class="num">{i}</td><td class="mono">{name}</td><td class="mono">{_esc(n.op)}</td>'
            f'<td class="mono">{_esc(", ".join(ins))}</td><td class="mono">{_esc(", ".join(w))}</td>'
            f'<td class="mono">{_esc("; ".join(outs))}</td>'
            f'<td class="num" data-v="{macs or 0}">{_num(macs) if macs else ""}</td>'
            f'<td class="num" data-v="{flops or 0}">{_esc(flops_text)}</td>'
            f'<td class="mono">{_esc(c.tflite if c else "")}</td>'
            f'<td class="attrs mono">{_esc(_attrs(n.attrs))}</td></tr>\n    ')
    return "".join(out)


def tensor_rows(tensors: list[dict]) -> str:
    """The tensor table's rows (the report's `tensors`) as HTML, as node_rows does."""
    out = []
    for t in tensors:
        sig, nbytes, q = t["shape_signature"], t["const_bytes"], t["quantization"]
        search = escape(f"{t['name']} {t['dtype']}".lower())
        out.append(
            f'<tr data-search="{search}"><td class="mono">{escape(t["name"])}</td><td>{escape(t["dtype"])}</td>'
            f'<td class="mono">{escape(format_shape(t["shape"]))}</td>'
            f'<td class="mono">{escape(format_shape(sig)) if sig is not None else ""}</td>'
            f'<td class="num" data-v="{escape(nbytes or 0)}">{escape(_num(nbytes)) if nbytes is not None else ""}</td>'
            f'<td class="mono">{escape(_quant(q)) if q else ""}</td></tr>\n    ')
    return "".join(out)


def output_rows(outputs: list[dict]):
    """The I/O table's output rows (the report's `outputs`) as HTML pieces, a batch of rows each, written
    here as node_rows are: a graph whose every op is a sink (a 200k-op fan-out) suggests as many outputs.
    A row's dtype and shape cells are made once per distinct dtype and shape (they repeat)."""
    cells: dict = {}
    for i in range(0, len(outputs), 512):
        yield "".join(f'<tr><td>output</td><td class="mono">{_esc(x["name"])}</td>'
                      f'{_type_cells(x["dtype"], x["shape"], cells)}</tr>' for x in outputs[i:i + 512])


def _type_cells(dtype, shape, cells: dict) -> str:
    """output_rows' dtype and shape cells, from `cells` when made before (keyed by the shape's repr: a list
    of ints and None)."""
    key = (dtype, repr(shape))
    text = cells.get(key)
    if text is None:
        text = f'<td>{escape(dtype or "?")}</td><td class="mono">{escape(format_shape(shape))}</td>'
        if len(cells) < 4096:
            cells[key] = text
    return text


def code_list(names: list[str]):
    """`<code>a</code>, <code>b</code>` in pieces: the outputs the compatibility verdicts trace back from."""
    for i in range(0, len(names), 512):
        yield (", " if i else "") + ", ".join(f"<code>{_esc(o)}</code>" for o in names[i:i + 512])


ATTENTION = ("flex", "unsupported", "custom", "unknown")


def compat_rows(report) -> list[dict]:
    """Nodes whose TFLite or int8 status needs a look, grouped by (op, status, reason), worst first."""
    if report.compat is None:
        return []
    groups: dict[tuple, list[str]] = {}
    for c in report.compat.nodes.values():
        if c.tflite.startswith(ATTENTION) or c.int8 == "blocker":
            groups.setdefault((c.op, c.tflite, c.int8, c.reason, c.fix), []).append(c.name)
    rows = [{"op": k[0], "tflite": k[1], "int8": k[2], "reason": k[3], "fix": k[4], "count": len(v),
             "names": v[:3], "more": len(v) - 3} for k, v in groups.items()]
    return sorted(rows, key=lambda x: (not x["tflite"].startswith(("unsupported", "custom")),
                                       not x["tflite"].startswith("flex"), x["op"]))


LAYER_CHART_MAX = 30


def _strip(scope: str, layers) -> str:
    """A layer's scope without the prefix every layer shares (the model's own scope)."""
    scoped = [x.scope for x in layers if x.scope != "(root)"]
    first = {x.split("/", 1)[0] for x in scoped}
    if len(first) == 1 and all("/" in x for x in scoped) and "/" in scope:
        return scope.split("/", 1)[1]
    return scope


def page_words(report) -> dict:
    """What the page says differently for a converted model (a TFLite file: its inputs and outputs are fixed,
    its nodes are operators, each judged by its builtin), from the model's capabilities."""
    converted = report.model.declares_io
    return {"converted": converted, "nodes_word": "operators" if report.model.main.dialect == "tflite" else "nodes"}


def render_html(report) -> str:
    return "".join(render_html_parts(report))


def render_html_parts(report):
    """The page as the template's pieces in order (written one by one, never joined into one string)."""
    attach_diagram(report)  # Graphviz runs in the background while the rest of the page is made
    virtual = sum(1 for n in report.model.main.nodes if not n.is_const) > TABLE_ROWS_MAX
    nodes_file = None
    if virtual:  # a big graph: its diagram's working data is freed before the page's data is made (peak RSS)
        nodes_file = spool_nodes(report, script_safe)  # but its nodes' text is made, on disk, while dot runs
        report.diagram_data  # noqa: B018 - waits for the layouts
    data = report.to_dict(nodes=False)  # the nodes go into the page's JSON a batch at a time (compact_json)
    layers = report.layers()
    js = _read("report.js")
    digest = base64.b64encode(hashlib.sha256(js.encode("utf-8")).digest()).decode()
    tpl = _env().get_template("report.html.j2")
    # the page's data is printed where this mark is, a piece at a time (iter_compact_json): as one string it
    # was tens of MB on a 200k-node graph, held twice over (and in two bytes per character once one character
    # of it is not Latin-1)
    marks = [f"\x00report-{what}-{os.urandom(16).hex()}\x00" for what in ("data", "outputs", "compat")]
    pieces = tpl.generate(
        r=data, rows=Markup("" if virtual else node_rows(report)), output_rows=Markup(marks[1]),
        compat_outputs=Markup(marks[2]), tensor_rows=Markup(tensor_rows(data["tensors"])),
        virtual_table=virtual, compat_rows=compat_rows(report),
        layer_chart=bar_chart([(_strip(x.scope, layers), x.flops) for x in layers[:LAYER_CHART_MAX]]),
        layer_count=min(
            LAYER_CHART_MAX, sum(1 for x in layers if x.flops)),
        op_flops={op: v.get("flops", 0) for op, v in (report.cost.by_op_type if report.cost else {}).items()}, css=Markup(_read("report.css")), js=Markup(js),
        script_hash=f"sha256-{digest}",
        data_json=Markup(marks[0]),
        diagram_svg=_Drawn(lambda: Markup(report.diagram_svg) if report.diagram_svg else ""),
        has_diagram_data=_Drawn(lambda: bool(report.diagram_data)),
        diagram_note=_Drawn(lambda: report.diagram_note), format_names=FORMAT_NAMES, page=page_words(report),
        batch_note=" (batch 1)" if report.assumed_batch else "",
    )
    return _filled(pieces, dict(zip(marks, (
        _page_json(report, data, nodes_file, virtual), output_rows(data["outputs"]),
        code_list((data["compatibility"] or {}).get("outputs") or [])))))


def _page_json(report, data: dict, nodes_file, virtual: bool):
    """The page's data as iter_compact_json writes it, with the diagram's data as its last item. A small
    page's other items are encoded now, while Graphviz still runs (about 10 ms on a 300-op model); a big
    one's are written a piece at a time when the template prints them (its nodes are spooled already)."""
    head = compact_items(report, data, script_safe, nodes_file)
    if not virtual:
        head = list(head)

    def pieces():
        yield from head
        if report.diagram_data:  # waits for the layouts
            yield from compact_items(report, {"diagram": report.diagram_data}, script_safe, start=len(data))
        yield "}"
    return pieces()


class _Drawn:
    """A value of the diagram as the template reads it, made when the template first tests or prints it:
    the page's sections above the diagram are made while Graphviz still runs (reading the diagram waits for
    it). Printed as markupsafe prints a value (escaped unless Markup)."""

    def __init__(self, get):
        self._get, self._value = get, None

    def _made(self):
        if self._get is not None:
            self._value, self._get = self._get(), None
        return self._value

    def __bool__(self) -> bool:
        return bool(self._made())

    def __html__(self) -> str:
        return str(escape(self._made()))


def _filled(pieces, parts: dict):
    """The template's pieces with the pieces of parts[mark] where each mark was printed. A mark is printed
    at most once; one the template did not print (a section not shown) leaves its pieces unmade."""
    seen = set()
    for piece in pieces:
        found = [m for m in parts if m in piece]
        if not found:
            yield piece
            continue
        found.sort(key=piece.index)
        for m in found:
            before, piece = piece.split(m, 1)
            if m in seen or m in piece:
                raise RuntimeError("page data printed twice")
            seen.add(m)
            yield before
            yield from parts[m]
        yield piece
