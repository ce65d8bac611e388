"""TensorFlow.js output through the real converter, kept out of the project's environment.

`tensorflowjs` resolves to an older TensorFlow than graphreport's (through tensorflow-decision-forests), so it is
never imported here: `make setup-tfjs` installs it into its own virtual environment (.venv-tfjs) and this module
runs its `tensorflowjs_converter` as a subprocess. The converter is found, in order, at
  1. --tfjs-converter PATH or $GRAPHREPORT_TFJS_CONVERTER (the executable, or a virtual environment holding it),
  2. .venv-tfjs/bin/tensorflowjs_converter in the checkout graphreport runs from,
  3. `tensorflowjs_converter` on PATH.
Every source (GraphDef, checkpoint, SavedModel, Keras) reaches it as the frozen GraphDef graphreport makes for
TFLite (`--input_format=tf_frozen_model`), so input names, fed training switches and output nodes are the
report's suggestions. SavedModel and Keras output nodes are renamed after the signature/Keras outputs, so the
TF.js model's outputs carry the source's names. The result folder replaces -o in one rename.

Verification runs the written model in the TF.js runtime itself (graphreport/convert/tfjs_runtime.py).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile

from ..errors import ConversionError, UsageError
from .diagnose import ConverterRefused, Problem

# --quantize for --to tfjs: TF.js weight quantization (activations stay float32 in TF.js)
WEIGHT_QUANT = {"none": [], "float16": ["--quantize_float16"], "uint8": ["--quantize_uint8"],
                "uint16": ["--quantize_uint16"]}
ENV_CONVERTER = "GRAPHREPORT_TFJS_CONVERTER"
SETUP_HINT = "run `make setup-tfjs` in the graphreport checkout (or give --tfjs-converter PATH)"
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_UNSUPPORTED = re.compile(r"Unsupported Ops in the model (?:before|after) optimization\s*\n\s*([^\n]+)")


def _in_venv(path: str) -> str:
    return os.path.join(path, "bin", "tensorflowjs_converter")


def find_converter(given: str | None = None) -> str | None:
    """The tensorflowjs_converter executable, or None (see the module docstring for the order)."""
    given = given or os.environ.get(ENV_CONVERTER) or None
    if given:
        path = _in_venv(given) if os.path.isdir(given) else given
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
        raise UsageError(f"--tfjs-converter / ${ENV_CONVERTER} {given}: no tensorflowjs_converter there; "
                         + SETUP_HINT)
    local = _in_venv(os.path.join(REPO_ROOT, ".venv-tfjs"))
    if os.path.isfile(local) and os.access(local, os.X_OK):
        return local
    return shutil.which("tensorflowjs_converter")


def require_converter(given: str | None = None) -> str:
    path = find_converter(given)
    if path is None:
        raise UsageError("--to tfjs needs the TF.js converter, which is not set up: " + SETUP_HINT
                         + "; --to tflite and --to frozen-pb work without it")
    return path


def name_outputs(graph_def, output_nodes: list[str], names: list[str]):
    """Rename the output nodes to `names` (the signature's / Keras model's output names), so that the TF.js
    model's outputs carry them; a node already holding such a name is renamed out of the way (every input
    referring to it follows). -> (a new graph_def, the output node names)."""
    taken = {n.name for n in graph_def.node}
    mapping: dict[str, str] = {}
    result = []
    for node, name in zip(output_nodes, names):
        if not name or name == node or name in output_nodes or name in mapping.values():
            result.append(node)
            continue
        if name in taken:
            k = 0
            while f"{name}_{k}" in taken:
                k += 1
            mapping[name] = f"{name}_{k}"
            taken.add(f"{name}_{k}")
        mapping[node] = name
        taken.add(name)
        result.append(name)
    gd = type(graph_def)()
    gd.CopyFrom(graph_def)
    if not mapping:
        return gd, result
    for n in gd.node:
        if n.name in mapping:
            n.name = mapping[n.name]
        for i, ref in enumerate(n.input):
            ctrl = ref.startswith("^")
            base, sep, port = ref.lstrip("^").partition(":")
            if base in mapping:
                n.input[i] = ("^" if ctrl else "") + mapping[base] + sep + port
    return gd, result


def _refused(text: str, code: int) -> ConversionError:
    m = _UNSUPPORTED.search(text)
    if m:
        ops = [x.strip() for x in m.group(1).split(",") if x.strip()]
        problems = [Problem(op=op, why="TensorFlow.js has no kernel for it",
                            fix="replace it with supported ops, or register a custom op in TF.js "
                                "(tf.registerOp) and convert with --skip_op_check") for op in ops]
        return ConverterRefused(f"tensorflowjs_converter refused {len(ops)} op(s): {', '.join(ops)}", problems,
                                raw=text)
    lines = [x.strip() for x in text.splitlines() if x.strip()]
    errs = [x for x in lines if re.match(r"\w*(Error|Exception)\b", x)]
    last = (errs or lines or [f"exit {code}"])[-1]
    return ConversionError("tensorflowjs_converter failed: " + last[:400])


def convert(converter: str, frozen_bytes: bytes, output_nodes: list[str], out_dir: str, mode: str,
            shard_bytes: int | None, console, check=None) -> list[str]:
    """Write the TF.js graph model folder atomically; returns the file names written. `check(folder)` runs on
    the finished folder before it replaces -o (the verification: a model that fails it is not written)."""
    parent = os.path.dirname(os.path.abspath(out_dir))
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise UsageError(f"-o {out_dir}: exists and is not a folder (TF.js output is a folder)")
    work = tempfile.mkdtemp(prefix=".graphreport-tfjs-", dir=parent)
    try:
        frozen = os.path.join(work, "frozen.pb")
        with open(frozen, "wb") as f:
            f.write(frozen_bytes)
        result = os.path.join(work, "model")
        # the quantization flags first: each takes an optional value and would swallow a positional after it
        cmd = [converter, *WEIGHT_QUANT[mode], "--input_format=tf_frozen_model", "--output_format=tfjs_graph_model",
               f"--output_node_names={','.join(output_nodes)}"]
        if shard_bytes:
            cmd.append(f"--weight_shard_size_bytes={shard_bytes}")
        cmd += [frozen, result]
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        env.update({"TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "", "PYTHONWARNINGS": "ignore"})
        with console.step("Converting to TensorFlow.js"):
            try:
                p = subprocess.run(cmd, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
            except OSError as e:
                raise UsageError(f"cannot run {converter} ({e.strerror or e}); " + SETUP_HINT) from None
            log = (p.stdout or "") + (p.stderr or "")
            console.captured.append(log)
            if console.debug:
                console._write_err(log)
            if p.returncode != 0 or not os.path.isfile(os.path.join(result, "model.json")):
                raise _refused(log, p.returncode)
        if check is not None:
            check(result)
        old = None
        if os.path.isdir(out_dir):
            old = os.path.join(work, "old")
            os.replace(out_dir, old)
        os.replace(result, out_dir)
        return sorted(os.listdir(out_dir))
    finally:
        shutil.rmtree(work, ignore_errors=True)
