#!/usr/bin/env python3
"""Regenerate graphreport/opdata/tflite_compat.json by probing the installed TensorFlow Lite converter.

Each probe (defined in tools/tflite_probes.py) is a tiny frozen GraphDef holding one TensorFlow op (built with
tf.raw_ops so the op type is exact) fed by float32/int/bool/string placeholders and constants. Each graph is
converted three ways with tf.compat.v1.lite.TFLiteConverter.from_frozen_graph, as a user converts a frozen
graph:

  builtins  TFLITE_BUILTINS only
  select    TFLITE_BUILTINS + SELECT_TF_OPS (Flex)
  int8      Optimize.DEFAULT + a representative dataset + TFLITE_BUILTINS_INT8 only

and the outcome is read back from the converted model with the TFLite interpreter (op names; dtypes of
every tensor an op reads or writes). From that:

  status    builtin     converts with builtins only (the TFLite ops it becomes are listed; [] = folded away)
            flex        needs SELECT_TF_OPS (the Flex op it becomes is listed)
            unsupported neither: needs a custom op (or fails in the converter, `error` says how)
  int8      ok          full-integer conversion succeeds and no op but QUANTIZE/DEQUANTIZE touches float32
            float       the int8 conversion succeeds but the op stays float (no int8 kernel / not quantized)
            blocker     the int8 conversion fails

Variants: a probe may set attributes (data_format=NCHW, padding=EXPLICIT, is_training=true, ...) or input
dtypes (int32, int64, string ...); the table keeps them under the op as `attrs` (matched on the node's
attributes) and `dtypes` (matched on the node's T/dtype attribute).

Also merged in, so ops nobody probed still get an answer:
  flex_allowlist  the op names TensorFlow's Flex delegate accepts, read from TensorFlow's source file
                  tensorflow/lite/delegates/flex/allowlisted_flex_ops.cc (--flex-allowlist PATH; a text
                  file of names works too). Without it the allowlist of the previous table is kept.
  keras_layers    per Keras layer class: the TF ops its call traces to and its own conversion outcome
                  (--keras; slower).

Usage (imports tensorflow; run it alone):
  flock /tmp/graphreport-tf.lock nice .venv/bin/python tools/gen_tflite_compat.py \
      [--flex-allowlist path/to/allowlisted_flex_ops.cc --flex-allowlist-ref tensorflow@COMMIT] \
      [--keras] [--only Conv2D,Erf] [-o FILE]

Probes run in a worker subprocess; if the converter crashes the process (it segfaults on a few inputs,
e.g. int8 of Keras LSTM layers in TF 2.21), that conversion is recorded as a crash (int8 'blocker') and the
worker restarts right after it.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tflite_probes import (BOOL, F16, F32, F64, I32, I64, STR, U8, Probe, keras_model,  # tools/, beside this file
                           keras_probes, probes)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "graphreport" / "opdata" / "tflite_compat.json"
SCHEMA = 1

PLUMBING = {"Placeholder", "Const", "Identity", "NoOp"}


# ----------------------------------------------------------------------------------------------------------
# Conversion (worker side)
# ----------------------------------------------------------------------------------------------------------

ERROR_CODE = re.compile(r"Error code: (ERROR_[A-Z_]+)")
FLEX_LIST = re.compile(r"TF Select ops: ([^\n|]+)")
CUSTOM_LIST = re.compile(r"Custom ops: ([^\n|]+)")


def _rep_value(np, dtype, shape, rng):
    shape = [1 if d is None else d for d in shape]
    if dtype in (F32, F16, F64):
        return (0.1 + 0.9 * rng.rand(*shape)).astype(dtype)
    if dtype in (I32, I64, U8):
        return rng.randint(0, 3, size=shape).astype(dtype)
    if dtype == BOOL:
        return rng.rand(*shape) > 0.5
    if dtype == STR:
        return np.full(shape, b"ab", dtype=object)
    return np.zeros(shape, dtype=dtype)


def summarize_error(e) -> dict:
    text = str(e)
    out = {"error_type": type(e).__name__}
    codes = sorted(set(ERROR_CODE.findall(text)))
    if codes:
        out["codes"] = codes
    m = FLEX_LIST.search(text)
    if m:
        out["flex_ops"] = [s.strip() for s in m.group(1).split(",") if s.strip()]
    m = CUSTOM_LIST.search(text)
    if m:
        out["custom_ops"] = [s.strip() for s in m.group(1).split(",") if s.strip()]
    lines = [ln.strip() for ln in text.splitlines() if "error:" in ln]
    first = lines[0] if lines else text.strip().splitlines()[0] if text.strip() else type(e).__name__
    first = re.sub(r"^.*?error: (loc\([^)]*\)+: )?", "", first)
    out["message"] = first[:240]
    return out


def inspect_model(tf, content: bytes) -> dict:
    it = tf.lite.Interpreter(model_content=content)
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    ops, float_ops = [], []
    for o in it._get_ops_details():
        name = o["op_name"]
        ops.append(name)
        if name in ("QUANTIZE", "DEQUANTIZE"):
            continue
        idx = [i for i in list(o["inputs"]) + list(o["outputs"]) if i >= 0]
        if any(tensors[i]["dtype"].__name__ == "float32" for i in idx if i in tensors):
            float_ops.append(name)
    return {"ops": ops, "float_ops": float_ops}


def _run(tf, make_converter, mode, rep_fn):
    try:
        conv = make_converter()
    except Exception as e:  # from_frozen_graph refuses graphs with variables ("Please freeze the graph")
        return {"ok": False, **summarize_error(e)}
    if mode == "select":
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    elif mode == "int8":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.representative_dataset = rep_fn
    try:
        content = conv.convert()
    except Exception as e:  # ConverterError, ValueError, ...
        return {"ok": False, **summarize_error(e)}
    try:
        return {"ok": True, **inspect_model(tf, content)}
    except Exception as e:  # a model the interpreter refuses (custom op unresolved, ...)
        return {"ok": True, "ops": [], "float_ops": [], "inspect_error": summarize_error(e)["message"]}


MODES = ("builtins", "select", "int8")


def run_probe(tf, np, probe: Probe, workdir: str, modes, emit) -> None:
    """Build the probe graph and convert it; emit(info, mode, value) reports as it goes."""
    tf1 = tf.compat.v1
    g = tf.Graph()
    if probe.v1_cf:
        tf1.disable_control_flow_v2()
    else:
        tf1.enable_control_flow_v2()
    with g.as_default():
        phs = [tf1.placeholder(tf.as_dtype(d), s, name=f"in{i}") for i, (d, s) in enumerate(probe.ins)]
        res = probe.fn(*phs)
        if not isinstance(res, (list, tuple)):
            res = [res]
        res = [r for r in res if r is not None]
        outs = []
        for k, i in enumerate(probe.outs):
            if i < len(res):
                tf.identity(res[i], name=f"out{k}")
                outs.append(f"out{k}")
        gd = g.as_graph_def()
    tf1.enable_control_flow_v2()
    graph_ops = sorted({n.op for n in gd.node} | {n.op for f in gd.library.function for n in f.node_def})
    path = os.path.join(workdir, "probe.pb")
    with open(path, "wb") as fh:
        fh.write(gd.SerializeToString())
    rng = np.random.RandomState(1)

    def rep():
        for _ in range(3):
            yield [_rep_value(np, d, s, rng) for d, s in probe.ins]

    result = {"label": probe.label, "op": probe.op, "when": probe.when, "dtype": probe.dtype,
              "graph_ops": graph_ops}
    if probe.expect_op and probe.op not in graph_ops:
        result["skipped"] = f"the graph holds no {probe.op} op"
        emit(result, None, None)
        return
    emit(result, None, None)
    for mode in modes:
        emit(None, mode, None)
        emit(None, mode, _run(tf, lambda: tf1.lite.TFLiteConverter.from_frozen_graph(
            path, [f"in{i}" for i in range(len(probe.ins))], outs), mode, rep))


def run_keras_probe(tf, np, name, make, spec, modes, emit) -> None:
    import keras
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    model, dtype, shape = keras_model(name, make, spec)
    fn = tf.function(lambda x: model(x, training=False))
    cf = fn.get_concrete_function(tf.TensorSpec([1, *shape], dtype))
    frozen = convert_variables_to_constants_v2(cf)
    gd = frozen.graph.as_graph_def()
    ops = sorted(({n.op for n in gd.node} | {n.op for f in gd.library.function for n in f.node_def})
                 - PLUMBING - {"Placeholder", "NoOp"})
    rng = np.random.RandomState(1)

    def rep():
        for _ in range(3):
            yield [_rep_value(np, dtype, [1, *shape], rng)]

    emit({"layer": name, "label": name, "op": name, "tf_ops": ops}, None, None)
    for mode in modes:
        emit(None, mode, None)
        emit(None, mode, _run(tf, lambda: tf.lite.TFLiteConverter.from_keras_model(model), mode, rep))
    del keras


def worker(start: int, skip_modes: int, out_path: str, only: set | None, keras_mode: bool) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    items = keras_probes() if keras_mode else probes()
    with open(out_path, "a") as out, tempfile.TemporaryDirectory() as wd:
        for i in range(start, len(items)):
            item = items[i]
            label = item[0] if keras_mode else item.label
            opname = item[0].split("[")[0] if keras_mode else item.op
            if only and opname not in only and label not in only:
                continue

            def emit(info, mode, value, i=i):
                rec = {"index": i}
                if info is not None:
                    rec["info"] = info
                if mode is not None:
                    rec["mode"] = mode
                if value is not None:
                    rec["value"] = value
                out.write(json.dumps(rec) + "\n")
                out.flush()

            modes = MODES[skip_modes:] if i == start else MODES
            emit(None, "build", None)
            try:
                if keras_mode:
                    run_keras_probe(tf, np, *item, modes=modes, emit=emit)
                else:
                    run_probe(tf, np, item, wd, modes=modes, emit=emit)
            except Exception as e:  # a probe that cannot be built here: record and go on
                emit({"label": label, "op": opname, "build_error": f"{type(e).__name__}: {str(e)[:200]}"},
                     None, None)
            emit(None, "done", None)


def run_all(only, keras_mode: bool) -> list[dict]:
    """Run the worker in subprocesses; a conversion that kills the process (the converter segfaults on some
    inputs) is recorded as a crash of that mode, and the worker restarts right after it."""
    results: dict[int, dict] = {}
    with tempfile.TemporaryDirectory() as td:
        log = os.path.join(td, "results.jsonl")
        start, skip = 0, 0
        while True:
            cmd = [sys.executable, __file__, "--worker", str(start), "--skip-modes", str(skip), "--log", log]
            if only:
                cmd += ["--only", ",".join(sorted(only))]
            if keras_mode:
                cmd += ["--keras-worker"]
            open(log, "w").close()
            p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            last = None
            with open(log) as fh:
                for line in fh:
                    rec = json.loads(line)
                    r = results.setdefault(rec["index"], {"index": rec["index"]})
                    if "info" in rec:
                        r.update(rec["info"])
                    if "value" in rec:
                        r[rec["mode"]] = rec["value"]
                        last = None
                    elif rec.get("mode") == "done":
                        last = None
                    elif "mode" in rec:
                        last = (rec["index"], rec["mode"])
            if p.returncode == 0:
                break
            if last is None:
                sys.stderr.write(p.stderr[-2000:])
                raise SystemExit(f"worker failed (exit {p.returncode})")
            i, mode = last
            r = results[i]
            if mode == "build":
                r.setdefault("crash", f"building the probe crashed the process (exit {p.returncode})")
                start, skip = i + 1, 0
                continue
            r[mode] = {"ok": False, "crash": True, "message": f"the converter crashed (exit {p.returncode})"}
            print(f"  probe {r.get('label', i)} crashed the converter in mode {mode}; continuing", file=sys.stderr)
            k = MODES.index(mode) + 1
            start, skip = (i, k) if k < len(MODES) else (i + 1, 0)
    return [results[k] for k in sorted(results)]


# ----------------------------------------------------------------------------------------------------------
# Turning probe results into the table
# ----------------------------------------------------------------------------------------------------------

def verdict(r: dict) -> dict:
    """One probe result -> {status, tflite, flex, int8, float_ops, error}."""
    if "crash" in r or "build_error" in r or "skipped" in r or not all(m in r for m in MODES):
        return {}
    b, s, q = r["builtins"], r["select"], r["int8"]
    v: dict = {}
    if b["ok"]:
        v["status"] = "builtin"
        v["tflite"] = _dedupe(op for op in b["ops"] if op not in ("QUANTIZE", "DEQUANTIZE"))
    elif s["ok"]:
        v["status"] = "flex"
        v["flex"] = _dedupe(op for op in s["ops"] if op.startswith("Flex"))
        v["tflite"] = _dedupe(op for op in s["ops"] if not op.startswith("Flex"))
    else:
        v["status"] = "unsupported"
        v["error"] = s.get("message", "")
        if s.get("codes"):
            v["codes"] = s["codes"]
    if not b["ok"] and b.get("codes"):
        v.setdefault("codes", b["codes"])
    if q["ok"] and not q["float_ops"]:
        v["int8"] = "ok"
    elif q["ok"]:
        v["int8"] = "float"
        v["float_ops"] = _dedupe(q["float_ops"])
    else:
        v["int8"] = "blocker"
        v["int8_error"] = q.get("message", "")
    return v


def _dedupe(seq):
    out = []
    for x in seq:
        if x not in out:
            out.append(x)
    return out


def build_table(results: list[dict], keras_results: list[dict] | None, allowlist: list[str],
                previous: dict | None) -> dict:
    import tensorflow as tf  # only for the version stamp

    ops: dict[str, dict] = {}
    skipped = []
    for r in results:
        v = verdict(r)
        if not v:
            skipped.append({"probe": r.get("label"), "why": r.get("crash") or r.get("build_error") or r.get("skipped")})
            continue
        entry = ops.setdefault(r["op"], {})
        v["probe"] = r["label"]
        if r.get("when"):  # attribute variant: matched on the node's attributes
            entry.setdefault("attrs", []).append({"when": r["when"], **v})
        elif "[" in r["label"]:  # a named case (dynamic batch, dilated ...): informative only
            entry.setdefault("cases", []).append(v)
        elif r["dtype"] not in (F32, None):  # dtype variant: matched on the node's T/dtype attribute
            entry.setdefault("dtypes", {})[r["dtype"]] = v
        elif "status" not in entry:
            entry.update(v)
        else:
            entry.setdefault("cases", []).append(v)
    for op, entry in ops.items():
        if "status" not in entry:  # only variants were probed: the first one stands for the op
            base = (entry.get("dtypes") or {}).values() or entry.get("attrs") or entry.get("cases") or []
            base = list(base)
            if base:
                entry.update({k: v for k, v in base[0].items() if k not in ("when",)})
    table = {
        "schema": SCHEMA,
        "tf_version_basis": tf.__version__,
        "generated_by": "tools/gen_tflite_compat.py",
        "method": ("Each op probed as a one-op frozen GraphDef converted by tf.compat.v1.lite.TFLiteConverter."
                   "from_frozen_graph three ways: TFLITE_BUILTINS; TFLITE_BUILTINS+SELECT_TF_OPS; "
                   "Optimize.DEFAULT + representative dataset + TFLITE_BUILTINS_INT8 (int8 'ok' only when no op "
                   "but QUANTIZE/DEQUANTIZE reads or writes float32)."),
        "sources": {
            "probes": len(results),
            "flex_allowlist": "tensorflow/lite/delegates/flex/allowlisted_flex_ops.cc (op names)",
        },
        "ops": dict(sorted(ops.items())),
        "flex_allowlist": sorted(set(allowlist)),
        "skipped_probes": skipped,
    }
    if keras_results is not None:
        table["keras_layers"] = keras_table(keras_results)
    elif previous and "keras_layers" in previous:
        table["keras_layers"] = previous["keras_layers"]
    return table


def keras_table(results: list[dict]) -> dict:
    out = {}
    for r in results:
        if "layer" not in r:
            out[r.get("label", "?")] = {"error": r.get("build_error") or r.get("crash")}
            continue
        v = verdict(r)
        v.pop("probe", None)
        out[r["layer"]] = {"tf_ops": r["tf_ops"], **v}
    return out


def read_allowlist(path: str) -> list[str]:
    text = Path(path).read_text()
    if path.endswith((".cc", ".h")):
        m = re.search(r"GetFlexAllowlist\(\)(.*?)\}\);", text, re.S)
        body = m.group(1) if m else text
        names = re.findall(r'"([A-Za-z_][A-Za-z0-9_]*)"', body)
        extra = re.findall(r'"([A-Za-z_][A-Za-z0-9_]*)"', text[m.end():]) if m else []
        return sorted(set(names) | set(extra))
    return sorted(set(text.split()))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--output", default=str(DEFAULT_OUT))
    ap.add_argument("--flex-allowlist", help="TensorFlow's allowlisted_flex_ops.cc, or a text file of op names")
    ap.add_argument("--flex-allowlist-ref", default="",
                    help="where the allowlist file came from, recorded in the table (e.g. tensorflow@<commit>)")
    ap.add_argument("--keras", action="store_true", help="also probe Keras layer classes (slower)")
    ap.add_argument("--only", help="comma-separated op names or probe labels (for a quick look; prints, "
                                   "writes nothing)")
    ap.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--log", help=argparse.SUPPRESS)
    ap.add_argument("--skip-modes", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--keras-worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    only = set(args.only.split(",")) if args.only else None
    if args.worker is not None:
        worker(args.worker, args.skip_modes, args.log, only, args.keras_worker)
        return 0

    t0 = time.time()
    results = run_all(only, keras_mode=False)
    print(f"{len(results)} op probes in {time.time() - t0:.0f} s", file=sys.stderr)
    if only:
        for r in results:
            print(json.dumps({"label": r.get("label"), **verdict(r)}))
        return 0
    keras_results = None
    if args.keras:
        t1 = time.time()
        keras_results = run_all(None, keras_mode=True)
        print(f"{len(keras_results)} Keras layer probes in {time.time() - t1:.0f} s", file=sys.stderr)
    previous = json.loads(Path(args.output).read_text()) if Path(args.output).exists() else None
    if args.flex_allowlist:
        allowlist = read_allowlist(args.flex_allowlist)
    elif previous:
        allowlist = previous.get("flex_allowlist", [])
    else:
        allowlist = []
        print("warning: no --flex-allowlist and no previous table: the allowlist stays empty", file=sys.stderr)
    table = build_table(results, keras_results, allowlist, previous)
    if args.flex_allowlist:
        table["sources"]["flex_allowlist"] += f" at {args.flex_allowlist_ref}" if args.flex_allowlist_ref else ""
    elif previous:
        table["sources"]["flex_allowlist"] = previous.get("sources", {}).get("flex_allowlist",
                                                                             table["sources"]["flex_allowlist"])
    Path(args.output).write_text(json.dumps(table, indent=1, sort_keys=False) + "\n")
    print(f"wrote {args.output}: {len(table['ops'])} ops, {len(allowlist)} allowlisted Flex ops", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
