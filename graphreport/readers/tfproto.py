"""TensorFlow protobuf messages, built at import time from a compact table, without TensorFlow.

The table lists only the subset of TensorFlow's .proto files that graphreport reads. Field names and numbers
are facts taken from TensorFlow's graph, node_def, attr_value, tensor, tensor_shape, types, function, op_def,
versions, meta_graph, saved_model, saved_object_graph, trackable_object_graph, saver and tensor_bundle protos
(checked against the descriptors of TF 2.21). Fields left out are kept by protobuf as unknown fields and ignored. The messages live in a private descriptor pool under the package
``graphreport.tf`` so they never clash with TensorFlow's own classes in the same process.
"""
from __future__ import annotations

import os


PACKAGE = "graphreport.tf"

# DataType enum: name -> number (TensorFlow types.proto). *_REF types are the value + 100.
DATA_TYPES = {
    "DT_INVALID": 0, "DT_FLOAT": 1, "DT_DOUBLE": 2, "DT_INT32": 3, "DT_UINT8": 4, "DT_INT16": 5, "DT_INT8": 6,
    "DT_STRING": 7, "DT_COMPLEX64": 8, "DT_INT64": 9, "DT_BOOL": 10, "DT_QINT8": 11, "DT_QUINT8": 12,
    "DT_QINT32": 13, "DT_BFLOAT16": 14, "DT_QINT16": 15, "DT_QUINT16": 16, "DT_UINT16": 17,
    "DT_COMPLEX128": 18, "DT_HALF": 19, "DT_RESOURCE": 20, "DT_VARIANT": 21, "DT_UINT32": 22, "DT_UINT64": 23,
    "DT_FLOAT8_E5M2": 24, "DT_FLOAT8_E4M3FN": 25, "DT_FLOAT8_E4M3FNUZ": 26, "DT_FLOAT8_E4M3B11FNUZ": 27,
    "DT_FLOAT8_E5M2FNUZ": 28, "DT_INT4": 29, "DT_UINT4": 30, "DT_INT2": 31, "DT_UINT2": 32,
    "DT_FLOAT4_E2M1FN": 33,
}

# Short dtype names used across graphreport (numpy-like), by DataType number.
DTYPE_NAMES = {
    1: "float32", 2: "float64", 3: "int32", 4: "uint8", 5: "int16", 6: "int8", 7: "string", 8: "complex64",
    9: "int64", 10: "bool", 11: "qint8", 12: "quint8", 13: "qint32", 14: "bfloat16", 15: "qint16",
    16: "quint16", 17: "uint16", 18: "complex128", 19: "float16", 20: "resource", 21: "variant",
    22: "uint32", 23: "uint64", 24: "float8_e5m2", 25: "float8_e4m3fn", 26: "float8_e4m3fnuz",
    27: "float8_e4m3b11fnuz", 28: "float8_e5m2fnuz", 29: "int4", 30: "uint4", 31: "int2", 32: "uint2",
    33: "float4_e2m1fn",
}


def dtype_name(num: int) -> str | None:
    """DataType number -> short name; reference types map to their value type."""
    if num == 0:
        return None
    if num > 100:
        num -= 100
    return DTYPE_NAMES.get(num, f"dtype_{num}")


# message name -> [(field name, number, type, label, type name)]; type names are relative to PACKAGE.
# Types: s=string b=bytes i32 i64 u32 u64 f32 f64 bool fx32 e:Enum m:Message map:<key>,<value>
_R = "repeated"
MESSAGES: dict[str, list[tuple]] = {
    "TensorShapeProto.Dim": [("size", 1, "i64"), ("name", 2, "s")],
    "TensorShapeProto": [("dim", 2, "m:TensorShapeProto.Dim", _R), ("unknown_rank", 3, "bool")],
    "TensorProto": [
        ("dtype", 1, "e:DataType"), ("tensor_shape", 2, "m:TensorShapeProto"), ("version_number", 3, "i32"),
        ("tensor_content", 4, "b"), ("half_val", 13, "i32", _R), ("float_val", 5, "f32", _R),
        ("double_val", 6, "f64", _R), ("int_val", 7, "i32", _R), ("string_val", 8, "b", _R),
        ("scomplex_val", 9, "f32", _R), ("int64_val", 10, "i64", _R), ("bool_val", 11, "bool", _R),
        ("dcomplex_val", 12, "f64", _R), ("uint32_val", 16, "u32", _R), ("uint64_val", 17, "u64", _R),
    ],
    "NameAttrList": [("name", 1, "s"), ("attr", 2, "map:s,AttrValue")],
    "AttrValue.ListValue": [
        ("s", 2, "b", _R), ("i", 3, "i64", _R), ("f", 4, "f32", _R), ("b", 5, "bool", _R),
        ("type", 6, "e:DataType", _R), ("shape", 7, "m:TensorShapeProto", _R),
        ("tensor", 8, "m:TensorProto", _R), ("func", 9, "m:NameAttrList", _R),
    ],
    "AttrValue": [
        ("list", 1, "m:AttrValue.ListValue"), ("s", 2, "b"), ("i", 3, "i64"), ("f", 4, "f32"), ("b", 5, "bool"),
        ("type", 6, "e:DataType"), ("shape", 7, "m:TensorShapeProto"), ("tensor", 8, "m:TensorProto"),
        ("placeholder", 9, "s"), ("func", 10, "m:NameAttrList"),
    ],
    "NodeDef": [("name", 1, "s"), ("op", 2, "s"), ("input", 3, "s", _R), ("device", 4, "s"),
                ("attr", 5, "map:s,AttrValue")],
    "VersionDef": [("producer", 1, "i32"), ("min_consumer", 2, "i32"), ("bad_consumers", 3, "i32", _R)],
    "OpDef.ArgDef": [("name", 1, "s"), ("description", 2, "s"), ("type", 3, "e:DataType"),
                     ("type_attr", 4, "s"), ("number_attr", 5, "s"), ("type_list_attr", 6, "s"),
                     ("is_ref", 16, "bool")],
    "OpDef": [("name", 1, "s"), ("input_arg", 2, "m:OpDef.ArgDef", _R), ("output_arg", 3, "m:OpDef.ArgDef", _R),
              ("control_output", 20, "s", _R), ("is_stateful", 17, "bool"), ("attr", 4, "m:OpDef.AttrDef", _R)],
    "OpDef.AttrDef": [("name", 1, "s"), ("type", 2, "s"), ("default_value", 3, "m:AttrValue"),
                      ("has_minimum", 5, "bool"), ("minimum", 6, "i64")],
    "OpList": [("op", 1, "m:OpDef", _R)],
    "FunctionDef": [("signature", 1, "m:OpDef"), ("attr", 5, "map:s,AttrValue"), ("node_def", 3, "m:NodeDef", _R),
                    ("ret", 4, "map:s,s"), ("control_ret", 6, "map:s,s"),
                    ("arg_attr", 7, "map:u32,FunctionDef.ArgAttrs"), ("resource_arg_unique_id", 8, "map:u32,u32")],
    "FunctionDef.ArgAttrs": [("attr", 1, "map:s,AttrValue")],
    "GradientDef": [("function_name", 1, "s"), ("gradient_func", 2, "s")],
    "FunctionDefLibrary": [("function", 1, "m:FunctionDef", _R), ("gradient", 2, "m:GradientDef", _R)],
    "GraphDef": [("node", 1, "m:NodeDef", _R), ("library", 2, "m:FunctionDefLibrary"), ("version", 3, "i32"),
                 ("versions", 4, "m:VersionDef")],
    "TensorInfo": [("name", 1, "s"), ("dtype", 2, "e:DataType"), ("tensor_shape", 3, "m:TensorShapeProto")],
    "SignatureDef": [("inputs", 1, "map:s,TensorInfo"), ("outputs", 2, "map:s,TensorInfo"),
                     ("method_name", 3, "s")],
    "MetaInfoDef": [("meta_graph_version", 1, "s"), ("stripped_op_list", 2, "m:OpList"), ("tags", 4, "s", _R),
                    ("tensorflow_version", 5, "s"), ("tensorflow_git_version", 6, "s"),
                    ("stripped_default_attrs", 7, "bool"), ("function_aliases", 8, "map:s,s")],
    "SaverDef": [("filename_tensor_name", 1, "s"), ("save_tensor_name", 2, "s"), ("restore_op_name", 3, "s"),
                 ("version", 7, "e:SaverDef.CheckpointFormatVersion")],
    "CollectionDef.NodeList": [("value", 1, "s", _R)],
    "CollectionDef.BytesList": [("value", 1, "b", _R)],
    "CollectionDef.Int64List": [("value", 1, "i64", _R)],
    "CollectionDef.FloatList": [("value", 1, "f32", _R)],
    "CollectionDef": [("node_list", 1, "m:CollectionDef.NodeList"), ("bytes_list", 2, "m:CollectionDef.BytesList"),
                      ("int64_list", 3, "m:CollectionDef.Int64List"), ("float_list", 4, "m:CollectionDef.FloatList")],
    "MetaGraphDef": [("meta_info_def", 1, "m:MetaInfoDef"), ("graph_def", 2, "m:GraphDef"),
                     ("saver_def", 3, "m:SaverDef"), ("collection_def", 4, "map:s,CollectionDef"),
                     ("signature_def", 5, "map:s,SignatureDef"), ("asset_file_def", 6, "m:AssetFileDef", _R),
                     ("object_graph_def", 7, "m:SavedObjectGraph")],
    "AssetFileDef": [("tensor_info", 1, "m:TensorInfo"), ("filename", 2, "s")],
    # object-based SavedModels (saved_object_graph.proto) and checkpoints (trackable_object_graph.proto)
    "TrackableObjectGraph": [("nodes", 1, "m:TrackableObjectGraph.TrackableObject", _R)],
    "TrackableObjectGraph.TrackableObject": [
        ("children", 1, "m:TrackableObjectGraph.TrackableObject.ObjectReference", _R),
        ("attributes", 2, "m:TrackableObjectGraph.TrackableObject.SerializedTensor", _R),
        ("slot_variables", 3, "m:TrackableObjectGraph.TrackableObject.SlotVariableReference", _R)],
    "TrackableObjectGraph.TrackableObject.ObjectReference": [("node_id", 1, "i32"), ("local_name", 2, "s")],
    "TrackableObjectGraph.TrackableObject.SerializedTensor": [("name", 1, "s"), ("full_name", 2, "s"),
                                                              ("checkpoint_key", 3, "s")],
    "TrackableObjectGraph.TrackableObject.SlotVariableReference": [
        ("original_variable_node_id", 1, "i32"), ("slot_name", 2, "s"), ("slot_variable_node_id", 3, "i32")],
    "SavedObjectGraph": [("nodes", 1, "m:SavedObject", _R),
                         ("concrete_functions", 2, "map:s,SavedConcreteFunction")],
    "SavedObject": [
        ("children", 1, "m:TrackableObjectGraph.TrackableObject.ObjectReference", _R),
        ("slot_variables", 3, "m:TrackableObjectGraph.TrackableObject.SlotVariableReference", _R),
        ("user_object", 4, "m:SavedUserObject"), ("asset", 5, "m:SavedAsset"), ("function", 6, "m:SavedFunction"),
        ("variable", 7, "m:SavedVariable"), ("bare_concrete_function", 8, "m:SavedBareConcreteFunction"),
        ("constant", 9, "m:SavedConstant"), ("resource", 10, "m:SavedResource"),
        ("captured_tensor", 12, "m:CapturedTensor"), ("registered_name", 13, "s"),
        ("dependencies", 15, "m:TrackableObjectGraph.TrackableObject.ObjectReference", _R)],
    "SavedUserObject": [("identifier", 1, "s"), ("version", 2, "m:VersionDef"), ("metadata", 3, "s")],
    "SavedAsset": [("asset_file_def_index", 1, "i32")],
    "SavedFunction": [("concrete_functions", 1, "s", _R)],
    "SavedConcreteFunction": [("bound_inputs", 2, "i32", _R)],
    "SavedBareConcreteFunction": [("concrete_function_name", 1, "s"), ("argument_keywords", 2, "s", _R),
                                  ("allowed_positional_arguments", 3, "i64")],
    "SavedConstant": [("operation", 1, "s")],
    "SavedVariable": [("dtype", 1, "e:DataType"), ("shape", 2, "m:TensorShapeProto"), ("trainable", 3, "bool"),
                      ("name", 6, "s"), ("device", 7, "s"),
                      ("experimental_distributed_variable_components", 8, "m:SavedVariable", _R)],
    "SavedResource": [("device", 1, "s")],
    "CapturedTensor": [("name", 1, "s"), ("concrete_function", 2, "s")],
    "SavedModel": [("saved_model_schema_version", 1, "i64"), ("meta_graphs", 2, "m:MetaGraphDef", _R)],
    "BundleHeaderProto": [("num_shards", 1, "i32"), ("endianness", 2, "i32"), ("version", 3, "m:VersionDef")],
    "BundleEntryProto": [("dtype", 1, "e:DataType"), ("shape", 2, "m:TensorShapeProto"), ("shard_id", 3, "i32"),
                         ("offset", 4, "i64"), ("size", 5, "i64"), ("crc32c", 6, "fx32"),
                         ("slices", 7, "m:TensorSliceProto", _R)],
    "TensorSliceProto.Extent": [("start", 1, "i64"), ("length", 2, "i64")],
    "TensorSliceProto": [("extent", 1, "m:TensorSliceProto.Extent", _R)],
}

# enums nested in a message (name -> {value name: number}), beside the top-level DataType: the text format
# writes their names (saver_def { version: V2 } in a saved_model.pbtxt)
ENUMS = {"SaverDef.CheckpointFormatVersion": {"LEGACY": 0, "V1": 1, "V2": 2}}

# message -> (oneof name, member fields)
ONEOFS = {
    "AttrValue": ("value", {"list", "s", "i", "f", "b", "type", "shape", "tensor", "placeholder", "func"}),
    "TensorInfo": ("encoding", {"name"}),
    "SavedObject": ("kind", {"user_object", "asset", "function", "variable", "bare_concrete_function", "constant",
                             "resource", "captured_tensor"}),
}

# descriptor.proto's numbers: FieldDescriptorProto.Type and .Label values, and the fields written below
_TYPES = {"s": 9, "b": 12, "i32": 5, "i64": 3, "u32": 13, "u64": 4, "f32": 2, "f64": 1, "bool": 8, "fx32": 7}
_ENUM, _MESSAGE, _OPTIONAL, _REPEATED = 14, 11, 1, 3


def _field(name: str, number: int, label: int, spec: str) -> list:
    """A FieldDescriptorProto as [(field number, value)]: name 1, number 3, label 4, type 5, type_name 6,
    json_name 10."""
    out = [(1, name), (3, number), (4, label)]
    if spec in _TYPES:
        return out + [(5, _TYPES[spec]), (10, name)]
    kind, _, ref = spec.partition(":")
    if kind not in ("e", "m"):
        raise ValueError(spec)
    return out + [(5, _ENUM if kind == "e" else _MESSAGE), (6, f".{PACKAGE}.{ref}"), (10, name)]


def _file() -> list:
    """The FileDescriptorProto of the tables above, as nested [(field number, value)] lists. FileDescriptorProto:
    name 1, package 2, message_type 4, enum_type 5, syntax 12. DescriptorProto: name 1, field 2, nested_type 3,
    enum_type 4, options 7 (MessageOptions: map_entry 7), oneof_decl 8 (name 1). EnumDescriptorProto: name 1,
    value 2 (name 1, number 2). FieldDescriptorProto: see _field; oneof_index 9."""
    values = []
    for name, num in DATA_TYPES.items():
        values.append((2, [(1, name), (2, num)]))
        if num:
            values.append((2, [(1, name + "_REF"), (2, num + 100)]))
    fd = [(1, "graphreport_tf.proto"), (2, PACKAGE), (12, "proto3"), (5, [(1, "DataType")] + values)]
    protos: dict[str, list] = {}
    for full in sorted(MESSAGES, key=lambda n: n.count(".")):  # parents before nested messages
        parent, _, short = full.rpartition(".")
        protos[full] = [(1, short)]
        (protos[parent] if parent else fd).append((3 if parent else 4, protos[full]))
    for full, enum_values in ENUMS.items():
        parent, _, short = full.rpartition(".")
        protos[parent].append((4, [(1, short)] + [(2, [(1, n), (2, v)]) for n, v in enum_values.items()]))
    for full, fields in MESSAGES.items():
        msg = protos[full]
        oneof = ONEOFS.get(full)
        if oneof:
            msg.append((8, [(1, oneof[0])]))
        for spec in fields:
            name, num, kind = spec[:3]
            if kind.startswith("map:"):
                key, value = kind[4:].split(",")
                entry_name = "".join(p.capitalize() for p in name.split("_")) + "Entry"
                msg.append((3, [(1, entry_name), (2, _field("key", 1, _OPTIONAL, key)),
                                (2, _field("value", 2, _OPTIONAL, value if value in _TYPES else "m:" + value)),
                                (7, [(7, 1)])]))
                field = _field(name, num, _REPEATED, f"m:{full}.{entry_name}")
            else:
                field = _field(name, num, _REPEATED if len(spec) > 3 else _OPTIONAL, kind)
            if oneof and name in oneof[1]:
                field.append((9, 0))
            msg.append((2, field))
    return fd


def _encode(fields: list) -> bytes:
    """Protobuf wire format of [(field number, int | str | nested list)]."""
    out = bytearray()
    for number, value in fields:
        if type(value) is int:
            out += encode_varint(number << 3) + encode_varint(value)
        else:
            out += record(number, value.encode("utf-8") if type(value) is str else _encode(value))
    return bytes(out)


def record(number: int, body: bytes) -> bytes:
    """A length-delimited field (a string, bytes or message) in protobuf's wire format."""
    return encode_varint(number << 3 | 2) + encode_varint(len(body)) + body


def encode_varint(v: int) -> bytes:
    """A non-negative integer as a protobuf varint."""
    out = bytearray()
    while v >= 0x80:
        out.append(v & 0x7F | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def file_descriptor() -> bytes:
    """The serialized FileDescriptorProto of the messages above."""
    return _encode(_file())


def _upb_classes() -> dict:
    """{full name: message class} for every message of the file, made with protobuf's upb backend directly
    (what message_factory does on it): descriptor_pool and message_factory also load protobuf's pure-Python
    implementation, about 10 ms of the 45 ms this module took to import that way."""
    from google._upb import _message as upb
    from google.protobuf import message

    pool = upb.DescriptorPool()
    pool.AddSerializedFile(file_descriptor())
    classes, todo = {}, [pool.FindMessageTypeByName(f"{PACKAGE}.{n}") for n in MESSAGES if "." not in n]
    while todo:  # every message, nested ones and map entries too: a sub-message needs its class made
        d = todo.pop()
        classes[d.full_name] = upb.MessageMeta(d.name, (message.Message,), {"DESCRIPTOR": d, "__module__": None})
        todo += d.nested_types
    return classes


def _factory_classes() -> dict:
    """_upb_classes' result through protobuf's public descriptor_pool and message_factory (another backend)."""
    from google.protobuf import descriptor_pool, message_factory

    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(file_descriptor())
    return {f"{PACKAGE}.{n}": message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.{n}"))
            for n in MESSAGES}


def _classes() -> dict:
    if not os.environ.get("GRAPHREPORT_PROTOBUF_FACTORY"):
        try:
            return _upb_classes()
        except Exception:  # noqa: BLE001 - another protobuf backend, or a version without these names
            pass
    return _factory_classes()


_CLASSES = _classes()


def message_class(name: str):
    return _CLASSES[f"{PACKAGE}.{name}"]


GraphDef = message_class("GraphDef")
NodeDef = message_class("NodeDef")
AttrValue = message_class("AttrValue")
TensorProto = message_class("TensorProto")
TensorShapeProto = message_class("TensorShapeProto")
FunctionDef = message_class("FunctionDef")
MetaGraphDef = message_class("MetaGraphDef")
SavedModel = message_class("SavedModel")
BundleEntryProto = message_class("BundleEntryProto")
BundleHeaderProto = message_class("BundleHeaderProto")
SavedObjectGraph = message_class("SavedObjectGraph")
TrackableObjectGraph = message_class("TrackableObjectGraph")
OpDef = message_class("OpDef")


def parse_text(data: bytes, msg, allow_unknown_field: bool = False) -> None:
    """Fill `msg` from protobuf text format; a parse error is raised as ValueError (with its message).
    text_format is imported here, on first use: about 20 ms that a binary file never needs."""
    from google.protobuf import text_format

    try:
        text = bytes(data).decode("utf-8", errors="replace")  # bytes or a mapped file
        text_format.Parse(text, msg, allow_unknown_field=allow_unknown_field)
    except text_format.ParseError as e:
        raise ValueError(str(e)) from None
