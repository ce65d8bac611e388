"""The op-rule registry keeps dialects apart: a Keras layer class or a TFLite builtin never reaches a
TensorFlow op's rule by sharing its name."""
import pytest

from graphreport.ops.registry import lookup, shape_rule


def test_dialects_do_not_share_keys():
    tf_conv = lookup("Conv2D", "tf")
    assert tf_conv is not None and tf_conv.shape is not None
    keras_conv = lookup("Conv2D", "keras")
    assert keras_conv is None or keras_conv.shape is not tf_conv.shape
    assert lookup("CONV_2D", "tf") is None and lookup("CONV_2D", "tflite").cost is not None
    assert lookup("MEAN", "tflite").cost is lookup("Mean", "tf").cost  # one rule, two dialects by name


def test_unknown_dialect_is_refused():
    with pytest.raises(ValueError):
        shape_rule("X", dialect="onnx")(lambda ctx: [None])
