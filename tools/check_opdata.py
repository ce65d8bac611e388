"""Check graphreport's hand-kept format facts against the installed TensorFlow (run by hand after a TF upgrade,
and by tests/test_opdata_check.py when TensorFlow is installed):

    nice .venv/bin/python tools/check_opdata.py

1. readers/tfproto.py's message table (field names, numbers, types, labels, map key/value types, oneofs) and
   its DataType enum against the descriptors of TensorFlow's own protobuf modules (tensorflow.core.*_pb2), and
   its short dtype names against tf.dtypes.as_dtype(n).name;
2. readers/tflite.py's flatbuffer field ids (M_*, T_*, OP_* ...) against the TFLite schema bindings shipped with
   TensorFlow (tensorflow/lite/python/schema_py_generated.py): the slot each ``<Table>Add<Field>`` writes;
3. opdata/tflite_builtin_ops.json against what tools/gen_tflite_ops.py makes from that schema now.

Prints one line per disagreement and exits 1 if there is any, else prints a summary and exits 0.
"""
from __future__ import annotations

import importlib
import inspect
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

# TensorFlow's modules holding the messages tfproto.py declares (package "tensorflow").
TF_PROTO_MODULES = (
    "tensorflow.core.framework.types_pb2", "tensorflow.core.framework.tensor_pb2",
    "tensorflow.core.framework.tensor_shape_pb2", "tensorflow.core.framework.attr_value_pb2",
    "tensorflow.core.framework.node_def_pb2", "tensorflow.core.framework.graph_pb2",
    "tensorflow.core.framework.function_pb2", "tensorflow.core.framework.op_def_pb2",
    "tensorflow.core.framework.versions_pb2", "tensorflow.core.framework.tensor_slice_pb2",
    "tensorflow.core.protobuf.meta_graph_pb2", "tensorflow.core.protobuf.saved_model_pb2",
    "tensorflow.core.protobuf.saver_pb2", "tensorflow.core.protobuf.saved_object_graph_pb2",
    "tensorflow.core.protobuf.trackable_object_graph_pb2", "tensorflow.core.protobuf.tensor_bundle_pb2",
)

# readers/tflite.py field-id constant -> (schema table, field as spelled in the schema's <Table>Add<Field>)
TFLITE_FIELDS = {
    "M_VERSION": ("Model", "Version"), "M_OPCODES": ("Model", "OperatorCodes"),
    "M_SUBGRAPHS": ("Model", "Subgraphs"), "M_DESCRIPTION": ("Model", "Description"),
    "M_BUFFERS": ("Model", "Buffers"), "M_METADATA_BUFFER": ("Model", "MetadataBuffer"),
    "M_METADATA": ("Model", "Metadata"), "M_SIGNATURES": ("Model", "SignatureDefs"),
    "M_EXTERNAL_BUFFERS": ("Model", "ExternalBuffers"),
    "OC_DEPRECATED_CODE": ("OperatorCode", "DeprecatedBuiltinCode"), "OC_CUSTOM_CODE": ("OperatorCode", "CustomCode"),
    "OC_VERSION": ("OperatorCode", "Version"), "OC_BUILTIN_CODE": ("OperatorCode", "BuiltinCode"),
    "SG_TENSORS": ("SubGraph", "Tensors"), "SG_INPUTS": ("SubGraph", "Inputs"), "SG_OUTPUTS": ("SubGraph", "Outputs"),
    "SG_OPERATORS": ("SubGraph", "Operators"), "SG_NAME": ("SubGraph", "Name"),
    "T_SHAPE": ("Tensor", "Shape"), "T_TYPE": ("Tensor", "Type"), "T_BUFFER": ("Tensor", "Buffer"),
    "T_NAME": ("Tensor", "Name"), "T_QUANT": ("Tensor", "Quantization"), "T_IS_VARIABLE": ("Tensor", "IsVariable"),
    "T_SPARSITY": ("Tensor", "Sparsity"), "T_SHAPE_SIGNATURE": ("Tensor", "ShapeSignature"),
    "T_EXTERNAL_BUFFER": ("Tensor", "ExternalBuffer"),
    "Q_MIN": ("QuantizationParameters", "Min"), "Q_MAX": ("QuantizationParameters", "Max"),
    "Q_SCALE": ("QuantizationParameters", "Scale"), "Q_ZERO_POINT": ("QuantizationParameters", "ZeroPoint"),
    "Q_DIMENSION": ("QuantizationParameters", "QuantizedDimension"),
    "SP_TRAVERSAL_ORDER": ("SparsityParameters", "TraversalOrder"), "SP_BLOCK_MAP": ("SparsityParameters", "BlockMap"),
    "SP_DIM_METADATA": ("SparsityParameters", "DimMetadata"),
    "DM_FORMAT": ("DimensionMetadata", "Format"), "DM_DENSE_SIZE": ("DimensionMetadata", "DenseSize"),
    "OP_OPCODE": ("Operator", "OpcodeIndex"), "OP_INPUTS": ("Operator", "Inputs"), "OP_OUTPUTS": ("Operator", "Outputs"),
    "OP_OPTIONS_TYPE": ("Operator", "BuiltinOptionsType"), "OP_OPTIONS": ("Operator", "BuiltinOptions"),
    "OP_CUSTOM_OPTIONS": ("Operator", "CustomOptions"), "OP_LARGE_CUSTOM_SIZE": ("Operator", "LargeCustomOptionsSize"),
    "OP_OPTIONS_2_TYPE": ("Operator", "BuiltinOptions2Type"), "OP_OPTIONS_2": ("Operator", "BuiltinOptions2"),
    "B_DATA": ("Buffer", "Data"), "B_OFFSET": ("Buffer", "Offset"), "B_SIZE": ("Buffer", "Size"),
    "MD_NAME": ("Metadata", "Name"), "MD_BUFFER": ("Metadata", "Buffer"),
    "SD_INPUTS": ("SignatureDef", "Inputs"), "SD_OUTPUTS": ("SignatureDef", "Outputs"),
    "SD_KEY": ("SignatureDef", "SignatureKey"), "SD_SUBGRAPH": ("SignatureDef", "SubgraphIndex"),
    "TM_NAME": ("TensorMap", "Name"), "TM_INDEX": ("TensorMap", "TensorIndex"),
    "EB_ID": ("ExternalBuffer", "Id"), "EB_LENGTH": ("ExternalBuffer", "Length"),
}
# Differences that the wire format does not see (message names are not encoded; an enum is a varint):
# tfproto declares these messages at top level, TensorFlow nests them.
TF_MESSAGE_NAMES = {"MetaInfoDef": "MetaGraphDef.MetaInfoDef"}
FIELD_ID_CONSTANT = re.compile(r"^(M|OC|SG|T|Q|SP|DM|OP|B|MD|SD|TM|EB)_[A-Z0-9_]+$")
SLOT = re.compile(r"builder\.Prepend\w+?Slot\((\d+),")


def _repeated(field) -> bool:
    if hasattr(field, "is_repeated"):
        return field.is_repeated
    return field.label == field.LABEL_REPEATED


def _type_name(field, package: str):
    sub = field.message_type or field.enum_type
    if sub is None:
        return None
    return sub.full_name[len(package) + 1:] if sub.full_name.startswith(package + ".") else sub.full_name


def _is_map(field) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _wire_same(ours, theirs) -> bool:
    """int32 read for an enum field (SaverDef.version, BundleHeaderProto.endianness): both are varints."""
    return {ours.type, theirs.type} == {ours.TYPE_INT32, ours.TYPE_ENUM}


def _compare_field(where: str, ours, theirs, problems: list) -> None:
    if ours.number != theirs.number:
        problems.append(f"{where}: number {ours.number}, TensorFlow says {theirs.number}")
    if _is_map(ours) or _is_map(theirs):
        if not (_is_map(ours) and _is_map(theirs)):
            problems.append(f"{where}: map in one table only")
            return
        for part in ("key", "value"):
            _compare_field(f"{where} ({part})", ours.message_type.fields_by_name[part],
                           theirs.message_type.fields_by_name[part], problems)
        return
    if _wire_same(ours, theirs):
        pass
    elif ours.type != theirs.type:
        problems.append(f"{where}: type {ours.type}, TensorFlow says {theirs.type}")
    if _repeated(ours) != _repeated(theirs):
        problems.append(f"{where}: repeated={_repeated(ours)}, TensorFlow says {_repeated(theirs)}")
    a, b = _type_name(ours, "graphreport.tf"), _type_name(theirs, "tensorflow")
    if a is not None and b is not None and TF_MESSAGE_NAMES.get(a, a) != b:
        problems.append(f"{where}: type {a}, TensorFlow says {b}")


def check_tfproto(tf, problems: list) -> str:
    from google.protobuf import descriptor_pool

    from graphreport.readers import tfproto

    for name in TF_PROTO_MODULES:
        importlib.import_module(name)
    pool = descriptor_pool.Default()
    fields = 0
    for msg in tfproto.MESSAGES:
        ours = tfproto.message_class(msg).DESCRIPTOR
        try:
            theirs = pool.FindMessageTypeByName(f"tensorflow.{TF_MESSAGE_NAMES.get(msg, msg)}")
        except KeyError:
            problems.append(f"tfproto {msg}: no message tensorflow.{TF_MESSAGE_NAMES.get(msg, msg)} in TensorFlow")
            continue
        for f in ours.fields:
            fields += 1
            other = theirs.fields_by_name.get(f.name)
            if other is None:
                problems.append(f"tfproto {msg}.{f.name}: no such field in TensorFlow")
            else:
                _compare_field(f"tfproto {msg}.{f.name}", f, other, problems)
        for oneof in ours.oneofs:
            other = theirs.oneofs_by_name.get(oneof.name)
            members = {f.name for f in other.fields} if other is not None else set()
            missing = sorted({f.name for f in oneof.fields} - members)
            if missing:
                problems.append(f"tfproto {msg}: oneof {oneof.name} has {', '.join(missing)}; TensorFlow's does not")
    tf_enum = pool.FindEnumTypeByName("tensorflow.DataType")
    for name, num in tfproto.DATA_TYPES.items():
        v = tf_enum.values_by_name.get(name)
        if v is None or v.number != num:
            problems.append(f"tfproto DataType {name} = {num}, TensorFlow says {v.number if v else 'no such value'}")
    for num, short in tfproto.DTYPE_NAMES.items():
        try:
            theirs = tf.dtypes.as_dtype(num).name
        except TypeError:
            continue  # a DataType this TensorFlow's Python API does not expose: the enum check above covers it
        if theirs != short:
            problems.append(f"tfproto DTYPE_NAMES[{num}] = {short!r}, tf.dtypes.as_dtype({num}).name = {theirs!r}")
    return f"{len(tfproto.MESSAGES)} messages, {fields} fields, {len(tfproto.DATA_TYPES)} DataType values"


def field_slot(schema, table: str, field: str):
    """The field id <Table>Add<Field> writes, from the schema bindings' source; None if there is no such field."""
    adder = getattr(schema, f"{table}Add{field}", None)
    if adder is None:
        return None
    m = SLOT.search(inspect.getsource(adder))
    return int(m.group(1)) if m else None


def check_tflite_fields(schema, problems: list) -> str:
    from graphreport.readers import tflite

    constants = {k: v for k, v in vars(tflite).items() if FIELD_ID_CONSTANT.match(k) and isinstance(v, int)}
    for name in sorted(set(constants) - set(TFLITE_FIELDS)):
        problems.append(f"tflite {name}: a field id this checker does not know (add it to TFLITE_FIELDS)")
    for name, (table, field) in TFLITE_FIELDS.items():
        slot = field_slot(schema, table, field)
        if name not in constants:
            problems.append(f"tflite {name}: not defined in readers/tflite.py")
        elif slot is None:
            problems.append(f"tflite {name}: the schema has no field {table}.{field}")
        elif slot != constants[name]:
            problems.append(f"tflite {name} = {constants[name]}, the schema's {table}.{field} is field {slot}")
    return f"{len(constants)} TFLite field ids"


def check_tflite_table(problems: list) -> str:
    import gen_tflite_ops

    committed = json.loads(gen_tflite_ops.OUT.read_text())
    now = json.loads(json.dumps(gen_tflite_ops.build()))
    for key in sorted(set(committed) | set(now)):
        if key in ("tf_version_basis", "source"):
            continue
        if committed.get(key) != now.get(key):
            problems.append(f"opdata/tflite_builtin_ops.json: {key!r} differs from the installed schema "
                            "(regenerate with tools/gen_tflite_ops.py)")
    return f"tflite_builtin_ops.json ({len(now['builtin_ops'])} builtin ops)"


def main() -> int:
    import tensorflow as tf
    from tensorflow.lite.python import schema_py_generated as schema

    problems: list[str] = []
    done = [check_tfproto(tf, problems), check_tflite_fields(schema, problems), check_tflite_table(problems)]
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} disagreement(s) with TensorFlow {tf.__version__}", file=sys.stderr)
        return 1
    print(f"ok: {'; '.join(done)} agree with TensorFlow {tf.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
