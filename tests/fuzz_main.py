"""`make fuzz`: a fuzzing campaign over every target of tests/fuzzing.py.

    .venv/bin/python tests/fuzz_main.py [--minutes 10] [--targets tflite:float,keras:h5] [--random]

With atheris installed (`make fuzz` installs it into .venv), each target runs coverage-guided: atheris
drives the structure-aware mutator of its kind (fuzzing.mutate, seeded from the bytes atheris hands over) and
keeps the mutants that reach new code. Without atheris (or with --random), a seeded random-mutation loop.
The minutes are split evenly between targets; each target runs in its own child process (atheris owns the
process it fuzzes). Every input that breaks the invariant (fuzzing.check) is saved under
tests/fuzz_crashers/ with a note; tests/test_fuzz_slice.py replays them all. Prints the number of executions
per target and exits 1 when anything failed.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import fuzzing  # noqa: E402

WORK = Path(os.environ.get("GRAPHREPORT_FUZZ_WORK", "/tmp")) / f"graphreport-fuzz-{os.getpid()}"


def _random_loop(t: fuzzing.Target, seconds: float, seed: int) -> dict:
    rng = random.Random(seed)
    base = fuzzing.seed_bytes(t)
    corpus = [base]
    n = fails = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        data = fuzzing.mutate(t, rng.choice(corpus), rng)
        n += 1
        f = fuzzing.check(t, data, WORK / "w", html=n % 50 == 0)
        if f is not None:
            fails += 1
            print(f"FAIL {t.name}: {f.error} -> {fuzzing.save_crasher(t, data, f)}", flush=True)
        elif len(corpus) < 64 and rng.random() < 0.05:
            corpus.append(data)  # stacked mutations reach deeper than one step from the seed
    return {"target": t.name, "executions": n, "failures": fails, "engine": "random"}


def _atheris_child(name: str, seconds: float) -> None:
    import atheris

    t = next(x for x in fuzzing.targets() if x.name == name)
    base = fuzzing.seed_bytes(t)
    state = {"n": 0, "fails": 0}
    end = time.monotonic() + seconds

    def mutator(data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        src = data if data and rng.random() < 0.8 else base
        # libFuzzer refuses a mutant longer than max_size (RuntimeError); the JSON and zip mutators can grow
        # their input, so cut it (truncation is one of the mutations anyway)
        return fuzzing.mutate(t, src, rng)[:max_size]

    def one(data: bytes) -> None:
        state["n"] += 1
        # in-process keeps atheris' coverage; inputs reaching libhdf5 (.h5, a .keras with a changed weights
        # member) can hang it with the GIL held: a forked child (a campaign lost the .keras target that way)
        f = fuzzing.check(t, data, WORK / "w", html=state["n"] % 50 == 0,
                          isolate=fuzzing.needs_isolation(t, data))
        if f is not None:
            state["fails"] += 1
            print(f"FAIL {t.name}: {f.error} -> {fuzzing.save_crasher(t, data, f)}", flush=True)
        if time.monotonic() > end:
            print(json.dumps({"target": name, "executions": state["n"], "failures": state["fails"],
                              "engine": "atheris"}), flush=True)
            os._exit(0)

    corpus = WORK / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    (corpus / "seed").write_bytes(base)
    with atheris.instrument_imports():
        import graphreport.readers.detect  # noqa: F401
        import graphreport.report  # noqa: F401
    atheris.Setup([sys.argv[0], str(corpus), f"-max_len={max(len(base) * 2, 4096)}", "-rss_limit_mb=4096",
                   f"-artifact_prefix={WORK}/"],  # libFuzzer's own slow-unit / crash files stay out of the tree
                  one, custom_mutator=mutator)
    try:
        atheris.Fuzz()
    except BaseException:  # noqa: BLE001 - report it, then leave without running the exit handlers:
        # an exception out of atheris.Fuzz() leaves libFuzzer's static copy of the custom mutator (a pybind11
        # std::function) to be destroyed by exit(), after Python has finalized; its destructor waits for the
        # GIL forever (gdb: take_gil <- gil_scoped_acquire <- ~func_handle <- __run_exit_handlers): the
        # child hung in a futex wait instead of ending
        import traceback

        traceback.print_exc()
        print(json.dumps({"target": name, "executions": state["n"], "failures": state["fails"] + 1,
                          "engine": "atheris", "error": traceback.format_exc()[-2000:]}), flush=True)
        sys.stderr.flush()
        os._exit(1)
    os._exit(0)


def _run_child(name: str, seconds: float) -> subprocess.CompletedProcess:
    """One atheris child, killed if it outlives its time by more than a margin (a hang of the harness itself
    must not stall the campaign: it is reported as a failure of that target)."""
    cmd = [sys.executable, __file__, "--child", name, "--seconds", str(seconds)]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        out = "\n".join(x for x in out.splitlines() if not x.startswith("{"))  # its figures are not final
        return subprocess.CompletedProcess(cmd, -9, out, "child did not end in time\n" + err)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--targets", default="")
    ap.add_argument("--random", action="store_true", help="plain seeded random mutation, no atheris")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--seconds", type=float, default=0, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        _atheris_child(a.child, a.seconds)
        return 0
    ts = fuzzing.targets()
    if a.targets:
        want = set(a.targets.split(","))
        ts = [t for t in ts if t.name in want]
    per = a.minutes * 60 / max(len(ts), 1)
    try:
        import atheris  # noqa: F401
        engine = "random" if a.random else "atheris"
    except ImportError:
        engine = "random"
    results = []
    for i, t in enumerate(ts):
        if engine == "random":
            r = _random_loop(t, per, a.seed + i)
        else:
            p = _run_child(t.name, per)
            lines = [x for x in p.stdout.splitlines() if x.startswith("{")]
            for x in p.stdout.splitlines():
                if x.startswith("FAIL"):
                    print(x)
            r = json.loads(lines[-1]) if lines else {"target": t.name, "executions": 0, "failures": 1,
                                                    "engine": "atheris", "error": p.stderr[-2000:]}
        results.append(r)
        print(f"{r['target']:32s} {r['executions']:8d} executions  {r['failures']} failures  ({r['engine']})",
              flush=True)
        if r.get("error"):
            print("    " + "\n    ".join(r["error"].strip().splitlines()[-8:]), flush=True)
    total = sum(r["executions"] for r in results)
    bad = sum(r["failures"] for r in results)
    print(f"total: {total} executions over {len(results)} targets in {a.minutes:g} min, {bad} failures")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
