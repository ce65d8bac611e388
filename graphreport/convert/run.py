"""`graphreport convert MODEL --to tflite|frozen-pb|tfjs ...`: plan, load, freeze, convert, verify, write.

Every file is written atomically (temporary file, then rename): a failure leaves no partial output. The
--json result is written on failure too (status "failed", with the converter's problems), for CI.
"""
from __future__ import annotations

import os
import sys
import tempfile
from collections import Counter
from typing import Optional

from ..errors import ConversionError, GraphReportError, UsageError
from . import source as src
from .console import Console, import_tensorflow, require_tensorflow
from .diagnose import ConverterRefused
from .outcome import _concern, _human, _maybe_json, _print_summary, _samples, _write_text

TARGETS = ("tflite", "frozen-pb", "tfjs")
QUANTIZE = ("none", "dynamic", "float16", "int8", "uint8", "uint16")
TFLITE_QUANTIZE = ("none", "dynamic", "float16", "int8")
TFJS_QUANTIZE = ("none", "float16", "uint8", "uint16")  # TF.js quantizes weights only


# ------------------------------------------------------------------------------------------------------------
# files
# ------------------------------------------------------------------------------------------------------------

def write_bytes_atomic(path: str, data: bytes) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".graphreport-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def default_output(model: str, kind: str, to: str) -> str:
    base = os.path.basename(os.path.normpath(model))
    if kind == "metagraph":
        for suffix in (".meta", ".index"):
            if base.endswith(suffix):
                base = base[: -len(suffix)]
        if ".data-" in base:
            base = base.split(".data-")[0]
        if base.endswith(".ckpt"):
            base = base[:-5]
    elif kind == "savedmodel" and base in ("saved_model.pb", "saved_model.pbtxt"):
        base = os.path.basename(os.path.dirname(os.path.abspath(model)))
    else:
        base = os.path.splitext(base)[0]
    base = base or "model"
    return {"tflite": f"{base}.tflite", "frozen-pb": f"{base}_frozen.pb", "tfjs": f"{base}_web_model"}[to]


# ------------------------------------------------------------------------------------------------------------
# the command
# ------------------------------------------------------------------------------------------------------------

def _check_args(args) -> None:
    if args.to not in TARGETS:
        raise UsageError(f"--to must be one of {', '.join(TARGETS)}")
    if args.quantize not in QUANTIZE:
        raise UsageError(f"--quantize must be one of {', '.join(QUANTIZE)}")
    if args.to == "tfjs" and (args.quantize not in TFJS_QUANTIZE or args.select_tf_ops):
        raise UsageError("--to tfjs: --quantize is one of " + ", ".join(TFJS_QUANTIZE) + " (TF.js quantizes "
                         "weights only, activations stay float32); --select-tf-ops applies to --to tflite")
    if args.to == "tflite" and args.quantize not in TFLITE_QUANTIZE:
        raise UsageError(f"--to tflite: --quantize is one of {', '.join(TFLITE_QUANTIZE)} "
                         f"({args.quantize} is a TF.js weight quantization)")
    if getattr(args, "shard_size", None) and args.to != "tfjs":
        raise UsageError("--shard-size applies to --to tfjs")
    args.shard_bytes = _shard_bytes(getattr(args, "shard_size", None))
    if args.to == "frozen-pb" and (args.quantize != "none" or args.select_tf_ops):
        raise UsageError("--quantize and --select-tf-ops apply to --to tflite (and --quantize to tfjs weights)")
    if args.samples is not None and args.samples < 1:
        raise UsageError("--samples must be at least 1")
    if args.output == "-":
        raise UsageError("-o -: a converted model is binary; give a file name")
    if args.representative and args.to != "tflite":
        raise UsageError("--representative applies to --to tflite (int8 calibration and verification)")
    if args.report and args.to == "tfjs":
        raise UsageError("--report applies to --to tflite and frozen-pb")
    for flag, path in (("--json", args.json), ("--report", args.report)):
        if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            raise UsageError(f"{flag} {path}: the folder {os.path.dirname(os.path.abspath(path))} does not exist")
    if args.image_range:
        try:
            lo, hi = (float(x) for x in args.image_range.split(","))
        except ValueError:
            raise UsageError("--image-range: expected LOW,HIGH, e.g. 0,1 or -1,1 or 0,255") from None
        args.image_range_pair = (lo, hi)
    else:
        args.image_range_pair = (0.0, 1.0)


def _shard_bytes(value: Optional[str]) -> Optional[int]:
    """--shard-size 4194304, 4MB, 512KB, 4MiB -> bytes (TF.js weight shard size; the converter's default 4 MB)."""
    if not value:
        return None
    v = value.strip().upper().replace("IB", "B")
    mult = 1
    for suffix, m in (("KB", 1024), ("MB", 1024 ** 2), ("GB", 1024 ** 3), ("K", 1024), ("M", 1024 ** 2), ("B", 1)):
        if v.endswith(suffix):
            v, mult = v[: -len(suffix)], m
            break
    try:
        n = int(float(v) * mult)
    except ValueError:
        raise UsageError(f"--shard-size {value}: expected a size such as 4MB, 512KB or 4194304") from None
    if n < 1024:
        raise UsageError(f"--shard-size {value}: at least 1KB")
    return n


def run_convert(args) -> int:
    console = Console(debug=getattr(args, "debug", False), quiet=getattr(args, "quiet", False))
    result: dict = {"status": "failed", "to": args.to, "mode": args.quantize, "source": {"path": args.model},
                    "stages": console.stages}  # each stage's name and seconds, filled in as they run
    try:
        code = _run(args, console, result)
    except ConverterRefused as e:
        result.update(e.to_dict())
        _maybe_json(args, result)
        if getattr(args, "debug", False):
            if e.raw:
                sys.stderr.write(e.raw + "\n")
            raise
        print("graphreport: error: conversion failed: " + e.summary, file=sys.stderr)
        for p in e.problems:
            print(f"  - {p.line()}", file=sys.stderr)
        if not e.problems:
            print("  (rerun with --debug for the converter's full log)", file=sys.stderr)
        return e.code
    except GraphReportError as e:
        result["error"] = " ".join(str(e).split())
        _maybe_json(args, result)
        raise
    return code


def _run(args, console: Console, result: dict) -> int:
    _check_args(args)
    converter = None
    if args.to == "tfjs":
        from .tfjs import require_converter

        converter = require_converter(getattr(args, "tfjs_converter", None))
    require_tensorflow()

    kind, model_path, prefix = src.detect(args.model)
    result["source"]["format"] = kind
    inputs = src.split_names(args.inputs)
    outputs = src.split_names(args.outputs)
    shapes = src.parse_shapes(args.input_shape)
    out = args.output or default_output(args.model, kind, args.to)
    if os.path.abspath(out) == os.path.abspath(args.model) or os.path.abspath(out) == os.path.abspath(model_path):
        raise UsageError(f"-o {out} would overwrite the source model")
    out_dir = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(out_dir):
        raise UsageError(f"-o {out}: the folder {out_dir} does not exist")
    if args.to != "tfjs" and os.path.isdir(out):
        raise UsageError(f"-o {out} is a folder; give a file name")

    plan = src.Plan(kind=kind, path=args.model, model_path=model_path, checkpoint=prefix)
    if kind in ("graphdef", "metagraph"):
        plan = src.plan_tf1(kind, args.model, model_path, prefix, inputs, outputs, shapes)

    with console.step("Loading TensorFlow"):
        tf = import_tensorflow(console)

    prepared = _prepare(tf, plan, args, console, inputs, outputs, shapes)
    for note in plan.notes:
        console.info(f"  {note}")
    result.update({
        "source": {"path": args.model, "format": kind, "files": plan.files},
        "inputs": [i.to_dict() for i in plan.inputs], "outputs": [o.to_dict() for o in plan.outputs],
        "switches": [s.to_dict() for s in plan.switches], "notes": list(plan.notes),
    })
    frozen_bytes = prepared["graph_def"].SerializeToString() if prepared.get("graph_def") is not None else None
    sizes = {"source": plan.source_bytes, "frozen_graph": len(frozen_bytes) if frozen_bytes else None}

    if args.to == "frozen-pb":
        write_bytes_atomic(out, frozen_bytes)
        sizes["output"] = len(frozen_bytes)
        result.update({"status": "ok", "output": out, "sizes": sizes, "verification": None,
                       "output_nodes": prepared["output_nodes"]})
        _maybe_json(args, result)
        if args.report:
            _write_report(out, args.report, None, console)
        print(out)
        print(f"frozen GraphDef: {_human(sizes['output'])} (source {_human(sizes['source'])}); outputs: "
              + ", ".join(prepared["output_nodes"]))
        return 0

    if args.to == "tfjs":
        from .tfjs_out import to_tfjs

        return to_tfjs(tf, plan, prepared, args, console, out, sizes, result, converter)

    return _to_tflite(tf, plan, prepared, args, console, out, sizes, result)


def _prepare(tf, plan: src.Plan, args, console: Console, inputs, outputs, shapes) -> dict:
    """Load the source; -> {concrete, graph_def, reference(samples), output_nodes}."""
    from . import freeze, tf2

    if plan.kind in ("graphdef", "metagraph"):
        tf2.unique_keys(plan)
        label = "Freezing variables" if plan.kind == "metagraph" else "Preparing the graph"
        with console.step(label), console.quiet():
            if plan.kind == "metagraph":
                gd, removed = freeze.freeze_metagraph(tf, plan)
            else:
                gd, removed = freeze.prepare_graphdef(tf, plan)
            concrete = freeze.graphdef_function(tf, gd, plan)
        if removed.get("constant_switches"):
            plan.notes.append(f"resolved {removed['constant_switches']} Switch(es) on fed training switches "
                              "(the training-only branches are gone)")
        if removed.get("constant_ifs"):
            plan.notes.append(f"folded {removed['constant_ifs']} cond(s) (If) on fed training switches: the branch "
                              "each always takes is inlined, the training-only branch is gone")
        if removed.get("dropout"):
            plan.notes.append(f"removed {removed['dropout']} dropout block(s) that cannot drop at inference")
        return {"concrete": concrete, "graph_def": gd,
                "output_nodes": [src.split_tensor_name(o.tensor)[0] for o in plan.outputs],
                "reference": lambda samples: freeze.run_reference(tf, plan, samples)}

    with console.step("Loading the model"), console.quiet():
        if plan.kind == "keras":
            plan.files = [plan.model_path]
            model = tf2.load_keras(tf, plan.model_path)
            tf2.plan_keras(tf, plan, model, inputs, outputs, shapes)
            tf2.unique_keys(plan)
            concrete, fn = tf2.keras_function(tf, plan, model)
        else:
            plan.files = [plan.model_path]
            loaded, key, sig = tf2.load_savedmodel(tf, plan.model_path)
            tf2.plan_savedmodel(tf, plan, sig, key, inputs, outputs, shapes)
            tf2.unique_keys(plan)
            concrete, fn = tf2.savedmodel_function(tf, plan, sig)
            plan.keep_alive = loaded
    with console.step("Freezing variables"), console.quiet():
        frozen = tf2.freeze_function(tf, concrete)
    gd = frozen.graph.as_graph_def()
    return {"concrete": frozen, "graph_def": gd,
            "output_nodes": [t.name.split(":")[0] for t in frozen.outputs],
            "reference": lambda samples: tf2.run_function(fn, samples)}


def _to_tflite(tf, plan, prepared, args, console, out, sizes, result) -> int:
    from . import tflite, verify

    calib, verify_on, what, calib_kind = _samples(tf, plan, args, console)
    float_in = all((i.dtype or "").startswith(("float", "bfloat")) for i in plan.inputs)
    float_out = all((t.dtype.is_floating for t in prepared["concrete"].outputs))
    model_bytes = tflite.convert(tf, prepared["concrete"], args.quantize, args.select_tf_ops, console,
                                 representative=calib, int8_io=(float_in, float_out))
    sizes["output"] = len(model_bytes)
    ops = _tflite_ops(out, model_bytes)
    flex = sorted(op for op in ops if op.startswith("Flex"))
    rows = None
    io_dtypes = None
    skipped = "--no-verify" if args.no_verify else None
    if not args.no_verify:
        with console.step("Verifying"):
            try:
                with console.quiet():
                    runner = verify.TFLiteRunner(tf, model_bytes, plan.inputs, plan.outputs)
            except ConversionError:
                if not flex:
                    raise
                runner = None
                skipped = (f"the model uses Flex ops ({', '.join(flex)}) and this tf.lite.Interpreter has no Flex "
                           "delegate; verify it where the TensorFlow Select ops runtime is linked")
            if runner is not None:
                with console.quiet():
                    references = prepared["reference"](verify_on)
                    rows = verify.verify(runner, plan.outputs, verify_on, references, console)
                    io_dtypes = runner.io_dtypes()
        if skipped:
            console.warn("verification skipped: " + skipped)
    for row in rows or []:
        concern = _concern(row, args.quantize)
        if concern:
            console.warn(f"output {row['output']}: {concern}")
    write_bytes_atomic(out, model_bytes)
    result.update({
        "status": "ok", "output": out, "sizes": sizes, "calibration": calib_kind,
        "calibration_samples": len(calib) if calib else 0, "select_tf_ops": bool(args.select_tf_ops),
        "samples": len(verify_on) if rows is not None else 0, "verified_on": what if rows is not None else None,
        "verification": rows, "verification_skipped": skipped, "tflite_ops": ops, "flex_ops": flex, "notes": list(plan.notes),
    })
    if io_dtypes:
        result["tflite_io_dtypes"] = {"inputs": io_dtypes[0], "outputs": io_dtypes[1]}
    _maybe_json(args, result)
    if args.report:
        from ..report import Verification

        _write_report(out, args.report, Verification(verified_on=result["verified_on"], mode=args.quantize,
                                                     sizes=sizes, rows=rows, source=args.model,
                                                     calibration=calib_kind), console)
    _print_summary(out, args, sizes, rows, what, flex, plan)
    return 0


def _tflite_ops(path: str, data: bytes) -> dict:
    try:
        from ..readers import tflite as reader

        model = reader.read(path, data)
        return dict(Counter(n.op for n in model.main.nodes).most_common())
    except Exception:  # the report path will say what is wrong with it; the op list is a nicety
        return {}


def _write_report(path: str, report_path: str, verification, console: Console) -> None:
    """`verification`: a report.Verification, or None."""
    from ..readers.detect import load
    from ..report import build_report

    ext = os.path.splitext(report_path)[1].lower()
    fmt = {".json": "json", ".md": "md", ".markdown": "md"}.get(ext, "html")
    with console.step("Writing the report"):
        model = load(path)
        rep = build_report(model, diagram=fmt == "html")
        if verification is not None:
            rep.verification = verification
        from ..render import render

        text = render(rep, fmt)
    _write_text(report_path, text)


__all__ = ["run_convert", "default_output", "write_bytes_atomic", "ConversionError"]
