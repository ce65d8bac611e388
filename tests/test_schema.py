"""The report JSON's keys are recorded per schema version (tests/schema_keys.json): a change to the set of keys
without a bump of report.SCHEMA_VERSION fails here, and so does a bump that does not record its keys.

The keys are walked from every sample's JSON snapshot (tests/__snapshots__/test_samples, which test_samples.py
holds equal to the reports) plus one report carrying `verification` (set only by `convert --report`). A path is
the keys from the top joined with '.', '[]' for a list's items; maps whose keys are the model's own names (op
types, attribute names, metadata names ...) count as one key '*', and attribute values are not walked.

After a deliberate change of keys: bump SCHEMA_VERSION, add its line to the changelog in graphreport/report.py,
and record the new set with `GRAPHREPORT_RECORD_SCHEMA=1 pytest tests/test_schema.py` (it adds the version's
entry and fails once, saying so)."""
import json
import os
from pathlib import Path

from conftest import SAMPLES

from graphreport.readers.detect import load
from graphreport.render.jsonout import render_json
from graphreport.report import SCHEMA_VERSION, Verification, build_report

HERE = Path(__file__).parent
RECORD = HERE / "schema_keys.json"
SNAPSHOTS = HERE / "__snapshots__" / "test_samples"

# paths whose keys are data (names from the model), not schema
MAPS = {"op_counts", "metadata", "set_apart", "totals.at_least", "totals.unknown", "totals.batch_assumed",
        "cost.totals.at_least", "cost.totals.unknown", "cost.by_op_type", "cost.per_subgraph",
        "cost.per_subgraph.*.at_least", "cost.per_subgraph.*.unknown",
        "compatibility.set_apart", "nodes[].attrs", "tensors[].sparsity", "shapes.overridden"}
OPAQUE = {"nodes[].attrs.*", "verification.sizes", "verification.rows"}  # the model's, the converter's data


def key_paths(value, path: str = "", out=None) -> set[str]:
    out = set() if out is None else out
    if path in OPAQUE:
        return out
    if isinstance(value, dict):
        for k, v in value.items():
            key = "*" if path in MAPS else k
            child = f"{path}.{key}" if path else key
            out.add(child)
            key_paths(v, child, out)
    elif isinstance(value, list):
        for v in value:
            key_paths(v, path + "[]", out)
    return out


def current_keys() -> list[str]:
    keys: set[str] = set()
    snaps = sorted(SNAPSHOTS.glob("*.json"))
    assert snaps, "no JSON snapshots found"
    for p in snaps:
        key_paths(json.loads(p.read_text()), out=keys)
    rep = build_report(load(str(SAMPLES / "tiny_mobilenet.pb")), diagram=False)
    rep.verification = Verification(verified_on="10 random samples", mode="none", sizes={}, rows=[], source="x.pb",
                                    calibration=None)
    key_paths(json.loads(render_json(rep)), out=keys)
    return sorted(keys)


def test_keys_change_only_with_a_schema_version():
    recorded = json.loads(RECORD.read_text())
    keys = current_keys()
    if os.environ.get("GRAPHREPORT_RECORD_SCHEMA") and str(SCHEMA_VERSION) not in recorded:
        recorded[str(SCHEMA_VERSION)] = keys
        RECORD.write_text(json.dumps(recorded, indent=1) + "\n")
        raise AssertionError(f"recorded the keys of schema version {SCHEMA_VERSION} in {RECORD.name}")
    assert str(SCHEMA_VERSION) in recorded, (
        f"schema version {SCHEMA_VERSION} has no recorded keys: run with GRAPHREPORT_RECORD_SCHEMA=1")
    want = recorded[str(SCHEMA_VERSION)]
    added, gone = sorted(set(keys) - set(want)), sorted(set(want) - set(keys))
    assert not added and not gone, (
        f"the JSON keys changed under schema version {SCHEMA_VERSION} (added {added}, removed {gone}): bump "
        "report.SCHEMA_VERSION, add its changelog line and record the keys (see this file's docstring)")


def test_changelog_has_a_line_per_version():
    import graphreport.report as report

    lines = [x.split()[0] for x in (report.__doc__ or "").splitlines() if x[:4].strip().isdigit()]
    assert lines == [str(v) for v in range(1, SCHEMA_VERSION + 1)], lines
