"""The JSON of `graphreport diff` (see graphreport/diff/compare.py, DIFF_SCHEMA_VERSION)."""
from __future__ import annotations

import json

from .jsonout import _clean


def render_diff_json(diff) -> str:
    return json.dumps(_clean(diff.to_dict()), indent=1, ensure_ascii=False, default=str) + "\n"
