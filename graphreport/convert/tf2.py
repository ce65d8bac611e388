"""SavedModel and Keras sources: loaded with TensorFlow/Keras (convert path only), planned from their
signatures, traced at the planned fixed shapes and frozen (variables to constants) for the converter.

Keras files are loaded with `safe_mode=True`: a model whose loading would run arbitrary Python (a Lambda
layer holding Python bytecode) is refused with exit code 3 and never executed.
"""
from __future__ import annotations

import re

import numpy as np

from ..errors import BadModelError, ConversionError, UsageError
from .source import IOSpec, Plan, fix_shapes, safe_name


def _dtype_name(tf, dtype) -> str:
    return tf.as_dtype(dtype).name


def _shape(tf, shape):
    s = tf.TensorShape(shape)
    return None if s.rank is None else [None if d is None else int(d) for d in s.as_list()]


# ------------------------------------------------------------------------------------------------------------
# Keras
# ------------------------------------------------------------------------------------------------------------

UNSAFE = re.compile(r"safe_mode|unsafe deserialization|arbitrary code execution", re.I)


def _keras_config(path: str):
    """The model config JSON of a .keras zip (config.json) or a Keras HDF5 file (model_config attribute)."""
    import json
    import zipfile

    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                return json.loads(z.read("config.json"))
        import h5py

        with h5py.File(path, "r") as f:
            raw = f.attrs.get("model_config")
        if raw is None:
            return None
        return json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    except Exception:  # unreadable configs are Keras's to report when it loads the file
        return None


def _looks_like_code(s: str) -> bool:
    """A base64 string holding a marshalled code object: how Keras stores a lambda (func_dump), e.g. as a
    lambda activation's {"value": [code, defaults, closure]}."""
    import base64
    import binascii

    if len(s) < 24 or not re.fullmatch(r"[A-Za-z0-9+/=\s]+", s):
        return False
    try:
        head = base64.b64decode(s[:32].strip() + "=" * (-len(s[:32].strip()) % 4), validate=False)
    except (binascii.Error, ValueError):
        return False
    return bool(head) and head[0] in (0x63, 0xE3)  # marshal TYPE_CODE, with or without FLAG_REF


def python_code_layers(config) -> list[str]:
    """Names of the layers whose config holds Python code (a serialized lambda: `__lambda__`, a Keras 2
    `function_type: lambda`, or a marshalled code object as a lambda activation is stored)."""
    found: list[str] = []

    def has_code(x, depth=0) -> bool:
        if depth > 64:
            return False
        if isinstance(x, str):
            return _looks_like_code(x)
        if isinstance(x, dict):
            if x.get("class_name") == "__lambda__" or x.get("function_type") == "lambda":
                return True
            return any(has_code(v, depth + 1) for v in x.values())
        if isinstance(x, list):
            return any(has_code(v, depth + 1) for v in x)
        return False

    def walk(x, depth=0) -> None:
        if depth > 64:
            return
        if isinstance(x, dict):
            cfg = x.get("config")
            if "class_name" in x and isinstance(cfg, dict) and not isinstance(cfg.get("layers"), list):
                if has_code(cfg):
                    found.append(str(cfg.get("name") or x.get("name") or x["class_name"]))
                return
            for v in x.values():
                walk(v, depth + 1)
        elif isinstance(x, list):
            for v in x:
                walk(v, depth + 1)

    walk(config)
    return found


def load_keras(tf, path: str):
    code_layers = python_code_layers(_keras_config(path))
    if code_layers:
        raise ConversionError(
            f"refused: layer(s) {', '.join(code_layers[:5])} hold Python code (a serialized lambda), and loading "
            "the model would run it; graphreport never does (it loads Keras files with safe_mode=True). Rebuild "
            "the model without Lambda layers and lambdas (use registered custom layers or named activations), "
            "or convert it yourself from code you trust", path)
    try:
        import keras
    except ImportError:
        raise UsageError("converting a Keras file needs the keras package (Keras 3 ships with TensorFlow >= 2.16)")
    backend = getattr(keras.config, "backend", lambda: "tensorflow")()
    if backend != "tensorflow":
        raise UsageError(f"Keras runs on the {backend!r} backend in this process; the TFLite converter needs "
                         "KERAS_BACKEND=tensorflow")
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True, custom_objects=_compat_objects(keras))
    except ValueError as e:
        msg = " ".join(str(e).split())
        if UNSAFE.search(msg):
            raise ConversionError(
                "refused: loading this Keras model would run Python code stored in the file (a Lambda layer "
                "or a Python lambda in a layer's config), which graphreport never does (it loads with "
                "safe_mode=True). Rebuild the model without Lambda layers and lambdas (use registered custom "
                "layers or named activations) and save it again, or convert it yourself from code you trust. "
                f"Keras said: {msg[:200]}", path) from None
        raise _keras_load_error(path, msg) from None
    except (TypeError, KeyError, OSError, ImportError, AttributeError) as e:
        raise _keras_load_error(path, " ".join(str(e).split())) from None


def _compat_objects(keras) -> dict:
    """Shims for configs that older Keras wrote and Keras 3 rejects; graphreport's own classes, no user code.
    tf.keras 2.x wrote `groups` into every DepthwiseConv2D config; Keras 3's DepthwiseConv2D refuses it."""

    class DepthwiseConv2D(keras.layers.DepthwiseConv2D):
        def __init__(self, *args, groups=None, **kwargs):
            if groups not in (None, 1):
                raise ValueError(f"DepthwiseConv2D with groups={groups} is not supported")
            super().__init__(*args, **kwargs)

    return {"DepthwiseConv2D": DepthwiseConv2D}


def _keras_load_error(path: str, msg: str) -> Exception:
    if re.search(r"Could not (locate|deserialize)|Unknown (layer|object|class)|custom_objects", msg):
        return ConversionError("Keras cannot rebuild this model without its custom classes (custom layers "
                               "registered with @keras.saving.register_keras_serializable in code that is not "
                               f"available here): {msg[:300]}", path)
    return BadModelError(f"Keras cannot load this file ({msg[:300]})", path)


def plan_keras(tf, plan: Plan, model, inputs, outputs, shapes) -> None:
    if inputs is not None:
        raise UsageError("--inputs does not apply to a Keras model: its inputs are the model's; set their "
                         "shapes with --input-shape")
    model_inputs = getattr(model, "inputs", None) or []
    if not model_inputs:
        raise UsageError("this Keras model declares no inputs (a subclassed model that was never built on "
                         "an Input): convert it from code, or save it as a functional model", plan.path)
    for k, t in enumerate(model_inputs):
        name = getattr(t, "name", None) or f"input_{k}"
        plan.inputs.append(IOSpec(name=name, tensor=name, dtype=_dtype_name(tf, getattr(t, "dtype", "float32")),
                                  shape=_shape(tf, t.shape)))
    out_names = list(getattr(model, "output_names", None) or [])
    model_outputs = getattr(model, "outputs", None) or []
    if len(out_names) != len(model_outputs):
        out_names = [f"output_{k}" for k in range(len(model_outputs))]
    for name, t in zip(out_names, model_outputs):
        plan.outputs.append(IOSpec(name=name, tensor=name, dtype=_dtype_name(tf, getattr(t, "dtype", "float32")),
                                   shape=_shape(tf, t.shape)))
    _select_outputs(plan, outputs)
    fix_shapes(plan.inputs, shapes, plan.notes)


def keras_function(tf, plan: Plan, model):
    """(traced concrete function returning the planned outputs, eager reference callable)."""
    n_in = len(plan.inputs)

    def call(*args):
        x = args[0] if n_in == 1 else list(args)
        return tf.nest.flatten(model(x, training=False))

    index = _output_index(plan)

    def selected(*args):
        flat = call(*args)
        return [tf.identity(flat[k], name=o.key) for k, o in zip(index, plan.outputs)]

    specs = [tf.TensorSpec(i.shape, tf.as_dtype(i.dtype), name=i.key) for i in plan.inputs]
    fn = tf.function(selected, autograph=False)
    return fn.get_concrete_function(*specs), fn


# ------------------------------------------------------------------------------------------------------------
# SavedModel
# ------------------------------------------------------------------------------------------------------------

def load_savedmodel(tf, path: str, signature: str | None = None):
    try:
        loaded = tf.saved_model.load(path)
    except (OSError, ValueError, tf.errors.OpError, KeyError, TypeError) as e:
        raise BadModelError(f"TensorFlow cannot load this SavedModel ({' '.join(str(e).split())[:300]})",
                            path) from None
    sigs = dict(getattr(loaded, "signatures", {}) or {})
    if not sigs:
        raise UsageError("this SavedModel has no signatures (serving_default): export it with a signature "
                         "(tf.saved_model.save(obj, path, signatures=...))", path)
    key = signature or ("serving_default" if "serving_default" in sigs else sorted(sigs)[0])
    if key not in sigs:
        raise UsageError(f"no signature {key!r}; the SavedModel has: {', '.join(sorted(sigs))}", path)
    return loaded, key, sigs[key]


def plan_savedmodel(tf, plan: Plan, sig, key, inputs, outputs, shapes) -> None:
    args, kwargs = sig.structured_input_signature
    specs = dict(kwargs)
    if inputs is not None and sorted(inputs) != sorted(specs):
        raise UsageError(f"--inputs: signature {key!r} takes exactly {', '.join(sorted(specs))}; all of them "
                         "are needed")
    for name in sorted(specs):
        s = specs[name]
        plan.inputs.append(IOSpec(name=name, tensor=name, dtype=_dtype_name(tf, s.dtype), shape=_shape(tf, s.shape)))
    outs = sig.structured_outputs
    if not isinstance(outs, dict):
        outs = {f"output_{k}": v for k, v in enumerate(tf.nest.flatten(outs))}
    for name in sorted(outs):
        t = outs[name]
        plan.outputs.append(IOSpec(name=name, tensor=name, dtype=_dtype_name(tf, t.dtype), shape=_shape(tf, t.shape)))
    _select_outputs(plan, outputs)
    plan.notes.append(f"signature {key!r}")
    fix_shapes(plan.inputs, shapes, plan.notes)


def savedmodel_function(tf, plan: Plan, sig):
    names = [o.name for o in plan.outputs]

    def selected(*args):
        res = sig(**{i.name: a for i, a in zip(plan.inputs, args)})
        if not isinstance(res, dict):
            res = {f"output_{k}": v for k, v in enumerate(tf.nest.flatten(res))}
        return [tf.identity(res[n], name=o.key) for n, o in zip(names, plan.outputs)]

    specs = [tf.TensorSpec(i.shape, tf.as_dtype(i.dtype), name=i.key) for i in plan.inputs]
    fn = tf.function(selected, autograph=False)
    return fn.get_concrete_function(*specs), fn


# ------------------------------------------------------------------------------------------------------------
# shared
# ------------------------------------------------------------------------------------------------------------

def _select_outputs(plan: Plan, wanted) -> None:
    """Keep the --outputs subset (by name), remembering each one's index among all outputs."""
    everything = list(plan.outputs)
    plan.all_outputs = everything
    if wanted is None:
        return
    by_name = {o.name: o for o in everything}
    missing = [w for w in wanted if w not in by_name]
    if missing:
        raise UsageError(f"--outputs: no output named {', '.join(missing)}; the model's outputs: "
                         + ", ".join(by_name))
    plan.outputs = [by_name[w] for w in wanted]


def _output_index(plan: Plan) -> list[int]:
    everything = plan.all_outputs or plan.outputs
    pos = {id(o): k for k, o in enumerate(everything)}
    return [pos[id(o)] for o in plan.outputs]


def freeze_function(tf, concrete):
    """Variables to constants (the converter would otherwise keep resource variables in the model)."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    try:
        return convert_variables_to_constants_v2(concrete)
    except (ValueError, TypeError, tf.errors.OpError) as e:
        raise ConversionError(f"cannot freeze the model's variables into constants ({' '.join(str(e).split())[:300]})"
                              ) from None


def run_function(fn, samples) -> list[list[np.ndarray]]:
    out = []
    for sample in samples:
        res = fn(*sample)
        out.append([np.asarray(r) for r in res])
    return out


def unique_keys(plan: Plan) -> None:
    """Make the placeholder/Identity names of inputs and outputs unique."""
    seen: set[str] = set()
    for spec in plan.inputs + plan.outputs:
        base = spec.key or safe_name(spec.name)
        key, k = base, 1
        while key in seen:
            key = f"{base}_{k}"
            k += 1
        spec.key = key
        seen.add(key)
