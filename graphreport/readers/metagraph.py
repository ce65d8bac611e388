"""TF1 checkpoint reader: ``model.ckpt.meta`` (a MetaGraphDef) + ``model.ckpt.index`` / ``.data-*`` (+ the
``checkpoint`` state file), without TensorFlow.

The user may name the prefix (``model.ckpt``), the ``.meta``, the ``.index``, a ``.data-*`` shard, the
``checkpoint`` state file or the folder. The graph comes from the meta graph's ``graph_def`` (function calls,
if any, are expanded as in the SavedModel reader); ``Model.variables`` from the index (shapes, dtypes, bytes);
variable nodes whose name is a checkpoint key get the shapes the checkpoint stores. Format name "checkpoint";
``Model.path`` is the ``.meta`` file, ``Model.details["checkpoint_prefix"]`` the prefix.
"""
from __future__ import annotations

import glob
import os
import re
from typing import Optional

from google.protobuf.message import DecodeError

from ..errors import BadModelError
from ..model import Model
from . import checkpoint_index, tfproto
from .files import read_bytes
from .graphdef import build_graph
from .inline import View, inliner_for, mark_calls
from .metagraphdef import VARIABLE_OPS, apply_variables, signatures_of

FORMAT = "checkpoint"
STATE_FILE = "checkpoint"
_DATA_RE = re.compile(r"^(.*)\.data-\d{5}-of-\d{5}$")
_STATE_RE = re.compile(r'^\s*model_checkpoint_path\s*:\s*"((?:[^"\\]|\\.)*)"', re.M)
MAX_STATE_BYTES = 1024 * 1024


def _state_prefix(state_path: str) -> Optional[str]:
    """The prefix a ``checkpoint`` state file names (relative to its folder, or absolute if it exists)."""
    try:
        if os.path.getsize(state_path) > MAX_STATE_BYTES:
            return None
        with open(state_path, "rb") as f:
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    m = _STATE_RE.search(text)
    if not m:
        return None
    name = m.group(1).encode("utf-8").decode("unicode_escape", errors="replace")
    folder = os.path.dirname(state_path)
    candidates = [name] if os.path.isabs(name) else []
    candidates += [os.path.join(folder, name), os.path.join(folder, os.path.basename(name))]
    for c in candidates:
        if os.path.exists(c + ".meta") or os.path.exists(c + ".index"):
            return c
    return os.path.join(folder, os.path.basename(name))


def _metas(folder: str) -> list[str]:
    return sorted(glob.glob(os.path.join(glob.escape(folder), "*.meta")))


def match_directory(path: str) -> bool:
    return os.path.isdir(path) and (os.path.isfile(os.path.join(path, STATE_FILE)) or bool(_metas(path)))


def match(path: str, head: bytes = b"") -> bool:
    """A path that names a TF1 checkpoint in any of the ways the module docstring lists."""
    if os.path.isdir(path):
        return match_directory(path)
    base = os.path.basename(path)
    if os.path.isfile(path):
        if base.endswith(".meta") or base == STATE_FILE or _DATA_RE.match(base):
            return True
        return base.endswith(".index") and checkpoint_index.match(path)
    return os.path.isfile(path + ".meta") or os.path.isfile(path + ".index")


def resolve(path: str) -> tuple[str, str, list[str]]:
    """-> (prefix, meta path, notes). Raises BadModelError when no graph (.meta) can be found."""
    notes: list[str] = []
    if os.path.isdir(path):
        state = os.path.join(path, STATE_FILE)
        prefix = _state_prefix(state) if os.path.isfile(state) else None
        if prefix is None or not os.path.isfile(prefix + ".meta"):
            metas = _metas(path)
            if not metas:
                what = "a checkpoint state file" if os.path.isfile(state) else "no .meta file"
                raise BadModelError(f"holds {what} but no graph (.meta): a checkpoint without its MetaGraphDef "
                                    "stores variables only; name the .meta file, or export a SavedModel", path)
            if prefix is not None:
                notes.append(f"the checkpoint state file names {os.path.basename(prefix)}, which has no .meta")
            metas.sort(key=lambda p: (os.path.getmtime(p), p))
            if len(metas) > 1:
                notes.append(f"{len(metas)} .meta files in the folder: reading the newest, "
                             f"{os.path.basename(metas[-1])}")
            prefix = metas[-1][: -len(".meta")]
        return prefix, prefix + ".meta", notes
    base = os.path.basename(path)
    if base == STATE_FILE and os.path.isfile(path):
        return resolve(os.path.dirname(path) or ".")
    if base.endswith(".meta"):
        prefix = path[: -len(".meta")]
    elif base.endswith(".index"):
        prefix = path[: -len(".index")]
    elif _DATA_RE.match(base):
        prefix = _DATA_RE.match(path).group(1)
    else:
        prefix = path
    meta = prefix + ".meta"
    if not os.path.isfile(meta):
        if os.path.isfile(prefix + ".index"):
            raise BadModelError(f"{os.path.basename(prefix)}.index has no {os.path.basename(meta)} beside it: a "
                                "checkpoint without its graph (TF2 tf.train.Checkpoint writes none) holds "
                                "variables only; report on the SavedModel or the .meta instead", path)
        raise BadModelError("no checkpoint here: expected PREFIX.meta and PREFIX.index", path)
    return prefix, meta, notes


def parse_meta_graph(path: str, data: bytes):
    mg = tfproto.MetaGraphDef()
    try:
        head = data[:64].lstrip()
        if head.startswith((b"meta_info_def", b"graph_def", b"#")):
            tfproto.parse_text(data, mg)
        else:
            mg.ParseFromString(data)
    except (DecodeError, RecursionError, ValueError) as e:
        msg = " ".join(str(e).split())[:200] or type(e).__name__
        raise BadModelError(f"not a TensorFlow MetaGraphDef ({msg})", path) from None
    if not mg.graph_def.node:
        raise BadModelError("not a TensorFlow MetaGraphDef: it parses but its graph holds no nodes", path)
    return mg


def read(path: str) -> Model:
    prefix, meta, notes = resolve(path)
    data = read_bytes(meta)
    mg = parse_meta_graph(meta, data)
    gd = mg.graph_def
    library = {f.signature.name: f for f in gd.library.function}
    inl = inliner_for(mg, library)
    g = build_graph(inl.expand([View.of(nd) for nd in gd.node]), "main")
    mark_calls(g, inl)
    model = Model(format=FORMAT, path=meta, file_size=len(data), graphs=[g], warnings=list(notes))
    model.graphs.extend(inl.function_graphs(library, model.warnings))

    if inl.not_expanded:
        model.details["calls_not_expanded"] = dict(sorted(inl.not_expanded.items())[:50])
        model.warnings.append(f"{len(inl.not_expanded)} function call(s) not expanded, e.g.: "
                              f"{next(iter(inl.not_expanded.values()))}")
    if inl.args.guessed:
        model.warnings.append("output indices guessed for ops without a definition in the file: "
                              + ", ".join(sorted(inl.args.guessed)[:10]))
    model.warnings.extend(inl.warnings[:10])

    ck = None
    index_path = prefix + ".index"
    if os.path.isfile(index_path):
        ck = checkpoint_index.read_index(index_path)
    else:
        model.warnings.append(f"{os.path.basename(index_path)} is missing: variable sizes come from the graph only")
    handle_keys = {}
    if ck is not None:
        for node in g.nodes:
            if node.op in VARIABLE_OPS:
                shared = node.attrs.get("shared_name") or ""
                for cand in (node.name, shared):
                    if cand and cand in ck.variables:
                        handle_keys[node.name] = cand
                        break
    used: list[dict] = []
    apply_variables(g, handle_keys, ck, used)

    info = mg.meta_info_def
    producer = gd.versions.producer if gd.HasField("versions") else gd.version
    if info.tensorflow_version:
        model.producer = f"TensorFlow {info.tensorflow_version}"
    elif producer:
        model.producer = f"GraphDef producer version {producer}"
    if producer:
        model.format_version = str(producer)
    model.legacy_placeholder_shapes = not producer or producer <= 21
    model.functions = sorted(library)
    model.details["functions"] = [
        {"name": f.signature.name, "nodes": len(f.node_def),
         "inputs": [a.name for a in f.signature.input_arg], "outputs": [a.name for a in f.signature.output_arg]}
        for f in gd.library.function]
    folder = os.path.dirname(meta)
    model.details["checkpoint_prefix"] = prefix
    model.details["checkpoint_files"] = sorted(
        os.path.basename(p) for p in glob.glob(glob.escape(prefix) + ".*")
        if p.endswith((".meta", ".index")) or _DATA_RE.match(os.path.basename(p)))
    if os.path.isfile(os.path.join(folder, STATE_FILE)):
        model.details["checkpoint_files"].insert(0, STATE_FILE)
    model.details["tags"] = list(info.tags)
    if mg.HasField("saver_def"):
        sd = mg.saver_def
        model.details["saver"] = {"filename_tensor": sd.filename_tensor_name, "save_tensor": sd.save_tensor_name,
                                  "restore_op": sd.restore_op_name, "version": sd.version}
    model.details["collections"] = {
        k: len(v.node_list.value) + len(v.bytes_list.value) + len(v.int64_list.value) + len(v.float_list.value)
        for k, v in sorted(mg.collection_def.items())}
    if mg.signature_def:
        model.signatures = signatures_of(mg)
    model.details["variables_used"] = used
    if ck is not None:
        model.variables = sorted(ck.variables.values(), key=lambda v: v.name)
        missing = [os.path.basename(f) for f in ck.data_files() if not os.path.isfile(f)]
        model.file_size += os.path.getsize(index_path) + sum(
            os.path.getsize(f) for f in ck.data_files() if os.path.isfile(f))
        model.details["checkpoint"] = {"index": os.path.basename(index_path), "num_shards": ck.num_shards,
                                       "tensors": len(ck.variables), "bytes": ck.total_bytes,
                                       "missing_data_files": missing}
        if missing:
            model.warnings.append(f"checkpoint data file(s) missing: {', '.join(missing)}")
        in_graph = {u["key"] for u in used if u["key"]}
        not_in_graph = [k for k in ck.variables if k not in in_graph]
        if not_in_graph:
            model.details["checkpoint_only"] = not_in_graph[:100]
    return model
