"""The JSON report (see report.SCHEMA_VERSION)."""
from __future__ import annotations

import json
import math


def _clean(o):
    if isinstance(o, float) and not math.isfinite(o):
        return str(o)
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    return o


def render_json(report) -> str:
    return json.dumps(_clean(report.to_dict()), indent=1, ensure_ascii=False, default=str) + "\n"
