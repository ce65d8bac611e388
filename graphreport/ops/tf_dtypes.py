"""Output dtypes of TensorFlow ops whose result type is not simply attribute ``T``."""
from __future__ import annotations

from .registry import dtype_rule

BOOL_OUT = ("Equal", "NotEqual", "Less", "LessEqual", "Greater", "GreaterEqual", "LogicalAnd", "LogicalOr",
            "LogicalNot", "IsFinite", "IsNan", "IsInf", "InTopK", "InTopKV2")


@dtype_rule(*BOOL_OUT)
def _bool(attrs, index):
    return "bool"


@dtype_rule("Cast")
def _cast(attrs, index):
    return attrs.get("DstT")


@dtype_rule("Shape", "ShapeN", "Size", "Rank")
def _shape(attrs, index):
    return attrs.get("out_type", "int32")


@dtype_rule("ArgMax", "ArgMin")
def _argmax(attrs, index):
    return attrs.get("output_type", "int64")


@dtype_rule("Const", "Placeholder", "PlaceholderV2", "VariableV2", "Variable", "PlaceholderWithDefault")
def _dtype(attrs, index):
    return attrs.get("dtype")


@dtype_rule("VarHandleOp")
def _resource(attrs, index):
    return "resource"


@dtype_rule("ReadVariableOp")
def _read(attrs, index):
    return attrs.get("dtype")


@dtype_rule("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3")
def _fbn(attrs, index):
    return attrs.get("T") if index == 0 else attrs.get("U", attrs.get("T"))


@dtype_rule("TopKV2", "TopK")
def _topk(attrs, index):
    return attrs.get("T") if index == 0 else "int32"


@dtype_rule("Unique")
def _unique(attrs, index):
    return attrs.get("T") if index == 0 else attrs.get("out_idx", "int32")


@dtype_rule("NoOp", "Assign", "AssignAdd", "AssignSub", "SaveV2", "Save", "AssignVariableOp")
def _none(attrs, index):
    return attrs.get("T")


@dtype_rule("ScalarSummary", "HistogramSummary", "MergeSummary", "ImageSummary", "AudioSummaryV2",
            "TensorSummaryV2", "StringJoin", "AsString")
def _string(attrs, index):
    return "string"


@dtype_rule("RandomUniform", "RandomStandardNormal", "TruncatedNormal", "StatelessRandomUniform",
            "StatelessRandomNormal", "StatelessTruncatedNormal", "StatelessRandomUniformV2",
            "StatelessRandomNormalV2", "StatelessTruncatedNormalV2", "RandomUniformInt")
def _random(attrs, index):
    return attrs.get("dtype", attrs.get("Tout"))


@dtype_rule("IdentityN")
def _identity_n(attrs, index):
    types = attrs.get("T")
    return types[index] if isinstance(types, list) and index < len(types) else None
