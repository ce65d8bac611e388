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
"""
from __future__ import annotations

import base64
import heapq
import io
import json
import math
import os
import re
import struct
import tempfile
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator, Optional

from ..errors import BadModelError, LimitError
from ..model import ConstData, Graph, Model, Node, Quantization, Tensor
from ..ops.helpers import Unknown
from ..ops.registry import Ctx, lookup
from .files import HDF5_MAGIC, ZIP_MAGIC

MAX_CONFIG_BYTES = 64 * 1024**2  # config.json / model_config / model.json
MAX_LAYERS = 100_000
MAX_ZIP_MEMBERS = 100_000
MAX_ZIP_RATIO = 1100  # deflate cannot expand more than ~1032:1; anything above is a crafted archive
MAX_WEIGHTS_BYTES = 64 * 1024**3  # a model.weights.h5 member larger than this is refused
MAX_H5_OBJECTS = 1_000_000  # HDF5 groups/datasets visited when collecting weight shapes
MAX_H5_DEPTH = 64
MAX_NESTING = 64  # models inside models
MAX_LAYER_OUTPUTS = 1024  # a layer output index above this is refused (Keras layers have a handful)
MAX_ATTR_JSON = 2000  # characters of JSON per attribute value before it is elided
# Keras 3 configs record the shape of every tensor a layer consumes; they win over the rules unless this is
# False (the tests turn it off to check the rules alone against Keras).
USE_RECORDED_SHAPES = True

MODEL_CLASSES = {"Functional", "Model", "Sequential"}
# Built-in Keras layers (Keras 3.15 keras.layers, plus Keras 2 / tf.keras names). Anything else is custom.
KNOWN_LAYERS = set("""
Activation ActivityRegularization AdaptiveAveragePooling1D AdaptiveAveragePooling2D AdaptiveAveragePooling3D
AdaptiveMaxPooling1D AdaptiveMaxPooling2D AdaptiveMaxPooling3D Add AdditiveAttention AlphaDropout Attention AugMix
AutoContrast Average AveragePooling1D AveragePooling2D AveragePooling3D AvgPool1D AvgPool2D AvgPool3D
BatchNormalization Bidirectional CategoryEncoding CenterCrop Concatenate
ContrastLimitedAdaptiveHistogramEqualization Conv1D Conv1DTranspose Conv2D Conv2DTranspose Conv3D Conv3DTranspose
ConvLSTM1D ConvLSTM2D ConvLSTM3D Convolution1D Convolution1DTranspose Convolution2D Convolution2DTranspose
Convolution3D Convolution3DTranspose Cropping1D Cropping2D Cropping3D CutMix Dense DepthwiseConv1D DepthwiseConv2D
Discretization Dot Dropout ELU EinsumDense Embedding Equalization Flatten FlaxLayer GRU GRUCell GaussianDropout
GaussianNoise GlobalAveragePooling1D GlobalAveragePooling2D GlobalAveragePooling3D GlobalAvgPool1D GlobalAvgPool2D
GlobalAvgPool3D GlobalMaxPool1D GlobalMaxPool2D GlobalMaxPool3D GlobalMaxPooling1D GlobalMaxPooling2D
GlobalMaxPooling3D GroupNormalization GroupQueryAttention HashedCrossing Hashing Identity InputLayer IntegerLookup
JaxLayer LSTM LSTMCell Lambda Layer LayerNormalization LeakyReLU Masking MaxNumBoundingBoxes MaxPool1D MaxPool2D
MaxPool3D MaxPooling1D MaxPooling2D MaxPooling3D Maximum MelSpectrogram Minimum MixUp MultiHeadAttention Multiply
Normalization PReLU Permute Pipeline RMSNormalization RNN RandAugment RandomBrightness RandomColorDegeneration
RandomColorJitter RandomContrast RandomCrop RandomElasticTransform RandomErasing RandomFlip RandomGaussianBlur
RandomGrayscale RandomHue RandomInvert RandomPerspective RandomPosterization RandomRotation RandomSaturation
RandomSharpness RandomShear RandomTranslation RandomZoom ReLU RepeatVector Rescaling Reshape Resizing
ReversibleEmbedding STFTSpectrogram SeparableConv1D SeparableConv2D SeparableConvolution1D SeparableConvolution2D
SimpleRNN SimpleRNNCell Softmax Solarization SpatialDropout1D SpatialDropout2D SpatialDropout3D SpectralNormalization
StackedRNNCells StringLookup Subtract TFSMLayer TextVectorization TimeDistributed TorchModuleWrapper
UnitNormalization UpSampling1D UpSampling2D UpSampling3D Wrapper ZeroPadding1D ZeroPadding2D ZeroPadding3D
ThresholdedReLU LocallyConnected1D LocallyConnected2D CuDNNLSTM CuDNNGRU TFOpLambda SlicingOpLambda
DenseFeatures SyncBatchNormalization InstanceNormalization Cropping RandomHeight RandomWidth
LayerScale StochasticDepth
""".split()) | MODEL_CLASSES
# Layers whose config carries code or a foreign model: shown, never run.
CODE_LAYERS = {"Lambda", "TorchModuleWrapper", "JaxLayer", "FlaxLayer", "TFSMLayer"}
BN_CLASSES = {"BatchNormalization", "SyncBatchNormalization"}
NON_TRAINABLE_NAMES = {"moving_mean", "moving_variance", "moving_stddev", "renorm_mean", "renorm_stddev",
                       "renorm_mean_weight", "renorm_stddev_weight", "moving_mean_weight"}
Ref = tuple  # (layer name, node index, tensor index)


# ----------------------------------------------------------------------------------------------------------
# The layer tree parsed from a model config
# ----------------------------------------------------------------------------------------------------------

@dataclass
class Layer:
    local: str  # name inside its model
    cls: str
    config: dict
    path: tuple  # local names from the root model down to this layer
    module: Optional[str] = None
    registered_name: Optional[str] = None
    calls: list = field(default_factory=list)  # per inbound node: list of Ref
    declared: dict = field(default_factory=dict)  # Ref -> (shape, dtype) recorded in Keras 3 call args
    children: Optional[list] = None  # nested model: its layers
    kind: str = ""  # functional | sequential (models only)
    input_refs: list = field(default_factory=list)
    output_refs: list = field(default_factory=list)
    trainable: bool = True  # effective (a frozen outer model freezes its layers)
    keras3_nodes: bool = False  # inbound nodes in the Keras 3 dict format

    @property
    def is_model(self) -> bool:
        return self.children is not None

    def child(self, name: str) -> Optional["Layer"]:
        if self.children is None:
            return None
        if not hasattr(self, "_by_name"):
            self._by_name = {c.local: c for c in self.children}
        return self._by_name.get(name)


@dataclass
class Weight:
    name: str  # relative to its layer: "kernel", "cell/kernel"
    shape: list
    dtype: Optional[str]
    nbytes: int
    trainable: bool = True
    quantization: Optional[Quantization] = None  # TF.js: stored quantized (uint8/uint16/float16)


class Warnings(list):
    """The model's warnings; repetitive kinds (custom layers, missing weights, ...) stop after LIMIT lines and
    end with a count of the rest."""
    LIMIT = 20

    def __init__(self, *args):
        super().__init__(*args)
        self.counts: dict[str, int] = {}

    def add(self, kind: str, message: str) -> None:
        n = self.counts[kind] = self.counts.get(kind, 0) + 1
        if n <= self.LIMIT:
            self.append(message)

    def finalize(self) -> None:
        for kind, n in self.counts.items():
            if n > self.LIMIT:
                self.append(f"... and {n - self.LIMIT} more warnings like these about {kind}")
        self.counts = {}


class _Ctx:
    def __init__(self, warnings: Warnings):
        self.count = 0
        self.warnings = warnings
        self.custom: list[dict] = []
        self.code_layers: list[str] = []


def _is_ref(x) -> bool:
    return (isinstance(x, (list, tuple)) and len(x) >= 3 and isinstance(x[0], str)
            and isinstance(x[1], int) and isinstance(x[2], int) and not isinstance(x[1], bool))


def _flatten_refs(x, depth: int = 0) -> list:
    """input_layers / output_layers: a triple, a list of triples, or (Keras 3) a dict or nest of them."""
    if depth > 32:
        return []
    if _is_ref(x):
        return [(x[0], x[1], x[2])]
    if isinstance(x, dict):
        return [r for v in x.values() for r in _flatten_refs(v, depth + 1)]
    if isinstance(x, (list, tuple)):
        return [r for v in x for r in _flatten_refs(v, depth + 1)]
    return []


def _keras_tensors(x, out: list, declared: dict, depth: int = 0) -> None:
    """Collect Keras 3 ``__keras_tensor__`` references (in order) from call args/kwargs."""
    if depth > 32:
        return
    if isinstance(x, dict):
        if x.get("class_name") == "__keras_tensor__" and isinstance(x.get("config"), dict):
            cfg = x["config"]
            hist = cfg.get("keras_history")
            if _is_ref(hist):
                ref = (hist[0], hist[1], hist[2])
                out.append(ref)
                shape = cfg.get("shape")
                if isinstance(shape, list) and all(d is None or (isinstance(d, int) and d >= 0) for d in shape):
                    declared[ref] = (list(shape), cfg.get("dtype") if isinstance(cfg.get("dtype"), str) else None)
            return
        for v in x.values():
            _keras_tensors(v, out, declared, depth + 1)
    elif isinstance(x, (list, tuple)):
        for v in x:
            _keras_tensors(v, out, declared, depth + 1)


def _keras2_refs(x, out: list, depth: int = 0) -> None:
    """Keras 2 call kwargs may hold tensors as [layer, node, tensor] lists."""
    if depth > 32:
        return
    if _is_ref(x) and x[1] >= 0 and x[0] != "_CONSTANT_VALUE":
        out.append((x[0], x[1], x[2]))
    elif isinstance(x, dict):
        for v in x.values():
            _keras2_refs(v, out, depth + 1)
    elif isinstance(x, (list, tuple)):
        for v in x:
            _keras2_refs(v, out, depth + 1)


def _parse_inbound(raw) -> tuple[list, dict, bool]:
    calls, declared, keras3 = [], {}, False
    if not isinstance(raw, list):
        return calls, declared, keras3
    for node in raw:
        refs: list = []
        if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
            keras3 = True
            _keras_tensors(node.get("args"), refs, declared)
            _keras_tensors(node.get("kwargs"), refs, declared)
        elif isinstance(node, list):  # Keras 2: [[layer, node, tensor, kwargs], ...]
            for item in node:
                if _is_ref(item) and item[1] >= 0 and item[0] != "_CONSTANT_VALUE":
                    refs.append((item[0], item[1], item[2]))
                    if len(item) > 3 and isinstance(item[3], dict):
                        _keras2_refs(item[3], refs)
        calls.append(refs)
    return calls, declared, keras3


def _model_kind(cls: str, cfg) -> str:
    if isinstance(cfg, list):
        return "sequential"  # very old Keras: a Sequential's config is its layer list
    if not isinstance(cfg, dict) or not isinstance(cfg.get("layers"), list):
        return ""
    if "input_layers" in cfg and "output_layers" in cfg:
        return "functional"
    if cls == "Sequential" or cls not in KNOWN_LAYERS:
        return "sequential"
    return ""


def parse_layer(entry, parent: Optional[Layer], ctx: _Ctx, depth: int = 0, trainable: bool = True) -> Layer:
    """A config entry ({class_name, config, name?, inbound_nodes?}) -> Layer (recursively for models)."""
    if not isinstance(entry, dict):
        raise BadModelError("the model config has a layer entry that is not an object")
    ctx.count += 1
    if ctx.count > MAX_LAYERS:
        raise LimitError(f"the model config has more than {MAX_LAYERS} layers")
    cls = entry.get("class_name")
    cls = cls if isinstance(cls, str) and cls else "?"
    raw_cfg = entry.get("config")
    cfg = raw_cfg if isinstance(raw_cfg, dict) else {}
    name = entry.get("name") if isinstance(entry.get("name"), str) else cfg.get("name")
    if not isinstance(name, str) or not name:
        name = _snake(cls)
    module = entry.get("module") if isinstance(entry.get("module"), str) else None
    reg = entry.get("registered_name") if isinstance(entry.get("registered_name"), str) else None
    path = (parent.path + (name,)) if parent is not None else ()
    t = trainable and cfg.get("trainable", True) is not False
    layer = Layer(local=name, cls=cls, config=cfg, path=path, module=module, registered_name=reg, trainable=t)
    layer.calls, layer.declared, layer.keras3_nodes = _parse_inbound(entry.get("inbound_nodes"))
    kind = _model_kind(cls, raw_cfg)
    if kind:
        if depth >= MAX_NESTING:
            raise LimitError(f"models nested more than {MAX_NESTING} deep")
        layer.kind = kind
        items = raw_cfg if isinstance(raw_cfg, list) else cfg["layers"]
        layer.children = [parse_layer(e, layer, ctx, depth + 1, t) for e in items]
        if kind == "functional":
            layer.input_refs = _flatten_refs(cfg.get("input_layers"))
            layer.output_refs = _flatten_refs(cfg.get("output_layers"))
    _check_safety(layer, entry, ctx)
    return layer


def _check_safety(layer: Layer, entry: dict, ctx: _Ctx) -> None:
    name = "/".join(layer.path) or layer.local
    if layer.cls in CODE_LAYERS:
        what = "Python code" if layer.cls == "Lambda" else "a foreign module or model"
        ctx.warnings.add("code layers", f"{layer.cls} layer '{name}' holds {what}; graphreport never runs it")
        ctx.code_layers.append(name)
    elif _has_code(layer.config):
        ctx.warnings.add("code layers", f"layer '{name}' ({layer.cls}) has a Python lambda in its config; "
                            "graphreport never runs it")
        ctx.code_layers.append(name)
    module = layer.module or ""
    builtin_module = not module or module.startswith(("keras", "tf_keras", "tensorflow"))
    custom = (layer.cls not in KNOWN_LAYERS or not builtin_module
              or (layer.registered_name not in (None, layer.cls) and not builtin_module)
              or ">" in layer.cls)
    if custom and not layer.is_model:
        src = f" from module {module}" if module else ""
        reg = f", registered as {layer.registered_name}" if layer.registered_name else ""
        ctx.warnings.add("custom layers", f"custom layer '{name}' (class {layer.cls}{src}{reg}): graphreport does "
                         "not import or run it; its output shape is unknown unless the file records it")
        ctx.custom.append({"layer": name, "class": layer.cls, "module": module or None,
                           "registered_name": layer.registered_name})


_B64 = re.compile(r"^[A-Za-z0-9+/=\n]{40,}$")


def _looks_like_code(s) -> bool:
    """A base64 string whose first byte is a marshalled code object (how Keras stores lambdas: func_dump)."""
    if not isinstance(s, str) or not _B64.match(s[:4096]):
        return False
    try:
        head = base64.b64decode(s[:8])
    except (ValueError, TypeError):
        return False
    return bool(head) and head[0] in (0x63, 0xE3)  # TYPE_CODE, with or without FLAG_REF


def _has_code(x, depth: int = 0) -> bool:
    if depth > 32:
        return False
    if _looks_like_code(x):
        return True
    if isinstance(x, dict):
        if x.get("class_name") == "__lambda__" or x.get("function_type") == "lambda":
            return True
        return any(_has_code(v, depth + 1) for k, v in x.items() if k != "layers")
    if isinstance(x, list):
        return any(_has_code(v, depth + 1) for v in x)
    return False


def _snake(name: str) -> str:
    """keras.src.utils.naming.to_snake_case (how .keras archives name layer folders)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def root_from_config(config, ctx: _Ctx) -> Layer:
    """A model config ({class_name, config}) -> root Layer."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise BadModelError("the model config is not a Keras model config (no class_name)")
    root = parse_layer(config, None, ctx)
    root.path = ()
    return root


# ----------------------------------------------------------------------------------------------------------
# Attributes
# ----------------------------------------------------------------------------------------------------------

POLICY_CLASSES = {"DTypePolicy", "Policy", "FloatDTypePolicy", "QuantizedDTypePolicy", "QuantizedFloat8DTypePolicy",
                  "DTypePolicyMap"}
CODE_MARK = "<Python code (marshalled bytecode): not shown, never run>"


def _clean(value, depth: int = 0):
    if depth > 24:
        return "<nested too deep>"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if _looks_like_code(value):
        return CODE_MARK
    if isinstance(value, dict):
        cn = value.get("class_name")
        if cn == "__lambda__" or value.get("function_type") == "lambda":
            return CODE_MARK
        if cn == "__keras_tensor__":
            return "<tensor>"
        if isinstance(cn, str) and "config" in value and set(value) <= {"module", "class_name", "config",
                                                                         "registered_name", "shared_object_id",
                                                                         "build_config", "compile_config"}:
            cfg = value.get("config")
            if cn in POLICY_CLASSES and isinstance(cfg, dict) and isinstance(cfg.get("name"), str):
                return cfg["name"]
            if cn == "function" and isinstance(cfg, str):  # a reference to a named function: a name, not code
                return f"{value.get('module') or ''}.{cfg}".lstrip(".")
            inner = _clean(cfg, depth + 1)
            return {"class_name": cn, "config": inner} if inner not in ({}, None, []) else cn
        return {str(k): _clean(v, depth + 1) for k, v in value.items() if k != "shared_object_id"}
    if isinstance(value, (list, tuple)):
        return [_clean(v, depth + 1) for v in value]
    return value


WRAPPED_KEYS = ("layer", "backward_layer", "cell")  # wrapped layers: cleaned attribute by attribute


def config_attrs(cls: str, config: dict, depth: int = 0) -> dict:
    """A layer config as node attributes: objects shortened, code replaced by a marker, each big value elided
    on its own (a wrapped layer's config too, so the shape and cost rules can read it)."""
    out = {}
    for k, v in config.items():
        if k in ("name", "layers", "input_layers", "output_layers", "build_input_shape"):
            continue
        if cls == "Lambda" and k == "function":
            out[k] = CODE_MARK if not (isinstance(v, dict) and v.get("class_name") == "function") else _clean(v)
            continue
        if k in WRAPPED_KEYS and depth < 4 and isinstance(v, dict) and isinstance(v.get("config"), dict) \
                and isinstance(v.get("class_name"), str) and not _has_code(v):
            out[str(k)] = {"class_name": v["class_name"], "config": config_attrs(v["class_name"], v["config"],
                                                                                 depth + 1)}
            continue
        c = _clean(v)
        try:
            text = json.dumps(c, default=str)
        except (TypeError, ValueError):
            text = str(c)
        if len(text) > MAX_ATTR_JSON:
            c = f"<{len(text)} characters of JSON, not shown>"
        out[str(k)] = c
    return out


def layer_attrs(layer: Layer) -> dict:
    out = config_attrs(layer.cls, layer.config)
    if layer.cls != "InputLayer" and not layer.is_model and layer.module and not layer.module.startswith("keras"):
        out["module"] = layer.module
    return out


def policy_dtype(cfg: dict) -> Optional[str]:
    """The compute dtype of a layer's dtype policy."""
    d = cfg.get("dtype")
    if isinstance(d, dict):
        c = d.get("config")
        d = c.get("name") if isinstance(c, dict) else None
    if not isinstance(d, str):
        return None
    if d.startswith("mixed_"):
        return d[len("mixed_"):]
    return d


# ----------------------------------------------------------------------------------------------------------
# Output shapes: the layer rules registered in ops/ (dialect "keras"), called with the layer's config
# ----------------------------------------------------------------------------------------------------------

def layer_output_shapes(op: str, attrs: dict, in_shapes: list, in_dtypes: list, n_out: int) -> list:
    """Output shapes of one call of a (non-model) layer from its registered shape rule; raises
    ops.helpers.Unknown with a reason."""
    info = lookup(op, "keras")
    if info is None or info.shape is None:
        raise Unknown(f"no shape rule for Keras layer {op}")
    return info.shape(Ctx(op, attrs, in_shapes=in_shapes, in_dtypes=in_dtypes, n_out=n_out))


def input_layer_shape(cfg: dict) -> Optional[list]:
    for key in ("batch_shape", "batch_input_shape"):
        s = cfg.get(key)
        if isinstance(s, list) and all(d is None or (isinstance(d, int) and not isinstance(d, bool)) for d in s):
            return [None if d is None or d < 0 else d for d in s]
    s = cfg.get("shape") if isinstance(cfg.get("shape"), list) else cfg.get("input_shape")
    if isinstance(s, list) and all(d is None or isinstance(d, int) for d in s):
        b = cfg.get("batch_size")
        return [b if isinstance(b, int) else None, *[None if d is None or d < 0 else d for d in s]]
    return None


# ----------------------------------------------------------------------------------------------------------
# Graph building
# ----------------------------------------------------------------------------------------------------------

class GraphBuilder:
    def __init__(self, root: Layer, warnings: Warnings, use_declared: bool = True):
        self.root = root
        self.g = Graph(name="main", consts_are_weights=True, dialect="keras")
        self.warnings = warnings
        self.use_declared = use_declared
        self.nodes_by_path: dict[tuple, list[Node]] = {}
        self.shape_disagreements: list[dict] = []
        self.weights: dict[tuple, list[Weight]] = {}
        self.unattached: list[tuple[str, Weight]] = []
        self.layer_params: dict[str, dict] = {}

    # -- structure -----------------------------------------------------------------------------------------
    def build(self) -> Graph:
        if self.root.is_model:
            self.g.outputs = self._container(self.root, "", None)
        else:
            # a subclassed model or a bare layer: no layer graph in the config
            self.warnings.append(f"'{self.root.local}' ({self.root.cls}) has no layer graph in its config "
                                 "(a subclassed model?): shown as one node")
            node = self._leaf(self.root, 0, [], self.root.local, {}, {})
            self.g.outputs = list(node.outputs)
        return self.g

    def _container(self, m: Layer, prefix: str, outer: Optional[list]) -> list:
        if m.kind == "sequential":
            return self._sequential(m, prefix, outer)
        return self._functional(m, prefix, outer)

    def _input_node(self, layer: Layer, name: str, top: bool) -> str:
        node = Node(name=name, op="InputLayer", attrs=layer_attrs(layer))
        shape = input_layer_shape(layer.config)
        dtype = layer.config.get("dtype") if isinstance(layer.config.get("dtype"), str) else policy_dtype(
            layer.config)
        t = Tensor(name=f"{name}:0", dtype=dtype or "float32", shape=shape, producer=name)
        if shape is None:
            t.shape_note = "the InputLayer config gives no shape"
        node.outputs.append(t.name)
        self.g.tensors[t.name] = t
        self.g.nodes.append(node)
        self.nodes_by_path.setdefault(layer.path, []).append(node)
        if top:
            self.g.inputs.append(t.name)
        return t.name

    def _offset(self, m: Layer, child: Layer) -> int:
        """Keras 2 counts a nested model's own input->output node as node 0 of that layer."""
        if m.keras3_nodes or any(c.keras3_nodes for c in (m.children or [])):
            return 0
        if child.is_model and child.children and (
                child.kind == "functional" or child.children[0].cls == "InputLayer"):
            return 1
        return 0

    def _functional(self, m: Layer, prefix: str, outer: Optional[list]) -> list:
        children = m.children or []
        by_name = {c.local: c for c in children}
        tmap: dict[tuple, str] = {}  # (layer, call, tensor) -> graph tensor name
        declared: dict[tuple, tuple] = {}
        needed: dict[tuple, int] = {}  # (layer, call) -> number of outputs referenced

        def key(ref) -> Optional[tuple]:
            c = by_name.get(ref[0])
            if c is None:
                return None
            if not isinstance(ref[2], int) or not 0 <= ref[2] < MAX_LAYER_OUTPUTS:
                # an output index is a number written in the file: outputs made for it must not follow it
                self.warnings.add("unresolved inputs", f"a reference to output {str(ref[2])[:20]} of layer "
                                  f"'{prefix}{c.local}': no layer has more than {MAX_LAYER_OUTPUTS} outputs")
                return None
            if c.cls == "InputLayer" and not c.calls:
                return (c.local, 0, ref[2])
            k = ref[1] - self._offset(m, c)
            if not 0 <= k < len(c.calls):
                k = ref[1]
            return (c.local, k, ref[2])

        for c in children:
            for ref, d in c.declared.items():
                kk = key(ref)
                if kk is not None:
                    declared[kk] = d
            for call in c.calls:
                for ref in call:
                    kk = key(ref)
                    if kk is not None:
                        needed[kk[:2]] = max(needed.get(kk[:2], 0), kk[2] + 1)
        for ref in m.output_refs:
            kk = key(ref)
            if kk is not None:
                needed[kk[:2]] = max(needed.get(kk[:2], 0), kk[2] + 1)

        for i, ref in enumerate(m.input_refs):
            if outer is not None and i < len(outer):
                tmap[(ref[0], 0, ref[2])] = outer[i]
        if outer is not None and len(outer) != len(m.input_refs):
            self.warnings.add("nested calls", f"model '{prefix.rstrip('/')}' takes {len(m.input_refs)} inputs but "
                              f"is called with {len(outer)}")
        for c in children:
            if c.cls == "InputLayer" and (c.local, 0, 0) not in tmap:
                tmap[(c.local, 0, 0)] = self._input_node(c, prefix + c.local, top=outer is None)

        # calls in dependency order (Kahn), whatever order the config lists them in
        calls = [(c, k) for c in children if c.cls != "InputLayer" for k in range(len(c.calls))]
        order = {(c.local, k): i for i, (c, k) in enumerate(calls)}
        waiting: dict[tuple, list] = {}
        missing: dict[tuple, int] = {}
        ready: list = []  # heap of (config position, layer name, call): config order wherever possible
        produced = {kk[:2] for kk in tmap}
        call_keys = {(c.local, k) for c, k in calls}
        for c, k in calls:
            deps = set()
            for ref in c.calls[k]:
                kk = key(ref)
                if kk is not None and kk[:2] not in produced and kk[:2] in call_keys:
                    deps.add(kk[:2])
            missing[(c.local, k)] = len(deps)
            for d in deps:
                waiting.setdefault(d, []).append((c, k))
            if not deps:
                heapq.heappush(ready, (order[(c.local, k)], c.local, k))
        by_key = {(c.local, k): c for c, k in calls}
        done = set()
        while ready:
            _, lname, k = heapq.heappop(ready)
            if (lname, k) in done:
                continue
            done.add((lname, k))
            self._do_call(m, by_key[(lname, k)], k, prefix, tmap, key, declared, needed)
            for w in waiting.pop((lname, k), []):
                wk = (w[0].local, w[1])
                missing[wk] -= 1
                if missing[wk] == 0:
                    heapq.heappush(ready, (order[wk], wk[0], wk[1]))
        for c, k in calls:
            if (c.local, k) not in done:
                self.warnings.add("cycles", f"layer '{prefix}{c.local}' sits in a cycle of the model config; "
                                     "drawn without its unresolved inputs")
                done.add((c.local, k))
                self._do_call(m, c, k, prefix, tmap, key, declared, needed)

        outs = []
        for ref in m.output_refs:
            kk = key(ref)
            t = tmap.get(kk) if kk else None
            if t is None:
                self.warnings.add("outputs", f"model output {ref[0]}[{ref[1]}][{ref[2]}] names no layer output")
                continue
            outs.append(t)
        return outs

    def _do_call(self, m, c: Layer, k: int, prefix: str, tmap, key, declared, needed) -> None:
        ins = []
        for ref in c.calls[k]:
            kk = key(ref)
            t = tmap.get(kk) if kk else None
            if t is None:
                self.warnings.add("unresolved inputs", f"layer '{prefix}{c.local}' refers to "
                                  f"{ref[0]}[{ref[1]}][{ref[2]}], "
                                     "which the model does not define")
                continue
            ins.append(t)
        name = prefix + c.local + (f"#{k}" if k else "")
        if c.is_model:
            outs = self._container(c, name + "/", ins)
            for t, tname in enumerate(outs):
                tmap[(c.local, k, t)] = tname
            return
        decl = {t: declared[(c.local, k, t)] for t in range(needed.get((c.local, k), 1))
                if (c.local, k, t) in declared}
        node = self._leaf(c, k, ins, name, decl, needed)
        for t, tname in enumerate(node.outputs):
            tmap[(c.local, k, t)] = tname

    def _sequential(self, m: Layer, prefix: str, outer: Optional[list]) -> list:
        layers = list(m.children or [])
        cur: Optional[str] = outer[0] if outer else None
        if layers and layers[0].cls == "InputLayer":
            first = layers.pop(0)
            if cur is None:
                cur = self._input_node(first, prefix + first.local, top=outer is None)
        elif cur is None and layers:
            shape = input_layer_shape(layers[0].config) or (
                m.config.get("build_input_shape") if isinstance(m.config.get("build_input_shape"), list) else None)
            if shape is not None:
                synthetic = Layer(local=f"{layers[0].local}_input", cls="InputLayer",
                                  config={"batch_input_shape": shape,
                                          "dtype": policy_dtype(layers[0].config) or "float32"},
                                  path=m.path + (f"{layers[0].local}_input",))
                cur = self._input_node(synthetic, prefix + synthetic.local, top=outer is None)
        for c in layers:
            if c.cls == "InputLayer":
                continue
            ins = [cur] if cur else []
            if c.is_model:
                outs = self._container(c, prefix + c.local + "/", ins)
                cur = outs[0] if outs else None
            else:
                node = self._leaf(c, 0, ins, prefix + c.local, {}, {})
                cur = node.outputs[0]
        return [cur] if cur else []

    def _leaf(self, c: Layer, k: int, ins: list, name: str, decl: dict, needed: dict) -> Node:
        node = Node(name=name, op=c.cls, inputs=list(ins), attrs=layer_attrs(c))
        tensors = [self.g.tensors.get(t) for t in ins]
        in_shapes = [t.shape if t is not None else None for t in tensors]
        in_dtypes = [t.dtype if t is not None else None for t in tensors]
        note = None
        want = max(needed.get((c.local, k), 1), max(decl) + 1 if decl else 1)
        try:
            shapes = layer_output_shapes(c.cls, node.attrs, in_shapes, in_dtypes, want)
        except Unknown as e:
            shapes, note = None, str(e)
        except (TypeError, ValueError, ZeroDivisionError, IndexError, KeyError, AttributeError) as e:
            shapes, note = None, f"cannot apply the shape rule ({type(e).__name__})"
        shapes = [None if isinstance(s, Unknown) else s for s in shapes] if shapes else shapes
        n_out = max(needed.get((c.local, k), 1), len(shapes) if shapes else 1, max(decl) + 1 if decl else 1)
        dtype = policy_dtype(c.config) or "float32"
        for t in range(n_out):
            shape = shapes[t] if shapes and t < len(shapes) else None
            tdtype = dtype
            tnote = note if shape is None else None
            if t in decl:
                dshape, ddtype = decl[t]
                if shape is not None and shape != dshape:
                    self.shape_disagreements.append({"node": name, "rule": shape, "recorded": dshape})
                if self.use_declared:
                    shape, tnote = dshape, None
                    tdtype = ddtype or dtype
            tn = Tensor(name=f"{name}:{t}", dtype=tdtype, shape=shape, producer=name, shape_note=tnote)
            if shape is None and tnote is None:
                tn.shape_note = "no shape rule for this output"
            node.outputs.append(tn.name)
            self.g.tensors[tn.name] = tn
        self.g.nodes.append(node)
        self.nodes_by_path.setdefault(c.path, []).append(node)
        return node

    # -- weights -------------------------------------------------------------------------------------------
    def layer_at(self, path: tuple) -> Optional[Layer]:
        cur = self.root
        for p in path:
            cur = cur.child(p) if cur is not None else None
        return cur

    def add_weight(self, layer: Optional[Layer], w: Weight, where: str = "") -> None:
        if layer is None or layer is self.root and self.root.is_model:
            self.unattached.append((where or w.name, w))
            return
        lst = self.weights.setdefault(layer.path, [])
        names = {x.name for x in lst}
        base, i = w.name, 1
        while w.name in names:
            w.name = f"{base}_{i}"
            i += 1
        if not layer.trainable:
            w.trainable = False
        lst.append(w)

    def attach_weights(self) -> dict:
        totals = {"trainable": 0, "non_trainable": 0}
        for path, ws in self.weights.items():
            nodes = self.nodes_by_path.get(path)
            if not nodes:
                for w in ws:
                    self.unattached.append(("/".join(path) + "/" + w.name, w))
                continue
            base = "/".join(path) if path else self.root.local
            per = {"trainable": 0, "non_trainable": 0}
            for w in ws:
                tname = f"{base}/{w.name}"
                if tname in self.g.tensors:
                    tname += "#w"
                self.g.tensors[tname] = Tensor(name=tname, dtype=w.dtype, shape=list(w.shape),
                                               const=ConstData(nbytes=int(w.nbytes), loader=None),
                                               quantization=w.quantization)
                for node in nodes:
                    node.inputs.append(tname)
                n = 1
                for d in w.shape:
                    n *= d
                per["trainable" if w.trainable else "non_trainable"] += n
            self.layer_params[nodes[0].name] = per
            totals["trainable"] += per["trainable"]
            totals["non_trainable"] += per["non_trainable"]
        self.g.invalidate()
        if self.unattached:
            n = sum(math.prod(w.shape) for _, w in self.unattached)
            names = ", ".join(x for x, _ in self.unattached[:5])
            self.warnings.append(f"{len(self.unattached)} weight(s) ({n} values) match no layer of the config and "
                                 f"are not counted: {names}{' ...' if len(self.unattached) > 5 else ''}")
        return totals


def assign_named(b: GraphBuilder, top: Optional[Layer], wname: str, w: Weight) -> None:
    """Legacy HDF5 / TF.js layers models: a weight named like 'outer/inner/kernel:0' goes to the deepest layer
    its name components lead to, starting from ``top`` (the layer whose HDF5 group holds it) or the root."""
    comps = [c for c in wname.split("/") if c]
    if comps:
        comps[-1] = re.sub(r":\d+$", "", comps[-1])
    cur = top if top is not None else b.root
    last = -1
    for i, comp in enumerate(comps[:-1]):
        if cur.children is None:
            break
        child = cur.child(comp)
        if child is not None:
            cur, last = child, i
    if cur.is_model:
        # the name led nowhere inside a model: fall back to a unique layer of that name anywhere below
        for i, comp in enumerate(comps[:-1]):
            hit = _find_unique(cur, comp)
            if hit is not None:
                cur, last = hit, i
                break
    if cur.local in comps[:-1]:
        last = max(last, len(comps) - 2 - comps[:-1][::-1].index(cur.local))
    rel = "/".join(comps[last + 1:]) or (comps[-1] if comps else "weight")
    w.name = rel
    if _non_trainable(cur, rel):
        w.trainable = False
    b.add_weight(None if cur.is_model else cur, w, wname)


def _find_unique(m: Layer, name: str) -> Optional[Layer]:
    hits = []
    stack = list(m.children or [])
    while stack and len(hits) < 2:
        c = stack.pop()
        if c.local == name and not c.is_model:
            hits.append(c)
        stack.extend(c.children or [])
    return hits[0] if len(hits) == 1 else None


def _non_trainable(layer: Layer, wname: str) -> bool:
    base = wname.rsplit("/", 1)[-1]
    if base in NON_TRAINABLE_NAMES:
        return True
    if layer.cls == "Normalization":
        return True
    return False


def _v3_names(layer: Layer, n: int) -> list:
    cls, cfg = layer.cls, layer.config
    names: list = []
    if cls in BN_CLASSES:
        names = (["gamma"] if cfg.get("scale", True) else []) + (["beta"] if cfg.get("center", True) else []) \
            + ["moving_mean", "moving_variance"]
    elif cls in ("LayerNormalization", "GroupNormalization"):
        names = (["gamma"] if cfg.get("scale", True) else []) + (["beta"] if cfg.get("center", True) else [])
    elif cls == "RMSNormalization":
        names = ["scale"]
    elif re.fullmatch(r"SeparableConv(olution)?[12]D", cls):
        names = ["depthwise_kernel", "pointwise_kernel", "bias"]
    elif cls in ("Dense", "EinsumDense") or re.fullmatch(r"(Conv|Convolution|DepthwiseConv)[123]D(Transpose)?", cls):
        names = ["kernel", "bias"]
    elif cls in ("Embedding", "ReversibleEmbedding"):
        names = ["embeddings"]
    elif cls == "PReLU":
        names = ["alpha"]
    elif cls == "Normalization":
        names = ["mean", "variance", "count"]
    elif cls in ("LSTMCell", "GRUCell", "SimpleRNNCell"):
        names = ["kernel", "recurrent_kernel", "bias"]
    if len(names) != n:
        names = [f"var_{i}" for i in range(n)]
    return names


# ----------------------------------------------------------------------------------------------------------
# HDF5 access (h5py; shapes only, hard links only, bounded walks)
# ----------------------------------------------------------------------------------------------------------

def _h5py(path: str):
    try:
        import h5py  # noqa: F401
    except ImportError:
        raise BadModelError("reading Keras HDF5 weights needs the h5py package (pip install h5py)", path) \
            from None
    return h5py


def _h5_child(h5py, group, name: str):
    """A hard-linked member of a group, or None (soft and external links are never followed)."""
    try:
        link = group.get(name, getlink=True)
    except (KeyError, ValueError, OSError, RuntimeError, TypeError):
        return None
    if link is None or not isinstance(link, h5py.HardLink):
        return None
    try:
        return group[name]
    except (KeyError, ValueError, OSError, RuntimeError, TypeError):
        return None


def _h5_get(h5py, group, relpath: str):
    cur = group
    for comp in relpath.split("/"):
        if not comp:
            continue
        if not isinstance(cur, h5py.Group):
            return None
        cur = _h5_child(h5py, cur, comp)
        if cur is None:
            return None
    return cur


def _decode(v) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return str(v)


def _h5_attr_str(obj, name: str, path: str) -> Optional[str]:
    if name not in obj.attrs:
        return None
    try:
        aid = obj.attrs.get_id(name)
        if aid.dtype.itemsize > MAX_CONFIG_BYTES:
            raise LimitError(f"attribute {name} is {aid.dtype.itemsize} bytes; graphreport reads configs up to "
                             f"{MAX_CONFIG_BYTES} bytes", path)
        v = obj.attrs[name]
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as e:
        raise BadModelError(f"cannot read the HDF5 attribute {name} ({_one_line(e)})", path) from None
    if hasattr(v, "shape") and getattr(v, "shape", ()) != ():
        if getattr(v, "size", 0) != 1:
            return None
        v = v.reshape(-1)[0]
    s = _decode(v)
    if len(s) > MAX_CONFIG_BYTES:
        raise LimitError(f"attribute {name} holds {len(s)} characters; graphreport reads configs up to "
                         f"{MAX_CONFIG_BYTES}", path)
    return s


def _h5_attr_list(obj, name: str) -> list:
    """Keras' load_attributes_from_hdf5_group: `name`, or chunks `name0`, `name1`, ... when it was too big."""
    try:
        if name in obj.attrs:
            vals = list(obj.attrs[name])
        else:
            vals, i = [], 0
            while f"{name}{i}" in obj.attrs and i < 100_000:
                vals.extend(list(obj.attrs[f"{name}{i}"]))
                i += 1
    except (OSError, ValueError, TypeError, KeyError, RuntimeError):
        return []
    return [_decode(v) for v in vals if isinstance(v, (bytes, str))]


def _dtype_name(ds) -> Optional[str]:
    try:
        if "dtype" in ds.attrs and _decode(ds.attrs["dtype"]) == "bfloat16":
            return "bfloat16"
        dt = ds.dtype
    except (OSError, ValueError, TypeError, KeyError, RuntimeError):
        return None
    if dt.kind == "f":
        return {2: "float16", 4: "float32", 8: "float64"}.get(dt.itemsize, f"float{dt.itemsize * 8}")
    if dt.kind in "iu":
        return f"{'u' if dt.kind == 'u' else ''}int{dt.itemsize * 8}"
    if dt.kind == "b":
        return "bool"
    if dt.kind == "c":
        return f"complex{dt.itemsize * 8}"
    if dt.kind in "SUO":
        return "string"
    return str(dt)


def _weight_of(ds, name: str) -> Weight:
    shape = [int(d) for d in ds.shape] if ds.shape is not None else []
    n = 1
    for d in shape:
        n *= d
    try:
        itemsize = int(ds.dtype.itemsize)
    except (TypeError, ValueError):
        itemsize = 0
    return Weight(name=name, shape=shape, dtype=_dtype_name(ds), nbytes=n * itemsize)


class _Walk:
    def __init__(self):
        self.objects = 0

    def tick(self, path: str) -> None:
        self.objects += 1
        if self.objects > MAX_H5_OBJECTS:
            raise LimitError(f"the weights file holds more than {MAX_H5_OBJECTS} HDF5 objects", path)


def _datasets_under(h5py, group, walk: _Walk, path: str, rel: str = "", depth: int = 0) -> Iterator:
    """(relative path, dataset) for every hard-linked dataset below a group, in a stable order."""
    if depth > MAX_H5_DEPTH:
        return
    try:
        keys = list(group.keys())
    except (OSError, ValueError, RuntimeError):
        return
    for k in sorted(keys, key=lambda s: (not s.isdigit(), int(s) if s.isdigit() and len(s) < 12 else 0, s)):
        walk.tick(path)
        obj = _h5_child(h5py, group, k)
        if obj is None:
            continue
        r = f"{rel}/{k}" if rel else k
        if isinstance(obj, h5py.Dataset):
            yield r, obj
        elif isinstance(obj, h5py.Group):
            yield from _datasets_under(h5py, obj, walk, path, r, depth + 1)


def read_legacy_weights(h5py, b: GraphBuilder, mw, path: str, details: dict) -> None:
    """model_weights group of a legacy HDF5 file (Keras 2 and Keras 3 writers)."""
    walk = _Walk()
    for lname in _h5_attr_list(mw, "layer_names"):
        walk.tick(path)
        grp = _h5_get(h5py, mw, lname) if lname else None
        if grp is None or not isinstance(grp, h5py.Group):
            continue
        layer = b.root.child(lname) if b.root.is_model else (b.root if lname == b.root.local else None)
        if layer is None and b.root.is_model and b.root.kind == "sequential":
            layer = _find_unique(b.root, lname)
        for wname in _h5_attr_list(grp, "weight_names"):
            walk.tick(path)
            ds = _h5_get(h5py, grp, wname)
            if ds is None or not isinstance(ds, h5py.Dataset):
                b.warnings.add("missing weights", f"weight {lname}/{wname} is listed but missing from the file")
                continue
            w = _weight_of(ds, wname)
            if layer is None:
                b.unattached.append((f"{lname}/{wname}", w))
                continue
            if not b.root.is_model:
                w.name = re.sub(r":\d+$", "", wname)
                w.trainable = not _non_trainable(layer, w.name)
                b.add_weight(layer, w)
                continue
            assign_named(b, layer, wname, w)
    top = _h5_get(h5py, mw, "top_level_model_weights")
    if top is not None and isinstance(top, h5py.Group):
        for wname in _h5_attr_list(top, "weight_names"):
            ds = _h5_get(h5py, top, wname)
            if ds is not None and isinstance(ds, h5py.Dataset):
                b.unattached.append((f"top_level_model_weights/{wname}", _weight_of(ds, wname)))


def read_v3_weights(h5py, b: GraphBuilder, root_group, path: str, details: dict) -> None:
    """model.weights.h5 of a .keras archive: layers/<snake_class>[_n]/vars/<i>, nested models recursively."""
    walk = _Walk()
    if b.root.is_model:
        _v3_container(h5py, b, b.root, root_group, walk, path, 0)
    else:
        for rel, ds in _datasets_under(h5py, root_group, walk, path):
            if rel.split("/")[0] in ("optimizer", "metrics"):
                continue
            b.add_weight(b.root, _weight_of(ds, rel.replace("/vars/", "/").replace("vars/", "")))
    opt = _h5_get(h5py, root_group, "optimizer")
    if opt is not None and isinstance(opt, h5py.Group):
        details["optimizer_variables"] = sum(1 for _ in _datasets_under(h5py, opt, walk, path))


def _v3_container(h5py, b: GraphBuilder, m: Layer, grp, walk: _Walk, path: str, depth: int) -> None:
    if depth > MAX_NESTING:
        return
    lg = _h5_child(h5py, grp, "layers") or _h5_child(h5py, grp, "_layer_checkpoint_dependencies")
    own = _h5_child(h5py, grp, "vars")
    if own is not None and isinstance(own, h5py.Group):
        for rel, ds in _datasets_under(h5py, own, walk, path):
            where = "/".join(m.path + ("vars", rel)) if m.path else f"vars/{rel}"
            b.unattached.append((where, _weight_of(ds, rel)))
    if lg is None or not isinstance(lg, h5py.Group):
        return
    by_snake: dict[str, Layer] = {}
    used: dict[str, int] = {}
    for c in m.children or []:
        if m.kind == "sequential" and c.cls == "InputLayer":
            continue
        base = _snake(c.cls)
        if base in used:
            used[base] += 1
            key = f"{base}_{used[base]}"
        else:
            used[base] = 0
            key = base
        by_snake[key] = c
    try:
        keys = list(lg.keys())
    except (OSError, ValueError, RuntimeError):
        return
    for key in keys:
        walk.tick(path)
        sub = _h5_child(h5py, lg, key)
        if sub is None or not isinstance(sub, h5py.Group):
            continue
        vars_ = _h5_child(h5py, sub, "vars")
        vname = None
        if vars_ is not None and isinstance(vars_, h5py.Group) and "name" in vars_.attrs:
            try:
                vname = _decode(vars_.attrs["name"])
            except (OSError, ValueError, TypeError, RuntimeError):
                vname = None
        layer = (m.child(vname) if vname else None) or by_snake.get(key) or m.child(key)
        if layer is None:
            for rel, ds in _datasets_under(h5py, sub, walk, path):
                b.unattached.append(("/".join(m.path + (key, rel)), _weight_of(ds, rel)))
            continue
        if layer.is_model:
            _v3_container(h5py, b, layer, sub, walk, path, depth + 1)
            continue
        direct, nested = [], []
        for rel, ds in _datasets_under(h5py, sub, walk, path):
            parts = rel.split("/")
            if any(p.startswith("seed_generator") for p in parts):
                continue  # random-seed state: not a weight (count_params leaves it out)
            (direct if len(parts) == 2 and parts[0] == "vars" else nested).append((rel, ds))
        names = _v3_names(layer, len(direct))
        for (rel, ds), nm in zip(direct, names):
            w = _weight_of(ds, nm)
            w.trainable = not _non_trainable(layer, nm)
            b.add_weight(layer, w)
        for rel, ds in nested:
            nm = "/".join(p for p in rel.split("/") if p != "vars")
            w = _weight_of(ds, nm)
            w.trainable = not _non_trainable(layer, nm)
            b.add_weight(layer, w)


# ----------------------------------------------------------------------------------------------------------
# Containers: zip archives (bounded), files in a folder
# ----------------------------------------------------------------------------------------------------------

def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())[:200] or type(e).__name__


def parse_json(data: bytes, what: str, path: str):
    if len(data) > MAX_CONFIG_BYTES:
        raise LimitError(f"{what} is {len(data)} bytes; graphreport reads configs up to {MAX_CONFIG_BYTES} bytes",
                         path)
    try:
        obj = json.loads(data)
        # a "\udcff" escape decodes to a lone surrogate, which no later step can encode (protobuf raises
        # SystemError on it): refuse it here, whatever field it hides in
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
        return obj
    except RecursionError:
        raise BadModelError(f"{what} is nested too deeply", path) from None
    except UnicodeEncodeError:
        raise BadModelError(f"{what} holds a lone UTF-16 surrogate (\\udXXX escape): not valid text", path) \
            from None
    except (ValueError, UnicodeDecodeError) as e:
        raise BadModelError(f"{what} is not valid JSON ({_one_line(e)})", path) from None


class _RangeFile(io.RawIOBase):
    """A read-only window [offset, offset + size) of a file: a stored zip member, opened without copying."""

    def __init__(self, path: str, offset: int, size: int):
        super().__init__()
        self._f = open(path, "rb")
        self._off, self._size, self._pos = offset, size, 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._pos

    def seek(self, pos, whence=0):
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = max(0, base + pos)
        return self._pos

    def readinto(self, buf):
        n = max(0, min(len(buf), self._size - self._pos))
        if n == 0:
            return 0
        self._f.seek(self._off + self._pos)
        data = self._f.read(n)
        buf[:len(data)] = data
        self._pos += len(data)
        return len(data)

    def close(self):
        try:
            self._f.close()
        finally:
            super().close()


class Archive:
    """A zip archive whose members are checked before they are read."""

    def __init__(self, path: str):
        self.path = path
        try:
            self.size = os.path.getsize(path)
            self.zf = zipfile.ZipFile(path)
            self.infos = self.zf.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, NotImplementedError,
                struct.error) as e:
            raise BadModelError(f"not a readable zip archive ({_one_line(e)})", path) from None
        if len(self.infos) > MAX_ZIP_MEMBERS:
            raise LimitError(f"the archive lists {len(self.infos)} members; graphreport reads at most "
                             f"{MAX_ZIP_MEMBERS}", path)
        self.names = {i.filename: i for i in self.infos}

    def close(self):
        self.zf.close()

    def check(self, info: zipfile.ZipInfo, limit: int) -> None:
        name = info.filename
        if info.compress_size > self.size or info.header_offset + info.compress_size > self.size:
            raise BadModelError(f"zip member {name} claims {info.compress_size} stored bytes, more than the "
                                f"{self.size}-byte archive holds", self.path)
        if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
            raise BadModelError(f"zip member {name} is stored uncompressed but declares {info.file_size} bytes "
                                f"for {info.compress_size} stored", self.path)
        if info.file_size > max(info.compress_size, 1) * MAX_ZIP_RATIO:
            raise LimitError(f"zip member {name} would expand {info.file_size // max(info.compress_size, 1)}x "
                             f"(to {info.file_size} bytes): refused as a zip bomb", self.path)
        if info.file_size > limit:
            raise LimitError(f"zip member {name} is {info.file_size} bytes; graphreport reads at most {limit}",
                             self.path)
        if info.flag_bits & 0x1:
            raise BadModelError(f"zip member {name} is encrypted", self.path)

    def read(self, name: str, limit: int = MAX_CONFIG_BYTES) -> bytes:
        info = self.names[name]
        self.check(info, limit)
        try:
            with self.zf.open(info) as f:
                data = f.read(limit + 1)
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError, ValueError) as e:
            raise BadModelError(f"cannot read zip member {name} ({_one_line(e)})", self.path) from None
        except Exception as e:  # zlib.error and friends
            raise BadModelError(f"cannot read zip member {name} ({_one_line(e)})", self.path) from None
        if len(data) > limit:
            raise LimitError(f"zip member {name} holds more than {limit} bytes", self.path)
        return data

    @contextmanager
    def member_file(self, name: str):
        """A seekable binary file object for a member: a window of the archive when stored, else a bounded
        temporary copy."""
        info = self.names[name]
        self.check(info, MAX_WEIGHTS_BYTES)
        if info.compress_type == zipfile.ZIP_STORED:
            with open(self.path, "rb") as f:
                f.seek(info.header_offset)
                hdr = f.read(30)
            if len(hdr) < 30 or hdr[:4] != ZIP_MAGIC:
                raise BadModelError(f"zip member {name}: no local header where the directory says", self.path)
            n, m = struct.unpack("<HH", hdr[26:30])
            offset = info.header_offset + 30 + n + m
            if offset + info.compress_size > self.size:
                raise BadModelError(f"zip member {name} runs past the end of the archive", self.path)
            rf = _RangeFile(self.path, offset, info.compress_size)
            try:
                yield rf
            finally:
                rf.close()
            return
        tmp = tempfile.TemporaryFile(prefix="graphreport-")
        try:
            written = 0
            try:
                with self.zf.open(info) as src:
                    while True:
                        chunk = src.read(1 << 20)
                        if not chunk:
                            break
                        written += len(chunk)
                        if written > info.file_size:
                            raise LimitError(f"zip member {name} holds more than it declares", self.path)
                        tmp.write(chunk)
            except LimitError:
                raise
            except Exception as e:
                raise BadModelError(f"cannot read zip member {name} ({_one_line(e)})", self.path) from None
            tmp.seek(0)
            yield tmp
        finally:
            tmp.close()


# ----------------------------------------------------------------------------------------------------------
# Entry points
# ----------------------------------------------------------------------------------------------------------

def match(path: str, head: bytes) -> bool:
    """An unzipped .keras archive: a folder with config.json and metadata.json (files are told by their magic
    bytes, registry.py)."""
    return os.path.isdir(path) and all(os.path.isfile(os.path.join(path, f)) for f in ("config.json", "metadata.json"))


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
    ctx = _Ctx(warnings)
    root = root_from_config(config, ctx)
    b = GraphBuilder(root, warnings, use_declared=use_declared)
    try:
        g = b.build()
    except RecursionError:
        raise BadModelError("the model config is nested too deeply", path) from None
    model = Model(format=fmt, path=path, file_size=file_size, graphs=[g], warnings=warnings)
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
    h5py = _h5py(path)
    size = os.path.getsize(path)
    try:
        f = h5py.File(path, "r", locking=False)
    except (OSError, ValueError, RuntimeError, TypeError) as e:
        raise BadModelError(f"not a readable HDF5 file: truncated or damaged? ({_one_line(e)})", path) from None
    try:
        try:
            raw = _h5_attr_str(f, "model_config", path)
            if raw is None:
                if "layer_names" in f.attrs or _h5_child(h5py, f, "layers") is not None or "vars" in f:
                    raise BadModelError("holds weights only (save_weights) and no model config: graphreport "
                                        "needs a file written by model.save()", path)
                raise BadModelError("an HDF5 file without a Keras model_config attribute: not a Keras model", path)
            config = parse_json(raw.encode("utf-8", "surrogatepass"), "model_config", path)
            kv = _h5_attr_str(f, "keras_version", path)
            backend = _h5_attr_str(f, "backend", path)
            warnings: list[str] = []
            model, b = build_model(config, path, size, "keras", warnings)
            model.format_version = "HDF5 (legacy Keras format)"
            writer = "Keras 3" if kv and kv.split(".")[0].isdigit() and int(kv.split(".")[0]) >= 3 else "Keras 2"
            model.producer = f"Keras {kv or '?'}" + (f" ({backend} backend)" if backend else "")
            model.details.update({"keras_version": kv, "backend": backend, "container": "hdf5", "writer": writer})
            tc = _h5_attr_str(f, "training_config", path)
            if tc:
                model.details["has_training_config"] = True
            mw = _h5_child(h5py, f, "model_weights")
            if mw is not None and isinstance(mw, h5py.Group):
                read_legacy_weights(h5py, b, mw, path, model.details)
            else:
                model.warnings.append("the file holds no model_weights group: parameter counts are unknown")
            if _h5_child(h5py, f, "optimizer_weights") is not None:
                model.details["has_optimizer_weights"] = True
            return finish(model, b)
        except (OSError, ValueError, RuntimeError, TypeError, KeyError) as e:
            raise BadModelError(f"damaged HDF5 file ({_one_line(e)})", path) from None
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
            h5py = _h5py(path)
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
        h5py = _h5py(path)
        with open(wpath, "rb") as fobj:
            _read_v3_h5(h5py, fobj, b, model, path)
    else:
        _weights_missing(model, os.listdir(path))
    return finish(model, b)


def _read_v3_h5(h5py, fobj, b: GraphBuilder, model: Model, path: str) -> None:
    try:
        f = h5py.File(fobj, "r")
    except (OSError, ValueError, RuntimeError, TypeError) as e:
        raise BadModelError(f"model.weights.h5 is not a readable HDF5 file ({_one_line(e)})", path) from None
    try:
        read_v3_weights(h5py, b, f, path, model.details)
    except (OSError, ValueError, RuntimeError, TypeError, KeyError) as e:
        raise BadModelError(f"damaged model.weights.h5 ({_one_line(e)})", path) from None
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
