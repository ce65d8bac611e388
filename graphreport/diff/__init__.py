"""`graphreport diff OLD NEW`: node matching (matching.py), the typed DiffReport (compare.py) and the CI gates
(gates.py). Each side's figures come from build_report(); nothing here recomputes one."""
from __future__ import annotations


def diff_models(old_path: str, new_path: str, input_shapes=None, debug: bool = False):
    """Read both models, build both reports (no diagram) and compare them."""
    from ..report import build_report
    from .compare import compare

    reports = []
    for path in (old_path, new_path):
        model = load_model(path, debug)
        shapes = input_shapes if input_shapes and not model.stores_shapes else None
        reports.append(build_report(model, diagram=False, input_shapes=shapes))
    return compare(*reports)


def load_model(path: str, debug: bool = False):
    """The reader for `path`; a damaged file is a BadModelError (exit 2), as for `report`. The readers raise it
    themselves: any other exception is a bug and reaches the CLI's catch-all (exit 1, internal error)."""
    from ..readers.detect import load

    return load(path)
