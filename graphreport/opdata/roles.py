"""What each TensorFlow op is, for the analyses: one table of op roles, and the diagram's op categories.

Every analysis asks this module, never a set of its own: `ops("variable", "variable_read")` is the set of
ops having any of those roles, `has_role(op, role)` also answers for the roles given by a name pattern
(families too open to list: ``*Dataset*``, ``*Summary``). Where two analyses need different sets, the
difference is a distinct role here ("variable" is a variable's own node; "variable_read" reads one), so
adding an op means adding one line below. `graphreport ops --coverage` lists these ops with their rules.

Roles (exact op names, in OP_ROLES):
  placeholder          a graph input: Placeholder, PlaceholderV2
  placeholder_default  a graph input that has a default value (PlaceholderWithDefault)
  variable             a variable's own node (holds or names the value)
  variable_ref         a TF1 reference variable's own node (VariableV2, Variable)
  variable_temp        a variable that lives for one step (TemporaryVariable)
  variable_read        reads a resource variable's value
  variable_gather      gathers rows of a resource variable
  variable_check       asks whether a variable is initialized
  call                 calls a function of the library (PartitionedCall, StatefulPartitionedCall)
  call_tpu             the TPU form of a function call
  switch, merge, loop  TF1 control flow: cond's Switch/Merge; while-loop frames (Enter, Exit, NextIteration...)
  if, while, case      TF2 functional control flow
  const, noop, debug   a constant; a no-op; asserts and prints
  control_anchor       only anchors control dependencies (NoOp, ControlTrigger): converters drop it
  forward              its output is its one input (Identity, Snapshot): followed through to the source
  select               chooses elementwise between two inputs (Select, SelectV2)
  shape_read           reads only its input's shape (folds when that shape is known)
  saver                checkpoint save/restore plumbing
  init                 variable initialization and assignment
  loss                 a loss function's own op
  model_evidence       an op a loss never runs on predictions (weights, control flow, calls): seeing one in a
                       scope means it holds the model (I/O suggestion)
  identity             the output is the input, unchanged (shape and value pass through)
  alias                the output may share the input's buffer (memory plan)
  random               draws random numbers, output shape from the `shape` operand
  no_fold              never constant-folded by the cost walk (besides placeholders)
  free                 no arithmetic: 0 MACs, 0 FLOPs
  gelu_part            may appear in an unfused GELU that the converter fuses to one GELU builtin
  weight_operand       takes a weight tensor as an operand (big-weights note of the compatibility check)
  l2norm_part          may appear in an unfused L2 normalization (fused to L2_NORMALIZATION)
Roles given by name patterns (NAME_PATTERNS): pipeline, stateful, random_stateful, random_any, fake_quant,
summary, optimizer_apply.
"""
from __future__ import annotations

import re

# op: roles. One line per group of ops that share their roles ("Op Op ...: role role ...").
_TABLE = """
Placeholder PlaceholderV2: placeholder free
PlaceholderWithDefault: placeholder_default free
VariableV2: variable variable_ref no_fold free
VarHandleOp: variable no_fold free
Variable: variable variable_ref free
TemporaryVariable: variable_temp
ReadVariableOp: variable_read no_fold free
ResourceGather: variable_gather free
VarIsInitializedOp: variable_check init free
PartitionedCall StatefulPartitionedCall: call model_evidence
TPUPartitionedCall: call_tpu
Switch RefSwitch: switch model_evidence free
Merge RefMerge: merge model_evidence free
Enter: loop model_evidence free
Exit: loop model_evidence identity free
LoopCond RefEnter: loop free
NextIteration RefExit RefNextIteration: loop identity free
If StatelessIf: if model_evidence
While StatelessWhile: while model_evidence
Case StatelessCase: case
Const: const free
NoOp: noop control_anchor free
ControlTrigger: control_anchor free
Assert Print PrintV2: debug free
Rank Shape ShapeN Size: shape_read free
MergeV2Checkpoints Restore RestoreSlice RestoreV2 Save SaveV2 ShardedFilename ShardedFilespec: saver
Assign AssignAdd AssignSub AssignVariableOp IsVariableInitialized: init
L2Loss SigmoidCrossEntropyWithLogits SoftmaxCrossEntropyWithLogits SparseSoftmaxCrossEntropyWithLogits: loss
BatchMatMulV2 BatchMatMulV3 Conv2D Conv2DBackpropInput Conv3D DepthwiseConv2dNative MatMul: model_evidence weight_operand
BatchMatMul Conv3DBackpropInputV2 FusedBatchNorm FusedBatchNormV2 FusedBatchNormV3: model_evidence
Einsum: weight_operand
GatherV2: weight_operand free
Select SelectV2: select
Identity Snapshot: forward identity alias free
StopGradient PreventGradient CheckNumerics CheckNumericsV2 RefIdentity: identity alias free
DebugIdentity DebugIdentityV2: identity free
EnsureShape ExpandDims IdentityN Reshape Squeeze: alias free
RandomUniform RandomStandardNormal TruncatedNormal: random no_fold
RandomUniformInt StatelessRandomUniform StatelessRandomNormal StatelessTruncatedNormal StatelessRandomUniformV2
  StatelessRandomNormalV2 StatelessTruncatedNormalV2 StatelessRandomUniformInt StatelessRandomUniformIntV2: random
Transpose ConjugateTranspose ConcatV2 Concat Pack Unpack Split SplitV Slice StridedSlice Pad PadV2
  MirrorPad Tile Gather GatherNd Fill ZerosLike OnesLike BroadcastTo BroadcastArgs Reverse ReverseV2
  OneHot Where Unique Range DepthToSpace SpaceToDepth SpaceToBatchND BatchToSpaceND SpaceToBatch BatchToSpace
  Bitcast DebugNanCount ScatterNd Empty TensorListReserve TensorListFromTensor TensorListStack TensorListGetItem
  TensorListSetItem TensorListLength TensorListElementShape: free
Mul RealDiv Add AddV2 Square: gelu_part l2norm_part
Neg Pow Erf Erfc Tanh: gelu_part
Sum Maximum Rsqrt Sqrt: l2norm_part
"""

# Roles given by op-name pattern. Callers keep the matching method they use (``match`` of an anchored pattern).
NAME_PATTERNS = {
    # input pipelines: queues, iterators, datasets, readers, example parsing
    "pipeline": re.compile(r"^(\w*Queue\w*|QueueDequeue\w*|Iterator\w*|OneShotIterator|MakeIterator|\w*Dataset\w*|"
                           r"\w*ReaderV2|ReaderRead\w*|ParseExample\w*|ParseSingleExample|DecodeRaw|"
                           r"TFRecordReader\w*)$"),
    # ops whose value is not a function of their inputs: never constant-folded
    "stateful": re.compile(r"^(Random\w*|TruncatedNormal|Multinomial|ParameterizedTruncatedNormal|Placeholder\w*|"
                           r"StatelessRandom\w*|StatelessTruncatedNormal\w*|StatelessMultinomial|"
                           r"Variable\w*|VarHandleOp|ReadVariableOp|\w*Queue\w*|Iterator\w*|\w*HashTable\w*|"
                           r"LookupTable\w*|TensorArray\w*|Print\w*|Assert|Stateful\w*|If|While|Case|_Arg)$"),
    # random ops that draw anew on every run (not the seeded Stateless* ones)
    "random_stateful": re.compile(r"^(Random\w*|TruncatedNormal)$"),
    # every random op, stateless and V2 forms included (their `T` attribute is the shape's dtype)
    "random_any": re.compile(r"^(Stateless)?(Random\w*|TruncatedNormal|Multinomial)(V\d)?$"),
    "fake_quant": re.compile(r"^(FakeQuantWithMinMax\w*|QuantizeAndDequantize\w*)$"),
    "summary": re.compile(r".*Summary(V2)?\Z", re.S),  # ScalarSummary, WriteScalarSummary, AudioSummaryV2 ...
    "optimizer_apply": re.compile(r"(Apply|ResourceApply|SparseApply|ResourceSparseApply)"),  # prefix: ApplyAdam ...
}


def _parse(text: str) -> dict[str, tuple[str, ...]]:
    table: dict[str, tuple[str, ...]] = {}
    for row in re.sub(r"\n +", " ", text).strip().splitlines():
        names, _, roles = row.partition(":")
        for op in names.split():
            if op in table:
                raise ValueError(f"op {op} listed twice in the role table")
            table[op] = tuple(roles.split())
    return table


OP_ROLES: dict[str, tuple[str, ...]] = _parse(_TABLE)
ROLE_NAMES = tuple(dict.fromkeys(r for roles in OP_ROLES.values() for r in roles))


def ordered(*roles: str) -> tuple[str, ...]:
    """The ops having any of `roles`, in table order (for registering one rule on all of them)."""
    unknown = set(roles) - set(ROLE_NAMES)
    if unknown:
        raise KeyError(f"unknown op role(s): {', '.join(sorted(unknown))}")
    return tuple(op for op, have in OP_ROLES.items() if any(r in have for r in roles))


def ops(*roles: str) -> frozenset[str]:
    """The set of ops having any of `roles` (exact-name roles only)."""
    return frozenset(ordered(*roles))


# Sets several modules test inline (an attribute lookup per node, no call)
FORWARD = ops("forward")
SWITCH = ops("switch")
MERGE = ops("merge")
SELECT = ops("select")
FEEDABLE = ops("placeholder", "placeholder_default")
VARIABLES = ops("variable")
REF_VARIABLES = ops("variable_ref")
CONTROL_ANCHORS = ops("control_anchor")
WEIGHT_OPERANDS = ops("weight_operand")


def pattern(role: str) -> re.Pattern:
    return NAME_PATTERNS[role]


def has_role(op: str, role: str) -> bool:
    if role in NAME_PATTERNS:
        return NAME_PATTERNS[role].match(op) is not None
    return role in OP_ROLES.get(op, ())


# ----------------------------------------------------------------------------------------------------------
# Diagram categories (fill colours, render/svg.py), for any dialect: TF ops, TFLite builtins, Keras classes.
# The first category whose rule matches the lower-cased op wins: a substring, an exact name or a prefix.
CATEGORIES = (
    ("conv", {"contains": ("conv", "matmul", "fully_connected"), "names": ("dense",)}),
    ("pool", {"contains": ("pool",), "names": ("mean", "max", "sum")}),
    ("norm", {"contains": ("norm",)}),
    ("act", {"names": ("relu", "relu6", "sigmoid", "tanh", "softmax", "logistic", "elu", "selu", "leakyrelu",
                       "leaky_relu", "hard_swish", "gelu", "swish", "prelu", "log_softmax", "logsoftmax")}),
    ("shape", {"names": ("reshape", "transpose", "squeeze", "expanddims", "expand_dims", "concatv2",
                         "concatenation", "pack", "unpack", "identity", "shape", "stridedslice", "strided_slice",
                         "pad", "padv2", "gather", "gatherv2")}),
    ("io", {"prefixes": ("placeholder",), "names": ("input", "output")}),
)
_CATEGORY_RULES = tuple((name, tuple(rule.get("contains", ())), frozenset(rule.get("names", ())),
                         tuple(rule.get("prefixes", ()))) for name, rule in CATEGORIES)


def category(op: str) -> str:
    """The diagram category of an op (conv, pool, norm, act, shape, io, other)."""
    o = op.lower()
    for name, contains, names, prefixes in _CATEGORY_RULES:
        if o in names or any(s in o for s in contains) or (prefixes and o.startswith(prefixes)):
            return name
    return "other"
