"""Input samples: for int8 calibration (the representative dataset) and for verification.

`--representative PATH` is one of
- a .npy array: samples along the first axis, each of the input's shape (N x 1 x 224 x 224 x 3) or of its
  shape without the batch dimension (N x 224 x 224 x 3, split into batches); for a one-input model;
- a .npz archive: one array per input, keyed by the input's name (or arr_0, arr_1 ... in input order);
- a folder of images (PNG, JPEG, BMP, GIF): for a one-input NHWC image model with 1 or 3 channels; each
  image is decoded (with PIL when installed, else with TensorFlow's decoders), converted to RGB or grayscale,
  resized (bilinear) to the input's height and width, and scaled to --image-range (default 0,1).
Without it, random data stands in: calibration on it is meaningless (a loud warning says so).
"""
from __future__ import annotations

import os
from typing import Optional

import numpy as np

from ..errors import UsageError
from ..shapespec import format_shape
from .source import IOSpec

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
MAX_SAMPLES = 1000  # more calibration samples than this add time, not accuracy
RANDOM_CALIBRATION_SAMPLES = 64

Sample = list  # one array per input, in plan order


def np_dtype(dtype: Optional[str]):
    if dtype in (None, "", "string", "resource", "variant"):
        raise UsageError(f"cannot make sample data for an input of type {dtype or 'unknown'}")
    return np.dtype("bool" if dtype == "bool" else dtype)


def random_samples(inputs: list[IOSpec], n: int, seed: int) -> list[Sample]:
    """Uniform [0, 1) floats, integers in [0, 10), random booleans."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        sample = []
        for i in inputs:
            dt = np_dtype(i.dtype)
            if dt.kind == "f":
                x = rng.random(i.shape, dtype=np.float64).astype(dt)
            elif dt.kind == "b":
                x = rng.random(i.shape) < 0.5
            elif dt.kind in "iu":
                x = rng.integers(0, 10, size=i.shape).astype(dt)
            else:
                raise UsageError(f"cannot make random data for input {i.name!r} of type {i.dtype}")
            sample.append(x)
        out.append(sample)
    return out


def _fmt(shape) -> str:
    return format_shape(shape, sep="x", brackets=False)


def split_array(arr: np.ndarray, spec: IOSpec, origin: str) -> list[np.ndarray]:
    """An array of samples -> a list of arrays of the input's exact shape."""
    shape = list(spec.shape)
    dt = np_dtype(spec.dtype)
    if arr.dtype.kind not in "fiub":
        raise UsageError(f"{origin}: holds {arr.dtype} data; expected numbers for input {spec.name!r}")
    if list(arr.shape[1:]) == shape:
        parts = [arr[k] for k in range(arr.shape[0])]
    elif shape and arr.ndim == len(shape) and list(arr.shape[1:]) == shape[1:]:
        b = shape[0]
        if arr.shape[0] < b:
            raise UsageError(f"{origin}: {arr.shape[0]} sample(s), fewer than the batch size {b} of "
                             f"input {spec.name!r}")
        parts = [arr[k:k + b] for k in range(0, arr.shape[0] - b + 1, b)]
    elif shape and list(arr.shape) == shape[1:] and shape[0] == 1:
        parts = [arr[None]]
    else:
        raise UsageError(f"{origin}: shape {_fmt(arr.shape)} does not fit input {spec.name!r} of shape "
                         f"{_fmt(shape)}: expected N x {_fmt(shape)}"
                         + (f" or N x {_fmt(shape[1:])}" if shape else ""))
    if not parts:
        raise UsageError(f"{origin}: holds no samples")
    return [np.ascontiguousarray(p).astype(dt, copy=False) for p in parts]


def load_representative(path: str, inputs: list[IOSpec], tf=None, image_range=(0.0, 1.0),
                        warn=None) -> list[Sample]:
    if os.path.isdir(path):
        return load_images(path, inputs, tf, image_range)
    if not os.path.isfile(path):
        raise UsageError(f"--representative {path}: no such file or folder")
    low = path.lower()
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        kind = "an image folder, .npy or .npz" if not low.endswith((".npy", ".npz")) else "a numpy file"
        raise UsageError(f"--representative {path}: cannot read it as {kind} ({' '.join(str(e).split())[:200]})"
                         ) from None
    if isinstance(data, np.ndarray):
        if len(inputs) != 1:
            raise UsageError(f"--representative {path}: one array for {len(inputs)} inputs; use a .npz with one "
                             "array per input, named " + ", ".join(i.name for i in inputs))
        per_input = [split_array(data, inputs[0], path)]
    else:
        with data:
            keys = list(data.keys())
            per_input = []
            for k, spec in enumerate(inputs):
                key = next((c for c in (spec.name, spec.key, spec.name.replace("/", "_"), f"arr_{k}")
                            if c in keys), None)
                if key is None and len(inputs) == 1 and len(keys) == 1:
                    key = keys[0]
                if key is None:
                    raise UsageError(f"--representative {path}: no array for input {spec.name!r}; it holds "
                                     + ", ".join(keys))
                per_input.append(split_array(data[key], spec, f"{path}[{key}]"))
    n = min(len(p) for p in per_input)
    if any(len(p) != n for p in per_input) and warn:
        warn(f"--representative {path}: inputs have different sample counts; using the first {n}")
    for spec, parts in zip(inputs, per_input):
        if parts[0].dtype.kind == "f" and data_is_integer(parts) and warn:
            warn(f"--representative: {spec.name} samples are whole numbers (raw pixels?); they are used as "
                 "they are: scale them the way the model expects")
    return [[p[k] for p in per_input] for k in range(min(n, MAX_SAMPLES))]


def data_is_integer(parts) -> bool:
    first = parts[0]
    return bool(first.size) and float(np.abs(first).max()) > 1.5 and bool(np.all(np.floor(first) == first))


def image_layout(inputs: list[IOSpec]) -> tuple[int, int, int, bool]:
    if len(inputs) != 1:
        raise UsageError("--representative FOLDER (images) works for a model with one image input; this one has "
                         f"{len(inputs)} inputs: give a .npz with one array per input")
    shape = inputs[0].shape
    if len(shape) == 4 and shape[3] in (1, 3):
        return shape[1], shape[2], shape[3], True
    if len(shape) == 3 and shape[2] in (1, 3):
        return shape[0], shape[1], shape[2], False
    raise UsageError(f"--representative FOLDER (images): input {inputs[0].name!r} has shape {shape}, not an "
                     "NHWC image with 1 or 3 channels; give a .npy of samples instead")


def load_images(folder: str, inputs: list[IOSpec], tf=None, image_range=(0.0, 1.0)) -> list[Sample]:
    h, w, c, batched = image_layout(inputs)
    spec = inputs[0]
    files = sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTS))
    if not files:
        raise UsageError(f"--representative {folder}: the folder holds no PNG/JPEG/BMP/GIF images")
    files = files[:MAX_SAMPLES]
    decode = _pil_decoder() or _tf_decoder(tf)
    if decode is None:
        raise UsageError("--representative FOLDER needs an image decoder: pip install pillow")
    lo, hi = image_range
    dt = np_dtype(spec.dtype)
    samples = []
    batch = spec.shape[0] if batched else 1
    images = []
    for f in files:
        path = os.path.join(folder, f)
        try:
            img = decode(path, h, w, c)  # float32 HxWxC in [0, 1]
        except Exception as e:  # decoders raise many kinds
            raise UsageError(f"--representative: cannot decode {path} ({' '.join(str(e).split())[:200]})") from None
        if dt.kind == "f":
            img = (lo + img * (hi - lo)).astype(dt)
        else:
            img = np.clip(np.round(img * 255.0), 0, 255).astype(dt)
        images.append(img)
    for k in range(0, len(images) - batch + 1, batch):
        x = np.stack(images[k:k + batch]) if batched else images[k]
        samples.append([x])
    if not samples:
        raise UsageError(f"--representative {folder}: {len(images)} image(s), fewer than the batch size {batch}")
    return samples


def _pil_decoder():
    try:
        from PIL import Image
    except ImportError:
        return None

    def decode(path, h, w, c):
        with Image.open(path) as im:
            im = im.convert("L" if c == 1 else "RGB").resize((w, h), Image.BILINEAR)
            arr = np.asarray(im, dtype=np.float32) / 255.0
        return arr.reshape(h, w, c)

    return decode


def _tf_decoder(tf):
    if tf is None:
        return None

    def decode(path, h, w, c):
        raw = tf.io.read_file(path)
        img = tf.io.decode_image(raw, channels=c, expand_animations=False)
        img = tf.image.resize(tf.cast(img, tf.float32) / 255.0, [h, w], method="bilinear")
        return img.numpy().astype(np.float32)

    return decode
