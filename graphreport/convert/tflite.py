"""The TFLiteConverter call, one configuration per --quantize mode.

- none:    float32 model, TFLite builtins
- dynamic: dynamic-range quantization (weights int8, activations float, quantized on the fly)
- float16: weights stored as float16
- int8:    full integer: weights and activations int8 from a representative dataset, TFLITE_BUILTINS_INT8,
           int8 model inputs and outputs (for float inputs/outputs; others keep their type)
--select-tf-ops adds SELECT_TF_OPS (Flex) to every mode.
"""
from __future__ import annotations

from typing import Optional

from .console import Console
from .diagnose import explain

MODES = ("none", "dynamic", "float16", "int8")


def convert(tf, concrete, mode: str, select_tf_ops: bool, console: Console,
            representative: Optional[list] = None, int8_io: tuple[bool, bool] = (True, True)) -> bytes:
    lite = tf.lite
    conv = lite.TFLiteConverter.from_concrete_functions([concrete])
    ops = [lite.OpsSet.TFLITE_BUILTINS]
    if mode in ("dynamic", "float16", "int8"):
        conv.optimizations = [lite.Optimize.DEFAULT]
    if mode == "float16":
        conv.target_spec.supported_types = [tf.float16]
    if mode == "int8":
        if not representative:
            raise ValueError("int8 needs representative samples")
        ops = [lite.OpsSet.TFLITE_BUILTINS_INT8]
        n = len(representative)

        def dataset():
            for k, sample in enumerate(representative, 1):
                console.count("Calibrating", k, n)
                yield list(sample)

        conv.representative_dataset = dataset
        if int8_io[0]:
            conv.inference_input_type = tf.int8
        if int8_io[1]:
            conv.inference_output_type = tf.int8
    if select_tf_ops:
        ops.append(lite.OpsSet.SELECT_TF_OPS)
    conv.target_spec.supported_ops = ops
    label = "Converting and calibrating" if mode == "int8" else "Converting"
    with console.step(label):
        try:
            with console.quiet():
                return bytes(conv.convert())
        except Exception as e:  # ConverterError, RuntimeError from the calibrator, ValueError ...
            raise explain(e, console.captured_text(), mode=mode, select_tf_ops=select_tf_ops) from None
