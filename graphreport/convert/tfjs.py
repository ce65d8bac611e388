"""TensorFlow.js output through the optional `tensorflowjs` package (not a dependency of graphreport).

The frozen GraphDef is handed to `tensorflowjs_converter --input_format=tf_frozen_model` (run as
`python -m tensorflowjs.converters.converter`, its stable command-line interface) in a temporary folder next to
the output, which then replaces the output folder in one rename.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile

from ..errors import ConversionError, UsageError

WEIGHT_QUANT = {"none": [], "float16": ["--quantize_float16"], "dynamic": ["--quantize_uint8"],
                "int8": ["--quantize_uint8"]}


def require_tfjs() -> None:
    if importlib.util.find_spec("tensorflowjs") is None:
        raise UsageError("--to tfjs needs the optional tensorflowjs package, which is not installed: "
                         "pip install tensorflowjs (then rerun); --to tflite and --to frozen-pb work without it")


def convert(frozen_bytes: bytes, output_nodes: list[str], out_dir: str, mode: str, console) -> list[str]:
    """Write the TF.js graph model folder atomically; returns the file names written."""
    parent = os.path.dirname(os.path.abspath(out_dir))
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise UsageError(f"-o {out_dir}: exists and is not a folder (TF.js output is a folder)")
    work = tempfile.mkdtemp(prefix=".graphreport-tfjs-", dir=parent)
    try:
        frozen = os.path.join(work, "frozen.pb")
        with open(frozen, "wb") as f:
            f.write(frozen_bytes)
        result = os.path.join(work, "model")
        cmd = [sys.executable, "-m", "tensorflowjs.converters.converter", "--input_format=tf_frozen_model",
               "--output_format=tfjs_graph_model", f"--output_node_names={','.join(output_nodes)}",
               *WEIGHT_QUANT[mode], frozen, result]
        with console.step("Converting to TensorFlow.js"):
            p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        if p.returncode != 0 or not os.path.isfile(os.path.join(result, "model.json")):
            lines = [x for x in (p.stderr or p.stdout).splitlines() if x.strip()]
            raise ConversionError("tensorflowjs_converter failed: " + (lines[-1] if lines else f"exit {p.returncode}"))
        old = None
        if os.path.isdir(out_dir):
            old = os.path.join(work, "old")
            os.replace(out_dir, old)
        os.replace(result, out_dir)
        return sorted(os.listdir(out_dir))
    finally:
        shutil.rmtree(work, ignore_errors=True)
