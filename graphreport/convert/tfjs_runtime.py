"""Run a converted TF.js graph model in the TF.js runtime: Node with @tensorflow/tfjs-core's CPU backend.

Why Node and the pure-JS CPU backend: those are the kernels a browser runs when it has no WebGL/WebGPU, so the
check runs the model's real TF.js ops; it needs nothing but Node and three npm packages (installed once by
`make setup-tfjs` into tools/tfjs/node_modules, pinned by its package-lock.json, never fetched at convert
time). `@tensorflow/tfjs-node` would run TensorFlow's C++ kernels instead (not what a web page runs) and
downloads libtensorflow from outside the npm registry at install; headless Chromium would run the same CPU
kernels with a browser start-up and a page to serve on top.

The samples are written as raw little-endian files with a request.json; tools/tfjs/run_model.js loads the
model folder, runs each sample (printing `sample K` as it goes, for the progress counter) and writes the
outputs back the same way.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile

import numpy as np

from ..errors import ConversionError
from .tfjs import REPO_ROOT, SETUP_HINT

ENV_RUNTIME = "GRAPHREPORT_TFJS_RUNTIME"
JS_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.uint8}


def find_runtime() -> tuple[str, str] | None:
    """(node executable, run_model.js) when Node and the installed npm packages are there, else None."""
    folder = os.environ.get(ENV_RUNTIME) or os.path.join(REPO_ROOT, "tools", "tfjs")
    script = os.path.join(folder, "run_model.js")
    node = shutil.which("node")
    if node is None or not os.path.isfile(script):
        return None
    if not os.path.isdir(os.path.join(folder, "node_modules", "@tensorflow", "tfjs-core")):
        return None
    return node, script


def missing_reason() -> str:
    if shutil.which("node") is None:
        return "Node.js (node) is not on PATH"
    return "the TF.js runtime (npm packages in tools/tfjs/node_modules) is not installed: " + SETUP_HINT


def _js_input(x: np.ndarray) -> tuple[np.ndarray, str]:
    """TF.js tensors are float32, int32 or bool."""
    if x.dtype.kind == "f":
        return x.astype("<f4"), "float32"
    if x.dtype.kind == "b":
        return x.astype(np.uint8), "bool"
    return x.astype("<i4"), "int32"


def run(model_dir: str, samples: list[list[np.ndarray]], input_names: list[str], output_names: list[str],
        console) -> list[list[np.ndarray]]:
    """Outputs (one list per sample, in output_names order) of the TF.js model on `samples`."""
    found = find_runtime()
    if found is None:
        raise ConversionError("cannot verify: " + missing_reason())
    node, script = found
    work = tempfile.mkdtemp(prefix=".graphreport-tfjs-run-")
    try:
        req_samples = []
        for k, sample in enumerate(samples):
            row = []
            for j, x in enumerate(sample):
                arr, dtype = _js_input(np.asarray(x))
                path = os.path.join(work, f"in_{k}_{j}.bin")
                arr.tofile(path)
                row.append({"file": path, "dtype": dtype, "shape": [int(d) for d in arr.shape]})
            req_samples.append(row)
        request = os.path.join(work, "request.json")
        with open(request, "w", encoding="utf-8") as f:
            json.dump({"dir": work, "inputs": input_names, "outputs": output_names, "samples": req_samples}, f)
        n = len(samples)
        console.count("Verifying", 0, n)
        # stderr to a file, not a pipe: TF.js may warn on every run, and a full pipe would stall the runner
        with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as log:
            p = subprocess.Popen([node, script, os.path.abspath(model_dir), request], stdout=subprocess.PIPE,
                                 stderr=log, text=True, stdin=subprocess.DEVNULL)
            for line in p.stdout:
                if line.startswith("sample "):
                    console.count("Verifying", int(line.split()[1]), n)
            p.wait()
            log.seek(0)
            err = log.read()
        console.captured.append(err)
        if p.returncode != 0:
            lines = [x for x in err.splitlines() if x.startswith("tfjs-runner:")] or err.strip().splitlines()
            raise ConversionError("the converted model fails to run in TF.js ("
                                  + (lines[-1] if lines else f"exit {p.returncode}")[:400]
                                  + "); --no-verify skips this check")
        with open(os.path.join(work, "response.json"), encoding="utf-8") as f:
            response = json.load(f)
        got = []
        for row in response["samples"]:
            got.append([np.fromfile(o["file"], dtype=JS_DTYPES.get(o["dtype"], np.float32)).reshape(o["shape"])
                        for o in row])
        return got
    finally:
        shutil.rmtree(work, ignore_errors=True)
