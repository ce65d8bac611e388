"""`graphreport convert`: everything that imports TensorFlow lives here, and imports it lazily.

Modules:
  console   progress on a terminal, quiet in CI logs; silences TensorFlow's C++ and converter chatter
  source    what the model path is (GraphDef, MetaGraph + checkpoint, SavedModel, Keras) and which inputs,
            outputs, shapes and training-switch values to use (from graphreport's own reader + io_suggest)
  freeze    MetaGraph + checkpoint -> frozen GraphDef; training switches fed; inference no-ops removed
  calibrate representative data (.npy/.npz/image folder) or random data
  tflite    the TFLiteConverter call for each --quantize mode
  diagnose  the converter's error -> the offending ops in plain words, with what to try
  verify    source in TensorFlow vs result in tf.lite.Interpreter on the same inputs
  tfjs      TensorFlow.js output: tensorflowjs_converter from its own environment (make setup-tfjs), as a
            subprocess; tfjs_out ties it to the verification; tfjs_runtime runs the result in TF.js (Node)
  outcome   what every target shares after converting: samples, verification concerns, summary, --json
  run       the `convert` command: ties the above together, writes outputs atomically
"""
