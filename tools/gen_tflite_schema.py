"""Generate graphreport/opdata/tflite_schema.json from the installed TensorFlow's TFLite schema bindings.

Run by hand after a TensorFlow upgrade: `.venv/bin/python tools/gen_tflite_schema.py`. It reads the
generated Python bindings (tensorflow/lite/python/schema_py_generated.py) as text and extracts facts only:
enum values (BuiltinOperator, TensorType, BuiltinOptions, Padding, ActivationFunctionType, ...) and, for
each *Options table, its scalar and scalar-vector fields with their vtable slots, types and defaults.
"""
from __future__ import annotations

import json
import re
import sys
from importlib.util import find_spec
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "graphreport" / "opdata" / "tflite_schema.json"
FLAGS = {"Int8Flags": "int8", "Uint8Flags": "uint8", "Int16Flags": "int16", "Uint16Flags": "uint16",
         "Int32Flags": "int32", "Uint32Flags": "uint32", "Int64Flags": "int64", "Uint64Flags": "uint64",
         "BoolFlags": "bool", "Float32Flags": "float32", "Float64Flags": "float64"}


def snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def main() -> None:
    spec = find_spec("tensorflow")
    src_path = Path(spec.submodule_search_locations[0]) / "lite" / "python" / "schema_py_generated.py"
    text = src_path.read_text()
    classes = re.split(r"^class (\w+)\(object\):\n", text, flags=re.M)
    enums, tables = {}, {}
    for name, body in zip(classes[1::2], classes[2::2]):
        consts = re.findall(r"^    ([A-Za-z0-9_]+) = (-?\d+)$", body, flags=re.M)
        if consts and "\n    def " not in body:
            enums[name] = {int(v): k for k, v in consts}
            continue
        if not name.endswith("Options") and name not in ("StablehloCompositeOptions",):
            continue
        fields = []
        for m in re.finditer(r"    def (\w+)\(self(, j)?\):\n(.*?)(?=\n    (?:# \w+\n    )?def |\Z)", body, re.S):
            meth, is_vec, code = m.group(1), m.group(2), m.group(3)
            slot = re.search(r"Offset\((\d+)\)", code)
            flag = re.search(r"number_types\.(\w+Flags), (?:o|a)", code)
            if not slot or not flag or meth.endswith(("AsNumpy", "Length", "IsNone")) or flag.group(1) not in FLAGS:
                continue
            default = re.search(r"\n        return (.+)$", code.strip("\n"))
            dval = default.group(1).strip() if default else "0"
            dval = {"False": False, "True": True}.get(dval, dval)
            try:
                dval = json.loads(dval) if isinstance(dval, str) else dval
            except ValueError:
                dval = 0
            fields.append([snake(meth), (int(slot.group(1)) - 4) // 2, ("[" + FLAGS[flag.group(1)] + "]")
                           if is_vec else FLAGS[flag.group(1)], dval])
        tables[name] = fields
    import tensorflow as tf  # only for the version stamp

    data = {
        "tf_version_basis": tf.__version__,
        "source": "tensorflow/lite/python/schema_py_generated.py of the installed TensorFlow (facts only)",
        "builtin_ops": enums["BuiltinOperator"],
        "tensor_types": enums["TensorType"],
        "builtin_options": enums["BuiltinOptions"],
        "builtin_options_2": enums.get("BuiltinOptions2", {}),
        "enums": {k: enums[k] for k in ("Padding", "ActivationFunctionType", "FullyConnectedOptionsWeightsFormat",
                                         "MirrorPadMode", "CombinerType", "LSHProjectionType",
                                         "LSTMKernelType", "ReduceWindowFunction", "RngAlgorithm")
                  if k in enums},
        "options_tables": tables,
    }
    OUT.write_text(json.dumps(data, indent=0, sort_keys=True) + "\n")
    print(f"wrote {OUT}: {len(data['builtin_ops'])} builtin ops, {len(tables)} options tables", file=sys.stderr)


if __name__ == "__main__":
    main()
