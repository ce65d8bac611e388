"""A short, deterministic slice of the fuzzing campaign (`make fuzz` runs the long one; tests/fuzzing.py has
the targets, mutators and the invariant): a fixed number of seeded mutants per target, each read and reported
in-process, must either report or fail with graphreport's own one-line error. Every crasher a campaign ever
found (tests/fuzz_crashers/) is replayed too."""
import random

import pytest

import fuzzing

pytestmark = pytest.mark.slow  # 160 mutants, each in a forked child

# inputs per target: 160 in all, each in a forked child, about 20 s of CPU here (the two checkpoint targets,
# whose seed holds a 1,400-node training graph, take 0.5-1 s an input, the others under 0.1 s); `make fuzz`
# runs the long campaign
PER_TARGET = 10


@pytest.mark.parametrize("target", fuzzing.targets(thirdparty=False), ids=lambda t: t.name)
def test_seeded_mutants_keep_the_invariant(target, tmp_path):
    rng = random.Random(f"graphreport-fuzz-slice:{target.name}")  # str seeds are stable across runs
    base = fuzzing.seed_bytes(target)
    assert fuzzing.check(target, base, tmp_path / "seed") is None  # the seed itself reports
    failures = []
    for i in range(PER_TARGET):
        data = fuzzing.mutate(target, base, rng)
        f = fuzzing.check(target, data, tmp_path / "w", html=i % 5 == 0)
        if f is not None:
            failures.append((i, f.error))
    assert not failures, failures


@pytest.mark.parametrize("case", fuzzing.crashers(), ids=lambda c: c[1].name)
def test_crashers_found_by_fuzzing_stay_fixed(case, tmp_path):
    """Every input a campaign saved keeps the CLI's invariant: exit 0 or 2, one line on stderr, no output
    file on 2 - including inputs that hang or crash a C library (libhdf5), which the CLI's guard
    (graphreport/watchdog.py) ends by its reading budget (here a tenth of the default, about 0.5 s for these files,
    in a `python -m graphreport` process; tests/test_watchdog.py runs two on the default budget). Those not blamed
    on a C library must also pass the in-process check (no Python exception other than graphreport's own errors,
    within fuzzing.TIME_LIMIT)."""
    import os

    from conftest import run_cli

    target, path = case
    note = path.with_suffix(".txt").read_text() if path.with_suffix(".txt").exists() else ""
    guarded = fuzzing.HANDLED_BY_GUARD in note
    if not guarded:  # first in a forked child under a time limit: a hang here fails instead of hanging the CLI run
        f = fuzzing.check(target, path.read_bytes(), tmp_path / "w", html=True)
        assert f is None, f"{path.name}: {f.error}\n{f.trace}"
    model = fuzzing.place(target, path.read_bytes(), tmp_path / "m")
    out = tmp_path / "r.html"
    # an input that hangs libhdf5 (GIL held: gdb shows H5HG__cache_heap_deserialize under H5A__read) ends by
    # the guard's reading budget whatever it is: `python -m graphreport` with the budget scaled to a tenth (counted
    # from the guard's fork, after the imports) shows that; the others, which the check above ran, go through the
    # CLI in-process
    env = None
    if guarded:
        env = {k: v for k, v in os.environ.items() if k != "GRAPHREPORT_TIME_LIMIT"}
        env["GRAPHREPORT_TIME_SCALE"] = "0.1"
    p = run_cli("report", model, "-o", out, env=env, process=guarded)
    assert p.returncode in (0, 2), p.stderr
    assert len(p.stderr.strip().splitlines()) == (1 if p.returncode == 2 else 0), p.stderr
    assert out.exists() == (p.returncode == 0)
    if guarded and p.returncode == 2:
        assert "gave up after" in p.stderr or "a reader library crashed" in p.stderr, p.stderr


def test_an_isolated_input_that_holds_the_gil_is_given_up_early(tmp_path, monkeypatch):
    """A campaign's isolated check of an input on which libhdf5 loops holding the GIL: the child's heartbeat thread
    falls silent, so the input is kept as handled by the CLI's guard after fuzzing.GIL_SILENCE seconds, not after
    the whole time limit (a slow loop in Python keeps the heartbeat going: its own alarm blames it)."""
    from pathlib import Path

    monkeypatch.setattr(fuzzing, "CRASHERS", tmp_path / "saved")
    h5 = next(t for t in fuzzing.targets(thirdparty=False) if t.name == "keras:keras2_h5")
    hang = Path(fuzzing.__file__).parent / "fuzz_crashers" / "keras_keras2_h5-6ce29cb0280f.bin"
    before = fuzzing.STATS["guarded"]
    assert fuzzing.check(h5, hang.read_bytes(), tmp_path / "w") is None
    assert fuzzing.STATS["guarded"] == before + 1
    notes = [p.read_text() for p in (tmp_path / "saved").glob("*.txt")]
    assert len(notes) == 1 and "no heartbeat" in notes[0] and fuzzing.HANDLED_BY_GUARD in notes[0], notes


def test_mutators_change_the_bytes():
    rng = random.Random(1)
    for t in fuzzing.targets(thirdparty=False):
        base = fuzzing.seed_bytes(t)
        changed = sum(fuzzing.mutate(t, base, rng) != base for _ in range(20))
        assert changed >= 15, t.name


def _unknown_compression(data: bytes) -> bytes:
    """The zip with every member's compression method set to 99 (zipfile: NotImplementedError on read)."""
    import struct

    buf = bytearray(data)
    for sig, at in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        i = buf.find(sig)
        while i >= 0:
            buf[i + at:i + at + 2] = struct.pack("<H", 99)
            i = buf.find(sig, i + 4)
    return bytes(buf)


def test_keras_zip_with_an_unknown_compression_method(tmp_path):
    """Found by `make fuzz` (the mutator itself raised NotImplementedError out of atheris, which ended the
    target): such a zip is mutated as bytes, and the reader calls it a bad file."""
    t = next(x for x in fuzzing.targets(thirdparty=False) if x.kind == "keras_zip")
    data = _unknown_compression(fuzzing.seed_bytes(t))
    rng = random.Random(3)
    assert all(fuzzing.mutate(t, data, rng) != data for _ in range(5))
    assert fuzzing.check(t, data, tmp_path / "w") is None
    from graphreport.errors import BadModelError
    from graphreport.readers.detect import load

    with pytest.raises(BadModelError):
        load(str(fuzzing.place(t, data, tmp_path / "m")))


def test_inputs_that_reach_libhdf5_run_in_a_forked_child():
    """A .keras whose weights member was mutated reaches libhdf5, which can hang holding the GIL: an atheris
    campaign lost the whole .keras target that way (the child stopped, killed by fuzz_main's margin). Those
    inputs, and every .h5 input, are checked in a forked child; the others in-process."""
    import io
    import zipfile

    by_kind = {t.kind: t for t in fuzzing.targets(thirdparty=False)}
    k = by_kind["keras_zip"]
    seed = fuzzing.seed_bytes(k)
    assert not fuzzing.needs_isolation(k, seed)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(seed)) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            body = zin.read(info)
            if info.filename == "model.weights.h5":
                body = body[:200] + bytes([body[200] ^ 0xFF]) + body[201:]
            zout.writestr(info.filename, body)
    assert fuzzing.needs_isolation(k, out.getvalue())
    assert fuzzing.needs_isolation(k, seed[:100])  # not a zip any more: the child finds out
    assert fuzzing.needs_isolation(by_kind["h5"], fuzzing.seed_bytes(by_kind["h5"]))
    assert not fuzzing.needs_isolation(by_kind["json"], b"{}")


@pytest.mark.parametrize("q", [{"scale": 0.5, "min": float("nan")}, {"scale": 1e-300, "min": -1e300},
                               {"scale": float("inf"), "min": float("inf")}])
def test_tfjs_quantization_with_nan_or_infinity(q):
    """Found by `make fuzz` (thirdparty:faceapi-tiny-face-detector: a weights manifest's quantization with NaN /
    Infinity, which Python's json accepts): ValueError / OverflowError, exit 1. No zero point instead."""
    from graphreport.readers.tfjs import WeightEntry, _quantization

    w = WeightEntry("w", [2], "float32", "uint8", 2, q, 0, 0)
    assert _quantization(w).zero_point in (None, [])
