"""A whole `graphreport report` run side by side with Model Explorer's C++ adapter and `import tensorflow`.

Issue 10's target: a whole `graphreport report` (process start to HTML written, diagram included) takes at
most 1.5x the time of Model Explorer's C++ adapter converting the same file to its graph JSON, measured in
the same run, on MobileNetV2 and InceptionV3 frozen .pb (tests/refmodels.py, keras.applications with
weights=None) and MediaPipe's pose_landmark_full.tflite (tests/thirdparty.py: from the mediapipe wheel).

- Model Explorer: the `ai-edge-model-explorer` package from PyPI, installed by this script into a throwaway
  venv, bench/.venv-me (gitignored, never one of graphreport's dependencies). Its built-in adapters
  (model_explorer/builtin_graphdef_adapter.py, builtin_tflite_flatbuffer_adapter.py) call the C++ library
  `ai_edge_model_explorer_adapter`: ConvertGraphDefDirectlyToJson / ConvertFlatbufferDirectlyToJson with a
  default VisualizeConfig, which return the graph JSON as a string. Timed here as a whole process:
  `python -c` importing that library, converting the file and writing the JSON to a file.
- graphreport: `graphreport report MODEL -o OUT.html` as a whole process, installed as users install it:
  `pip install .` from this checkout into a venv of its own, bench/.venv-gr (gitignored; its runtime
  dependencies only, no TensorFlow), refreshed with the checkout's code on every run; its compiled template
  cached as an installed copy has it (the first run, which compiles and caches the template, is reported
  apart).
- Runs alternate (graphreport, Model Explorer, graphreport, ...) so both see the same machine load;
  figures are medians of --repeat runs after one warm-up each.

Also a breakdown of one report by stage (imports, read, analyse, layout, render, write), in fresh processes:
the layout is the difference between build_report with and without the diagram, waiting for Graphviz (in a
real run dot works in the background while the page is rendered, so layout and render overlap).

The machine's load average is recorded before and after the side-by-side runs: other jobs on a 2-core
machine stretch both sides' wall times, graphreport's more (its Graphviz processes need the second core).

Usage: .venv/bin/python bench/bench_report.py [--repeat 7] [--models mobilenetv2-pb ...] [--big]
(it takes /tmp/tf.lock itself whenever tensorflow runs: do not wrap it in `flock /tmp/tf.lock`)
Prints Markdown tables for README.md and writes bench/results/report_vs_model_explorer.json.
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
ME_VENV = BENCH / ".venv-me"
GR_VENV = BENCH / ".venv-gr"
ME_PACKAGE = "ai-edge-model-explorer"
TARGET_RATIO = 1.5
TF_LOCK = "/tmp/tf.lock"
sys.path.insert(0, str(ROOT / "tests"))

MODELS = {  # id -> (label, file kind, how to find it)
    "mobilenetv2-pb": ("MobileNetV2", "frozen .pb", ("refmodel", "MobileNetV2")),
    "inceptionv3-pb": ("InceptionV3", "frozen .pb", ("refmodel", "InceptionV3")),
    "pose-landmark-full-tflite": ("MediaPipe pose_landmark_full", ".tflite",
                                  ("thirdparty", "mediapipe-pose-landmark-full")),
}

ME_CONVERT = r"""
import sys
import ai_edge_model_explorer_adapter as adapter
path, out = sys.argv[1], sys.argv[2]
convert = adapter.ConvertFlatbufferDirectlyToJson if path.endswith(".tflite") else adapter.ConvertGraphDefDirectlyToJson
text = convert(adapter.VisualizeConfig(), path)
with open(out, "w") as f:
    f.write(text)
"""

STAGES = r"""
import gc, json, os, sys, time
gc.set_threshold(100_000, 20, 100)  # as the CLI's guarded child (graphreport/watchdog.py) runs
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
t0 = time.perf_counter()
from graphreport.fileio import write_atomic
from graphreport.readers.detect import load
from graphreport.report import build_report
from graphreport.render import attach_diagram, render
t1 = time.perf_counter()
model = load(sys.argv[1])
t2 = time.perf_counter()
report = attach_diagram(build_report(model, diagram=sys.argv[3] == "diagram"))
report.diagram_data  # the layouts run in the background (a report renders meanwhile): waited for here
t3 = time.perf_counter()
text = render(report, "html")
t4 = time.perf_counter()
write_atomic(sys.argv[2], text)
t5 = time.perf_counter()
print(json.dumps({"imports": t1 - t0, "read": t2 - t1, "build": t3 - t2, "render": t4 - t3, "write": t5 - t4,
                  "html_bytes": len(text.encode())}))
"""


def model_path(how: tuple) -> Path:
    kind, name = how
    if kind == "thirdparty":
        import thirdparty

        return Path(thirdparty.path_of(name))
    cached = sorted((ROOT / ".cache" / "refmodels").glob(f"*/{name}_b1.pb"))
    if cached and Path(str(cached[-1]) + ".json").exists():
        return cached[-1]  # built before: no need to import tensorflow to find it
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import refmodels; "
            "print(refmodels.frozen_graphdef(sys.argv[2]))")
    with tf_lock():  # tensorflow builds it, in a child process
        p = subprocess.run([sys.executable, "-c", code, str(ROOT / "tests"), name], capture_output=True,
                           text=True, check=True)
    return Path(p.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def tf_lock():
    """The project's one-TensorFlow-job-at-a-time lock (/tmp/tf.lock), held while tensorflow runs: while
    timing `import tensorflow` and building models. Not held while timing reports (no tensorflow there)."""
    with open(TF_LOCK, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def me_python() -> Path:
    """The throwaway venv's python, with ai-edge-model-explorer installed (made on first use)."""
    py = ME_VENV / "bin" / "python"
    probe = [str(py), "-c", "import ai_edge_model_explorer_adapter"]
    if py.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return py
    base = shutil.which("python3") or sys.executable
    print(f"creating {ME_VENV.relative_to(ROOT)} with {ME_PACKAGE} (bench only)...", file=sys.stderr)
    subprocess.run([base, "-m", "venv", "--clear", str(ME_VENV)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", ME_PACKAGE], check=True)
    subprocess.run(probe, check=True)
    return py


def gr_venv() -> Path:
    """A venv with graphreport installed from this checkout as users install it (`pip install .`: a wheel,
    byte code compiled by pip, the `graphreport` console script, its runtime dependencies only, no
    TensorFlow), made on first use and refreshed with this checkout's code on every run. Timing the
    development venv instead would add what only a development set-up has: an editable install's import
    hook (~20 ms at start-up) and TensorFlow's site-packages."""
    py = GR_VENV / "bin" / "python"
    if not py.exists():
        base = shutil.which("python3") or sys.executable
        print(f"creating {GR_VENV.relative_to(ROOT)} (bench only)...", file=sys.stderr)
        subprocess.run([base, "-m", "venv", "--clear", str(GR_VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", str(ROOT)], check=True)
    with tempfile.TemporaryDirectory() as build:  # this checkout's code, always (the dependencies stay)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(ROOT)],
                       check=True, cwd=build)
    return GR_VENV / "bin" / "graphreport"


def me_version(py: Path) -> dict:
    code = ("import importlib.metadata as m, json; print(json.dumps({p: m.version(p) for p in "
            "('ai-edge-model-explorer', 'ai-edge-model-explorer-adapter')}))")
    return json.loads(subprocess.run([str(py), "-c", code], capture_output=True, text=True, check=True).stdout)


def report_env(cache: Path) -> dict:
    """graphreport's environment: byte code written and used (as pip compiles it when installing; a shell with
    PYTHONDONTWRITEBYTECODE would recompile every module on every run), and the compiled template kept in a
    cache folder of this bench run (`cache`), which the first run fills."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "GRAPHREPORT_NO_CACHE",
                                                            "PYTHONPYCACHEPREFIX")}
    env["XDG_CACHE_HOME"] = str(cache / "xdg")
    return env


def run_time(cmd: list, env=None) -> float:
    return run_timed(cmd, env)[0]


def run_timed(cmd: list, env=None) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system of the process and the children it waited for, e.g. dot).
    CPU time moves less than wall time when other jobs share the machine."""
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
        _, status, usage = os.wait4(p.pid, 0)
        dt = time.perf_counter() - t0
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            raise SystemExit(f"failed: {' '.join(map(str, cmd))}\n{err.read().decode()[-2000:]}")
    return dt, usage.ru_utime + usage.ru_stime


def side_by_side(path: Path, me_py: Path, gr_cmd: Path, repeat: int, work: Path, env: dict) -> dict:
    out_html, out_json = work / "r.html", work / "me.json"
    gr = [str(gr_cmd), "report", str(path), "-o", str(out_html)]
    me = [str(me_py), "-c", ME_CONVERT, str(path), str(out_json)]
    cold = run_time(gr, env)  # the template not compiled yet (a fresh cache folder per model)
    run_time(me)
    t_gr, t_me = [], []
    load = [os.getloadavg()[0]]
    for _ in range(repeat):
        t_gr.append(run_timed(gr, env))
        t_me.append(run_timed(me))
    load.append(os.getloadavg()[0])
    return {"load_average": load,
            "report_s": statistics.median(t[0] for t in t_gr),
            "model_explorer_s": statistics.median(t[0] for t in t_me),
            "report_cpu_s": statistics.median(t[1] for t in t_gr),
            "model_explorer_cpu_s": statistics.median(t[1] for t in t_me),
            "report_cold_s": cold, "report_runs": t_gr, "model_explorer_runs": t_me,
            "html_bytes": out_html.stat().st_size, "me_json_bytes": out_json.stat().st_size}


PEAK = """
import sys
from graphreport.cli import main
try:
    code = main(sys.argv[2:])
finally:
    with open("/proc/self/status") as f, open(sys.argv[1], "w") as out:
        out.write(next(line for line in f if line.startswith("VmHWM:")).split()[1])
sys.exit(code)
"""


def peak_rss(args: list, env=None) -> tuple[float, int]:
    """(wall seconds, peak RSS in bytes) of one `graphreport` run (the CLI's main in a child process). The
    peak is the child's own high-water mark (VmHWM, Linux), read as it exits: a child's ru_maxrss would
    start from this process's peak, which is large if tensorflow was imported to build a model."""
    with tempfile.TemporaryDirectory() as d:
        peak = os.path.join(d, "peak")
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, "-c", PEAK, peak, *map(str, args)], capture_output=True, text=True,
                           env=env)
        dt = time.perf_counter() - t0
        if p.returncode != 0:
            raise SystemExit(f"failed: graphreport {' '.join(map(str, args))}\n{p.stderr[-2000:]}")
        with open(peak) as f:
            return dt, int(f.read()) * 1024


def big_file(work: Path, env: dict, build: bool) -> dict | None:
    """The ~1 GB .tflite (four 8192x8192 float32 dense layers, bench/make_big_tflite.py): peak RSS of a
    whole HTML report (target: at most 300 MB)."""
    sys.path.insert(0, str(BENCH))
    import make_big_tflite

    path = make_big_tflite.cached()
    if path is None:
        if not build:
            return None
        with tf_lock():
            subprocess.run([sys.executable, str(BENCH / "make_big_tflite.py")], check=True)
        path = make_big_tflite.cached()
    args = ["report", str(path), "-o", str(work / "big.html")]
    peak_rss(args, env)  # warm-up (byte code, template)
    runs = [peak_rss(args, env) for _ in range(3)]
    return {"path": os.path.relpath(path, ROOT), "bytes": path.stat().st_size,
            "report_s": statistics.median(r[0] for r in runs), "peak_rss_bytes": max(r[1] for r in runs),
            "target_rss_bytes": 300 * 1024**2}


def breakdown(path: Path, repeat: int, work: Path, env: dict) -> dict:
    """Median seconds per stage over fresh processes; layout = build with diagram - build without."""
    runs: dict[str, list] = {"diagram": [], "none": []}
    for _ in range(repeat):
        for mode in runs:
            cmd = [str(GR_VENV / "bin" / "python"), "-c", STAGES, str(path), str(work / "b.html"), mode]
            # cwd: not the checkout, whose graphreport/ would shadow the installed copy
            p = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True, cwd=work)
            runs[mode].append(json.loads(p.stdout.strip().splitlines()[-1]))

    def med(mode, key):
        return statistics.median(r[key] for r in runs[mode])

    return {"imports": med("diagram", "imports"), "read": med("diagram", "read"),
            "analyse": med("none", "build"), "layout": max(0.0, med("diagram", "build") - med("none", "build")),
            "render": med("diagram", "render"), "write": med("diagram", "write")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--no-breakdown", action="store_true")
    ap.add_argument("--no-tensorflow", action="store_true",
                    help="skip timing `import tensorflow` (it waits for /tmp/tf.lock)")
    ap.add_argument("--big", action="store_true",
                    help="build the ~1 GB .tflite when missing (imports tensorflow; else measured only when cached)")
    args = ap.parse_args()

    me_py = me_python()
    versions = me_version(me_py)
    gr_cmd = gr_venv()
    work = Path(tempfile.mkdtemp(prefix="bench-report-"))
    try:
        t_tf = None
        if not args.no_tensorflow:
            with tf_lock():
                t_tf = statistics.median(run_time([sys.executable, "-c", "import tensorflow"])
                                         for _ in range(max(3, args.repeat // 2)))
        rows = []
        for mid in args.models:
            label, kind, how = MODELS[mid]
            path = model_path(how)
            cache = work / f"cache-{mid}"
            env = report_env(cache)
            row = {"id": mid, "model": label, "file": kind, "path": os.path.relpath(path, ROOT),
                   "bytes": path.stat().st_size}
            row.update(side_by_side(path, me_py, gr_cmd, args.repeat, work, env))
            row["ratio"] = row["report_s"] / row["model_explorer_s"]
            row["cpu_ratio"] = row["report_cpu_s"] / row["model_explorer_cpu_s"]
            row["import_tf_s"] = t_tf
            if not args.no_breakdown:
                row["stages_s"] = breakdown(path, max(3, args.repeat // 2), work, env)
            rows.append(row)
            print(f"{label} {kind}: report {row['report_s']:.2f} s, Model Explorer {row['model_explorer_s']:.2f} s "
                  f"({row['ratio']:.2f}x; load average {row['load_average'][0]:.1f} -> {row['load_average'][1]:.1f})",
                  file=sys.stderr)
        big = big_file(work, report_env(work / "cache-big"), args.big)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    meta = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d"), "repeat": args.repeat, "model_explorer": versions,
            "import_tensorflow_s": t_tf, "target_ratio": TARGET_RATIO, "rows": rows, "big_tflite": big}
    res = BENCH / "results"
    res.mkdir(parents=True, exist_ok=True)
    (res / "report_vs_model_explorer.json").write_text(json.dumps(meta, indent=1) + "\n")

    me = versions.get("ai-edge-model-explorer-adapter", "?")
    loads = [x for r in rows for x in r["load_average"]]
    tf_text = "not timed" if t_tf is None else f"{t_tf:.2f} s"
    print(f"\nMedians of {args.repeat} runs, alternating; Model Explorer adapter {me}; "
          f"`import tensorflow`: {tf_text}; load average {min(loads):.1f}-{max(loads):.1f} during the runs\n")
    print("| model | file | size | graphreport report (HTML + diagram) | Model Explorer C++ adapter (JSON) "
          "| ratio (target ≤ 1.5) | CPU time ratio | vs import tensorflow |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        ok = "met" if r["ratio"] <= TARGET_RATIO else "NOT met"
        print(f"| {r['model']} | {r['file']} | {r['bytes'] / 1e6:.1f} MB | {r['report_s']:.2f} s "
              f"(first run {r['report_cold_s']:.2f} s) | {r['model_explorer_s']:.2f} s | {r['ratio']:.2f}x ({ok}) "
              f"| {r['report_cpu_s']:.2f} s / {r['model_explorer_cpu_s']:.2f} s = {r['cpu_ratio']:.2f}x "
              f"| {'?' if t_tf is None else format(r['report_s'] / t_tf * 100, '.0f')} % |")
    if any("stages_s" in r for r in rows):
        print("\nWhere a report's time goes (seconds, medians over fresh processes; interpreter start-up is the "
              "rest of the whole-process time):\n")
        print("| model | imports | read | analyse | layout | render | write |")
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            s = r.get("stages_s")
            if s:
                print(f"| {r['model']} {r['file']} | " + " | ".join(
                    f"{s[k]:.3f}" for k in ("imports", "read", "analyse", "layout", "render", "write")) + " |")

    if big:
        ok = "met" if big["peak_rss_bytes"] <= big["target_rss_bytes"] else "NOT met"
        print(f"\n~1 GB .tflite ({big['bytes'] / 1e9:.2f} GB, four 8192x8192 float32 dense layers): whole HTML report "
              f"{big['report_s']:.2f} s, peak RSS {big['peak_rss_bytes'] / 2**20:.0f} MiB (target ≤ 300 MiB: {ok})")
    else:
        print("\n(~1 GB .tflite not built: run with --big, or bench/make_big_tflite.py, to measure it)")


if __name__ == "__main__":
    main()
