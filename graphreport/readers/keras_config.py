"""Keras reader, part 1: the layer tree parsed from a model config (layers, their calls and the tensors
they consume, nested models), safety checks (code-carrying layers are shown, never run) and the layer
config turned into node attributes. The reader's limits and layer tables live here too. See keras.py."""
from __future__ import annotations

import base64
import json
import math
import re
from dataclasses import dataclass, field
from typing import Optional

from ..errors import BadModelError, LimitError
from ..model import Quantization

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


class ConfigContext:
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


def parse_layer(entry, parent: Optional[Layer], ctx: ConfigContext, depth: int = 0, trainable: bool = True) -> Layer:
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
        name = snake_case(cls)
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


def _check_safety(layer: Layer, entry: dict, ctx: ConfigContext) -> None:
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


def snake_case(name: str) -> str:
    """keras.src.utils.naming.to_snake_case (how .keras archives name layer folders)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def root_from_config(config, ctx: ConfigContext) -> Layer:
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
