"""Generate graphreport/opdata/tflite_builtin_ops.json from the installed TensorFlow's TFLite schema bindings.

Run by hand after a TensorFlow upgrade and commit the output:

    nice .venv/bin/python tools/gen_tflite_ops.py

The facts come from tensorflow/lite/python/schema_py_generated.py (flatc's Python output for TFLite's
schema.fbs), imported and inspected:
- enums (BuiltinOperator, TensorType, BuiltinOptions, Padding, ...) are read off the enum classes;
- an options table's fields come from its ``<Table>Add<Field>(builder, x)`` functions, whose single line
  ``builder.Prepend<Type>Slot(<field id>, x, <default>)`` gives the field id, scalar type and default;
  offset fields are kept when the accessor reads a vector of scalars (element type from the accessor).
"""
from __future__ import annotations

import ast
import inspect
import json
import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "graphreport" / "opdata" / "tflite_builtin_ops.json"

# Options fields whose integer value is an enum: field name -> enum class in the schema.
OPTION_ENUMS = {
    "padding": "Padding",
    "fused_activation_function": "ActivationFunctionType",
    "weights_format": "FullyConnectedOptionsWeightsFormat",
    "mode": "MirrorPadMode",
    "combiner": "CombinerType",
    "type": "LSHProjectionType",
    "kernel_type": "LSTMKernelType",
    "algorithm": "RngAlgorithm",
    "reduce_function": "ReduceWindowFunction",
    "comparison_direction": "StablehloComparisonDirection",
    "compare_type": "StablehloComparisonType",
    "padding_type": "StablehloPaddingType",
    "out_type": "TensorType",
    "output_type": "TensorType",
    "idx_out_type": "TensorType",
    "in_data_type": "TensorType",
    "out_data_type": "TensorType",
    "key_dtype": "TensorType",
    "value_dtype": "TensorType",
}
OTHER_ENUMS = ("BuiltinOperator", "TensorType", "BuiltinOptions", "BuiltinOptions2", "DimensionType")
SLOT = re.compile(r"builder\.Prepend(\w+?)Slot\((\d+), [^,]+, (.+)\)\s*$")
VECTOR_ELEM = re.compile(r"self\._tab\.Vector\(o\).*?number_types\.(\w+)Flags", re.S)
ACCESSOR_NOISE = ("Length", "AsNumpy", "IsNone", "BufferHasIdentifier", "GetRootAs")


def snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def enum_values(cls) -> dict[int, str]:
    return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


def table_fields(schema, table: str) -> list:
    """[[field name, field id, type, default]] of one table's scalar and scalar-vector fields, by id."""
    cls = getattr(schema, table)
    fields = []
    for meth in vars(cls):
        if meth.startswith("_") or meth == "Init" or meth.endswith(ACCESSOR_NOISE):
            continue
        adder = getattr(schema, f"{table}Add{meth}", None)
        if adder is None:
            continue
        m = SLOT.search(inspect.getsource(adder))
        if m is None:
            raise SystemExit(f"unexpected code in {table}Add{meth}")
        kind, slot, default = m.group(1), int(m.group(2)), m.group(3)
        if kind == "UOffsetTRelative":
            elem = VECTOR_ELEM.search(inspect.getsource(getattr(cls, meth)))
            if elem is None or elem.group(1) == "UOffsetT":
                continue  # a string, table or vector of tables: not a plain option
            ftype, value = f"[{elem.group(1).lower()}]", None
        else:
            ftype, value = kind.lower(), ast.literal_eval(default)
            value = bool(value) if ftype == "bool" else value
        fields.append([snake(meth), slot, ftype, value])
    return sorted(fields, key=lambda f: f[1])


def build() -> dict:
    """The table, read from the installed TensorFlow (tools/check_opdata.py compares it with the committed one)."""
    import tensorflow as tf
    from tensorflow.lite.python import schema_py_generated as schema

    enum_names = sorted(set(OPTION_ENUMS.values()) | set(OTHER_ENUMS))
    enums = {name: enum_values(getattr(schema, name)) for name in enum_names if hasattr(schema, name)}
    enums["TensorType"] = {k: v.lower() for k, v in enums["TensorType"].items()}
    tables = {}
    for union in ("BuiltinOptions", "BuiltinOptions2"):
        for code, table in enums[union].items():
            if code and hasattr(schema, table):
                tables[table] = table_fields(schema, table)
    field_names = {f[0] for fields in tables.values() for f in fields}
    option_enums = {f: e for f, e in OPTION_ENUMS.items() if e in enums and f in field_names}
    data = {
        "tf_version_basis": tf.__version__,
        "source": "facts read from tensorflow/lite/python/schema_py_generated.py (TFLite schema.fbs) "
                  f"of TensorFlow {tf.__version__} by tools/gen_tflite_ops.py",
        "builtin_ops": enums.pop("BuiltinOperator"),
        "tensor_types": enums.pop("TensorType"),
        "builtin_options": enums.pop("BuiltinOptions"),
        "builtin_options_2": enums.pop("BuiltinOptions2", {}),
        "enums": enums,
        "option_enums": option_enums,
        "options_tables": tables,
    }
    return data


def main() -> None:
    data = build()
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {OUT}: {len(data['builtin_ops'])} builtin ops, {len(data['tensor_types'])} tensor types, "
          f"{len(data['options_tables'])} options tables", file=sys.stderr)


if __name__ == "__main__":
    main()
