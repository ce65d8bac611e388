"""Op knowledge as data: the role table is the only place op sets are spelled out, and `graphreport ops
--coverage` lists what the registry and the tables know. No TensorFlow needed."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from conftest import run_cli

from graphreport.analysis import compat
from graphreport.opdata import roles
from graphreport.ops import registry
from graphreport.render import svg

PACKAGE = Path(__file__).resolve().parent.parent / "graphreport"
# roles whose members drifted between modules before the table existed (issue 12)
DRIFT_PRONE = roles.ops("placeholder", "placeholder_default", "variable", "variable_temp", "variable_read",
                        "variable_gather", "variable_check", "call", "call_tpu", "switch", "merge", "loop", "if",
                        "while", "case", "saver")


def _string_collections(tree):
    for node in ast.walk(tree):
        if isinstance(node, (ast.Set, ast.Tuple, ast.List)):
            strs = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
            if len(strs) == len(node.elts) >= 2:
                yield node, strs


def test_op_sets_are_defined_once_in_the_role_table():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.parent.name == "opdata":
            continue
        tree = ast.parse(path.read_text())
        for node in tree.body:  # module-level op sets: `X_OPS = {...}`, `PLACEHOLDERS = (...)`
            if isinstance(node, ast.Assign) and isinstance(node.value, (ast.Set, ast.Tuple, ast.List)):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
                if any(n.endswith(("_OPS", "PLACEHOLDERS", "_CONTROL_FLOW")) for n in names):
                    found.append(f"{path.name}:{node.lineno} {names[0]}")
        for node, strs in _string_collections(tree):  # inline sets of placeholders, variables, calls ...
            if set(strs) <= DRIFT_PRONE:
                found.append(f"{path.name}:{node.lineno} {strs}")
    assert found == [], "op sets spelled out outside graphreport/opdata/roles.py"


def test_role_table_lists_each_op_once_and_knows_its_roles():
    with pytest.raises(ValueError, match="listed twice"):
        roles._parse("A B: x\nB: y\n")
    with pytest.raises(KeyError, match="no_such_role"):
        roles.ops("variable", "no_such_role")
    # a continuation line belongs to the row above
    assert roles._parse("A\n  B: x y\nC: z\n") == {"A": ("x", "y"), "B": ("x", "y"), "C": ("z",)}
    assert roles.ordered("placeholder") == ("Placeholder", "PlaceholderV2")


def test_sets_that_differed_are_distinct_roles():
    # "variable" is the variable's node; the converter's freeze check also rejects the reads that survive
    from graphreport.analysis import io_suggest, params
    from graphreport.convert import freeze

    assert params.VARIABLE_OPS == roles.ops("variable")
    assert params.VARIABLE_OPS < io_suggest.VARIABLE_OPS < compat.VARIABLE_OPS
    assert params.VARIABLE_OPS < freeze.VARIABLE_OPS < compat.VARIABLE_OPS
    assert roles.has_role("ReadVariableOp", "variable_read") and not roles.has_role("ReadVariableOp", "variable")


def test_pattern_roles():
    assert roles.has_role("WriteScalarSummary", "summary") and roles.has_role("AudioSummaryV2", "summary")
    assert not roles.has_role("SummaryWriter", "summary")
    assert roles.has_role("ResourceApplyAdam", "optimizer_apply") and not roles.has_role("MatMul", "optimizer_apply")
    assert roles.has_role("TFRecordDataset", "pipeline") and roles.has_role("RandomUniform", "random_stateful")
    assert not roles.has_role("StatelessRandomUniformV2", "random_stateful")
    assert roles.has_role("StatelessRandomUniformV2", "random_any")


def test_diagram_categories_come_from_the_table():
    assert svg.op_category is roles.category
    cases = {"Conv2D": "conv", "CONV_2D": "conv", "Dense": "conv", "FULLY_CONNECTED": "conv", "MaxPool": "pool",
             "Mean": "pool", "FusedBatchNormV3": "norm", "Relu6": "act", "LOGISTIC": "act", "Reshape": "shape",
             "STRIDED_SLICE": "shape", "PlaceholderWithDefault": "io", "Input": "io", "Einsum": "other"}
    assert {op: roles.category(op) for op in cases} == cases


def test_ops_coverage_json():
    p = run_cli("ops", "--coverage", "--json")
    assert p.returncode == 0, p.stderr
    cov = json.loads(p.stdout)
    assert set(cov) == {"tf", "tflite", "keras"}
    rows = {(d, r["op"]): r for d, c in cov.items() for r in c["ops"]}
    registry.lookup("NoOp")
    for (d, op), info in registry.REGISTRY.items():  # every registered rule is listed, with its kinds
        r = rows[(d, op)]
        assert (r["shape"], r["cost"], r["value"]) == (info.shape is not None, info.cost is not None,
                                                       info.value is not None)
    table = compat.load_table()
    for op, entry in table["ops"].items():  # every probed op with its probed status (opdata/tflite_compat.json)
        assert rows[("tf", op)]["compat"] == entry["status"]
    for op in set(table["flex_allowlist"]) - set(table["ops"]):  # not probed: Flex by TF's allowlist
        assert (rows[("tf", op)]["compat"], rows[("tf", op)]["compat_source"]) == ("flex", "allowlist")
    assert rows[("tf", "VarHandleOp")]["roles"] == list(roles.OP_ROLES["VarHandleOp"])
    assert rows[("tflite", "CONV_2D")]["compat"] == "builtin"
    for d, c in cov.items():
        t = c["totals"]
        assert t["ops"] == len(c["ops"])
        assert t["shape"] == sum(r["shape"] for r in c["ops"])
        assert t["compat"] == sum(t["compat_by_status"].values())


def test_ops_coverage_text_and_usage():
    p = run_cli("ops", "--coverage", "--dialect", "tflite")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].split()[:3] == ["dialect", "op", "shape"]
    assert any(line.split()[:2] == ["tflite", "CONV_2D"] for line in lines)
    assert lines[-1].lstrip().startswith("TFLite builtins:") and "tf " not in p.stdout
    bad = run_cli("ops")
    assert bad.returncode == 2 and "--coverage" in bad.stderr
