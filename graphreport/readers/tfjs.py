"""TensorFlow.js reader: graph models and layers models (model.json + binary weight shards), without
tensorflowjs or TensorFlow.

model.json (the path, or a folder holding it):
- ``format: "graph-model"``: ``modelTopology`` is a GraphDef in protobuf JSON form (camelCase field names,
  int64 as strings, enums by name); ``signature`` names the inputs/outputs. The converter clears the values of
  Const nodes (or, in old versions, drops the nodes) and lists them in ``weightsManifest``; every manifest
  weight becomes the constant tensor ``<name>:0`` (its Const node re-created when the topology lacks it).
- ``format: "layers-model"``: ``modelTopology`` is a Keras model config (``model_config``, Keras 2 layout); the
  layer graph comes from the Keras reader, weights from the manifest by name.
- ``weightsManifest``: ``[{paths: [shard files], weights: [{name, shape, dtype, quantization?}]}]``. A group's
  weights are concatenated in order and split into the shards. Quantized weights (``uint8``/``uint16`` with
  ``scale``/``min``, or ``float16``) keep their float dtype with the stored byte size and a Quantization.

A TF.js folder is found by content, whatever its JSON is called (``model.json``, ``movenet-lightning.json``,
``tiny_face_detector_model-weights_manifest.json``): the folder's JSON files are classified as a model (an object
with ``modelTopology``) or a weights manifest (a list of ``{paths, weights}`` groups, face-api style, or an
object with ``weightsManifest`` and no topology). A weights manifest has no architecture (it lives in the
JavaScript code that loads it): it is reported as such, each weight a ``Weight`` node reading its constant.

Shards are never read whole: their sizes are checked against the manifest (a warning when they disagree) and
small constants are read lazily, within the file, when an analysis asks for their value. Shard paths must stay
inside the model folder (no absolute paths, no ``..``, no symlink out of it).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Optional

from ..errors import BadModelError, LimitError
from ..model import DTYPE_SIZES, ConstData, Model, Node, Quantization, Signature, Tensor, split_tensor_name
from ..opdata import roles as op_roles
from . import keras as kreader
from . import tfproto
from .keras_archive import one_line, parse_json
from .keras_config import MAX_CONFIG_BYTES, Weight
from .keras_graph import assign_named

MAX_JSON_BYTES = MAX_CONFIG_BYTES
MAX_WEIGHTS = 1_000_000
MAX_NODES = 2_000_000
MAX_SMALL_CONST = 4096  # elements: constants up to this size can be loaded for shape arithmetic
QUANT_SIZES = {"uint8": 1, "uint16": 2, "float16": 2, "int8": 1, "int16": 2}
DTYPE_ALIASES = {"float": "float32", "int": "int32", "half": "float16"}


@dataclass
class WeightEntry:
    name: str
    shape: list
    dtype: str  # the dtype the model computes with (original dtype when quantized)
    stored_dtype: str
    nbytes: Optional[int]  # stored bytes; None for strings (length-prefixed values)
    quantization: Optional[dict]
    group: int
    offset: Optional[int]  # byte offset in the group's concatenated shards; None after a string weight


# ----------------------------------------------------------------------------------------------------------
# model.json and the manifest
# ----------------------------------------------------------------------------------------------------------

MAX_FOLDER_JSON = 64  # JSON files classified when a folder has no model.json
WEIGHT_OP = "Weight"  # the node of one weight of a weights manifest (no architecture to attach it to)
MANIFEST_NOTE = ("TF.js weights manifest without topology: the architecture lives in JavaScript code. Its weights "
                 "are listed; MACs, FLOPs, inputs, outputs and TFLite verdicts need the architecture and are "
                 "unknown")


def is_manifest_list(data) -> bool:
    """A bare weights manifest: ``[{paths: [...], weights: [{name, shape, dtype}, ...]}, ...]``."""
    return (isinstance(data, list) and bool(data) and all(
        isinstance(g, dict) and isinstance(g.get("weights"), list) and isinstance(g.get("paths", []), list)
        for g in data) and any(g["weights"] for g in data))


def classify(data) -> Optional[str]:
    """'model' (graph or layers model), 'weights-manifest', or None for JSON that is neither."""
    if isinstance(data, dict):
        if isinstance(data.get("modelTopology"), dict):
            return "model"
        if "modelTopology" not in data and isinstance(data.get("weightsManifest"), list):
            return "weights-manifest"
        return None
    return "weights-manifest" if is_manifest_list(data) else None


def _classify_file(path: str) -> Optional[str]:
    try:
        if os.path.getsize(path) > MAX_JSON_BYTES:
            return None
        with open(path, "rb") as f:
            raw = f.read(MAX_JSON_BYTES + 1)
    except OSError:
        return None
    if b"modelTopology" not in raw and b"weightsManifest" not in raw and b'"weights"' not in raw:
        return None  # cheap: most JSON files of a folder (package.json, labels) are not models
    try:
        return classify(parse_json(raw, "JSON", path))
    except BadModelError:
        return None


def find_in_folder(folder: str) -> Optional[str]:
    """The TF.js model JSON of a folder: model.json, else the one JSON file whose content is a TF.js model (or,
    failing that, a weights manifest). None when there is none; BadModelError when several qualify."""
    mj = os.path.join(folder, "model.json")
    if os.path.isfile(mj):
        return mj
    try:
        with os.scandir(folder) as it:
            names = sorted(e.name for e in it if e.name.lower().endswith(".json") and e.is_file())
    except OSError:
        return None
    if len(names) > MAX_FOLDER_JSON:
        names = names[:MAX_FOLDER_JSON]
    found: dict[str, list[str]] = {"model": [], "weights-manifest": []}
    for name in names:
        kind = _classify_file(os.path.join(folder, name))
        if kind is not None:
            found[kind].append(name)
    for kind, what in (("model", "TF.js models"), ("weights-manifest", "TF.js weights manifests")):
        hits = found[kind]
        if len(hits) == 1:
            return os.path.join(folder, hits[0])
        if hits:
            shown = ", ".join(hits[:6]) + (f" and {len(hits) - 6} more" if len(hits) > 6 else "")
            raise BadModelError(f"is a folder with several {what} ({shown}): name the JSON file of the one to "
                                "report on", folder)
    return None


def match(path: str, head: bytes) -> bool:
    """A folder holding a TF.js model (see find_in_folder); files are told by their first bytes (registry.py)."""
    return os.path.isdir(path) and find_in_folder(path) is not None


def read_path(path: str) -> Model:
    """A TF.js model JSON, or the folder holding it (read as the JSON file it holds)."""
    return read(find_in_folder(path) or path if os.path.isdir(path) else path)


def _locate(path: str) -> tuple[str, str]:
    if os.path.isdir(path):
        mj = find_in_folder(path)
        if mj is None:
            raise BadModelError("a folder without a TF.js model JSON (no .json file with modelTopology or a "
                                "weights manifest)", path)
        return mj, path
    return path, os.path.dirname(os.path.abspath(path))


def _load_json(mj: str):
    try:
        size = os.path.getsize(mj)
        if size > MAX_JSON_BYTES:
            raise LimitError(f"model.json is {size} bytes; graphreport reads JSON up to {MAX_JSON_BYTES} bytes",
                             mj)
        with open(mj, "rb") as f:
            data = f.read(MAX_JSON_BYTES + 1)
    except OSError as e:
        raise BadModelError(f"cannot read the file ({e.strerror or e})", mj) from None
    return parse_json(data, "model.json", mj), len(data)


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _num(x) -> Optional[float]:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def parse_manifest(manifest, path: str) -> tuple[list[list[str]], list[WeightEntry]]:
    if manifest is None:
        return [], []
    if not isinstance(manifest, list):
        raise BadModelError("weightsManifest is not a list of weight groups", path)
    groups, weights = [], []
    for gi, grp in enumerate(manifest):
        if not isinstance(grp, dict) or not isinstance(grp.get("paths", []), list) \
                or not isinstance(grp.get("weights", []), list):
            raise BadModelError(f"weightsManifest group {gi + 1} is not {{paths: [...], weights: [...]}}", path)
        paths = grp.get("paths", [])
        if not all(isinstance(p, str) for p in paths):
            raise BadModelError(f"weightsManifest group {gi + 1} has a shard path that is not a string", path)
        groups.append(list(paths))
        offset: Optional[int] = 0
        for w in grp.get("weights", []):
            if len(weights) >= MAX_WEIGHTS:
                raise LimitError(f"the manifest lists more than {MAX_WEIGHTS} weights", path)
            if not isinstance(w, dict) or not isinstance(w.get("name"), str):
                raise BadModelError(f"weightsManifest group {gi + 1} has a weight without a name", path)
            shape = w.get("shape", [])
            if not isinstance(shape, list) or len(shape) > 32 or not all(_is_int(d) and 0 <= d < 2**40
                                                                         for d in shape):
                raise BadModelError(f"weight {w['name']!r} has a malformed shape {str(shape)[:80]}", path)
            dtype = w.get("dtype", "float32")
            if not isinstance(dtype, str):
                raise BadModelError(f"weight {w['name']!r} has a malformed dtype", path)
            dtype = DTYPE_ALIASES.get(dtype, dtype)
            q = w.get("quantization")
            q = q if isinstance(q, dict) else None
            stored = dtype
            if q is not None and isinstance(q.get("dtype"), str):
                stored = q["dtype"]
            n = 1
            for d in shape:
                n *= d
            if dtype == "string":
                nbytes = None
            else:
                size = QUANT_SIZES.get(stored) if q is not None else DTYPE_SIZES.get(stored)
                if size is None:
                    size = DTYPE_SIZES.get(stored, 4)
                nbytes = int(n * size)
            weights.append(WeightEntry(name=w["name"], shape=list(shape), dtype=dtype, stored_dtype=stored,
                                       nbytes=nbytes, quantization=q, group=gi, offset=offset))
            offset = None if (offset is None or nbytes is None) else offset + nbytes
    return groups, weights


_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def shard_path(folder: str, p: str, model_path: str) -> Optional[str]:
    """The local file a shard path names, inside the model folder; None for a remote URL; BadModelError for a
    path that leaves the folder."""
    if not p or "\x00" in p:
        raise BadModelError(f"weight shard path {p!r} is empty or malformed", model_path)
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", p):
        return None
    q = p.replace("\\", "/")
    parts = q.split("/")
    if q.startswith("/") or _URL.match(q) or ".." in parts or "~" == parts[0]:
        raise BadModelError(f"weight shard path {p!r} points outside the model folder; graphreport reads only "
                            "files inside it", model_path)
    full = os.path.join(folder, *[x for x in parts if x not in ("", ".")])
    real_folder = os.path.realpath(folder)
    real = os.path.realpath(full)
    if os.path.commonpath([real, real_folder]) != real_folder:
        raise BadModelError(f"weight shard {p!r} is a link to a file outside the model folder; graphreport "
                            "reads only files inside it", model_path)
    return full


class Shards:
    """The shards of each weight group: their files and sizes; bounded reads of byte ranges."""

    def __init__(self, folder: str, groups: list[list[str]], weights: list[WeightEntry], model_path: str,
                 warnings: list[str]):
        self.files: list[list[tuple[Optional[str], int]]] = []
        self.total_bytes = 0
        self.listing = []
        for gi, paths in enumerate(groups):
            files = []
            for p in paths:
                full = shard_path(folder, p, model_path)
                if full is None:
                    warnings.append(f"weight shard {p!r} is a URL; graphreport does not fetch it")
                    files.append((None, 0))
                    continue
                try:
                    size = os.stat(full).st_size if os.path.isfile(full) else None
                except OSError:
                    size = None
                if size is None:
                    warnings.append(f"weight shard {p!r} is missing: weight values are unavailable")
                    files.append((None, 0))
                else:
                    files.append((full, size))
                    self.total_bytes += size
                self.listing.append({"path": p, "bytes": size})
            self.files.append(files)
            ws = [w for w in weights if w.group == gi]
            have = sum(s for f, s in files if f is not None)
            if any(f is None for f, _ in files):
                continue
            if any(w.nbytes is None for w in ws):
                fixed = sum(w.nbytes or 0 for w in ws)
                if have < fixed:
                    warnings.append(f"weight group {gi + 1}: the shards hold {have} bytes, fewer than the "
                                    f"{fixed} the manifest's fixed-size weights need")
            else:
                need = sum(w.nbytes for w in ws)
                if have != need:
                    warnings.append(f"weight group {gi + 1}: the shards hold {have} bytes but the manifest "
                                    f"describes {need}")

    def read(self, group: int, offset: int, n: int) -> Optional[bytes]:
        """Bytes [offset, offset+n) of a group's concatenated shards, or None when not all there."""
        if group >= len(self.files):
            return None
        out = bytearray()
        pos = 0
        for full, size in self.files[group]:
            if full is None:
                return None
            lo, hi = max(offset, pos), min(offset + n, pos + size)
            if lo < hi:
                try:
                    with open(full, "rb") as f:
                        f.seek(lo - pos)
                        out += f.read(hi - lo)
                except OSError:
                    return None
            pos += size
            if pos >= offset + n:
                break
        return bytes(out) if len(out) == n else None


def _quantization(w: WeightEntry) -> Optional[Quantization]:
    q = w.quantization
    if q is None:
        return None
    scale, mn = _num(q.get("scale")), _num(q.get("min"))
    out = Quantization()
    if scale is not None:
        out.scale = [scale]
        if mn is not None and scale:
            try:  # a manifest's NaN / Infinity (JSON extensions Python accepts) give no zero point
                out.zero_point = [int(round(-mn / scale))]
            except (ValueError, OverflowError):
                pass
    if mn is not None:
        out.min = [mn]
    return out


def _loader(shards: Shards, w: WeightEntry):
    n = 1
    for d in w.shape:
        n *= d
    if w.offset is None or w.nbytes is None or n > MAX_SMALL_CONST or w.dtype == "string":
        return None

    def load():
        import numpy as np

        raw = shards.read(w.group, w.offset, w.nbytes)
        if raw is None:
            return None
        np_types = {"float32": np.float32, "int32": np.int32, "bool": np.bool_, "uint8": np.uint8,
                    "uint16": np.uint16, "float16": np.float16, "int8": np.int8, "int16": np.int16,
                    "int64": np.int64, "float64": np.float64, "complex64": np.complex64}
        st = np_types.get(w.stored_dtype)
        if st is None:
            return None
        arr = np.frombuffer(raw, dtype=np.dtype(st).newbyteorder("<"))
        q = w.quantization
        if q is not None and w.stored_dtype in ("uint8", "uint16"):
            scale, mn = _num(q.get("scale")), _num(q.get("min"))
            if scale is None or mn is None:
                return None
            arr = arr.astype(np.float32) * np.float32(scale) + np.float32(mn)
        elif q is not None and w.stored_dtype == "float16":
            arr = arr.astype(np.float32)
        dt = np_types.get(w.dtype)
        if dt is not None and arr.dtype != dt:
            arr = arr.astype(dt)
        return arr.reshape(w.shape)

    return load


# ----------------------------------------------------------------------------------------------------------
# GraphDef JSON -> protobuf (camelCase JSON names -> the field names of graphreport's own descriptors)
# ----------------------------------------------------------------------------------------------------------

def _camel(name: str) -> str:
    return re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), name)


def _fields(desc) -> dict:
    cache = _FIELDS.get(desc.full_name)
    if cache is None:
        cache = {}
        for f in desc.fields:
            cache[f.name] = f
            cache[_camel(f.name)] = f
        _FIELDS[desc.full_name] = cache
    return cache


_FIELDS: dict = {}


def to_proto_names(obj, desc, depth: int = 0):
    """Rename the keys of a protobuf-JSON dict to the descriptor's field names (map keys left alone)."""
    if depth > 64:
        raise BadModelError("modelTopology is nested too deeply")
    if not isinstance(obj, dict):
        return obj
    out: dict[str, Any] = {}
    fields = _fields(desc)
    for k, v in obj.items():
        f = fields.get(k)
        if f is None:
            continue
        mt = f.message_type
        if mt is None:
            out[f.name] = v
        elif mt.GetOptions().map_entry:
            vf = mt.fields_by_name["value"]
            if isinstance(v, dict) and vf.message_type is not None:
                out[f.name] = {mk: to_proto_names(mv, vf.message_type, depth + 1) for mk, mv in v.items()}
            else:
                out[f.name] = v
        elif f.is_repeated:
            out[f.name] = [to_proto_names(x, mt, depth + 1) for x in v] if isinstance(v, list) else v
        else:
            out[f.name] = to_proto_names(v, mt, depth + 1)
    return out


def parse_graphdef_json(topology, path: str):
    from google.protobuf import json_format

    if not isinstance(topology, dict):
        raise BadModelError("modelTopology is not a GraphDef object", path)
    if isinstance(topology.get("node"), list) and len(topology["node"]) > MAX_NODES:
        raise LimitError(f"modelTopology has more than {MAX_NODES} nodes", path)
    gd = tfproto.GraphDef()
    try:
        json_format.ParseDict(to_proto_names(topology, gd.DESCRIPTOR), gd, ignore_unknown_fields=True)
    except BadModelError as e:
        raise BadModelError(str(e), path) from None
    except (json_format.ParseError, ValueError, TypeError, KeyError, AttributeError, RecursionError) as e:
        raise BadModelError(f"modelTopology is not a GraphDef in JSON form ({one_line(e)})", path) \
            from None
    for n in gd.node:
        if not n.name or not n.op:
            raise BadModelError("modelTopology has a node without a name or op", path)
    return gd


def _sig_tensors(entries, path: str) -> dict[str, Tensor]:
    out: dict[str, Tensor] = {}
    if not isinstance(entries, dict):
        return out
    for key, info in entries.items():
        if not isinstance(info, dict):
            continue
        name = info.get("name") if isinstance(info.get("name"), str) else key
        if ":" not in name:
            name += ":0"
        dtype = None
        if isinstance(info.get("dtype"), str):
            num = tfproto.DATA_TYPES.get(info["dtype"])
            dtype = tfproto.dtype_name(num) if num else None
        shape = None
        ts = info.get("tensorShape") or info.get("tensor_shape")
        if isinstance(ts, dict) and not ts.get("unknownRank") and not ts.get("unknown_rank"):
            dims = ts.get("dim", [])
            try:
                shape = [None if int(d.get("size", -1)) < 0 else int(d.get("size", -1)) for d in dims]
            except (TypeError, ValueError, AttributeError):
                shape = None
        out[str(key)] = Tensor(name=name, dtype=dtype, shape=shape)
    return out


# ----------------------------------------------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------------------------------------------

def read(path: str) -> Model:
    """A TF.js model.json (or the folder holding it) -> Model; a bare Keras config JSON goes to the Keras
    reader."""
    mj, folder = _locate(path)
    data, json_size = _load_json(mj)
    if isinstance(data, list) and is_manifest_list(data):
        return _weights_manifest(mj, data, folder, json_size)
    if not isinstance(data, dict):
        raise BadModelError("a JSON file that is not a TF.js model.json (expected an object with modelTopology "
                            "and weightsManifest, or a weights manifest: a list of {paths, weights})", path)
    if "modelTopology" not in data and "weightsManifest" not in data:
        if "class_name" in data and "config" in data:
            return kreader.read_config_json(path, data, json_size)
        raise BadModelError("a JSON file that is not a TF.js model.json (no modelTopology)", path)
    topology = data.get("modelTopology")
    fmt = data.get("format") if isinstance(data.get("format"), str) else None
    if topology is None:
        return _weights_manifest(mj, data.get("weightsManifest"), folder, json_size, data)
    if not isinstance(topology, dict):
        raise BadModelError("modelTopology is not an object", path)
    if fmt is None:
        fmt = "layers-model" if ("model_config" in topology or "class_name" in topology) else "graph-model"
    if fmt not in ("graph-model", "layers-model"):
        raise BadModelError(f"unknown TF.js model format {fmt!r} (expected graph-model or layers-model)", path)
    groups, weights = parse_manifest(data.get("weightsManifest"), path)
    warnings: list[str] = []
    shards = Shards(folder, groups, weights, path, warnings)
    size = json_size + shards.total_bytes
    if fmt == "graph-model":
        model = _graph_model(path, data, topology, weights, shards, size, warnings)
    else:
        model = _layers_model(path, topology, weights, size, warnings)
    model.format_version = fmt
    model.variables_freeze_on_conversion = True  # the TF.js converter took them from a SavedModel or Keras file
    model.legacy_placeholder_shapes = False  # written by the TF.js converter, whatever version it records
    gen, conv = data.get("generatedBy"), data.get("convertedBy")
    model.producer = " / ".join(str(x) for x in (conv, gen) if isinstance(x, str) and x) or "TensorFlow.js"
    quant: dict[str, int] = {}
    for w in weights:
        if w.quantization is not None:
            quant[w.stored_dtype] = quant.get(w.stored_dtype, 0) + 1
    model.details.update({
        "model_type": fmt, "generated_by": gen if isinstance(gen, str) else None,
        "converted_by": conv if isinstance(conv, str) else None,
        "weights": len(weights), "weight_groups": len(groups), "shards": shards.listing,
        "quantized_weights": quant,
    })
    if quant:
        model.details["quantization_note"] = ("quantized weights are stored as " + ", ".join(sorted(quant))
                                              + " and dequantized to float when loaded; weight bytes count the "
                                              "stored size")
    meta = data.get("userDefinedMetadata")
    if isinstance(meta, dict):
        model.metadata = {str(k): (v if isinstance(v, (str, int, float, bool)) or v is None else "<object>")
                          for k, v in list(meta.items())[:100]}
    return model


def _weights_manifest(path: str, manifest, folder: str, json_size: int, data: Optional[dict] = None) -> Model:
    """A weights manifest without topology: one ``Weight`` node per weight, reading the weight's constant, so
    that names, shapes, dtypes, parameters and bytes are listed and counted; nothing else is known."""
    from ..model import Graph

    groups, weights = parse_manifest(manifest, path)
    if not weights:
        raise BadModelError("a TF.js JSON file without modelTopology and without weights", path)
    warnings: list[str] = []
    shards = Shards(folder, groups, weights, path, warnings)
    g = Graph(name="main", consts_are_weights=True)
    seen: dict[str, int] = {}
    for w in weights:
        k = seen.get(w.name, 0)
        seen[w.name] = k + 1
        name = w.name if k == 0 else f"{w.name}_{k}"  # a name listed twice (never in a valid manifest)
        tname = f"{name}:0"
        g.tensors[tname] = Tensor(name=tname, dtype=w.dtype, shape=list(w.shape), quantization=_quantization(w),
                                  const=ConstData(nbytes=w.nbytes if w.nbytes is not None else 0,
                                                  loader=_loader(shards, w)))
        g.nodes.append(Node(name=name, op=WEIGHT_OP, inputs=[tname],
                            attrs={"dtype": w.dtype, "shape": list(w.shape), "stored_dtype": w.stored_dtype,
                                   "group": w.group + 1}))
    model = Model(format="tfjs", path=path, file_size=json_size + shards.total_bytes, graphs=[g],
                  producer="TensorFlow.js weights manifest", format_version="weights-manifest",
                  has_architecture=False, variables_freeze_on_conversion=True)
    model.warnings = [MANIFEST_NOTE + f" ({len(weights)} weights in {len(groups)} group(s))."] + warnings
    quant: dict[str, int] = {}
    for w in weights:
        if w.quantization is not None:
            quant[w.stored_dtype] = quant.get(w.stored_dtype, 0) + 1
    model.details.update({"model_type": "weights-manifest", "weights": len(weights), "weight_groups": len(groups),
                          "shards": shards.listing, "quantized_weights": quant})
    if data is not None:
        gen, conv = data.get("generatedBy"), data.get("convertedBy")
        if isinstance(gen, str) or isinstance(conv, str):
            model.producer = " / ".join(str(x) for x in (conv, gen) if isinstance(x, str) and x) + \
                " (weights manifest)"
    return model


def _graph_model(path, data, topology, weights: list[WeightEntry], shards: Shards, size: int,
                 warnings: list[str]) -> Model:
    from .graphdef import model_from_graphdef

    gd = parse_graphdef_json(topology, path)
    model = model_from_graphdef(gd, path, size, fmt="tfjs")
    g = model.main
    by_name = {n.name: n for n in g.nodes}
    referenced = {split_tensor_name(i)[0] for n in g.nodes for i in n.inputs} | {
        c for n in g.nodes for c in n.control_inputs}
    created, unreferenced = [], 0
    for w in weights:
        node = by_name.get(w.name)
        tname = f"{w.name}:0"
        if node is None and w.name not in referenced:
            unreferenced += 1  # e.g. constants of function bodies (renamed '<function>/<const>')
            continue
        if node is None:
            node = Node(name=w.name, op="Const", outputs=[tname], is_const=True,
                        attrs={"dtype": w.dtype, "value": {"dtype": w.dtype, "shape": w.shape}})
            created.append(node)
            by_name[w.name] = node
        t = g.tensors.get(tname)
        if t is None:
            t = Tensor(name=tname, producer=w.name)
            g.tensors[tname] = t
            if tname not in node.outputs:
                node.outputs.append(tname)
        t.dtype, t.shape = w.dtype, list(w.shape)
        t.const = ConstData(nbytes=w.nbytes if w.nbytes is not None else 0, loader=_loader(shards, w))
        t.quantization = _quantization(w)
        node.is_const = True
    g.nodes[:0] = created
    if unreferenced:
        model.details["unreferenced_weights"] = unreferenced
    # Const nodes whose values the converter cleared and the manifest does not list: value unknown
    listed = {w.name for w in weights}
    cleared = 0
    for nd in gd.node:
        if nd.op == "Const" and nd.name not in listed and "value" in nd.attr:
            tp = nd.attr["value"].tensor
            if not (tp.tensor_content or tp.float_val or tp.int_val or tp.int64_val or tp.bool_val
                    or tp.double_val or tp.half_val or tp.string_val):
                t = g.tensors.get(f"{nd.name}:0")
                if t is not None and t.const is not None and (t.shape or []) != []:
                    t.const = ConstData(nbytes=t.const.nbytes, loader=None)
                    cleared += 1
    if cleared:
        warnings.append(f"{cleared} Const node(s) have no value in the topology and no manifest entry")
    _propagate_identities(g)
    g.invalidate()
    sig = data.get("signature")
    if isinstance(sig, dict):
        ins, outs = _sig_tensors(sig.get("inputs"), path), _sig_tensors(sig.get("outputs"), path)
        if ins or outs:
            model.signatures.append(Signature(name="serving_default", inputs=ins, outputs=outs))
            g.inputs = [t.name for t in ins.values() if g.tensor(t.name) is not None]
            g.outputs = [t.name for t in outs.values() if g.tensor(t.name) is not None]
    init = data.get("modelInitializer")
    if isinstance(init, dict) and isinstance(init.get("node"), list):
        model.details["initializer_nodes"] = len(init["node"])
    model.warnings = warnings + model.warnings
    return model


def _propagate_identities(g) -> None:
    """Identity chains on constants (``w/read = Identity(w)``) carry the manifest's data, not the cleared
    topology value that the GraphDef reader folded into them."""
    changed, rounds = True, 0
    while changed and rounds < 64:
        changed, rounds = False, rounds + 1
        for node in g.nodes:
            if node.op not in op_roles.FORWARD or len(node.inputs) != 1 or not node.outputs:
                continue
            src, out = g.tensors.get(node.inputs[0]), g.tensors.get(node.outputs[0])
            if src is None or out is None or src.const is None:
                continue
            if out.const is not src.const or out.quantization is not src.quantization:
                out.const, out.shape, out.dtype, out.quantization = src.const, src.shape, src.dtype, \
                    src.quantization
                node.is_const = True
                changed = True


def _layers_model(path, topology: dict, weights: list[WeightEntry], size: int, warnings: list[str]) -> Model:
    config = topology.get("model_config", topology)
    if not isinstance(config, dict) or "class_name" not in config:
        raise BadModelError("the layers model's modelTopology holds no Keras model_config", path)
    model, b = kreader.build_model(config, path, size, "tfjs", warnings)
    kv = topology.get("keras_version")
    model.details.update({"keras_version": kv if isinstance(kv, str) else None,
                          "backend": topology.get("backend") if isinstance(topology.get("backend"), str) else None})
    for w in weights:
        kw = Weight(name=w.name, shape=list(w.shape), dtype=w.dtype, nbytes=w.nbytes or 0,
                            quantization=_quantization(w))
        assign_named(b, None, w.name, kw)
    return kreader.finish(model, b)
