"""Fuzz targets for every reader and for the whole report path, with structure-aware mutators.

The invariant (issue 13): for any bytes, reading the model and building its report either succeeds or raises
one of graphreport's own errors (GraphReportError: a one-line message, exit code 2). Anything else -
KeyError, IndexError, SystemError, RecursionError, MemoryError, a time-out - is a failure: a reader bug, which
the CLI reports as exit 1 "internal error" (its catch-all), never as a bad file.

A target is a seed (a sample model: a file or a folder) and a member of it to mutate; a mutant is written into
a fresh folder (a copy of the seed with the member replaced), then read in-process.

    import fuzzing
    for t in fuzzing.targets(): ...                 # Target(name, seed, member, kind)
    data = fuzzing.mutate(t, seed_bytes, rng)       # one mutant of the member's bytes
    fuzzing.check(t, data, workdir)                 # None, or a Failure

Used by tests/test_fuzz_slice.py (a short deterministic slice in `make test`) and tests/fuzz_main.py
(`make fuzz`: coverage-guided with atheris, for a set time).
"""
from __future__ import annotations

import io
import json
import os
import random
import shutil
import signal
import struct
import traceback
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_models"
CRASHERS = Path(__file__).resolve().parent / "fuzz_crashers"
TIME_LIMIT = 20  # seconds per input; the report of any sample takes well under 1 s
GIL_SILENCE = 5.0  # seconds without a heartbeat from an isolated child: a C library holds the GIL (a hang)

INTERESTING32 = [0, 1, 2, 3, 4, 7, 8, 16, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF,
                 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF]
INTERESTING64 = INTERESTING32 + [2**32, 2**40, 2**62, 2**63 - 1, 2**63, 2**64 - 1]


@dataclass(frozen=True)
class Target:
    name: str  # e.g. "graphdef:tiny_mobilenet.pb"
    seed: str  # path relative to the repository (or absolute): a model file or folder
    member: str  # the file inside a folder seed that is mutated ("" for a file seed)
    kind: str  # mutator family: protobuf | flatbuffer | json | keras_zip | h5 | text | bytes


def targets(thirdparty: bool = True) -> list[Target]:
    """The samples' targets, then (thirdparty=True) one per cached third-party model file."""
    s = "sample_models/"
    out = [
        Target("graphdef:tiny_mobilenet.pb", s + "tiny_mobilenet.pb", "", "protobuf"),
        Target("graphdef:tf1_training.pb", s + "tf1_training.pb", "", "protobuf"),
        Target("pbtxt:tiny_mobilenet.pbtxt", s + "tiny_mobilenet.pbtxt", "", "text"),
        Target("tflite:float", s + "tiny_mobilenet_float.tflite", "", "flatbuffer"),
        Target("tflite:int8", s + "tiny_mobilenet_int8.tflite", "", "flatbuffer"),
        Target("savedmodel:keras", s + "keras_savedmodel", "saved_model.pb", "protobuf"),
        Target("savedmodel:variables.index", s + "keras_savedmodel", "variables/variables.index", "bytes"),
        Target("savedmodel:tf1", s + "tf1_savedmodel", "saved_model.pb", "protobuf"),
        Target("checkpoint:meta", s + "tf1_training", "model.ckpt.meta", "protobuf"),
        Target("checkpoint:index", s + "tf1_training", "model.ckpt.index", "bytes"),
        Target("keras:.keras", s + "keras_tiny.keras", "", "keras_zip"),
        Target("keras:h5", s + "keras_tiny.h5", "", "h5"),
        Target("keras:keras2_h5", s + "keras2_tiny.h5", "", "h5"),
        Target("tfjs:graph", s + "tfjs_graph", "model.json", "json"),
        Target("tfjs:graph.bin", s + "tfjs_graph", "group1-shard1of1.bin", "bytes"),
        Target("tfjs:layers", s + "tfjs_layers", "model.json", "json"),
    ]
    out = [t for t in out if (ROOT / t.seed).exists()]
    return out + _thirdparty_targets() if thirdparty else out


THIRDPARTY_KINDS = {"keras_h5": "h5", "tflite": "flatbuffer", "savedmodel": "protobuf", "tfjs_folder": "json",
                    "tfjs_weights_manifest": "json"}
THIRDPARTY_MAX_BYTES = 1_500_000  # larger seeds (mediapipe's 3 and 6 MB .tflite) run too few inputs a second


def _thirdparty_targets() -> list[Target]:
    """Published model files (tests/thirdparty.json) already in the cache: never fetched here, so a campaign
    without them simply has fewer targets. The mutated member is the model's structure (the .hdf5, the
    .tflite, saved_model.pb, the TF.js JSON), not its weight files."""
    import sys

    if str(Path(__file__).resolve().parent) not in sys.path:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
    import thirdparty as tp

    out = []
    for m in tp.models():
        path = Path(tp.CACHE) / m["path"]
        kind = THIRDPARTY_KINDS.get(m["kind"])
        if kind is None or not path.exists():
            continue
        member = ""
        if path.is_dir():
            want = "saved_model.pb" if m["kind"] == "savedmodel" else ".json"
            names = [f["dest"][len(m["path"]) + 1:] for f in m["files"] if f["dest"].endswith(want)]
            if len(names) != 1:
                continue
            member = names[0]
        if (path / member if member else path).stat().st_size <= THIRDPARTY_MAX_BYTES:
            out.append(Target("thirdparty:" + m["id"], str(path), member, kind))
    return out


def seed_bytes(t: Target) -> bytes:
    p = ROOT / t.seed
    return (p / t.member).read_bytes() if t.member else p.read_bytes()


# ------------------------------------------------------------------------------------------------------------
# mutators
# ------------------------------------------------------------------------------------------------------------

def _generic(data: bytearray, rng: random.Random) -> bytearray:
    if not data:
        return bytearray(rng.randbytes(rng.randint(1, 64)))
    op = rng.randrange(7)
    n = len(data)
    if op == 0:  # bit flips
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(n)
            data[i] ^= 1 << rng.randrange(8)
    elif op == 1:  # overwrite a run with random or interesting bytes
        i = rng.randrange(n)
        k = min(n - i, rng.randint(1, 32))
        data[i:i + k] = rng.randbytes(k) if rng.random() < 0.5 else bytes([rng.choice((0, 0xFF, 0x7F, 0x80))]) * k
    elif op == 2:  # truncate
        del data[rng.randrange(n):]
    elif op == 3:  # duplicate a chunk
        i = rng.randrange(n)
        k = min(n - i, rng.randint(1, 256))
        j = rng.randrange(n + 1)
        data[j:j] = data[i:i + k]
    elif op == 4:  # delete a chunk
        i = rng.randrange(n)
        del data[i:i + rng.randint(1, 64)]
    elif op == 5:  # insert random bytes
        j = rng.randrange(n + 1)
        data[j:j] = rng.randbytes(rng.randint(1, 16))
    else:  # a random 32-bit little-endian value anywhere
        if n >= 4:
            i = rng.randrange(n - 3)
            data[i:i + 4] = struct.pack("<I", rng.choice(INTERESTING32 + [rng.getrandbits(32)]))
    return data


def _varint_positions(data: bytes, limit: int = 20000) -> list[tuple[int, int]]:
    """(start, end) of varints that a protobuf parse of `data` would meet: tags, lengths and varint values,
    recursing into length-delimited fields that parse as messages. Best effort; bounded."""
    found: list[tuple[int, int]] = []

    def varint(i: int, end: int) -> Optional[tuple[int, int]]:
        v = shift = 0
        j = i
        while j < end and j - i < 10:
            b = data[j]
            v |= (b & 0x7F) << shift
            j += 1
            if not b & 0x80:
                return v, j
            shift += 7
        return None

    def walk(i: int, end: int, depth: int) -> bool:
        while i < end and len(found) < limit:
            r = varint(i, end)
            if r is None:
                return False
            key, j = r
            found.append((i, j))
            wt = key & 7
            if wt == 0:
                r = varint(j, end)
                if r is None:
                    return False
                found.append((j, r[1]))
                i = r[1]
            elif wt == 1:
                i = j + 8
            elif wt == 5:
                i = j + 4
            elif wt == 2:
                r = varint(j, end)
                if r is None:
                    return False
                ln, k = r
                found.append((j, k))
                if k + ln > end:
                    return False
                if depth < 12 and ln:
                    mark = len(found)
                    if not walk(k, k + ln, depth + 1):
                        del found[mark:]
                i = k + ln
            else:
                return False
        return i == end

    walk(0, len(data), 0)
    return found


def _encode_varint(v: int) -> bytes:
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def _protobuf(data: bytearray, rng: random.Random) -> bytearray:
    pos = _varint_positions(bytes(data)) if len(data) < 4_000_000 else []
    if not pos or rng.random() < 0.3:
        return _generic(data, rng)
    i, j = rng.choice(pos)
    v = rng.choice(INTERESTING64 + [rng.getrandbits(rng.choice((7, 14, 21, 32, 64)))])
    data[i:j] = _encode_varint(v)
    return data


def _flatbuffer(data: bytearray, rng: random.Random) -> bytearray:
    n = len(data)
    if n < 8 or rng.random() < 0.3:
        return _generic(data, rng)
    i = rng.randrange(0, n - 3) & ~3  # offsets and sizes are 4-aligned
    choices = INTERESTING32 + [n, n - 4, n + 4, rng.randrange(n), (n - i) & 0xFFFFFFFF,
                               (rng.randrange(n) - i) & 0xFFFFFFFF]
    data[i:i + 4] = struct.pack("<I", rng.choice(choices) & 0xFFFFFFFF)
    if rng.random() < 0.2 and n >= 2:  # vtable entries are 16-bit
        k = rng.randrange(0, n - 1) & ~1
        data[k:k + 2] = struct.pack("<H", rng.choice((0, 1, 4, 0x7FFF, 0xFFFF, rng.getrandbits(16))))
    return data


def _json_value(rng: random.Random):
    return rng.choice([None, True, 0, -1, 2**31, 2**63, -2**63, 1e308, float("nan"), "", "\u202e", "x" * 1000,
                       [], {}, [None] * 3, {"class_name": "Lambda", "config": {}}, [[[[[[1]]]]]],
                       "<script>alert(1)</script>", "a/b:99999", "^x", [-1, -1], [2**40, 2**40]])


def _mutate_json(obj, rng: random.Random, depth: int = 0):
    """Replace, delete or duplicate one randomly chosen value somewhere in the structure."""
    if isinstance(obj, dict) and obj and depth < 40:
        k = rng.choice(list(obj))
        r = rng.random()
        if r < 0.55:
            obj[k] = _mutate_json(obj[k], rng, depth + 1)
        elif r < 0.7:
            del obj[k]
        elif r < 0.85:
            obj[k] = _json_value(rng)
        else:
            obj[k + "_"] = obj[k]
        return obj
    if isinstance(obj, list) and obj and depth < 40:
        i = rng.randrange(len(obj))
        r = rng.random()
        if r < 0.55:
            obj[i] = _mutate_json(obj[i], rng, depth + 1)
        elif r < 0.7:
            del obj[i]
        elif r < 0.85:
            obj[i] = _json_value(rng)
        else:
            obj.extend(obj[: rng.randint(1, 8)] * rng.randint(1, 4))
        return obj
    return _json_value(rng)


def _json(data: bytearray, rng: random.Random) -> bytearray:
    try:
        obj = json.loads(bytes(data))
    except (ValueError, RecursionError):  # not JSON (any more), or nested deeper than json can take
        return _generic(data, rng)
    if rng.random() < 0.15:
        return _generic(data, rng)
    for _ in range(rng.randint(1, 3)):
        obj = _mutate_json(obj, rng)
    try:
        return bytearray(json.dumps(obj, allow_nan=True).encode())
    except (ValueError, RecursionError):
        return _generic(data, rng)


def _keras_zip(data: bytearray, rng: random.Random) -> bytearray:
    try:
        zin = zipfile.ZipFile(io.BytesIO(bytes(data)))
        members = {i.filename: zin.read(i) for i in zin.infolist()}
    except Exception:  # noqa: BLE001 - any zip this module cannot take apart (a compression method
        return _generic(data, rng)  # zipfile does not know: NotImplementedError) is mutated as bytes
    if rng.random() < 0.15:
        return _generic(data, rng)
    name = rng.choice(sorted(members))
    body = bytearray(members[name])
    members[name] = bytes(_json(body, rng) if name.endswith(".json") else _generic(body, rng))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for k, v in members.items():
            z.writestr(k, v)
    return bytearray(out.getvalue())


def _text(data: bytearray, rng: random.Random) -> bytearray:
    if rng.random() < 0.5:
        return _generic(data, rng)
    lines = bytes(data).split(b"\n")
    i = rng.randrange(len(lines))
    r = rng.random()
    if r < 0.3:
        lines[i] = lines[i].replace(b":", b": " + rng.choice([b"-1 #", b"99999999999999999999 #", b"\"\\377\" #"]), 1)
    elif r < 0.6:
        lines[i:i] = lines[i:i + rng.randint(1, 20)]
    else:
        del lines[i]
    return bytearray(b"\n".join(lines))


MUTATORS = {"protobuf": _protobuf, "flatbuffer": _flatbuffer, "json": _json, "keras_zip": _keras_zip,
            "h5": _generic, "text": _text, "bytes": _generic}


def mutate(t: Target, data: bytes, rng: random.Random, rounds: Optional[int] = None) -> bytes:
    buf = bytearray(data)
    for _ in range(rounds or rng.choice((1, 1, 1, 2, 3))):
        buf = MUTATORS[t.kind](buf, rng)
    return bytes(buf)


# ------------------------------------------------------------------------------------------------------------
# the invariant
# ------------------------------------------------------------------------------------------------------------

@dataclass
class Failure:
    target: str
    error: str  # one line
    trace: str


class _TimeOut(BaseException):
    pass


def _alarm(signum, frame):
    raise _TimeOut()


def place(t: Target, data: bytes, workdir: Path) -> Path:
    """Write the mutant where the reader will find it: the seed folder copied with the member replaced, or
    the file itself (keeping the seed's name, since some formats are told apart by extension too)."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    seed = ROOT / t.seed
    if t.member:
        dest = workdir / seed.name
        shutil.copytree(seed, dest)
        (dest / t.member).write_bytes(data)
        if seed.name == "tf1_training":
            return dest / "model.ckpt"
        return dest
    dest = workdir / seed.name
    dest.write_bytes(data)
    return dest


def check_inprocess(t: Target, data: bytes, workdir: Path, html: bool = False) -> Optional[Failure]:
    """Read the mutant and build its report (JSON, and HTML without the diagram when asked), in this
    process, under a Python-level time limit (a loop in graphreport's own code is a failure with its trace)."""
    from graphreport.errors import GraphReportError
    from graphreport.readers.detect import load
    from graphreport.render import render
    from graphreport.report import build_report

    from graphreport.readers import graphdef, slim

    path = place(t, data, workdir)
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT)
    # the samples are small: every binary GraphDef goes through the weight cutting (readers/slim.py), which
    # cuts any tensor content of 64 bytes or more (a file this small is otherwise parsed as it is)
    limits = graphdef.SLIM_ABOVE, slim.CUT_BYTES
    graphdef.SLIM_ABOVE, slim.CUT_BYTES = 0, 64
    try:
        model = load(str(path))
        rep = build_report(model, diagram=False)
        json.loads(render(rep, "json"))
        if html:
            render(rep, "html")
        return None
    except GraphReportError as e:
        msg = str(e)
        if "\n" in msg.strip() or not msg.strip():
            return Failure(t.name, f"error message is not one line: {msg!r}", "")
        return None
    except _TimeOut:
        return Failure(t.name, f"time-out after {TIME_LIMIT} s", traceback.format_exc())
    except BaseException as e:  # noqa: BLE001 - exactly what the invariant forbids
        if isinstance(e, KeyboardInterrupt):
            raise
        return Failure(t.name, f"{type(e).__name__}: {' '.join(str(e).split())[:200]}", traceback.format_exc())
    finally:
        graphdef.SLIM_ABOVE, slim.CUT_BYTES = limits
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


_PRELOADED = False


def _preload() -> None:
    """Import every reader (and h5py, protobuf, numpy, jinja2) once in the parent, so that forked children
    do not each pay for the imports."""
    global _PRELOADED
    if _PRELOADED:
        return
    import importlib
    import pkgutil

    import graphreport.readers
    import graphreport.render.html  # noqa: F401
    import graphreport.report  # noqa: F401

    for m in pkgutil.iter_modules(graphreport.readers.__path__):
        importlib.import_module(f"graphreport.readers.{m.name}")
    for name in ("h5py", "numpy", "google.protobuf.json_format"):
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    from graphreport.ops.registry import lookup

    lookup("Conv2D")  # registers every rule family
    _PRELOADED = True


# inputs that made a C library hang or crash (no Python frame to blame): the CLI's guard (graphreport/
# watchdog.py) turns them into exit 2 within its time budget; they are kept and replayed through the CLI
HANDLED_BY_GUARD = "hang or crash inside a C library"
STATS = {"guarded": 0}


_SEED_H5: dict[str, bytes] = {}


def needs_isolation(t: Target, data: bytes) -> bool:
    """Whether reading this input may reach libhdf5 with damaged bytes (it can hang there holding the GIL, which
    stops a whole in-process fuzzer): every `.h5` input, and a `.keras` whose model.weights.h5 member is not the
    seed's own (or whose zip cannot be taken apart here). Others run in-process, keeping atheris' coverage."""
    if t.kind == "h5":
        return True
    if t.kind != "keras_zip":
        return False
    name = "model.weights.h5"
    try:
        if t.name not in _SEED_H5:
            _SEED_H5[t.name] = zipfile.ZipFile(io.BytesIO(seed_bytes(t))).read(name)
        return zipfile.ZipFile(io.BytesIO(data)).read(name) != _SEED_H5[t.name]
    except KeyError:  # no weights member: the reader never opens HDF5
        return False
    except Exception:  # noqa: BLE001 - a zip zipfile cannot read: let the child find out
        return True


def check(t: Target, data: bytes, workdir: Path, html: bool = False, isolate: bool = True) -> Optional[Failure]:
    """check_inprocess in a forked child (isolate=True): a C-level hang or crash kills only the child. Such an
    input is saved as a crasher for the CLI replay (tests/test_fuzz_slice.py) and counted in STATS, but is
    not a failure of the invariant: the CLI ends it with exit 2."""
    if not isolate or not hasattr(os, "fork"):
        return check_inprocess(t, data, workdir, html)
    _preload()
    import pickle

    r, w = os.pipe()
    beat_r, beat_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.close(beat_r)
        import gc
        import threading

        gc.set_threshold(100_000, 20, 100)  # a short-lived child, like the CLI guard's (graphreport/watchdog.py)
        threading.Thread(target=_heartbeat, args=(beat_w,), daemon=True).start()
        try:
            res = check_inprocess(t, data, workdir, html)
            payload = pickle.dumps(res)
        except BaseException as e:  # noqa: BLE001
            payload = pickle.dumps(Failure(t.name, f"{type(e).__name__}: {e}", traceback.format_exc()))
        with os.fdopen(w, "wb") as f:
            f.write(payload)
        os._exit(0)
    os.close(w)
    os.close(beat_w)
    status, silent = _wait_beating(pid, beat_r)
    with os.fdopen(r, "rb") as f:
        if status is None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            payload = b""
        else:
            payload = f.read()
    if status is not None and payload:
        return pickle.loads(payload)
    STATS["guarded"] += 1
    why = f" (status {status})" if status is not None else (
        f" (no heartbeat for {GIL_SILENCE:g} s: the GIL held)" if silent else " (time-out)")
    save_crasher(t, data, Failure(t.name, HANDLED_BY_GUARD + why, ""))
    return None


def _heartbeat(fd: int) -> None:
    """In an isolated child: a byte every 0.2 s while the interpreter runs. A loop in graphreport's Python code
    lets this thread run (the GIL changes hands every few ms); a C library looping with the GIL held does not."""
    import time

    while True:
        try:
            os.write(fd, b".")
        except OSError:
            return
        time.sleep(0.2)


def _wait_beating(pid: int, beats: int) -> tuple[Optional[int], bool]:
    """(the child's wait status or None when it was still running, whether it fell silent). The child may run
    TIME_LIMIT + 10 s (its own alarm blames a slow Python loop at TIME_LIMIT), but a child silent for
    GIL_SILENCE s is stuck in C holding the GIL: given up at once, as the CLI's guard would give up on it (by its
    reading budget, graphreport/watchdog.py), instead of costing the campaign the whole time limit."""
    import select
    import time

    start = time.monotonic()
    last = start
    try:
        while True:
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                return st, False
            now = time.monotonic()
            if now - start > TIME_LIMIT + 10 or now - last > GIL_SILENCE:
                return None, now - last > GIL_SILENCE
            if select.select([beats], [], [], 0.01)[0]:
                if not os.read(beats, 4096):  # the child closed it (exiting): wait for its status
                    time.sleep(0.002)
                last = time.monotonic()
    finally:
        os.close(beats)


def save_crasher(t: Target, data: bytes, failure: Failure) -> Path:
    """Keep a failing input as tests/fuzz_crashers/<target>-<hash>.bin with a .txt note (regression test)."""
    import hashlib

    CRASHERS.mkdir(exist_ok=True)
    stem = t.name.replace(":", "_").replace("/", "_") + "-" + hashlib.sha256(data).hexdigest()[:12]
    path = CRASHERS / (stem + ".bin")
    path.write_bytes(data)
    (CRASHERS / (stem + ".txt")).write_text(f"target: {t.name}\nerror: {failure.error}\n\n{failure.trace}")
    return path


def crashers() -> list[tuple[Target, Path]]:
    by_name = {t.name.replace(":", "_").replace("/", "_"): t for t in targets()}
    out = []
    for p in sorted(CRASHERS.glob("*.bin")) if CRASHERS.exists() else []:
        t = by_name.get(p.stem.rsplit("-", 1)[0])
        if t is not None:
            out.append((t, p))
    return out
