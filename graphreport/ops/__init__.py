"""Per-op knowledge: the registry (registry.py) and the rule families that fill it.

Importing the package imports every family once, so that any ``from graphreport.ops.registry import lookup``
sees every rule. Cheap by design (a few ms from byte code): the families only define and register small
functions; numpy, which value rules use, is imported when a rule first computes a value (helpers.np), so a
report that needs no constant value never imports it. The registry itself imports no family (no circle).
A new family is one more module listed here.
"""
from . import tf_dtypes  # noqa: F401  (dtype rules)
from . import array, indexing, joining, math, nn, plumbing, tflite_ops  # noqa: F401  (shape, value and cost rules)
from . import keras_layers, keras_rnn  # noqa: F401  (Keras layer rules, dialect "keras")
