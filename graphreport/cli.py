"""Command line: `graphreport report MODEL [-o OUT] [--format html|json|md]`,
`graphreport report DIR --out-dir OUT` (every model under DIR, see batch.py),
`graphreport diff OLD NEW [-o OUT] [--format html|json|md] [--fail-on GATES]` (see graphreport/diff/) and
`graphreport convert MODEL --to tflite|frozen-pb|tfjs [...]` (see graphreport/convert/).

Exit codes: 0 done, 2 bad input (unreadable model, bad arguments), 3 conversion failed, 4 a `diff --fail-on`
gate tripped (the diff is still written), 1 internal error.
Errors are one line on stderr; --debug shows the traceback.
"""
from __future__ import annotations

import argparse
import os
import sys

from . import __version__
from .errors import GraphReportError
from .fileio import write_atomic
from .shapespec import parse_input_shapes

EXTENSIONS = {"html": ".html", "json": ".json", "md": ".md"}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="graphreport", description="Static reports of TensorFlow model files.")
    p.add_argument("--version", action="version", version=f"graphreport {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("report", help="write a report of a model file")
    r.add_argument("model", help="model file: .pb, .pbtxt (GraphDef) or .tflite")
    r.add_argument("-o", "--output", help="output file ('-' for stdout); default: MODEL's name + .html/.json/.md "
                                          "in the current directory")
    r.add_argument("--format", choices=sorted(EXTENSIONS), default=None,
                   help="html (default), json or md; guessed from -o's extension when not given")
    r.add_argument("--input-shape", action="append", default=[], metavar="NAME=D0,D1,...",
                   help="fix an input's shape (repeatable), e.g. x=1,224,224,3 (or a bare 1,224,224,3 for the "
                        "only input); use ? for a dim left unknown")
    r.add_argument("--outputs", help="comma-separated output node names for the compatibility check "
                                     "(default: the suggested outputs)")
    r.add_argument("--no-diagram", action="store_true", help="skip the Graphviz diagram")
    r.add_argument("--out-dir", metavar="OUT",
                   help="folder mode: MODEL is a folder; write one report (HTML and JSON) per model found in it, "
                        "recursively, plus OUT/index.html and OUT/index.json")
    r.add_argument("--jobs", type=int, metavar="N", help="folder mode: reports made in parallel (default: CPUs)")
    r.add_argument("--debug", action="store_true", help="show tracebacks")
    _add_diff_parser(sub)
    _add_convert_parser(sub)
    o = sub.add_parser("ops", help="list the ops graphreport knows and which rules each has",
                       description="Every op known to the rule registry and the op tables (TensorFlow ops, TFLite "
                                   "builtins, Keras layers), with its shape / cost / value rules, its TFLite "
                                   "compatibility entry (builtin, Flex, int8) and its roles; totals at the end.")
    o.add_argument("--coverage", action="store_true", required=True, help="print the coverage table")
    o.add_argument("--json", action="store_true", help="print JSON instead of a text table")
    o.add_argument("--dialect", choices=("tf", "tflite", "keras"), help="only this dialect")
    return p


def _add_diff_parser(sub) -> None:
    d = sub.add_parser(
        "diff", help="compare two models: figures, inputs/outputs, TFLite compatibility, nodes and layers",
        description="Compare two model files of any formats read by `report` (v1 vs v2 of a .pb, a Keras model "
                    "vs its .tflite, a frozen .pb vs its .tflite). Exit codes: 0 done, 4 a --fail-on gate tripped "
                    "(the output is still written), 2 bad input.")
    d.add_argument("old", help="the model before the change")
    d.add_argument("new", help="the model after the change")
    d.add_argument("-o", "--output", help="output file ('-' for stdout); default: OLD_vs_NEW.html/.json/.md in the "
                                          "current directory")
    d.add_argument("--format", choices=sorted(EXTENSIONS), default=None,
                   help="html (default), json or md (a pull-request comment); guessed from -o's extension")
    d.add_argument("--fail-on", metavar="GATES", default="",
                   help="comma-separated gates that make the exit code 4: io, flex, unsupported, int8, "
                        "params:+N%%, flops:+N%%, size:+N%%, any")
    d.add_argument("--input-shape", action="append", default=[], metavar="NAME=D0,D1,...",
                   help="fix an input's shape on both sides (TensorFlow graphs; repeatable)")
    d.add_argument("--debug", action="store_true", help="show tracebacks")


def _add_convert_parser(sub) -> None:
    c = sub.add_parser(
        "convert", help="convert a model to TFLite (or a frozen GraphDef, or TF.js) and verify the result",
        description="Convert a frozen GraphDef, a MetaGraph + checkpoint, a SavedModel or a Keras .h5/.keras "
                    "file. Inputs, outputs and shapes default to the report's suggestions; training switches "
                    "(keep_prob, is_training) are fed their inference values. The result is verified against "
                    "the source in TensorFlow unless --no-verify. Needs TensorFlow. Exit codes: 0 done, 2 bad "
                    "input, 3 conversion failed.")
    c.add_argument("model", help="GraphDef (.pb/.pbtxt), checkpoint prefix (model.ckpt, with model.ckpt.meta), "
                                 "SavedModel folder, or Keras .keras/.h5")
    c.add_argument("--to", choices=["tflite", "frozen-pb", "tfjs"], default="tflite",
                   help="tflite (default); frozen-pb: a frozen GraphDef (the freeze_graph step for a checkpoint; "
                        "also from a SavedModel or Keras file); tfjs: a TF.js graph model folder, needs "
                        "`make setup-tfjs`")
    c.add_argument("-o", "--output", help="output file (folder for tfjs); default: MODEL's name + .tflite / "
                                          "_frozen.pb / _web_model in the current directory")
    c.add_argument("--quantize", choices=["none", "dynamic", "float16", "int8", "uint8", "uint16"], default="none",
                   help="none (float32, default), dynamic (int8 weights), float16 (float16 weights), int8 (full "
                        "integer, int8 inputs/outputs; calibrated on --representative); --to tfjs: none, float16, "
                        "uint8 or uint16 (weights)")
    c.add_argument("--representative", metavar="PATH",
                   help="input samples for int8 calibration and verification: .npy (one input), .npz (one "
                        "array per input name) or a folder of PNG/JPEG images (resized to the input, scaled to "
                        "--image-range)")
    c.add_argument("--image-range", metavar="LOW,HIGH", help="value range images are scaled to (default 0,1)")
    c.add_argument("--inputs", metavar="A,B", help="input node names (default: the suggested inputs)")
    c.add_argument("--outputs", metavar="C,D", help="output node names (default: the suggested outputs)")
    c.add_argument("--input-shape", action="append", metavar="NAME=1,224,224,3",
                   help="fixed shape of an input (repeatable); an unknown batch dimension is 1 by default")
    c.add_argument("--select-tf-ops", action="store_true",
                   help="allow TensorFlow ops without a TFLite builtin (Flex delegate, larger runtime)")
    c.add_argument("--json", metavar="RESULT", help="write the result (sizes, verification) as JSON")
    c.add_argument("--report", metavar="REPORT", help="write a report of the converted model (.html, .json or "
                                                      ".md) with the verification figures")
    c.add_argument("--no-verify", action="store_true", help="skip running the result against the source")
    c.add_argument("--samples", type=int, metavar="N", help="inputs to verify on (default 10)")
    c.add_argument("--shard-size", metavar="SIZE", help="--to tfjs: weight file shard size, e.g. 4MB (default)")
    c.add_argument("--tfjs-converter", metavar="PATH", help="--to tfjs: tensorflowjs_converter (or the virtual "
                   "environment holding it); default $GRAPHREPORT_TFJS_CONVERTER, .venv-tfjs, then PATH")
    c.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr (warnings still shown)")
    c.add_argument("--debug", action="store_true", help="show tracebacks and TensorFlow's log")


def _format(args) -> str:
    fmt = args.format
    if fmt is None and args.output and args.output != "-":
        ext = os.path.splitext(args.output)[1].lower().lstrip(".")
        fmt = {"htm": "html", "markdown": "md"}.get(ext, ext) if ext in ("html", "htm", "json", "md", "markdown") else None
    return fmt or "html"


def cmd_report(args) -> int:
    from .readers.detect import load

    if args.out_dir:
        return cmd_report_folder(args)
    fmt = _format(args)
    out = args.output or (os.path.basename(args.model.rstrip("/")) + EXTENSIONS[fmt])
    model = load(args.model)  # a reader raises BadModelError for a bad file; anything else is an internal error
    if fmt == "html" and not args.no_diagram:
        from .render.diagram import prestart
        prestart(model)  # a small graph's static drawing: Graphviz starts now when the analyses cannot change it
    from .report import build_report  # (its modules are imported while dot runs)

    outputs = [o.strip().split(":")[0] for o in args.outputs.split(",") if o.strip()] if args.outputs else None
    report = build_report(model, diagram=not args.no_diagram and fmt == "html",
                          input_shapes=parse_input_shapes(args.input_shape) or None, outputs=outputs)
    from .render import render_parts
    parts = render_parts(report, fmt)
    if out == "-":
        sys.stdout.write("".join(parts))  # whole, so that a failure writes nothing
    else:
        write_atomic(out, parts)
        print(out)
    return 0


def cmd_report_folder(args) -> int:
    """Every model under a folder: 0 when each was reported, 2 when some could not be read (listed in the
    index with the error; the others are written)."""
    from .batch import report_folder
    from .errors import UsageError

    if args.output or args.format or args.input_shape or args.outputs:
        raise UsageError("--out-dir reports every model of a folder as HTML and JSON; -o, --format, "
                         "--input-shape and --outputs apply to one model")
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("--jobs wants a positive number")
    rows, index = report_folder(args.model, args.out_dir, jobs=args.jobs, diagram=not args.no_diagram)
    failed = [r for r in rows if r["error"]]
    for r in failed:
        print(f"graphreport: error: {r['error']}", file=sys.stderr)
    print(index)
    print(f"{len(rows) - len(failed)} of {len(rows)} models reported", file=sys.stderr)
    return 2 if failed else 0


def cmd_diff(args) -> int:
    """0 done; 4 a --fail-on gate tripped (after the output is written)."""
    from .diff import diff_models
    from .diff.gates import evaluate, parse_gates

    gates = parse_gates(args.fail_on)  # a bad gate is a usage error before any work
    fmt = _format(args)
    diff = diff_models(args.old, args.new, input_shapes=parse_input_shapes(args.input_shape) or None,
                       debug=args.debug)
    diff.gates = evaluate(diff, gates)
    if fmt == "html":
        from .render.diff_html import render_diff_html as render
    elif fmt == "json":
        from .render.diff_json import render_diff_json as render
    else:
        from .render.diff_md import render_diff_markdown as render
    text = render(diff)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        def stem(p):
            return os.path.splitext(os.path.basename(p.rstrip("/")))[0] or "model"
        out = args.output or f"{stem(args.old)}_vs_{stem(args.new)}{EXTENSIONS[fmt]}"
        write_atomic(out, text)
        print(out)
    tripped = [g for g in diff.gates if g["tripped"]]
    for g in tripped:
        print(f"graphreport: gate {g['gate']} tripped: {' '.join(g['why'].split())}", file=sys.stderr)
    return 4 if tripped else 0


def cmd_convert(args) -> int:
    from .convert.run import run_convert  # imports TensorFlow lazily, only for this command

    return run_convert(args)


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.command in ("report", "diff") and not getattr(args, "debug", False):
        # a damaged file may make a C library loop or crash: the work runs in a child under a time limit
        from .watchdog import budget, run_guarded

        inputs = [args.model] if args.command == "report" else [args.old, args.new]
        out = getattr(args, "out_dir", None) or args.output
        folders = [os.path.dirname(os.path.abspath(out)) if out and out != "-" and not getattr(args, "out_dir", None)
                   else os.path.abspath(out or ".")]
        reads = None if getattr(args, "out_dir", None) else len(inputs)  # a folder's models: not known yet
        return run_guarded(lambda: _main(args), budget(*inputs, reads=reads), inputs[0] if len(inputs) == 1 else
                           " vs ".join(inputs), folders)
    return _main(args)


def _main(args) -> int:
    try:
        if args.command == "report":
            return cmd_report(args)
        if args.command == "diff":
            return cmd_diff(args)
        if args.command == "convert":
            return cmd_convert(args)
        if args.command == "ops":
            from .opcoverage import run

            return run(args)
    except GraphReportError as e:
        if getattr(args, "debug", False):
            raise
        print(f"graphreport: error: {' '.join(str(e).split())}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        print("graphreport: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # an internal error: one line unless --debug
        if getattr(args, "debug", False):
            raise
        print(f"graphreport: internal error: {type(e).__name__}: {' '.join(str(e).split())[:300]} "
              "(run with --debug for details)", file=sys.stderr)
        return 1
    return 2


def entry() -> None:
    """The `graphreport` command (console script) and `python -m graphreport`: main(), then exit with its
    code. When the work ran in a guarded child that has exited, this process has nothing of its own to tidy
    up, so it skips tearing down the interpreter (a few ms per run)."""
    code = main()
    watchdog = sys.modules.get(f"{__package__}.watchdog")
    if watchdog is not None and watchdog.parent_only_waited and isinstance(code, int):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
