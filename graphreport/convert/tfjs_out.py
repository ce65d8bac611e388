"""`graphreport convert --to tfjs`: the frozen GraphDef through tensorflowjs_converter (graphreport.convert.tfjs),
then the written model run in the TF.js runtime against the source in TensorFlow on the same random inputs
(graphreport.convert.tfjs_runtime), with the same figures and --json structure as the TFLite verification.
"""
from __future__ import annotations

import os

from ..model import split_tensor_name
from ..opdata import roles as op_roles
from . import tfjs, tfjs_runtime, verify
from .outcome import _concern, _maybe_json, _print_summary, _samples

RUNTIME = "TF.js (@tensorflow/tfjs-core CPU backend in Node)"


def _input_names(plan, graph_def) -> list[str]:
    """The frozen graph's placeholder for each planned input, in plan order (what TF.js calls its inputs)."""
    placeholders = [n.name for n in graph_def.node if n.op in op_roles.ops("placeholder")]
    names = []
    for i in plan.inputs:
        for cand in (split_tensor_name(i.tensor)[0], i.key, i.name):
            if cand in placeholders:
                names.append(cand)
                break
        else:
            return placeholders if len(placeholders) == len(plan.inputs) else [i.key for i in plan.inputs]
    return names


def to_tfjs(tf, plan, prepared, args, console, out, sizes, result, converter: str) -> int:
    gd, out_nodes = prepared["graph_def"], prepared["output_nodes"]
    if plan.kind in ("keras", "savedmodel"):
        gd, out_nodes = tfjs.name_outputs(gd, out_nodes, [o.key for o in plan.outputs])
    in_names = _input_names(plan, gd)
    _, verify_on, what, _ = _samples(tf, plan, args, console)
    rows = None
    skipped = "--no-verify" if args.no_verify else None
    if skipped is None and tfjs_runtime.find_runtime() is None:
        skipped = tfjs_runtime.missing_reason()

    def check(folder: str) -> None:
        nonlocal rows
        if skipped is not None:
            return
        with console.step("Verifying in TF.js"):
            with console.quiet():
                references = prepared["reference"](verify_on)
            got = tfjs_runtime.run(folder, verify_on, in_names, out_nodes, console)
            rows = verify.compare_all(plan.outputs, references, got)

    files = tfjs.convert(converter, gd.SerializeToString(), out_nodes, out, args.quantize, args.shard_bytes,
                         console, check=check)
    if skipped and skipped != "--no-verify":
        console.warn("verification skipped: " + skipped)
    for row in rows or []:
        concern = _concern(row, args.quantize)
        if concern:
            console.warn(f"output {row['output']}: {concern}")
    sizes["output"] = sum(os.path.getsize(os.path.join(out, f)) for f in files)
    result.update({
        "status": "ok", "output": out, "sizes": sizes, "files": files, "output_nodes": out_nodes,
        "input_nodes": in_names, "converter": converter,
        "samples": len(verify_on) if rows is not None else 0, "verified_on": what if rows is not None else None,
        "verified_in": RUNTIME if rows is not None else None, "verification": rows,
        "verification_skipped": skipped, "notes": list(plan.notes),
    })
    _maybe_json(args, result)
    _print_summary(out, args, sizes, rows, what, [], plan, runtime=RUNTIME)
    return 0
