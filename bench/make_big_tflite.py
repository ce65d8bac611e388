"""Build (once) a ~1 GB .tflite with TensorFlow: four 8192x8192 float32 Dense layers (issue 10's file-size target).

The weights are random (fixed seed) so that nothing can compress or deduplicate them. The file is cached under
.cache/bench/<tf version>/big_dense_4x8192.tflite and reused when present (written atomically).

Usage: flock /tmp/tf.lock .venv/bin/python bench/make_big_tflite.py   # prints the path (bench_report.py --big runs it)
Imported by bench scripts: make_big_tflite.path() builds it when missing and returns the path.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WIDTH, LAYERS = 8192, 4
NAME = f"big_dense_{LAYERS}x{WIDTH}.tflite"


def _cache_dir(tf_version: str) -> Path:
    d = ROOT / ".cache" / "bench" / tf_version
    d.mkdir(parents=True, exist_ok=True)
    return d


def cached() -> Path | None:
    """The built file when some TF version already built it (no tensorflow import), else None."""
    base = ROOT / ".cache" / "bench"
    found = sorted(base.glob(f"*/{NAME}")) if base.is_dir() else []
    return found[-1] if found else None


def build(force: bool = False) -> Path:
    import numpy as np
    import tensorflow as tf

    path = _cache_dir(tf.__version__) / NAME
    if path.exists() and not force:
        return path
    rng = np.random.default_rng(0)
    inp = tf.keras.Input(shape=(WIDTH,), batch_size=1, name="x")
    x = inp
    for i in range(LAYERS):
        layer = tf.keras.layers.Dense(WIDTH, activation="relu" if i < LAYERS - 1 else None, name=f"dense_{i}")
        x = layer(x)
        layer.set_weights([rng.standard_normal((WIDTH, WIDTH), dtype=np.float32) * 0.01,
                           np.zeros(WIDTH, np.float32)])
    model = tf.keras.Model(inp, x)
    data = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return path


def path() -> Path:
    return cached() or build()


if __name__ == "__main__":
    p = build(force="--force" in sys.argv)
    print(f"{p} ({p.stat().st_size / 1e9:.2f} GB)")
