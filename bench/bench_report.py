"""Report time vs `python -c "import tensorflow"` on keras.applications models (weights=None).

Target (issue 2): a whole `graphreport report` run (process start to HTML written, diagram included) takes
at most a quarter of the time of importing TensorFlow on the same machine.

Usage: .venv/bin/python bench/bench_report.py [--repeat 5] [--models MobileNetV2]
Prints a Markdown table for README.md and writes bench/results/report_time.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def timed(cmd: list[str], repeat: int) -> float:
    """Median wall time of a command, in seconds (one warm-up run first)."""
    subprocess.run(cmd, check=True, capture_output=True)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--models", nargs="+", default=["MobileNetV2"])
    args = ap.parse_args()
    import refmodels  # builds (and caches) the models; imports tensorflow in this process only

    py = sys.executable
    rows = []
    t_tf = timed([py, "-c", "import tensorflow"], args.repeat)
    out = Path(tempfile.mkdtemp()) / "r.html"
    for name in args.models:
        files = {"frozen .pb": refmodels.frozen_graphdef(name), ".tflite": refmodels.tflite_model(name)}
        for kind, path in files.items():
            t = timed([py, "-m", "graphreport", "report", str(path), "-o", str(out)], args.repeat)
            rows.append({"model": name, "file": kind, "bytes": os.path.getsize(path), "report_s": round(t, 3),
                         "import_tf_s": round(t_tf, 3), "ratio": round(t / t_tf, 3)})
    meta = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "python": platform.python_version(),
            "repeat": args.repeat, "rows": rows}
    res = ROOT / "bench" / "results"
    res.mkdir(parents=True, exist_ok=True)
    (res / "report_time.json").write_text(json.dumps(meta, indent=1))
    print(f"`import tensorflow`: {t_tf:.2f} s (median of {args.repeat})\n")
    print("| model | file | size | report (HTML + diagram) | vs import tensorflow |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['file']} | {r['bytes'] / 1e6:.1f} MB | {r['report_s']:.2f} s | "
              f"{r['ratio'] * 100:.0f} % |")


if __name__ == "__main__":
    main()
