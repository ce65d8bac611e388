"""No import circles in graphreport/: every module's imports, parsed with `ast` (nothing is imported), form a
graph without cycles.

Every import statement counts, those inside functions too: a function-local import only postpones a circle
to the first call, and hiding circles that way is what this test is meant to stop. An import of a package
(``from . import x`` where x is a module) is an edge to that module, and to the package's __init__ unless the
importer is that __init__ itself (graphreport/ops/__init__.py imports its rule families: no circle). A module's
own package is not counted otherwise, although Python runs it first: every module of a package whose __init__
imports one of them would be a circle of no consequence. `from . import graphviz` in render/svg.py was one:
render/__init__ -> drawing -> diagram -> svg -> render.
"""
from __future__ import annotations

import ast
import graphlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "graphreport"


def _modules() -> dict[str, Path]:
    out = {}
    for p in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = p
    return out


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute name `from <node.module>` refers to, written in `module` (at `path`)."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if not _is_package(path):
        base = base[:-1]  # a module's relative imports start from its package
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph() -> dict[str, set[str]]:
    """module -> the graphreport modules it imports (anywhere in its body)."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(mod, path, node)
                # `from pkg import name`: the module pkg.name when there is one, else pkg itself; and pkg too
                # when it is a package other than the importer's own __init__ (the name is read from the package
                # object: its __init__, and whatever that imports, must have run)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
                if base != mod and base in mods and _is_package(mods[base]):
                    targets.append(base)
            for t in targets:
                while t and t not in mods and "." in t:  # `import a.b.c` of something inside a module
                    t = t.rpartition(".")[0]
                if t in mods and t != mod:
                    graph[mod].add(t)
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle (its modules, the first repeated at the end), or [] when there is none."""
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as e:
        return list(e.args[1])
    return []


def test_the_graph_is_read():
    g = import_graph()
    assert "graphreport.readers.detect" in g and "graphreport.ops.registry" in g
    # edges the code certainly has: a relative import, a package's import of its module, a parent import
    assert "graphreport.ops.registry" in g["graphreport.ops.nn"]
    assert "graphreport.ops.nn" in g["graphreport.ops"]
    assert "graphreport.errors" in g["graphreport.readers.detect"]


def test_the_cycle_finder_finds_cycles():
    found = cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    assert sorted(set(found)) == ["a", "b", "c"] and found[0] == found[-1]
    assert cycle({"a": {"b"}, "b": set()}) == []


def test_no_import_circles():
    found = cycle(import_graph())
    assert not found, "import circle: " + " -> ".join(found)


def test_the_rule_registry_imports_no_family():
    # helpers and the format-neutral model (SmallValue) are not rule families
    assert import_graph()["graphreport.ops.registry"] <= {"graphreport.ops.helpers", "graphreport.model"}


def test_the_report_and_analyses_call_no_renderer():
    """The report is data filled first and rendered second: report.py and analysis/ import nothing of render/
    (the diagram is started by the renderer, render/drawing.py)."""
    g = import_graph()
    layer = [m for m in g if m == "graphreport.report" or m.startswith("graphreport.analysis")]
    assert len(layer) > 5
    for m in layer:
        assert not {t for t in g[m] if t.startswith("graphreport.render")}, m


def test_no_module_over_1000_lines():
    """One idea per module (issue 12): a module that grows past 1,000 lines is split."""
    package = Path(__file__).resolve().parent.parent / "graphreport"
    long = {str(p.relative_to(package)): n for p in package.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 1000}
    assert not long, long
