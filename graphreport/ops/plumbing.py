"""The graph's plumbing (TensorFlow): identity-likes, control flow (Enter/Switch/Merge, While/If costs),
placeholders, constants, variables and their TF1 updates, tensor lists, summaries, savers. Shape rules
mostly pass a shape through or say why it is unknown.

The semantics follow the TensorFlow op definitions; the code is our own.
"""
from __future__ import annotations

from .helpers import Unknown, free, merge_shapes, same_shape
from ..opdata import roles as op_roles
from .registry import cost_rule, shape_rule, value_rule

# ---------------------------------------------------------------------------------------------------------
# identity-likes
IDENTITY_OPS = op_roles.ordered("identity")


shape_rule(*IDENTITY_OPS)(same_shape)


@value_rule(*IDENTITY_OPS)
def _identity_value(ctx):
    return [ctx.raw_value(0)]


@shape_rule("Enter", "RefEnter")
def _enter(ctx):
    # Only loop constants keep their shape; a loop variable may change it from one iteration to the next.
    if ctx.attr("is_constant", False):
        return [ctx.shape(0)]
    raise Unknown("loop variable entering a while loop: its shape may change from one iteration to the next")


@value_rule("Enter", "RefEnter")
def _enter_value(ctx):
    return [ctx.raw_value(0) if ctx.attr("is_constant", False) else None]


@shape_rule("LoopCond")
def _loop_cond(ctx):
    return [[]]


@shape_rule("IdentityN")
def _identity_n(ctx):
    return [ctx.shape(i) for i in range(ctx.n_out)]


@value_rule("IdentityN")
def _identity_n_value(ctx):
    return [ctx.raw_value(i) for i in range(ctx.n_out)]


@shape_rule("EnsureShape")
def _ensure_shape(ctx):
    return [merge_shapes(ctx.shape(0), ctx.attr("shape"))]


value_rule("EnsureShape")(_identity_value)


@shape_rule("Switch", "RefSwitch")
def _switch(ctx):
    return [ctx.shape(0), ctx.shape(0)]


@shape_rule("Merge", "RefMerge")
def _merge(ctx):
    shapes = [s for s in ctx.in_shapes]
    out = shapes[0] if shapes else None
    for s in shapes[1:]:
        if out is None or s is None or len(s) != len(out):
            out = None
            break
        out = [a if a == b else None for a, b in zip(out, s)]
    return [out, []]


@shape_rule("Placeholder", "PlaceholderV2", "PlaceholderWithDefault")
def _placeholder(ctx):
    # With a default, the fed value may have any shape compatible with the attribute: the default's shape
    # does not bind it, so the attribute is the shape here too.
    s = ctx.attrs.get("shape")
    if s is None:
        raise Unknown("placeholder declares no shape (give it with input_shapes)")
    return [list(s)]


@shape_rule("Const")
def _const(ctx):
    v = ctx.attrs.get("value")
    if isinstance(v, dict) and "shape" in v:
        return [v["shape"]]
    return [ctx.out_shape(0)]


@shape_rule("VariableV2", "Variable")
def _variable(ctx):
    return [ctx.attrs.get("shape")]


@shape_rule("ReadVariableOp")
def _read_variable(ctx):
    raise Unknown("variable read through a resource handle: shape comes from the variable, not the graph")


@shape_rule("NoOp", "ControlTrigger", "Assert")
def _no_outputs(ctx):
    return [Unknown(f"{ctx.op} produces no data (it runs for its side effect)")] * ctx.n_out

# ---------------------------------------------------------------------------------------------------------
# Variables and TF2 tensor lists (kept unknown with a reason)
@shape_rule("VarHandleOp")
def _var_handle(ctx):
    return [[]]


@shape_rule("TensorListReserve", "EmptyTensorList", "TensorListFromTensor")
def _tensor_list(ctx):
    return [[]]


# ---------------------------------------------------------------------------------------------------------
# TF1 variable updates and training ops: the result has the variable's shape
@shape_rule("Assign", "AssignAdd", "AssignSub", "ScatterUpdate", "ScatterAdd", "ScatterSub",
            "ApplyGradientDescent", "ApplyMomentum", "ApplyAdam", "ApplyRMSProp", "ApplyAdagrad",
            "ApplyAdadelta", "ApplyFtrl", "ApplyFtrlV2", "ApplyCenteredRMSProp", "ApplyAdagradV2",
            "ApplyProximalGradientDescent", "ApplyProximalAdagrad", "ApplyAddSign", "ApplyPowerSign")
def _variable_update(ctx):
    s = ctx.shape(0)
    if ctx.op in ("Assign", "AssignAdd", "AssignSub") and ctx.n_in > 1:
        v = ctx.shape(1)
        if s is None:
            return [v]
        if v is not None and len(v) == len(s):
            return [[a if a is not None else b for a, b in zip(s, v)]]
    return [s]


cost_rule("Assign", "ScatterUpdate")(free)


@shape_rule("ScalarSummary", "MergeSummary", "HistogramSummary", "ImageSummary", "AudioSummaryV2",
            "TensorSummaryV2", "TensorSummary")
def _summary(ctx):
    return [[]]


@shape_rule("RestoreV2", "Restore", "RestoreSlice")
def _restore(ctx):
    raise Unknown("restored tensors take their shapes from the checkpoint, not the graph")


@shape_rule("SaveV2", "Save", "SaveSlices", "MergeV2Checkpoints")
def _save(ctx):
    return [Unknown(f"{ctx.op} produces no data (it runs for its side effect)")] * ctx.n_out


@shape_rule("ShardedFilename", "StringJoin")
def _string_scalar(ctx):
    return [[]]


@cost_rule("While", "StatelessWhile", "_While")
def _tf_while(ctx):
    raise Unknown("runs its body function a data-dependent number of times")


@cost_rule("If", "StatelessIf", "_If", "Case", "StatelessCase")
def _tf_if(ctx):
    raise Unknown("runs one of its branch functions, chosen at run time")
