"""What the SavedModel and TF1 checkpoint readers share of a MetaGraphDef beyond function inlining (inline.py):
its signatures, and its variable nodes given the shapes and dtypes of their checkpoint entries."""
from __future__ import annotations

from ..model import Graph, Signature, Tensor, num_elements
from ..opdata import roles as op_roles
from .graphdef import shape_of
from .tfproto import dtype_name

VARIABLE_OPS = op_roles.ops("variable")


def _tensor_info(info) -> Tensor:
    name = info.name
    kind = info.WhichOneof("encoding")
    if kind != "name":
        name = name or f"<{kind or 'no tensor name'}>"
    shape = shape_of(info.tensor_shape) if info.HasField("tensor_shape") else None
    return Tensor(name=name, dtype=dtype_name(info.dtype), shape=shape)


def signatures_of(mg) -> list[Signature]:
    out = []
    for key in sorted(mg.signature_def):
        sd = mg.signature_def[key]
        out.append(Signature(name=key, method=sd.method_name,
                             inputs={k: _tensor_info(sd.inputs[k]) for k in sorted(sd.inputs)},
                             outputs={k: _tensor_info(sd.outputs[k]) for k in sorted(sd.outputs)}))
    return out


def apply_variables(g: Graph, handle_keys: dict, ck, used: list) -> None:
    """Give variable nodes their checkpoint key's shape/dtype/size; variable reads (ReadVariableOp, TF1
    ``read`` Identity) their shapes, marked ``is_variable`` so that memory figures do not count them as
    activations."""
    var_info: dict[str, tuple] = {}
    for node in g.nodes:
        if node.op not in VARIABLE_OPS:
            continue
        key = handle_keys.get(node.name)
        entry = ck.variables.get(key) if (ck is not None and key) else None
        shape, dtype = node.attrs.get("shape"), node.attrs.get("dtype")
        if entry is not None:
            if entry.shape is not None and (shape is None or None in shape):
                node.attrs["shape"] = shape = list(entry.shape)
            if dtype is None and entry.dtype:
                node.attrs["dtype"] = dtype = entry.dtype
        if node.op != "VarHandleOp" and shape is not None:
            g.tensors[node.outputs[0]].shape = shape
        var_info[node.name] = (shape, dtype)
        n = num_elements(shape)
        used.append({"node": node.name, "key": key, "dtype": dtype, "shape": shape,
                     "nbytes": entry.nbytes if entry is not None else None, "elements": n})
    for node in g.nodes:  # TF1 `w/read = Identity(w)`: the variable's value, not an activation
        if node.op == "Identity" and node.inputs and not node.is_const:
            src = g.tensors.get(node.inputs[0])
            prod = g.node(src.producer) if src is not None and src.producer else None
            if prod is not None and prod.op in op_roles.REF_VARIABLES:
                out = g.tensors[node.outputs[0]]
                out.is_variable = True
                shape = var_info.get(prod.name, (None, None))[0]
                if shape is not None and out.shape is None:
                    out.shape = list(shape)
    for node in g.nodes:
        if node.op != "ReadVariableOp" or not node.inputs:
            continue
        src = g.tensors.get(node.inputs[0])
        hops = 0
        while src is not None and src.producer and hops < 64:
            prod = g.node(src.producer)
            if prod is None:
                break
            if prod.op in VARIABLE_OPS:
                shape, dtype = var_info.get(prod.name, (None, None))
                out = g.tensors[node.outputs[0]]
                if shape is not None and out.shape is None:
                    out.shape = list(shape)
                out.dtype = out.dtype or dtype
                out.is_variable = True  # the variable's value, not an activation
                break
            if prod.op in ("Identity", "IdentityN") and prod.inputs:
                i = prod.outputs.index(src.name) if src.name in prod.outputs else 0
                src = g.tensors.get(prod.inputs[min(i, len(prod.inputs) - 1)])
                hops += 1
                continue
            break
