"""Ready-to-paste conversion commands built from the input/output suggestion."""
from __future__ import annotations

import os
import shlex

from .io_suggest import IOSuggestion


def _fixed_shape(shape) -> tuple[list, bool]:
    """Unknown batch -> 1; other unknown dims stay unknown ('?'). Returns (shape, all_known)."""
    if shape is None:
        return [], False
    out, ok = [], True
    for i, d in enumerate(shape):
        if d is None:
            if i == 0:
                out.append(1)
            else:
                out.append("?")
                ok = False
        else:
            out.append(d)
    return out, ok


def savedmodel_commands(path: str, sug: IOSuggestion) -> list[dict]:
    """A SavedModel converts as it is: the converters take the directory and a signature key."""
    q = shlex.quote
    base = os.path.basename(os.path.normpath(path))
    key = sug.signature or "serving_default"
    tfl = f"{base}.tflite"
    unknown = [i.name for i in sug.inputs if i.shape is None or any(d is None for d in i.shape[1:])]
    batch = [i.name for i in sug.inputs if i.shape and i.shape[0] is None]
    note = []
    if batch:
        note.append("the batch dimension is unknown: the converted model keeps it dynamic (resize the input "
                    "tensor before allocate_tensors(), or it runs with batch 1)")
    if unknown:
        note.append(f"{', '.join(unknown)}: dimensions other than the batch are unknown; fix them in the "
                    "signature (tf.TensorSpec) for a static TFLite model")
    args = ["tflite_convert", f"--saved_model_dir={q(base)}", f"--output_file={q(tfl)}"]
    if key != "serving_default":
        args.append(f"--saved_model_signature_key={q(key)}")
    cmds = [{"title": "Convert with tflite_convert", "language": "shell", "code": " \\\n  ".join(args),
             "note": "; ".join(note)}]
    code = "\n".join([
        "import tensorflow as tf",
        f"converter = tf.lite.TFLiteConverter.from_saved_model({base!r}, signature_keys=[{key!r}])",
        "tflite_model = converter.convert()",
        f"open({tfl!r}, 'wb').write(tflite_model)",
    ])
    cmds.append({"title": "Convert in Python (TFLiteConverter.from_saved_model)", "language": "python",
                 "code": code, "note": ""})
    cmds.append({
        "title": "Convert to TensorFlow.js", "language": "shell",
        "code": " \\\n  ".join(["tensorflowjs_converter --input_format=tf_saved_model",
                                 f"--signature_name={q(key)}", "--saved_model_tags=serve",
                                 q(base), q(base + "_web_model")]),
        "note": "",
    })
    cmds.append({"title": "Inspect it with TensorFlow", "language": "shell",
                 "code": f"saved_model_cli show --dir {q(base)} --tag_set serve --signature_def {q(key)}",
                 "note": ""})
    return cmds


def keras_commands(path: str, stem: str) -> list[dict]:
    base = os.path.basename(path)
    tfl = f"{stem}.tflite"
    code = "\n".join([
        "import tensorflow as tf",
        f"model = tf.keras.models.load_model({base!r}, safe_mode=True)  # never runs Lambda code",
        "converter = tf.lite.TFLiteConverter.from_keras_model(model)",
        f"open({tfl!r}, 'wb').write(converter.convert())",
    ])
    return [
        {"title": "Convert with graphreport (verifies the result)", "language": "shell",
         "code": f"graphreport convert {shlex.quote(base)} --to tflite -o {shlex.quote(tfl)}", "note": ""},
        {"title": "Convert in Python (TFLiteConverter.from_keras_model)", "language": "python", "code": code,
         "note": ""},
        {"title": "Convert to TensorFlow.js", "language": "shell",
         "code": f"tensorflowjs_converter --input_format=keras {shlex.quote(base)} "
                 f"{shlex.quote(stem + '_web_model')}", "note": "for a .h5 file"},
    ]


def _tfjs_commands(path: str, sug: IOSuggestion) -> list[dict]:
    base = os.path.basename(path)
    stem = os.path.splitext(base)[0]
    folder = os.path.basename(os.path.dirname(os.path.abspath(path))) if base == "model.json" else ""
    rel, stem = (f"{folder}/model.json", folder) if folder else (base, stem)
    return [{"title": "Back to Keras (layers models)", "language": "shell",
             "code": f"tensorflowjs_converter --input_format=tfjs_layers_model --output_format=keras "
                     f"{shlex.quote(rel)} {shlex.quote(stem + '.h5')}",
             "note": "A TF.js graph model has no standard way back to TensorFlow; convert from the "
                     "model it was made from."}]


def _tflite_commands(path: str, sug: IOSuggestion) -> list[dict]:
    code = "\n".join([
        "import numpy as np, tensorflow as tf",
        f"interpreter = tf.lite.Interpreter(model_path={os.path.basename(path)!r})",
        "interpreter.allocate_tensors()",
        "for d in interpreter.get_input_details():",
        "    interpreter.set_tensor(d['index'], np.zeros(d['shape'], d['dtype']))",
        "interpreter.invoke()",
        "print([interpreter.get_tensor(d['index']).shape for d in interpreter.get_output_details()])",
    ])
    return [{"title": "Run it in the TFLite interpreter", "language": "python", "code": code, "note": ""}]


# The commands are those of the converter that reads the file's format (Model.format, the registry's name):
# one builder per format; None from a builder, or a format without one, gets the GraphDef commands.
BY_FORMAT = {
    "savedmodel": lambda path, sug: savedmodel_commands(path, sug) if sug.signature else None,
    "keras": lambda path, sug: keras_commands(path, os.path.splitext(os.path.basename(path))[0]),
    "tfjs": _tfjs_commands,
    "tflite": _tflite_commands,
    "checkpoint": lambda path, sug: graph_commands(path, sug, checkpoint=True),
}


def build_commands(model_format: str, path: str, sug: IOSuggestion) -> list[dict]:
    """A list of {title, language, code, note} entries."""
    special = BY_FORMAT.get(model_format)
    cmds = special(path, sug) if special is not None else None
    return cmds if cmds is not None else graph_commands(path, sug)


def graph_commands(path: str, sug: IOSuggestion, checkpoint: bool = False) -> list[dict]:
    """Freeze (when the graph holds variables, or `checkpoint`: path is a checkpoint's .meta file) and
    convert a GraphDef."""
    base = os.path.basename(path)
    stem = os.path.splitext(base)[0]
    q = shlex.quote
    cmds: list[dict] = []
    ckpt_prefix = None
    if checkpoint:
        ckpt_prefix = base[: -len(".meta")] if base.endswith(".meta") else base
        stem = ckpt_prefix[: -len(".ckpt")] if ckpt_prefix.endswith(".ckpt") else ckpt_prefix
        stem = stem.split(".ckpt-")[0] if ".ckpt-" in stem else stem
    ins = [i.name for i in sug.inputs]
    outs = [o.name for o in sug.outputs]
    shapes = {}
    notes = []
    for i in sug.inputs:
        shp, ok = _fixed_shape(i.shape)
        shapes[i.name] = shp
        if i.shape is not None and i.shape and i.shape[0] is None:
            notes.append(f"{i.name}: unknown batch dimension set to 1")
        if not ok:
            notes.append(f"{i.name}: replace '?' with the real size; the converter needs fixed input shapes")
    shape_arg = ":".join(",".join(str(d) for d in shapes[n]) for n in ins)
    frozen = f"{stem}_frozen.pb" if sug.has_variables else base
    if ckpt_prefix is not None:
        frozen = f"{stem}_frozen.pb"
        cmds.append({
            "title": "Freeze the checkpoint into a GraphDef (freeze_graph)", "language": "shell",
            "code": " \\\n  ".join([
                "python -m tensorflow.python.tools.freeze_graph",
                f"--input_meta_graph={q(base)}", "--input_binary=true",
                f"--input_checkpoint={q(ckpt_prefix)}", f"--output_node_names={q(','.join(outs))}",
                f"--output_graph={q(frozen)}"]),
            "note": "The variables' values live in the checkpoint: freeze them into constants before converting.",
        })
    elif sug.has_variables:
        cmds.append({
            "title": "Freeze the variables into constants (freeze_graph)", "language": "shell",
            "code": " \\\n  ".join([
                "python -m tensorflow.python.tools.freeze_graph",
                f"--input_graph={q(base)}", f"--input_binary={'false' if base.endswith('.pbtxt') else 'true'}",
                "--input_checkpoint=CHECKPOINT_PREFIX", f"--output_node_names={q(','.join(outs))}",
                f"--output_graph={q(frozen)}"]),
            "note": "The graph holds variables: freeze it with its checkpoint before converting.",
        })
    tfl = f"{stem}.tflite"
    switches = {x.name: x.suggested_value for x in sug.ignored_inputs if x.suggested_value is not None}
    source = ckpt_prefix if ckpt_prefix is not None else frozen  # graphreport convert freezes a checkpoint
    if switches:
        # tflite_convert and tensorflowjs_converter cannot feed a placeholder: graphreport convert binds each
        # training switch to its inference value, folds the conds on it, and checks the result against TF
        cmds.append({
            "title": "Convert with graphreport (feeds the training switches, verifies the result)",
            "language": "shell",
            "code": f"graphreport convert {q(source)} -o {q(tfl)}",
            "note": "feeds " + ", ".join(f"{n}={v!r}" for n, v in switches.items())
                    + ("; " + "; ".join(notes) if notes else ""),
        })
    else:
        cmds.append({
            "title": "Convert with tflite_convert", "language": "shell",
            "code": " \\\n  ".join([
                "tflite_convert --enable_v1_converter", f"--graph_def_file={q(frozen)}", f"--output_file={q(tfl)}",
                f"--input_arrays={q(','.join(ins))}", f"--input_shapes={q(shape_arg)}",
                f"--output_arrays={q(','.join(outs))}"]),
            "note": "; ".join(notes),
        })
    if switches:
        feed = ", ".join(f"{n + ':0'!r}: tf.constant({v!r})" for n, v in switches.items())
        code = "\n".join([
            "import tensorflow as tf",
            "graph_def = tf.compat.v1.GraphDef()",
            f"graph_def.ParseFromString(open({frozen!r}, 'rb').read())",
            "with tf.Graph().as_default() as g:",
            "    # training switches are fed their inference values",
            f"    tf.compat.v1.import_graph_def(graph_def, name='', input_map={{{feed}}})",
            "    with tf.compat.v1.Session(graph=g) as sess:",
            "        converter = tf.compat.v1.lite.TFLiteConverter.from_session(",
            f"            sess, [g.get_tensor_by_name(n + ':0') for n in {ins!r}],",
            f"            [g.get_tensor_by_name(n + ':0') for n in {outs!r}])",
            "        tflite_model = converter.convert()",
            f"open({tfl!r}, 'wb').write(tflite_model)",
        ])
        cmds.append({"title": "Convert in Python, feeding the training switches", "language": "python",
                     "code": code, "note": "tflite_convert cannot feed "
                     + ", ".join(switches) + ": use this snippet instead."})
    else:
        code = "\n".join([
            "import tensorflow as tf",
            "converter = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(",
            f"    {frozen!r}, input_arrays={ins!r}, output_arrays={outs!r},",
            f"    input_shapes={ {n: shapes[n] for n in ins}!r})",
            "tflite_model = converter.convert()",
            f"open({tfl!r}, 'wb').write(tflite_model)",
        ])
        cmds.append({"title": "Convert in Python (TFLiteConverter, frozen graph)", "language": "python",
                     "code": code, "note": ""})
        code2 = "\n".join([
            "import tensorflow as tf",
            "graph_def = tf.compat.v1.GraphDef()",
            f"graph_def.ParseFromString(open({frozen!r}, 'rb').read())",
            "wrapped = tf.compat.v1.wrap_function(",
            "    lambda: tf.compat.v1.import_graph_def(graph_def, name=''), [])",
            "func = wrapped.prune(",
            f"    feeds=[wrapped.graph.get_tensor_by_name(n + ':0') for n in {ins!r}],",
            f"    fetches=[wrapped.graph.get_tensor_by_name(n + ':0') for n in {outs!r}])",
            "converter = tf.lite.TFLiteConverter.from_concrete_functions([func], wrapped)",
            f"open({tfl!r}, 'wb').write(converter.convert())",
        ])
        cmds.append({"title": "Convert in Python (TF2 TFLiteConverter)", "language": "python", "code": code2,
                     "note": ""})
    if switches:
        cmds.append({
            "title": "Convert to TensorFlow.js", "language": "shell",
            "code": f"graphreport convert {q(source)} --to tfjs -o {q(stem + '_web_model')}",
            "note": "needs the tensorflowjs package; the training switches are fed as above",
        })
    else:
        cmds.append({
            "title": "Convert to TensorFlow.js", "language": "shell",
            "code": " \\\n  ".join(["tensorflowjs_converter --input_format=tf_frozen_model",
                                     f"--output_node_names={q(','.join(outs))}", q(frozen), q(stem + "_web_model")]),
            "note": "",
        })
    return cmds
