"""TF1 sources in TensorFlow: freeze a MetaGraph + checkpoint, feed training switches, drop inference no-ops,
wrap the frozen GraphDef as a function for the TFLite converter, and run the source as a reference.

The freeze is TensorFlow's freeze_graph step: `tf.compat.v1.train.import_meta_graph` (training switches
mapped to constants with `input_map`), `Saver.restore`, `convert_variables_to_constants` with the outputs,
`remove_training_nodes` (the function library kept: it drops it). Then the conds on a fed switch fold: TF1
Switch/Merge pairs are bypassed, and a TF2 `If`/`StatelessIf` whose predicate is now a constant is replaced by
the body of the branch it always takes (inlined, so no training-mode branch, no gradient intermediates and no
control flow reach the converter); dropout that can no longer drop (keep_prob fed 1.0, rate 0.0) is cut out, so
the TFLite model carries no RANDOM_UNIFORM; functions nothing calls any more are dropped from the library.
"""
from __future__ import annotations

import numpy as np

from ..errors import BadModelError, ConversionError
from ..model import split_tensor_name
from ..opdata import roles as op_roles
from .source import Plan

VALUE_SCOPE = "graphreport_inference_value"


def _switch_constants(tf, plan: Plan) -> dict:
    """input_map entries: each training switch's tensor -> a constant holding its inference value."""
    out = {}
    for s in plan.switches:
        dtype = tf.as_dtype(s.dtype or ("bool" if isinstance(s.value, bool) else "float32"))
        value = np.array(s.value).astype(dtype.as_numpy_dtype)
        if s.shape:
            if any(d is None for d in s.shape):
                raise ConversionError(f"training switch {s.name!r} has shape {s.shape} with unknown dimensions; "
                                      "name it in --inputs to feed it yourself")
            value = np.full(s.shape, value, dtype=dtype.as_numpy_dtype)
        out[s.tensor] = tf.constant(value, dtype=dtype, name=f"{VALUE_SCOPE}/{s.name}")
    return out


def _node_names(names) -> list[str]:
    return sorted({split_tensor_name(n)[0] for n in names})


def _finish(tf, graph_def, plan: Plan):
    """Keep what the outputs need, remove training-only nodes, fold conds on fed switches, cut dead dropout."""
    v1 = tf.compat.v1
    outs = _node_names(o.tensor for o in plan.outputs)
    keep = outs + _node_names(i.tensor for i in plan.inputs)
    gd = v1.graph_util.extract_sub_graph(graph_def, outs)
    gd = _with_library(v1.graph_util.remove_training_nodes(gd, protected_nodes=keep), gd)
    gd, switches = resolve_constant_switches(tf, gd)
    gd, ifs = resolve_constant_ifs(tf, gd, protected=set(keep))
    gd, dropouts = remove_dead_dropout(tf, gd)
    if switches or dropouts or ifs:
        gd = _with_library(v1.graph_util.extract_sub_graph(gd, outs), gd)
    gd = prune_library(gd)
    _check_frozen(gd)
    removed = {"constant_switches": switches, "constant_ifs": ifs, "dropout": dropouts}
    return gd, removed


def _with_library(new, old):
    """remove_training_nodes (and some TF versions of extract_sub_graph) return a GraphDef without the function
    library and versions of their input: an `If` left in it would name branch functions nobody has."""
    if old.HasField("library") and not new.HasField("library"):
        new.library.CopyFrom(old.library)
    if old.HasField("versions") and not new.HasField("versions"):
        new.versions.CopyFrom(old.versions)
    return new


def _func_refs(attr_map) -> list[str]:
    names = []
    for v in attr_map.values():
        if v.HasField("func"):
            names.append(v.func.name)
        elif v.HasField("list"):
            names.extend(f.name for f in v.list.func)
    return names


def prune_library(graph_def):
    """Drop the functions that no node (of the graph or of a function still used) calls: the training-mode
    branches and the gradient functions of folded conds."""
    lib = {f.signature.name: f for f in graph_def.library.function}
    if not lib:
        return graph_def
    used: set[str] = set()
    stack = []
    for n in graph_def.node:
        stack.extend(_func_refs(n.attr))
        if n.op in lib:
            stack.append(n.op)
    while stack:
        name = stack.pop()
        if name in used or name not in lib:
            continue
        used.add(name)
        for n in lib[name].node_def:
            stack.extend(_func_refs(n.attr))
            if n.op in lib:
                stack.append(n.op)
    if len(used) == len(lib):
        return graph_def
    out = _graphdef_like(graph_def)
    for f in graph_def.library.function:
        if f.signature.name in used:
            out.library.function.add().CopyFrom(f)
    for gdef in graph_def.library.gradient:
        if gdef.function_name in used and gdef.gradient_func in used:
            out.library.gradient.add().CopyFrom(gdef)
    return out


def _graphdef_like(graph_def):
    """A copy of graph_def's nodes and versions, with an empty library."""
    out = type(graph_def)()
    out.node.extend(graph_def.node)
    if graph_def.HasField("versions"):
        out.versions.CopyFrom(graph_def.versions)
    return out


VARIABLE_OPS = op_roles.ops("variable", "variable_read", "variable_gather", "variable_temp")


def _check_frozen(graph_def) -> None:
    """No variable may survive the freeze, in the graph or in a function body it calls."""
    left = [n.name for n in graph_def.node if n.op in VARIABLE_OPS]
    for f in graph_def.library.function:
        left.extend(f"{f.signature.name}/{n.name}" for n in f.node_def if n.op in VARIABLE_OPS)
    if left:
        raise ConversionError(f"{len(left)} variable(s) are still in the graph after freezing (e.g. {left[0]}); "
                              "name --outputs that do not depend on them, or freeze the model yourself")


def freeze_metagraph(tf, plan: Plan):
    """-> (frozen GraphDef, {what: count removed})."""
    v1 = tf.compat.v1
    g = tf.Graph()
    with g.as_default():
        imap = _switch_constants(tf, plan)
        try:
            saver = v1.train.import_meta_graph(plan.model_path, input_map=imap or None, clear_devices=True)
        except (ValueError, KeyError, tf.errors.OpError) as e:
            raise BadModelError(f"TensorFlow cannot import this MetaGraph ({_short(e)})", plan.model_path) from None
        if saver is None:
            saver = v1.train.Saver(allow_empty=True)
        with v1.Session(graph=g, config=_session_config(tf)) as sess:
            try:
                saver.restore(sess, plan.checkpoint)
            except (ValueError, tf.errors.OpError) as e:
                raise BadModelError(f"cannot restore the checkpoint {plan.checkpoint!r} into its graph "
                                    f"({_short(e)})", plan.path) from None
            outs = _node_names(o.tensor for o in plan.outputs)
            frozen = v1.graph_util.convert_variables_to_constants(sess, g.as_graph_def(), outs)
    return _finish(tf, frozen, plan)


def load_graphdef(tf, plan: Plan):
    from ..readers.detect import read_bytes

    data = read_bytes(plan.model_path)
    gd = tf.compat.v1.GraphDef()
    try:
        if plan.model_path.endswith(".pbtxt") or data.lstrip()[:5] in (b"node ", b"node{", b"libra", b"versi"):
            from google.protobuf import text_format

            text_format.Parse(data.decode("utf-8", "replace"), gd)
        else:
            gd.ParseFromString(data)
    except Exception as e:  # protobuf raises several types
        raise BadModelError(f"TensorFlow cannot parse this GraphDef ({_short(e)})", plan.model_path) from None
    return gd


def prepare_graphdef(tf, plan: Plan):
    """A GraphDef source with its training switches fed (input_map), pruned to the outputs.
    -> (GraphDef, {what: count removed})."""
    source = load_graphdef(tf, plan)
    if not plan.switches:
        return _finish(tf, source, plan)
    g = tf.Graph()
    with g.as_default():
        imap = _switch_constants(tf, plan)
        try:
            tf.compat.v1.import_graph_def(source, input_map=imap, name="")
        except (ValueError, tf.errors.OpError) as e:
            raise BadModelError(f"TensorFlow cannot import this GraphDef ({_short(e)})", plan.model_path) from None
    return _finish(tf, g.as_graph_def(), plan)


LOOP_OPS = op_roles.ops("loop")


def _const_bool(tf, nodes: dict, tensor: str):
    """The value of a boolean scalar constant (through Identity chains), else None."""
    name, _ = split_tensor_name(tensor)
    n = nodes.get(name)
    seen = 0
    while n is not None and n.op in op_roles.FORWARD and n.input and seen < 1000:
        n = nodes.get(split_tensor_name(n.input[0])[0])
        seen += 1
    if n is None or n.op != "Const":
        return None
    try:
        v = tf.make_ndarray(n.attr["value"].tensor)
    except Exception:
        return None
    return bool(v.reshape(())) if v.dtype == np.bool_ and v.size == 1 else None


IF_OPS = op_roles.ops("if")


def resolve_constant_ifs(tf, graph_def, protected: set = frozenset(), rounds: int = 8):
    """TF2 `tf.cond` (If / StatelessIf with branch functions) on a fed training switch: once the predicate is
    a constant, the If always runs one branch. Inline that branch's body in place of the If (its nodes named
    under the If's name) and rewire the If's users to the branch's results; the other branch, and the gradient
    intermediates both branches return as Optionals, fall away. An If named in `protected` (an output) stays
    as an IdentityN of the results. Conds nested in an inlined branch fold in the next round.
    Returns (GraphDef, Ifs resolved)."""
    total = 0
    for _ in range(rounds):
        graph_def, n = _inline_constant_ifs(tf, graph_def, protected)
        total += n
        if not n:
            break
    return graph_def, total


def _inline_constant_ifs(tf, graph_def, protected):
    from tensorflow.python.framework.function_def_to_graph import function_def_to_graph_def

    nodes = {n.name: n for n in graph_def.node}
    lib = {f.signature.name: f for f in graph_def.library.function}
    chosen = {}  # If node -> (branch function, "then" | "else")
    for n in graph_def.node:
        if n.op in IF_OPS and n.input:
            p = _const_bool(tf, nodes, n.input[0])
            if p is None:
                continue
            fname = n.attr["then_branch" if p else "else_branch"].func.name
            if fname in lib:
                chosen[n.name] = (fname, "then" if p else "else")
    if not chosen:
        return graph_def, 0

    taken = set(nodes)

    def unique(name: str) -> str:
        cand, k = name, 1
        while cand in taken:
            cand = f"{name}_{k}"
            k += 1
        taken.add(cand)
        return cand

    bodies = {}  # If node -> (body NodeDefs renamed, {output index: tensor}, [control inputs])
    g = tf.Graph()
    with g.as_default():  # the branch may name other functions: function_def_to_graph_def looks them up here
        holder = type(graph_def)()
        holder.library.CopyFrom(graph_def.library)
        if graph_def.HasField("versions"):
            holder.versions.CopyFrom(graph_def.versions)
        try:
            tf.compat.v1.import_graph_def(holder, name="")
        except (ValueError, tf.errors.OpError):
            return graph_def, 0
        for name, (fname, side) in chosen.items():
            call = nodes[name]
            fdef = lib[fname]
            try:
                body, flat = function_def_to_graph_def(fdef)
            except (ValueError, KeyError, TypeError):
                continue
            data = [i for i in call.input[1:] if not i.startswith("^")]
            ctrl = [i for i in call.input if i.startswith("^")]
            args = {a.name: data[k] for k, a in enumerate(fdef.signature.input_arg) if k < len(data)}
            if len(args) != len(fdef.signature.input_arg):
                continue
            rename = {b.name: unique(f"{name}/{side}/{b.name}") for b in body.node if b.name not in args}

            def mapped(inp: str, args=args, rename=rename) -> str:
                control = inp.startswith("^")
                node, idx = split_tensor_name(inp)
                if node in args:
                    return "^" + split_tensor_name(args[node])[0] if control else args[node]
                return "^" + rename[node] if control else f"{rename[node]}:{idx}"

            new_nodes = []
            for b in body.node:
                if b.name in args:
                    continue
                m = type(b)()
                m.CopyFrom(b)
                m.name = rename[b.name]
                del m.input[:]
                m.input.extend(mapped(i) for i in b.input)
                if not m.input and ctrl:  # keep the If's control dependencies on the body's sources
                    m.input.extend(ctrl)
                new_nodes.append(m)
            results = {k: mapped(flat[fdef.ret[a.name]]) for k, a in enumerate(fdef.signature.output_arg)}
            bodies[name] = (new_nodes, results, ctrl)

    if not bodies:
        return graph_def, 0
    remap = {}  # "if:k" -> tensor, for unprotected Ifs
    for name, (_, results, _) in bodies.items():
        if name not in protected:
            for k, t in results.items():
                remap[f"{name}:{k}"] = t
                if k == 0:
                    remap[name] = t
    out = type(graph_def)()
    if graph_def.HasField("versions"):
        out.versions.CopyFrom(graph_def.versions)
    out.library.CopyFrom(graph_def.library)
    control_users = {split_tensor_name(i)[0] for n in graph_def.node for i in n.input if i.startswith("^")}
    for n in graph_def.node:
        if n.name in bodies:
            new_nodes, results, ctrl = bodies[n.name]
            out.node.extend(new_nodes)
            if n.name in protected or n.name in control_users:
                keepn = out.node.add()
                keepn.name = n.name
                keepn.op = "IdentityN"
                keepn.input.extend([results[k] for k in sorted(results)] + ctrl)
                keepn.attr["T"].list.type.extend(n.attr["Tout"].list.type)
            continue
        m = out.node.add()
        m.CopyFrom(n)
        if any(i in remap for i in n.input):
            del m.input[:]
            m.input.extend(remap.get(i, i) for i in n.input)
    return out, len(bodies)


def resolve_constant_switches(tf, graph_def):
    """TF1 `tf.cond` on a fed training switch: once `is_training` is the constant False, each Switch on it
    always takes one side. Bypass those Switches, drop the branch that can never run (the training-mode batch
    norm, say), and turn Merges left with one live input into Identities. Graphs with while loops are left
    alone. Returns (GraphDef, Switches resolved)."""
    nodes = {n.name: n for n in graph_def.node}
    if any(n.op in LOOP_OPS for n in graph_def.node):
        return graph_def, 0

    def const_bool(tensor: str):
        return _const_bool(tf, nodes, tensor)

    live_out = {}  # switch name -> the output index that carries data (0: pred False, 1: pred True)
    for n in graph_def.node:
        if n.op in op_roles.SWITCH and len(n.input) >= 2:
            p = const_bool(n.input[1])
            if p is not None:
                live_out[n.name] = 1 if p else 0
    if not live_out:
        return graph_def, 0

    dead: set[str] = set()
    dead_tensors = {f"{s}:{1 - i}" for s, i in live_out.items()}

    def is_dead_input(inp: str) -> bool:
        if inp.startswith("^"):
            return inp[1:] in dead
        node, idx = split_tensor_name(inp)
        return node in dead or f"{node}:{idx}" in dead_tensors

    changed = True
    while changed:  # propagate: a node with a dead input is dead; a Merge only when all its inputs are
        changed = False
        for n in graph_def.node:
            if n.name in dead:
                continue
            data = [i for i in n.input if not i.startswith("^")]
            ctrl = [i for i in n.input if i.startswith("^")]
            if n.op in op_roles.MERGE:
                gone = bool(data) and all(is_dead_input(i) for i in data) or any(is_dead_input(i) for i in ctrl)
            else:
                gone = any(is_dead_input(i) for i in n.input)
            if gone:
                dead.add(n.name)
                changed = True

    out = tf.compat.v1.GraphDef()
    out.CopyFrom(graph_def)
    del out.node[:]
    bypass = {}  # "switch:i" (live side) -> the switch's data input
    for s, i in live_out.items():
        bypass[f"{s}:{i}"] = nodes[s].input[0]
    merge_users = {split_tensor_name(i)[0] for n in graph_def.node for i in n.input
                   if not i.startswith("^") and split_tensor_name(i)[1] == 1}
    for n in graph_def.node:
        if n.name in dead or n.name in live_out:
            continue
        m = out.node.add()
        m.CopyFrom(n)
        del m.input[:]
        for inp in n.input:
            if inp.startswith("^"):
                if inp[1:] in live_out:  # a control edge on a bypassed Switch: on its data input instead
                    inp = "^" + split_tensor_name(nodes[inp[1:]].input[0])[0]
                m.input.append(inp)
                continue
            node, idx = split_tensor_name(inp)
            key = f"{node}:{idx}"
            m.input.append(bypass.get(key, inp))
        if n.op in op_roles.MERGE and n.name not in merge_users:
            data = [i for i in m.input if not i.startswith("^")]
            live = [i for i, orig in zip(data, [x for x in n.input if not x.startswith("^")])
                    if not is_dead_input(orig)]
            if len(live) == 1:
                ctrl = [i for i in m.input if i.startswith("^")]
                t = m.attr["T"]
                m.op = "Identity"
                del m.input[:]
                m.input.extend(live + ctrl)
                m.ClearField("attr")
                m.attr["T"].CopyFrom(t)
    return out, len(live_out)


def remove_dead_dropout(tf, graph_def):
    """Cut `SelectV2(GreaterEqual(RandomUniform, rate), x * scale, 0)` (tf.nn.dropout) when `rate` is a
    constant <= 0, i.e. once keep_prob is fed 1.0 or rate 0.0: the select always takes `x * scale`, so it
    becomes an Identity of it and the random branch falls away. Returns (GraphDef, blocks removed)."""
    nodes = {n.name: n for n in graph_def.node}

    def producer(tensor: str):
        name, _ = split_tensor_name(tensor)
        n = nodes.get(name)
        while n is not None and n.op in op_roles.FORWARD and n.input:
            n = nodes.get(split_tensor_name(n.input[0])[0])
        return n

    candidates = []
    for n in graph_def.node:
        if n.op not in op_roles.SELECT or len(n.input) < 3:
            continue
        cond = producer(n.input[0])
        if cond is None or cond.op != "GreaterEqual" or len(cond.input) < 2:
            continue
        rnd = producer(cond.input[0])
        if rnd is None or rnd.op != "RandomUniform":
            continue
        candidates.append((n, cond.input[1]))
    if not candidates:
        return graph_def, 0
    values = _constant_values(tf, graph_def, [rate for _, rate in candidates])
    removed = 0
    out = tf.compat.v1.GraphDef()
    out.CopyFrom(graph_def)
    by_name = {n.name: n for n in out.node}
    for sel, rate in candidates:
        v = values.get(rate)
        if v is None or not np.all(np.asarray(v) <= 0):
            continue
        node = by_name[sel.name]
        keep = node.input[1]
        controls = [i for i in node.input if i.startswith("^")]
        t = node.attr["T"]
        node.op = "Identity"
        del node.input[:]
        node.input.extend([keep] + controls)
        attrs = {"T": t}
        node.ClearField("attr")
        for k, val in attrs.items():
            node.attr[k].CopyFrom(val)
        removed += 1
    return out, removed


def _constant_values(tf, graph_def, tensors: list[str]) -> dict:
    """Values of tensors computed from constants only (no placeholder, variable or random op upstream)."""
    nodes = {n.name: n for n in graph_def.node}
    ok = {}

    def constant(name: str, seen: set) -> bool:
        if name in ok:
            return ok[name]
        n = nodes.get(name)
        if n is None or name in seen:
            return False
        seen.add(name)
        if n.op == "Const":
            res = True
        elif n.op.startswith(("Placeholder", "Variable", "VarHandle", "Random", "ReadVariable")) or n.op in (
                "Switch", "Merge", "Enter", "Exit", "TruncatedNormal"):
            res = False
        else:
            res = all(constant(split_tensor_name(i)[0], seen) for i in n.input if not i.startswith("^"))
        ok[name] = res
        return res

    wanted = [t for t in dict.fromkeys(tensors) if constant(split_tensor_name(t)[0], set())]
    if not wanted:
        return {}
    g = tf.Graph()
    with g.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    try:
        with tf.compat.v1.Session(graph=g, config=_session_config(tf)) as sess:
            vals = sess.run([g.get_tensor_by_name(t if ":" in t else t + ":0") for t in wanted])
    except (tf.errors.OpError, ValueError, KeyError):
        return {}
    return dict(zip(wanted, vals))


def graphdef_function(tf, graph_def, plan: Plan):
    """The frozen GraphDef as a concrete function: inputs become placeholders of the planned (fixed) shapes
    named after the inputs, outputs get Identity nodes named after the outputs."""
    v1 = tf.compat.v1
    specs = [tf.TensorSpec(i.shape, tf.as_dtype(i.dtype or "float32"), name=i.key) for i in plan.inputs]

    def body(*args):
        imap = {i.tensor: a for i, a in zip(plan.inputs, args)}
        outs = v1.import_graph_def(graph_def, input_map=imap, return_elements=[o.tensor for o in plan.outputs],
                                   name="import")
        return [tf.identity(t, name=o.key) for o, t in zip(plan.outputs, outs)]

    try:
        return v1.wrap_function(body, specs)
    except (ValueError, TypeError, tf.errors.OpError) as e:
        raise ConversionError(f"TensorFlow cannot build the graph with the inputs "
                              f"{', '.join(f'{i.name} {i.shape}' for i in plan.inputs)} ({_short(e)}); "
                              "check --input-shape and --inputs") from None


def run_reference(tf, plan: Plan, samples: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
    """Run the source as given (the checkpoint restored, or the GraphDef) in a TF1 session, feeding the
    training switches their inference values. -> per sample, the outputs in plan order."""
    v1 = tf.compat.v1
    g = tf.Graph()
    with g.as_default():
        if plan.kind == "metagraph":
            saver = v1.train.import_meta_graph(plan.model_path, clear_devices=True) or v1.train.Saver(
                allow_empty=True)
        else:
            v1.import_graph_def(load_graphdef(tf, plan), name="")
        results = []
        with v1.Session(graph=g, config=_session_config(tf)) as sess:
            if plan.kind == "metagraph":
                saver.restore(sess, plan.checkpoint)
            fetches = [g.get_tensor_by_name(o.tensor) for o in plan.outputs]
            fixed = {g.get_tensor_by_name(s.tensor): s.value for s in plan.switches}
            for sample in samples:
                feed = dict(fixed)
                for i, x in zip(plan.inputs, sample):
                    feed[g.get_tensor_by_name(i.tensor)] = x
                results.append([np.asarray(v) for v in sess.run(fetches, feed)])
    return results


def _session_config(tf):
    return tf.compat.v1.ConfigProto(intra_op_parallelism_threads=2, inter_op_parallelism_threads=1)


def _short(e: Exception) -> str:
    return " ".join(str(e).split())[:300] or type(e).__name__
