"""`graphreport report DIR --out-dir OUT`: one report per model found under DIR (recursively, any format), made
in parallel by a process pool, plus OUT/index.html and OUT/index.json (name, format, params, MACs, FLOPs,
TFLite verdict, links). A damaged file is listed with its error; the other reports are still written.

What counts as one model: a folder holding saved_model.pb (a SavedModel: not looked into further), a folder
holding a TF.js model JSON (the JSON, its weight shards skipped), a TF1 checkpoint (its .meta; .index, .data
and `checkpoint` files skipped), an unzipped .keras folder, and files named .pb, .pbtxt, .tflite, .h5, .hdf5,
.keras, or carrying the TFLite / HDF5 magic bytes. Other files (scripts, READMEs, JSON that is no model) are
not models and are left out silently.
"""
from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Optional

from . import __version__

INDEX_SCHEMA_VERSION = 1
MODEL_EXTENSIONS = (".pb", ".pbtxt", ".tflite", ".h5", ".hdf5", ".keras", ".meta")
SKIP_NAMES = {"fingerprint.pb", "keras_metadata.pb"}
MAX_FILES = 100_000


def _magic(path: str) -> Optional[str]:
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return None
    if head[4:8] == b"TFL3":
        return "tflite"
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "h5"
    return None


def discover(root: str) -> list[str]:
    """Paths of the models under `root` (files or folders), sorted."""
    from .readers.tfjs import _classify_file

    if os.path.isfile(root):
        return [root]
    found: list[str] = []
    seen = 0
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        files.sort()
        seen += len(files)
        if seen > MAX_FILES:
            break
        if "saved_model.pb" in files or "saved_model.pbtxt" in files:
            found.append(folder)
            dirs[:] = []
            continue
        if "config.json" in files and "metadata.json" in files and "model.weights.h5" in files:
            found.append(folder)  # an unzipped .keras archive
            dirs[:] = []
            continue
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            path = os.path.join(folder, name)
            low = name.lower()
            if name.startswith(".") or name in SKIP_NAMES:
                continue
            if low.endswith(MODEL_EXTENSIONS) or _magic(path):
                found.append(path)
            elif low.endswith(".json"):
                try:
                    kind = _classify_file(path)
                except Exception:  # noqa: BLE001 - an unreadable JSON is simply not a model
                    kind = None
                if kind is not None:
                    found.append(path)
    return sorted(found)


def _out_name(root: str, path: str) -> str:
    rel = os.path.relpath(path, root) if os.path.isdir(root) else os.path.basename(path)
    if rel in (".", ""):
        rel = os.path.basename(os.path.abspath(root))
    return rel.replace(os.sep, "/")


def report_one(path: str, name: str, out_dir: str, diagram: bool) -> dict:
    """Worker: read one model, write NAME.html and NAME.json under out_dir, return its index row."""
    from .fileio import write_atomic
    from .diff import load_model
    from .errors import GraphReportError
    from .render import render
    from .report import build_report

    row = {"name": name, "path": path, "format": None, "params": None, "macs": None, "flops": None,
           "verdict": None, "int8_full": None, "html": None, "json": None, "error": None}
    try:
        model = load_model(path)
        rep = build_report(model, diagram=diagram)
        html_rel, json_rel = name + ".html", name + ".json"
        for rel, fmt in ((html_rel, "html"), (json_rel, "json")):
            dest = os.path.join(out_dir, *rel.split("/"))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            write_atomic(dest, render(rep, fmt))
        t = rep.totals()
        row.update(format=model.format, params=t.get("params"), macs=t.get("macs"), flops=t.get("flops"),
                   at_least={k: v for k, v in t.get("at_least", {}).items() if k in ("params", "macs", "flops")},
                   batch_assumed=t.get("batch_assumed") or {},
                   verdict=rep.compat.verdict if rep.compat else None,
                   int8_full=rep.compat.int8_full if rep.compat else None, html=html_rel, json=json_rel)
    except GraphReportError as e:
        row["error"] = " ".join(str(e).split())
    except Exception as e:  # noqa: BLE001 - one model's internal error must not stop the others
        row["error"] = f"internal error: {type(e).__name__}: {' '.join(str(e).split())[:300]}"
    return row


def report_folder(root: str, out_dir: str, jobs: Optional[int] = None, diagram: bool = True) -> tuple[list[dict], str]:
    """Report every model under root into out_dir; returns (rows, path of index.html)."""
    from .errors import BadModelError

    if not os.path.exists(root):
        raise BadModelError("no such file or folder", root)
    models = discover(root)
    os.makedirs(out_dir, exist_ok=True)
    names = [_out_name(root, p) for p in models]
    rows: list[Optional[dict]] = [None] * len(models)
    workers = max(1, min(jobs or os.cpu_count() or 1, len(models) or 1))
    if models:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(report_one, p, n, out_dir, diagram): i for i, (p, n) in enumerate(zip(models, names))}
            for fut in as_completed(futures):
                i = futures[fut]
                try:
                    rows[i] = fut.result()
                except Exception as e:  # noqa: BLE001 - a worker that died (out of memory, killed)
                    rows[i] = {"name": names[i], "path": models[i], "format": None, "params": None, "macs": None,
                               "flops": None, "verdict": None, "int8_full": None, "html": None, "json": None,
                               "error": f"the worker reporting it failed: {type(e).__name__}: {e}"}
    done = [r for r in rows if r is not None]
    index = {"schema_version": INDEX_SCHEMA_VERSION, "generator": f"graphreport {__version__}",
             "root": os.path.basename(os.path.abspath(root)), "models": done,
             "reported": sum(1 for r in done if not r["error"]), "failed": sum(1 for r in done if r["error"])}
    for r in done:
        r["path"] = _out_name(root, r["path"])
    from .fileio import write_atomic
    write_atomic(os.path.join(out_dir, "index.json"), json.dumps(index, indent=1, ensure_ascii=False) + "\n")
    html_path = os.path.join(out_dir, "index.html")
    from .render.index_html import render_index
    write_atomic(html_path, render_index(index))
    return done, html_path
