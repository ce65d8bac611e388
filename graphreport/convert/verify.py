"""Verification: the source in TensorFlow and the converted model in tf.lite.Interpreter (or in TF.js, through
graphreport.convert.tfjs_runtime) on the same inputs.

Per output: max and mean absolute error, the output's scale (max |reference|) and the max error relative to it,
cosine similarity (per sample, then averaged; the minimum too), and top-1 agreement for classifier-like
outputs (rank 2, last dimension > 1). Quantized (int8/uint8) model inputs are fed the float samples quantized
with the input's scale and zero point; quantized outputs are dequantized before comparing.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConversionError
from .source import IOSpec


def _match(details: list[dict], specs: list[IOSpec], what: str) -> list[dict]:
    """Interpreter tensor details in the order of specs: by name, else by position."""
    by_name = {}
    for d in details:
        by_name.setdefault(d["name"], d)
        by_name.setdefault(d["name"].split(":")[0], d)
    out, used = [], set()
    for k, s in enumerate(specs):
        d = None
        for cand in (s.key, s.name, f"serving_default_{s.key}", f"serving_default_{s.key}:0"):
            if cand in by_name and by_name[cand]["index"] not in used:
                d = by_name[cand]
                break
        if d is None:
            free = [x for x in details if x["index"] not in used]
            if len(details) != len(specs) or not free:
                raise ConversionError(f"the converted model has {len(details)} {what}(s), the source "
                                      f"{len(specs)}: cannot pair them for verification (--no-verify skips it)")
            d = details[k] if details[k]["index"] not in used else free[0]
        used.add(d["index"])
        out.append(d)
    return out


def _quant(d: dict) -> tuple[float, int]:
    scale, zero = d.get("quantization", (0.0, 0))
    return float(scale), int(zero)


def _to_input(x: np.ndarray, d: dict) -> np.ndarray:
    dt = np.dtype(d["dtype"])
    scale, zero = _quant(d)
    if dt.kind in "iu" and scale > 0 and x.dtype.kind == "f":
        info = np.iinfo(dt)
        return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dt)
    return x.astype(dt, copy=False)


def _from_output(y: np.ndarray, d: dict) -> np.ndarray:
    scale, zero = _quant(d)
    if np.dtype(d["dtype"]).kind in "iu" and scale > 0:
        return (y.astype(np.float64) - zero) * scale
    return y


class TFLiteRunner:
    def __init__(self, tf, model_bytes: bytes, inputs: list[IOSpec], outputs: list[IOSpec]):
        try:
            self.interp = tf.lite.Interpreter(model_content=model_bytes, num_threads=2)
            self.interp.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise ConversionError("the converted model does not load in tf.lite.Interpreter "
                                  f"({' '.join(str(e).split())[:300]}); --no-verify skips this check") from None
        self.inputs = _match(self.interp.get_input_details(), inputs, "input")
        self.outputs = _match(self.interp.get_output_details(), outputs, "output")
        self.input_specs = inputs

    def run(self, sample: list[np.ndarray]) -> list[np.ndarray]:
        it = self.interp
        resized = False
        for d, x in zip(self.inputs, sample):
            if list(d["shape"]) != list(x.shape):
                it.resize_tensor_input(d["index"], list(x.shape))
                resized = True
        if resized:
            it.allocate_tensors()
            self.inputs = [next(n for n in it.get_input_details() if n["index"] == d["index"]) for d in self.inputs]
            self.outputs = [next(n for n in it.get_output_details() if n["index"] == d["index"])
                            for d in self.outputs]
        for d, x in zip(self.inputs, sample):
            it.set_tensor(d["index"], _to_input(np.asarray(x), d))
        try:
            it.invoke()
        except (RuntimeError, ValueError) as e:
            raise ConversionError("the converted model fails to run in tf.lite.Interpreter "
                                  f"({' '.join(str(e).split())[:300]}); --no-verify skips this check") from None
        return [_from_output(np.array(it.get_tensor(d["index"])), d) for d in self.outputs]

    def io_dtypes(self) -> tuple[list[str], list[str]]:
        return ([np.dtype(d["dtype"]).name for d in self.inputs], [np.dtype(d["dtype"]).name for d in self.outputs])


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 and nb == 0.0:
        return 1.0
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(np.dot(a, b) / (na * nb))


def compare(name: str, refs: list[np.ndarray], gots: list[np.ndarray]) -> dict:
    """Figures for one output over all samples."""
    ref = [np.asarray(r, dtype=np.float64) for r in refs]
    got = [np.asarray(g, dtype=np.float64) for g in gots]
    for r, g in zip(ref, got):
        if r.shape != g.shape:
            if r.size == g.size:
                continue
            raise ConversionError(f"output {name}: the converted model gives shape {list(g.shape)}, the source "
                                  f"{list(r.shape)}")
    diffs = np.concatenate([np.abs(r.reshape(-1) - g.reshape(-1)) for r, g in zip(ref, got)])
    scale = max(float(np.max(np.abs(r))) if r.size else 0.0 for r in ref)
    cos = [_cosine(r.reshape(-1), g.reshape(-1)) for r, g in zip(ref, got)]
    finite = bool(np.all(np.isfinite(diffs)))
    res = {
        "output": name,
        "max_abs_error": float(np.max(diffs)) if diffs.size else 0.0,
        "mean_abs_error": float(np.mean(diffs)) if diffs.size else 0.0,
        "output_scale": scale,
        "relative_max_error": (float(np.max(diffs)) / scale if scale > 0 else float(np.max(diffs)))
        if diffs.size else 0.0,
        "cosine": float(np.mean(cos)) if cos else 1.0,
        "cosine_min": float(np.min(cos)) if cos else 1.0,
        "top1_agreement": None,
        "finite": finite,
    }
    r0 = ref[0]
    if r0.ndim == 2 and r0.shape[-1] > 1:
        agree = total = 0
        for r, g in zip(ref, got):
            g = g.reshape(r.shape)
            agree += int(np.sum(np.argmax(r, -1) == np.argmax(g, -1)))
            total += r.shape[0]
        res["top1_agreement"] = agree / total if total else None
    return res


def verify(runner: TFLiteRunner, outputs: list[IOSpec], samples: list[list[np.ndarray]],
           references: list[list[np.ndarray]], console=None) -> list[dict]:
    got = []
    n = len(samples)
    for k, s in enumerate(samples, 1):
        if console is not None:
            console.count("Verifying", k, n)
        got.append(runner.run(s))
    return compare_all(outputs, references, got)


def compare_all(outputs: list[IOSpec], references: list[list[np.ndarray]], got: list[list[np.ndarray]]) -> list[dict]:
    """One row per output: the source's outputs (per sample) against the converted model's."""
    return [compare(o.name, [r[j] for r in references], [g[j] for g in got]) for j, o in enumerate(outputs)]


def format_table(rows: list[dict], verified_on: str, runtime: str = "tf.lite.Interpreter") -> str:
    lines = [f"verification on {verified_on} (source in TensorFlow vs {runtime}):"]
    for r in rows:
        top1 = f", top-1 agreement {r['top1_agreement'] * 100:.1f}%" if r["top1_agreement"] is not None else ""
        lines.append(f"  {r['output']}: max abs error {r['max_abs_error']:.3g} "
                     f"({r['relative_max_error'] * 100:.3g}% of output scale {r['output_scale']:.3g}), "
                     f"mean {r['mean_abs_error']:.3g}, cosine {r['cosine']:.6f}{top1}")
    return "\n".join(lines)
