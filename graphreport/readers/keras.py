"""Keras reader: legacy HDF5 files (.h5/.hdf5, written by Keras 2 / tf.keras 2.x or Keras 3) and Keras 3
``.keras`` archives (zip of config.json + metadata.json + model.weights.h5, or the same three files unzipped in
a folder). Read with json, zipfile and h5py only: never keras, tensorflow, pickle, marshal or eval.

What becomes what:
- each layer call is a node (op = the layer's class name: "Conv2D", "InputLayer", ...); a layer called twice
  (shared weights) gives nodes ``name`` and ``name#1``. Nested models (a Functional or Sequential used as a
  layer) are flattened: their layers become nodes named ``outer/inner``.
- edges come from ``inbound_nodes`` (Keras 2 nested lists ``[[name, node, tensor, kwargs], ...]``, Keras 3
  dicts whose ``args``/``kwargs`` hold ``__keras_tensor__`` entries with a ``keras_history``); a Sequential is a
  chain. Output tensors are ``<node>:<index>``.
- output shapes come from the layer shape rules registered in ops/ (dialect "keras": ops/keras_layers.py,
  ops/keras_rnn.py, which also hold the layers' cost rules), fed the layer config; Keras 3 configs also record
  the shape of every tensor a layer consumes, and those recorded shapes win where both exist.
- weights are read as dataset *shapes* from HDF5 (never their values) and attached as constant tensors
  ``<layer path>/<weight name>`` that the layer's nodes consume, so the report's parameter total is Keras'
  ``count_params()``. Trainable and non-trainable counts are in ``Model.details``.
- the layer config becomes the node's attributes (serialized objects shortened to their class names, big
  values elided, Python code replaced by a marker).

Safety: a ``Lambda`` layer's function (marshalled bytecode), custom classes and foreign-module wrappers are shown
by name with a warning; nothing in the file is ever executed or imported. Sizes are bounded: config JSON,
zip members (declared sizes against the archive, expansion ratio), layer count, HDF5 objects visited.

The reader is split by idea: keras_config.py (the layer tree of a config, attributes, safety), keras_graph.py
(the graph of layer calls, shapes, weights as constants), keras_h5.py (HDF5 weights), keras_archive.py (zip
archives and folders); this module holds the entry points.
"""
from __future__ import annotations

import os
from typing import Optional

from ..errors import BadModelError, LimitError
from ..model import Model
from .files import HDF5_MAGIC
from .keras_archive import Archive, one_line, parse_json
from .keras_config import MAX_CONFIG_BYTES, Warnings, ConfigContext, root_from_config
from .keras_graph import GraphBuilder
from .keras_h5 import h5_attr_str, h5_child, import_h5py, read_legacy_weights, read_v3_weights

# Keras 3 configs record the shape of every tensor a layer consumes; they win over the rules unless this is
# False (the tests turn it off to check the rules alone against Keras).
USE_RECORDED_SHAPES = True


# ----------------------------------------------------------------------------------------------------------
# Entry points
# ----------------------------------------------------------------------------------------------------------

def match(path: str, head: bytes) -> bool:
    """An unzipped .keras archive: a folder with config.json and metadata.json (files are told by their magic
    bytes, registry.py)."""
    return os.path.isdir(path) and all(os.path.isfile(os.path.join(path, f))
                                       for f in ("config.json", "metadata.json"))


def read(path: str) -> Model:
    """A Keras model file (.h5/.hdf5, .keras) or an unzipped .keras folder -> Model."""
    if os.path.isdir(path):
        return _read_v3_folder(path)
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as e:
        raise BadModelError(f"cannot read the file ({e.strerror or e})", path) from None
    if head.startswith(HDF5_MAGIC):
        return _read_h5(path)
    if head.startswith(b"PK"):
        return _read_v3_zip(path)
    if path.lower().endswith((".h5", ".hdf5")):
        return _read_h5(path)
    raise BadModelError("not a Keras model: expected an HDF5 file (.h5) or a .keras zip archive", path)


def build_model(config, path: str, file_size: int, fmt: str, warnings: list[str],
                use_declared: Optional[bool] = None) -> tuple[Model, GraphBuilder]:
    """A Keras model config -> (Model with its graph, the builder to attach weights with)."""
    if use_declared is None:
        use_declared = USE_RECORDED_SHAPES
    warnings = Warnings(warnings)
    ctx = ConfigContext(warnings)
    root = root_from_config(config, ctx)
    b = GraphBuilder(root, warnings, use_declared=use_declared)
    try:
        g = b.build()
    except RecursionError:
        raise BadModelError("the model config is nested too deeply", path) from None
    model = Model(format=fmt, path=path, file_size=file_size, graphs=[g], warnings=warnings,
                  variables_freeze_on_conversion=True)
    model.details.update({
        "model_class": root.cls, "model_name": root.local,
        "layers": sum(1 for n in g.nodes), "custom_layers": ctx.custom, "code_layers": ctx.code_layers,
    })
    return model, b


def finish(model: Model, b: GraphBuilder) -> Model:
    totals = b.attach_weights()
    if isinstance(model.warnings, Warnings):
        model.warnings.finalize()
    model.details["params"] = {"total": totals["trainable"] + totals["non_trainable"], **totals}
    model.details["layer_params"] = b.layer_params
    if b.shape_disagreements:
        model.details["shape_rule_disagreements"] = b.shape_disagreements[:50]
    return model


def _read_h5(path: str) -> Model:
    h5py = import_h5py(path)
    size = os.path.getsize(path)
    try:
        f = h5py.File(path, "r", locking=False)
    except (OSError, ValueError, RuntimeError, TypeError) as e:
        raise BadModelError(f"not a readable HDF5 file: truncated or damaged? ({one_line(e)})", path) from None
    try:
        try:
            raw = h5_attr_str(f, "model_config", path)
            if raw is None:
                if "layer_names" in f.attrs or h5_child(h5py, f, "layers") is not None or "vars" in f:
                    raise BadModelError("holds weights only (save_weights) and no model config: graphreport "
                                        "needs a file written by model.save()", path)
                raise BadModelError("an HDF5 file without a Keras model_config attribute: not a Keras model", path)
            config = parse_json(raw.encode("utf-8", "surrogatepass"), "model_config", path)
            kv = h5_attr_str(f, "keras_version", path)
            backend = h5_attr_str(f, "backend", path)
            warnings: list[str] = []
            model, b = build_model(config, path, size, "keras", warnings)
            model.format_version = "HDF5 (legacy Keras format)"
            writer = "Keras 3" if kv and kv.split(".")[0].isdigit() and int(kv.split(".")[0]) >= 3 else "Keras 2"
            model.producer = f"Keras {kv or '?'}" + (f" ({backend} backend)" if backend else "")
            model.details.update({"keras_version": kv, "backend": backend, "container": "hdf5", "writer": writer})
            tc = h5_attr_str(f, "training_config", path)
            if tc:
                model.details["has_training_config"] = True
            mw = h5_child(h5py, f, "model_weights")
            if mw is not None and isinstance(mw, h5py.Group):
                read_legacy_weights(h5py, b, mw, path, model.details)
            else:
                model.warnings.append("the file holds no model_weights group: parameter counts are unknown")
            if h5_child(h5py, f, "optimizer_weights") is not None:
                model.details["has_optimizer_weights"] = True
            return finish(model, b)
        except (OSError, ValueError, RuntimeError, TypeError, KeyError) as e:
            raise BadModelError(f"damaged HDF5 file ({one_line(e)})", path) from None
    finally:
        try:
            f.close()
        except Exception:
            pass


def _v3_common(config_bytes: bytes, meta_bytes: Optional[bytes], path: str, size: int, container: str):
    config = parse_json(config_bytes, "config.json", path)
    meta = parse_json(meta_bytes, "metadata.json", path) if meta_bytes else {}
    if not isinstance(meta, dict):
        meta = {}
    warnings: list[str] = []
    model, b = build_model(config, path, size, "keras", warnings)
    kv = meta.get("keras_version") if isinstance(meta.get("keras_version"), str) else None
    model.format_version = "Keras v3 (.keras)" + (" folder" if container == "folder" else "")
    model.producer = f"Keras {kv or '?'}"
    model.details.update({"keras_version": kv, "backend": None, "container": container, "writer": "Keras 3"})
    model.metadata = {str(k): v for k, v in meta.items() if isinstance(v, (str, int, float, bool)) or v is None}
    if isinstance(config, dict) and isinstance(config.get("compile_config"), dict):
        model.details["has_compile_config"] = True
    return model, b


def _weights_missing(model: Model, names) -> None:
    if any(n.endswith("model.weights.npz") for n in names):
        model.warnings.append("weights are stored as model.weights.npz (pickled per-layer dicts); graphreport "
                              "does not unpickle, so parameter counts are unknown")
    elif any(n.endswith(".json") and "weights" in n for n in names):
        model.warnings.append("weights are sharded outside the archive; parameter counts are unknown")
    else:
        model.warnings.append("no model.weights.h5: parameter counts are unknown")


def _read_v3_zip(path: str) -> Model:
    ar = Archive(path)
    try:
        if "config.json" not in ar.names:
            raise BadModelError("a zip archive without config.json: not a Keras .keras file", path)
        cfg = ar.read("config.json")
        meta = ar.read("metadata.json", 1024 * 1024) if "metadata.json" in ar.names else None
        model, b = _v3_common(cfg, meta, path, ar.size, "zip")
        if "model.weights.h5" in ar.names:
            h5py = import_h5py(path)
            with ar.member_file("model.weights.h5") as fobj:
                _read_v3_h5(h5py, fobj, b, model, path)
        else:
            _weights_missing(model, ar.names)
        return finish(model, b)
    finally:
        ar.close()


def _read_v3_folder(path: str) -> Model:
    def rd(name, limit):
        p = os.path.join(path, name)
        if not os.path.isfile(p):
            return None
        if os.path.getsize(p) > limit:
            raise LimitError(f"{name} is {os.path.getsize(p)} bytes; graphreport reads configs up to {limit}", path)
        with open(p, "rb") as f:
            return f.read(limit + 1)

    cfg = rd("config.json", MAX_CONFIG_BYTES)
    if cfg is None:
        raise BadModelError("a folder without config.json: not an unzipped .keras model", path)
    size = sum(os.path.getsize(os.path.join(path, n)) for n in os.listdir(path)
               if os.path.isfile(os.path.join(path, n)))
    model, b = _v3_common(cfg, rd("metadata.json", 1024 * 1024), path, size, "folder")
    wpath = os.path.join(path, "model.weights.h5")
    if os.path.isfile(wpath):
        h5py = import_h5py(path)
        with open(wpath, "rb") as fobj:
            _read_v3_h5(h5py, fobj, b, model, path)
    else:
        _weights_missing(model, os.listdir(path))
    return finish(model, b)


def _read_v3_h5(h5py, fobj, b: GraphBuilder, model: Model, path: str) -> None:
    try:
        f = h5py.File(fobj, "r")
    except (OSError, ValueError, RuntimeError, TypeError) as e:
        raise BadModelError(f"model.weights.h5 is not a readable HDF5 file ({one_line(e)})", path) from None
    try:
        read_v3_weights(h5py, b, f, path, model.details)
    except (OSError, ValueError, RuntimeError, TypeError, KeyError) as e:
        raise BadModelError(f"damaged model.weights.h5 ({one_line(e)})", path) from None
    finally:
        try:
            f.close()
        except Exception:
            pass


def read_config_json(path: str, config, file_size: int) -> Model:
    """A bare Keras model config (model.to_json()): the architecture, without weights."""
    warnings: list[str] = ["a model config without weights (model.to_json()): parameter counts are unknown"]
    model, b = build_model(config, path, file_size, "keras", warnings)
    model.format_version = "Keras model config JSON"
    kv = config.get("keras_version") if isinstance(config.get("keras_version"), str) else None
    model.producer = f"Keras {kv}" if kv else "Keras"
    model.details.update({"keras_version": kv, "backend": config.get("backend"), "container": "json"})
    return finish(model, b)
