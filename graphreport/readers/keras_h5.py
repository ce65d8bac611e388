"""Keras reader, part 3: HDF5 access with h5py (dataset shapes only, never values; hard links only; bounded
walks) and the weights of legacy .h5 files and of Keras 3 model.weights.h5 attached to the graph. See
keras.py."""
from __future__ import annotations

import re
from typing import Iterator, Optional

from ..errors import BadModelError, LimitError
from .keras_archive import one_line
from .keras_config import MAX_CONFIG_BYTES, MAX_H5_DEPTH, MAX_H5_OBJECTS, MAX_NESTING, Layer, Weight, snake_case
from .keras_graph import GraphBuilder, assign_named, find_unique, non_trainable, v3_names

# ----------------------------------------------------------------------------------------------------------
# HDF5 access (h5py; shapes only, hard links only, bounded walks)
# ----------------------------------------------------------------------------------------------------------

def import_h5py(path: str):
    try:
        import h5py  # noqa: F401
    except ImportError:
        raise BadModelError("reading Keras HDF5 weights needs the h5py package (pip install h5py)", path) \
            from None
    return h5py


def h5_child(h5py, group, name: str):
    """A hard-linked member of a group, or None (soft and external links are never followed)."""
    try:
        link = group.get(name, getlink=True)
    except (KeyError, ValueError, OSError, RuntimeError, TypeError):
        return None
    if link is None or not isinstance(link, h5py.HardLink):
        return None
    try:
        return group[name]
    except (KeyError, ValueError, OSError, RuntimeError, TypeError):
        return None


def _h5_get(h5py, group, relpath: str):
    cur = group
    for comp in relpath.split("/"):
        if not comp:
            continue
        if not isinstance(cur, h5py.Group):
            return None
        cur = h5_child(h5py, cur, comp)
        if cur is None:
            return None
    return cur


def _decode(v) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return str(v)


def h5_attr_str(obj, name: str, path: str) -> Optional[str]:
    if name not in obj.attrs:
        return None
    try:
        aid = obj.attrs.get_id(name)
        if aid.dtype.itemsize > MAX_CONFIG_BYTES:
            raise LimitError(f"attribute {name} is {aid.dtype.itemsize} bytes; graphreport reads configs up to "
                             f"{MAX_CONFIG_BYTES} bytes", path)
        v = obj.attrs[name]
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as e:
        raise BadModelError(f"cannot read the HDF5 attribute {name} ({one_line(e)})", path) from None
    if hasattr(v, "shape") and getattr(v, "shape", ()) != ():
        if getattr(v, "size", 0) != 1:
            return None
        v = v.reshape(-1)[0]
    s = _decode(v)
    if len(s) > MAX_CONFIG_BYTES:
        raise LimitError(f"attribute {name} holds {len(s)} characters; graphreport reads configs up to "
                         f"{MAX_CONFIG_BYTES}", path)
    return s


def _h5_attr_list(obj, name: str) -> list:
    """Keras' load_attributes_from_hdf5_group: `name`, or chunks `name0`, `name1`, ... when it was too big."""
    try:
        if name in obj.attrs:
            vals = list(obj.attrs[name])
        else:
            vals, i = [], 0
            while f"{name}{i}" in obj.attrs and i < 100_000:
                vals.extend(list(obj.attrs[f"{name}{i}"]))
                i += 1
    except (OSError, ValueError, TypeError, KeyError, RuntimeError):
        return []
    return [_decode(v) for v in vals if isinstance(v, (bytes, str))]


def _dtype_name(ds) -> Optional[str]:
    try:
        if "dtype" in ds.attrs and _decode(ds.attrs["dtype"]) == "bfloat16":
            return "bfloat16"
        dt = ds.dtype
    except (OSError, ValueError, TypeError, KeyError, RuntimeError):
        return None
    if dt.kind == "f":
        return {2: "float16", 4: "float32", 8: "float64"}.get(dt.itemsize, f"float{dt.itemsize * 8}")
    if dt.kind in "iu":
        return f"{'u' if dt.kind == 'u' else ''}int{dt.itemsize * 8}"
    if dt.kind == "b":
        return "bool"
    if dt.kind == "c":
        return f"complex{dt.itemsize * 8}"
    if dt.kind in "SUO":
        return "string"
    return str(dt)


def _weight_of(ds, name: str) -> Weight:
    shape = [int(d) for d in ds.shape] if ds.shape is not None else []
    n = 1
    for d in shape:
        n *= d
    try:
        itemsize = int(ds.dtype.itemsize)
    except (TypeError, ValueError):
        itemsize = 0
    return Weight(name=name, shape=shape, dtype=_dtype_name(ds), nbytes=n * itemsize)


class _Walk:
    def __init__(self):
        self.objects = 0

    def tick(self, path: str) -> None:
        self.objects += 1
        if self.objects > MAX_H5_OBJECTS:
            raise LimitError(f"the weights file holds more than {MAX_H5_OBJECTS} HDF5 objects", path)


def _datasets_under(h5py, group, walk: _Walk, path: str, rel: str = "", depth: int = 0) -> Iterator:
    """(relative path, dataset) for every hard-linked dataset below a group, in a stable order."""
    if depth > MAX_H5_DEPTH:
        return
    try:
        keys = list(group.keys())
    except (OSError, ValueError, RuntimeError):
        return
    for k in sorted(keys, key=lambda s: (not s.isdigit(), int(s) if s.isdigit() and len(s) < 12 else 0, s)):
        walk.tick(path)
        obj = h5_child(h5py, group, k)
        if obj is None:
            continue
        r = f"{rel}/{k}" if rel else k
        if isinstance(obj, h5py.Dataset):
            yield r, obj
        elif isinstance(obj, h5py.Group):
            yield from _datasets_under(h5py, obj, walk, path, r, depth + 1)


def read_legacy_weights(h5py, b: GraphBuilder, mw, path: str, details: dict) -> None:
    """model_weights group of a legacy HDF5 file (Keras 2 and Keras 3 writers)."""
    walk = _Walk()
    for lname in _h5_attr_list(mw, "layer_names"):
        walk.tick(path)
        grp = _h5_get(h5py, mw, lname) if lname else None
        if grp is None or not isinstance(grp, h5py.Group):
            continue
        layer = b.root.child(lname) if b.root.is_model else (b.root if lname == b.root.local else None)
        if layer is None and b.root.is_model and b.root.kind == "sequential":
            layer = find_unique(b.root, lname)
        for wname in _h5_attr_list(grp, "weight_names"):
            walk.tick(path)
            ds = _h5_get(h5py, grp, wname)
            if ds is None or not isinstance(ds, h5py.Dataset):
                b.warnings.add("missing weights", f"weight {lname}/{wname} is listed but missing from the file")
                continue
            w = _weight_of(ds, wname)
            if layer is None:
                b.unattached.append((f"{lname}/{wname}", w))
                continue
            if not b.root.is_model:
                w.name = re.sub(r":\d+$", "", wname)
                w.trainable = not non_trainable(layer, w.name)
                b.add_weight(layer, w)
                continue
            assign_named(b, layer, wname, w)
    top = _h5_get(h5py, mw, "top_level_model_weights")
    if top is not None and isinstance(top, h5py.Group):
        for wname in _h5_attr_list(top, "weight_names"):
            ds = _h5_get(h5py, top, wname)
            if ds is not None and isinstance(ds, h5py.Dataset):
                b.unattached.append((f"top_level_model_weights/{wname}", _weight_of(ds, wname)))


def read_v3_weights(h5py, b: GraphBuilder, root_group, path: str, details: dict) -> None:
    """model.weights.h5 of a .keras archive: layers/<snake_class>[_n]/vars/<i>, nested models recursively."""
    walk = _Walk()
    if b.root.is_model:
        _v3_container(h5py, b, b.root, root_group, walk, path, 0)
    else:
        for rel, ds in _datasets_under(h5py, root_group, walk, path):
            if rel.split("/")[0] in ("optimizer", "metrics"):
                continue
            b.add_weight(b.root, _weight_of(ds, rel.replace("/vars/", "/").replace("vars/", "")))
    opt = _h5_get(h5py, root_group, "optimizer")
    if opt is not None and isinstance(opt, h5py.Group):
        details["optimizer_variables"] = sum(1 for _ in _datasets_under(h5py, opt, walk, path))


def _v3_container(h5py, b: GraphBuilder, m: Layer, grp, walk: _Walk, path: str, depth: int) -> None:
    if depth > MAX_NESTING:
        return
    lg = h5_child(h5py, grp, "layers") or h5_child(h5py, grp, "_layer_checkpoint_dependencies")
    own = h5_child(h5py, grp, "vars")
    if own is not None and isinstance(own, h5py.Group):
        for rel, ds in _datasets_under(h5py, own, walk, path):
            where = "/".join(m.path + ("vars", rel)) if m.path else f"vars/{rel}"
            b.unattached.append((where, _weight_of(ds, rel)))
    if lg is None or not isinstance(lg, h5py.Group):
        return
    by_snake: dict[str, Layer] = {}
    used: dict[str, int] = {}
    for c in m.children or []:
        if m.kind == "sequential" and c.cls == "InputLayer":
            continue
        base = snake_case(c.cls)
        if base in used:
            used[base] += 1
            key = f"{base}_{used[base]}"
        else:
            used[base] = 0
            key = base
        by_snake[key] = c
    try:
        keys = list(lg.keys())
    except (OSError, ValueError, RuntimeError):
        return
    for key in keys:
        walk.tick(path)
        sub = h5_child(h5py, lg, key)
        if sub is None or not isinstance(sub, h5py.Group):
            continue
        vars_ = h5_child(h5py, sub, "vars")
        vname = None
        if vars_ is not None and isinstance(vars_, h5py.Group) and "name" in vars_.attrs:
            try:
                vname = _decode(vars_.attrs["name"])
            except (OSError, ValueError, TypeError, RuntimeError):
                vname = None
        layer = (m.child(vname) if vname else None) or by_snake.get(key) or m.child(key)
        if layer is None:
            for rel, ds in _datasets_under(h5py, sub, walk, path):
                b.unattached.append(("/".join(m.path + (key, rel)), _weight_of(ds, rel)))
            continue
        if layer.is_model:
            _v3_container(h5py, b, layer, sub, walk, path, depth + 1)
            continue
        direct, nested = [], []
        for rel, ds in _datasets_under(h5py, sub, walk, path):
            parts = rel.split("/")
            if any(p.startswith("seed_generator") for p in parts):
                continue  # random-seed state: not a weight (count_params leaves it out)
            (direct if len(parts) == 2 and parts[0] == "vars" else nested).append((rel, ds))
        names = v3_names(layer, len(direct))
        for (rel, ds), nm in zip(direct, names):
            w = _weight_of(ds, nm)
            w.trainable = not non_trainable(layer, nm)
            b.add_weight(layer, w)
        for rel, ds in nested:
            nm = "/".join(p for p in rel.split("/") if p != "vars")
            w = _weight_of(ds, nm)
            w.trainable = not non_trainable(layer, nm)
            b.add_weight(layer, w)
