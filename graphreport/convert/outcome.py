"""What every conversion target shares once the model is converted: the samples it is calibrated and verified
on, the verification's concerns, the printed summary and the --json result (used by run.py for TFLite and
frozen GraphDefs and by tfjs_out.py for TF.js)."""
from __future__ import annotations

import json
import sys
from typing import Optional

from . import source as src
from .console import Console

MODE_NAMES = {"none": "float32", "dynamic": "dynamic-range quantized", "float16": "float16 weights",
              "int8": "full int8", "uint8": "uint8 weights", "uint16": "uint16 weights"}
DEFAULT_SAMPLES = 10
RANDOM_WARNING = (
    "no --representative data: int8 calibration ran on {n} random inputs (uniform [0, 1) for floats). "
    "Quantization ranges calibrated on random data are MEANINGLESS for real inputs: the model converts and "
    "runs, but its accuracy on real data is unknown and may be poor. Pass --representative with a few hundred "
    "real inputs (.npy/.npz, or a folder of images).")


def _write_text(path: str, text: str) -> None:
    from ..fileio import write_atomic

    write_atomic(path, text)


def _human(n: Optional[int]) -> str:
    from ..render import human_bytes

    return human_bytes(n)


def _maybe_json(args, result: dict) -> None:
    if getattr(args, "json", None):
        try:
            _write_text(args.json, json.dumps(result, indent=1, default=str) + "\n")
        except OSError as e:
            print(f"graphreport: warning: cannot write --json {args.json}: {e.strerror or e}", file=sys.stderr)


def _samples(tf, plan: src.Plan, args, console: Console) -> tuple[list, list, str, Optional[str]]:
    """-> (calibration samples or [], verification samples, what the verification ran on, calibration kind)."""
    from . import calibrate

    n = args.samples or DEFAULT_SAMPLES
    calib, calib_kind = [], None
    if args.representative:
        with console.step("Reading representative data"), console.quiet():
            rep = calibrate.load_representative(args.representative, plan.inputs, tf, args.image_range_pair,
                                                warn=console.warn)
        calib = rep if args.quantize == "int8" else []
        calib_kind = "representative" if args.quantize == "int8" else None
        verify_on = rep[:n]
        what = f"{len(verify_on)} representative sample{'s' if len(verify_on) != 1 else ''}"
    else:
        if args.quantize == "int8":
            calib = calibrate.random_samples(plan.inputs, max(calibrate.RANDOM_CALIBRATION_SAMPLES, n), seed=0)
            calib_kind = "random"
            console.warn(RANDOM_WARNING.format(n=len(calib)))
        verify_on = calibrate.random_samples(plan.inputs, n, seed=1)
        what = f"{n} random input{'s' if n != 1 else ''}"
    return calib, verify_on, what, calib_kind


def _concern(row: dict, mode: str) -> Optional[str]:
    """A verification figure worse than the mode should give."""
    if not row["finite"]:
        return "the converted model gives NaN or infinite values where the source does not (or vice versa)"
    if mode == "none" and row["relative_max_error"] > 1e-3:
        return (f"a float32 conversion should match its source closely, but the max error is "
                f"{row['relative_max_error'] * 100:.2g}% of the output's scale")
    if mode in ("float16", "dynamic", "uint8", "uint16") and row["cosine"] < 0.99:
        return f"cosine similarity {row['cosine']:.4f} to the source: this mode costs accuracy here"
    if mode == "int8" and row["cosine"] < 0.95:
        return (f"cosine similarity {row['cosine']:.4f} to the source: full int8 costs accuracy here (check the "
                "representative data, or try --quantize dynamic or float16)")
    return None


def _print_summary(out, args, sizes, rows, what, flex, plan, runtime: str = "tf.lite.Interpreter") -> None:
    from .verify import format_table

    mode = MODE_NAMES[args.quantize]
    ratio = f", {sizes['output'] / sizes['source']:.2f}x the source" if sizes.get("source") else ""
    print(out)
    print(f"{mode}: {_human(sizes['output'])} (source {_human(sizes['source'])}{ratio})"
          + (f"; Flex ops: {', '.join(flex)}" if flex else ""))
    print("inputs: " + ", ".join(f"{i.name} {i.shape}" for i in plan.inputs)
          + "; outputs: " + ", ".join(o.name for o in plan.outputs))
    if rows is not None:
        print(format_table(rows, what, runtime))
