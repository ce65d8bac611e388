"""Big graphs (issue 10): report time on transformer GraphDefs of 0.7k to 100k nodes and the same model as .tflite.

The models are built once with TensorFlow and cached under .cache/bench/<tf version>/big/: a stack of
transformer blocks (layer norm via tf.nn.moments, matmul attention via tf.einsum, softmax, tf.nn.gelu, a
residual add around attention and around the feed-forward part; sequence 16, width 64, feed-forward 128;
weights are tf.constant values, i.e. frozen), 46 nodes per block: 16, 64, 256 blocks (~0.7k, ~2.9k, ~11.8k
nodes, the issue's 1x / 4x / 16x) and 2,200 blocks (~101k nodes); the 256-block model is also converted to
.tflite. TensorFlow runs in a child process that holds /tmp/tf.lock (the project's one-TF-job-at-a-time lock).

Measured, each in a fresh process (`python -m graphreport report ...`, as a user runs it): the whole run's
wall time (median of --repeat), the output size and the peak RSS; and, in another fresh process, a breakdown:
read, analyse (build_report without the diagram), diagram (build_report with it, minus analyse), render,
write, after a warm-up report of a tiny sample that pays the one-time costs (imports of the op rules and
numpy, template compilation), so that the phases are the work that grows with the graph. Targets (issue 10): 11.5k-node GraphDef, whole HTML report <= 3 s; same model as .tflite <= 3 s;
~100k-node GraphDef: JSON <= 60 s, HTML <= 90 s and <= 60 MB.

Flat 200k-node graphs (issue 13, `--flat`; built by bench/biggraphs.py without TensorFlow): a chain of
200,000 Identity nodes and 200,000 Relu nodes reading one Placeholder, HTML (with diagram) and JSON, each
run's wall time, CPU time and peak RSS (of the process and its children: the report runs in a forked
child). Targets: <= 20 s and <= 600 MB each.

Usage: .venv/bin/python bench/bench_big.py [--repeat 3] [--skip-100k] [--timeout 900]
       .venv/bin/python bench/bench_big.py --flat [--flat-nodes 200000]   # only the flat graphs, no TF
Prints Markdown tables for README.md and writes bench/results/big.json (--flat: bench/results/flat.json).
"""
from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
SEQ, WIDTH, FF = 16, 64, 128
SCALES = {"1x": 16, "4x": 64, "16x": 256}  # blocks
BIG = 2200  # blocks of the ~100k-node model
FLAT_TARGET_S, FLAT_TARGET_MB = 20.0, 600.0  # issue 13
TARGETS = {"graphdef_11k_html": 3.0, "tflite_11k_html": 3.0, "graphdef_100k_json": 60.0,
           "graphdef_100k_html": 90.0, "graphdef_100k_html_mb": 60.0}


def cache_dir() -> Path:
    v = "no-tf"
    for dist in ("tensorflow", "tensorflow-cpu", "tensorflow-intel", "tf-nightly"):
        try:
            v = metadata.version(dist)
            break
        except metadata.PackageNotFoundError:
            continue
    d = ROOT / ".cache" / "bench" / v / "big"
    d.mkdir(parents=True, exist_ok=True)
    return d


def model_path(blocks: int, ext: str = "pb") -> Path:
    return cache_dir() / f"transformer_{blocks}b.{ext}"


# ----------------------------------------------------------------------------------------------------------
# building (TensorFlow, child process)
# ----------------------------------------------------------------------------------------------------------

def build(blocks: int, pb: str, tflite: str | None) -> None:
    """Write the GraphDef (and the .tflite) of `blocks` transformer blocks. Imports tensorflow."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)

    def weight(*shape):
        return tf.constant((rng.standard_normal(shape) * 0.05).astype(np.float32))

    def layer_norm(x):
        mean, var = tf.nn.moments(x, axes=[-1], keepdims=True)
        return (x - mean) * tf.math.rsqrt(var + 1e-5)

    @tf.function(input_signature=[tf.TensorSpec([1, SEQ, WIDTH], tf.float32, name="x")])
    def model(x):
        for i in range(blocks):
            with tf.name_scope(f"layer_{i}"):
                h = layer_norm(x)
                q = tf.einsum("bsd,de->bse", h, weight(WIDTH, WIDTH))
                k = tf.einsum("bsd,de->bse", h, weight(WIDTH, WIDTH))
                v = tf.einsum("bsd,de->bse", h, weight(WIDTH, WIDTH))
                a = tf.nn.softmax(tf.einsum("bqd,bkd->bqk", q, k))
                x = x + tf.einsum("bsd,de->bse", tf.einsum("bqk,bkd->bqd", a, v), weight(WIDTH, WIDTH))
                h = tf.nn.gelu(tf.einsum("bsd,df->bsf", layer_norm(x), weight(WIDTH, FF)))
                x = x + tf.einsum("bsf,fd->bsd", h, weight(FF, WIDTH))
        return tf.identity(x, name="output")

    fn = model.get_concrete_function()
    _write(pb, fn.graph.as_graph_def().SerializeToString())
    if tflite:
        conv = tf.lite.TFLiteConverter.from_concrete_functions([fn], model)
        _write(tflite, conv.convert())


def _write(path: str, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def ensure(blocks: int, tflite: bool = False) -> None:
    pb, tfl = model_path(blocks), model_path(blocks, "tflite")
    if pb.exists() and (not tflite or tfl.exists()):
        return
    print(f"building {blocks} blocks with TensorFlow (once; cached in {pb.parent}) ...", file=sys.stderr)
    t0 = time.perf_counter()
    with open("/tmp/tf.lock", "a") as lock:  # one TensorFlow job at a time on this machine
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run([PY, __file__, "--build", str(blocks), str(pb)] + ([str(tfl)] if tflite else []),
                       check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    print(f"  built in {time.perf_counter() - t0:.0f} s", file=sys.stderr)


# ----------------------------------------------------------------------------------------------------------
# measuring (graphreport, fresh processes)
# ----------------------------------------------------------------------------------------------------------

def whole(model: Path, fmt: str, diagram: bool, repeat: int, timeout: float) -> dict:
    """`graphreport report` as a user runs it: median wall time, output bytes, peak RSS (of that process)."""
    out = Path(tempfile.mkdtemp()) / f"report.{fmt}"
    cmd = [PY, "-m", "graphreport", "report", str(model), "-o", str(out), "--format", fmt] + \
        ([] if diagram else ["--no-diagram"])
    times, cpu, rss = [], [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
        try:
            _, status, usage = _wait4(p, timeout)
        except TimeoutError:
            p.kill()
            p.wait()
            return {"error": f"timeout after {timeout:.0f} s"}
        dt = time.perf_counter() - t0
        if status != 0:
            return {"error": p.stderr.read().decode(errors="replace").strip()[-300:]}
        times.append(dt)
        cpu.append(usage.ru_utime + usage.ru_stime)
        rss.append(usage.ru_maxrss * 1024)
    size = out.stat().st_size
    out.unlink()
    return {"s": round(statistics.median(times), 3), "best_s": round(min(times), 3),
            "cpu_s": round(statistics.median(cpu), 3), "runs": [round(t, 3) for t in times], "bytes": size,
            "peak_rss": max(rss)}


def _wait4(p: subprocess.Popen, timeout: float):
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(p.pid, os.WNOHANG)
        if pid:
            p.returncode = os.waitstatus_to_exitcode(status)
            return pid, p.returncode, usage
        if time.monotonic() > deadline:
            raise TimeoutError
        time.sleep(0.01)


BREAKDOWN = r"""
import json, os, sys, tempfile, time
t = {}
t0 = time.perf_counter()
from graphreport.cli import write_atomic
from graphreport.readers.detect import load
from graphreport.render import attach_diagram, render
from graphreport.report import build_report
t["import"] = time.perf_counter() - t0
path, fmt, diagram = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
t0 = time.perf_counter()  # one-time costs (op rules, numpy, templates) on a tiny model, so the phases below
render(build_report(load("sample_models/tiny_mobilenet.pb"), diagram=diagram), fmt)  # are per-graph work only
t["warm_up"] = time.perf_counter() - t0
t0 = time.perf_counter(); model = load(path); t["read"] = time.perf_counter() - t0
t0 = time.perf_counter(); rep = build_report(model, diagram=False); t["analyse"] = time.perf_counter() - t0
if diagram:
    model = load(path)
    t0 = time.perf_counter(); rep = attach_diagram(build_report(model, diagram=True))
    t["diagram"] = max(0.0, time.perf_counter() - t0 - t["analyse"])
t0 = time.perf_counter(); text = render(rep, fmt); t["render"] = time.perf_counter() - t0
out = os.path.join(tempfile.mkdtemp(), "report." + fmt)
t0 = time.perf_counter(); write_atomic(out, text); t["write"] = time.perf_counter() - t0
os.unlink(out)
t["nodes"] = len(model.main.nodes)
print(json.dumps(t))
"""


def breakdown(model: Path, fmt: str, diagram: bool, timeout: float) -> dict:
    try:
        p = subprocess.run([PY, "-c", BREAKDOWN, str(model), fmt, "1" if diagram else "0"], capture_output=True,
                           text=True, cwd=ROOT, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout:.0f} s"}
    if p.returncode:
        return {"error": p.stderr.strip()[-300:]}
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in json.loads(p.stdout).items()}


def _node_count(model: Path) -> int:
    code = ("import sys; from graphreport.readers.detect import load; "
            "print(len(load(sys.argv[1]).main.nodes))")
    return int(subprocess.run([PY, "-c", code, str(model)], capture_output=True, text=True, cwd=ROOT,
                              check=True).stdout)


# ----------------------------------------------------------------------------------------------------------

def _fmt_s(r: dict) -> str:
    return r["error"][:40] if "error" in r else f"{r['s']:.2f} s"


def _fmt_run(r: dict) -> str:
    """median wall time (best; median CPU time of the process)"""
    return r["error"][:40] if "error" in r else f"{r['s']:.2f} s ({r['best_s']:.2f}; cpu {r['cpu_s']:.2f})"


def _mb(n) -> str:
    return f"{n / 1e6:.1f} MB"


def flat(nodes: int, timeout: float, repeat: int = 3) -> int:
    """Issue 13's flat graphs: whole runs of HTML and JSON reports, wall / CPU time and peak RSS (median of
    `repeat` runs: this machine's CPU speed varies by a fifth from run to run)."""
    sys.path.insert(0, str(ROOT / "bench"))
    import biggraphs

    rows = []
    for mix in ("identity_chain", "relu_fanout"):
        folder = Path(tempfile.gettempdir()) / "graphreport-bench"  # built in seconds, without TensorFlow
        folder.mkdir(exist_ok=True)
        path = folder / f"{mix}_{nodes}.pb"
        if not path.exists():
            _write(str(path), biggraphs.graphdef_bytes(mix, 1, unit=nodes))
        for fmt in ("html", "json"):
            os.environ["GRAPHREPORT_TIME_LIMIT"] = str(timeout)  # the guard's limit is the bench's, not 120 s
            r = whole(path, fmt, fmt == "html", repeat, timeout)
            r.update(case=mix, format=fmt, nodes=nodes, file_bytes=path.stat().st_size)
            if "error" not in r:
                r["met"] = r["s"] <= FLAT_TARGET_S and r["peak_rss"] <= FLAT_TARGET_MB * 1e6
            rows.append(r)
            print(f"  {mix} {fmt}: {_fmt_s(r)}", file=sys.stderr)
    res = ROOT / "bench" / "results"
    res.mkdir(parents=True, exist_ok=True)
    (res / "flat.json").write_text(json.dumps({"machine": f"{platform.machine()}, {os.cpu_count()} cores",
                                               "load_average": os.getloadavg(), "rows": rows}, indent=1))
    print(f"| graph | nodes | format | wall time | CPU time | peak RSS | target ≤ {FLAT_TARGET_S:.0f} s, "
          f"≤ {FLAT_TARGET_MB:.0f} MB |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['case']} | {nodes:,} | {r['format']} | {r['error'][:60]} | | | ✗ |")
            continue
        print(f"| {r['case']} | {nodes:,} | {r['format'].upper()} | {r['s']:.1f} s | {r['cpu_s']:.1f} s | "
              f"{_mb(r['peak_rss'])} | {'✓' if r['met'] else '✗'} |")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement of the 0.7k-12k models")
    ap.add_argument("--repeat-big", type=int, default=1, help="runs per measurement of the 100k model")
    ap.add_argument("--skip-100k", action="store_true")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per run before giving up")
    ap.add_argument("--flat", action="store_true", help="only issue 13's flat 200k-node graphs (no TensorFlow)")
    ap.add_argument("--flat-nodes", type=int, default=200_000)
    ap.add_argument("--flat-repeat", type=int, default=3, help="runs per flat-graph measurement (median)")
    ap.add_argument("--build", nargs="+", metavar="ARG", help=argparse.SUPPRESS)  # child: BLOCKS PB [TFLITE]
    args = ap.parse_args(argv)
    if args.build:
        build(int(args.build[0]), args.build[1], args.build[2] if len(args.build) > 2 else None)
        return 0
    if args.flat:
        return flat(args.flat_nodes, args.timeout, args.flat_repeat)

    for name, blocks in SCALES.items():
        ensure(blocks, tflite=blocks == SCALES["16x"])
    if not args.skip_100k:
        ensure(BIG)
    rows: list[dict] = []

    def case(name, path, fmt, diagram, repeat, target=None):
        r = {"case": name, "file": path.name, "file_bytes": path.stat().st_size, "format": fmt,
             "diagram": diagram, "nodes": _node_count(path)}
        r["whole"] = whole(path, fmt, diagram, repeat, args.timeout)
        r["breakdown"] = breakdown(path, fmt, diagram, args.timeout)
        if target is not None:
            r["target_s"] = target
            r["met"] = "error" not in r["whole"] and r["whole"]["s"] <= target
        rows.append(r)
        print(f"  {name}: {_fmt_s(r['whole'])}", file=sys.stderr)
        return r

    # time per node at 1x / 4x / 16x (JSON and HTML without the diagram: the analyses and renderers)
    for scale, blocks in SCALES.items():
        p = model_path(blocks)
        case(f"{scale} ({blocks} blocks), JSON", p, "json", False, args.repeat)
        case(f"{scale} ({blocks} blocks), HTML without diagram", p, "html", False, args.repeat)
    p11 = model_path(SCALES["16x"])
    case("~11.5k GraphDef, HTML (whole report)", p11, "html", True, args.repeat, TARGETS["graphdef_11k_html"])
    case("~11.5k as .tflite, HTML (whole report)", model_path(SCALES["16x"], "tflite"), "html", True, args.repeat,
         TARGETS["tflite_11k_html"])
    case("~11.5k as .tflite, HTML without diagram", model_path(SCALES["16x"], "tflite"), "html", False,
         args.repeat)
    if not args.skip_100k:
        big = model_path(BIG)
        case("~100k GraphDef, JSON", big, "json", False, args.repeat_big, TARGETS["graphdef_100k_json"])
        r = case("~100k GraphDef, HTML (whole report)", big, "html", True, args.repeat_big,
                 TARGETS["graphdef_100k_html"])
        if "error" not in r["whole"]:
            r["met"] = r["met"] and r["whole"]["bytes"] <= TARGETS["graphdef_100k_html_mb"] * 1e6
        case("~100k GraphDef, HTML without diagram", big, "html", False, args.repeat_big)

    meta = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "python": platform.python_version(),
            "repeat": args.repeat, "repeat_big": args.repeat_big, "model": {
                "blocks": "layer norm (tf.nn.moments), einsum attention, softmax, tf.nn.gelu, residual adds",
                "seq": SEQ, "width": WIDTH, "ff": FF}, "rows": rows}
    res = ROOT / "bench" / "results"
    res.mkdir(parents=True, exist_ok=True)
    (res / "big.json").write_text(json.dumps(meta, indent=1))

    print("Whole run: median wall time of a fresh `graphreport report` process (best run; median CPU time of "
          "the process, which other jobs on the machine disturb less). Phases (s) from a separate process, after "
          "a warm-up.\n")
    print("| case | nodes | file | whole run | target | output | peak RSS | read | analyse | diagram | render |"
          " write |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        w, b = r["whole"], r["breakdown"]
        target = ""
        if "target_s" in r:
            target = f"≤ {r['target_s']:.0f} s" + (" & ≤ 60 MB" if "100k" in r["case"] and r["format"] == "html"
                                                     and r["diagram"] else "") + (" ✓" if r["met"] else " ✗")
        phases = ["error" if "error" in b else f"{b.get(k, 0):.2f}" if k in b else "–"
                  for k in ("read", "analyse", "diagram", "render", "write")]
        print(f"| {r['case']} | {r['nodes']:,} | {_mb(r['file_bytes'])} | {_fmt_run(w)} | {target} | "
              f"{_mb(w['bytes']) if 'bytes' in w else '?'} | {_mb(w['peak_rss']) if 'peak_rss' in w else '?'} | "
              + " | ".join(phases) + " |")
    print("\nTime per node: whole run (fresh process, start-up included) and, in process, read + analyse + "
          "render (µs per node):\n")
    print("| scale | nodes | JSON run | JSON µs/node | in process µs/node (read, analyse, render) | "
          "HTML without diagram run | µs/node |")
    print("|---|---|---|---|---|---|---|")
    big_rows = [r for r in rows if r["case"].startswith("~100k") and r["format"] == "json"]
    for scale, blocks in [*SCALES.items(), *([("100k", BIG)] if big_rows else [])]:
        sel = [r for r in rows if r["case"].startswith(f"{scale} " if scale != "100k" else "~100k")]
        j = next(r for r in sel if r["format"] == "json")
        h = next((r for r in sel if r["format"] == "html" and not r["diagram"]), None)
        n = j["nodes"]
        per = (lambda r: f"{r['whole']['s'] / n * 1e6:.0f}" if r and "s" in r["whole"] else "?")
        b = j["breakdown"]
        inproc = "?" if "error" in b else (
            f"{sum(b[k] for k in ('read', 'analyse', 'render')) / n * 1e6:.0f} "
            f"({b['read'] / n * 1e6:.0f}, {b['analyse'] / n * 1e6:.0f}, {b['render'] / n * 1e6:.0f})")
        print(f"| {scale} ({blocks} blocks) | {n:,} | {_fmt_s(j['whole'])} | {per(j)} | {inproc} | "
              f"{_fmt_s(h['whole']) if h else '?'} | {per(h)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
