"""The README's "Reviewing a model change" recipes, run as written on a temporary git repository with two
commits: the GitHub Actions `run:` script (under the shell GitHub uses, `bash --noprofile --norc -eo
pipefail`) and the pre-commit hook. The scripts are read from README.md, so the README cannot drift from
what is tested. Models: sample_models/ (no TensorFlow needed)."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, SAMPLES

pytestmark = pytest.mark.slow  # the CI step and the hook in throwaway git repositories

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _block(marker: str, lang: str) -> str:
    m = re.search(r"<!-- " + re.escape(marker) + r"[^>]*-->\s*```" + lang + r"\n(.*?)\n```", README, re.S)
    assert m, f"README has no {marker} block"
    return m.group(1)


def actions_step() -> tuple[str, dict]:
    """The `run: |` script and the `env:` of the "Diff changed models" step of the README's workflow."""
    lines = _block("ci:github-actions", "yaml").splitlines()
    start = next(i for i, x in enumerate(lines) if "name: Diff changed models" in x)
    env, script = {}, []
    i = start + 1
    while i < len(lines):
        line = lines[i]
        if line.strip().startswith("- "):  # the next step
            break
        if line.strip() == "env:":
            ind = len(line) - len(line.lstrip())
            i += 1
            while len(lines[i]) - len(lines[i].lstrip()) > ind:
                k, v = lines[i].strip().split(":", 1)
                env[k] = v.strip()
                i += 1
            continue
        if line.strip() == "run: |":
            ind = len(line) - len(line.lstrip())
            i += 1
            while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > ind):
                script.append(lines[i])
                i += 1
            continue
        i += 1
    body = "\n".join(script)
    pad = min(len(x) - len(x.lstrip()) for x in script if x.strip())
    return "\n".join(x[pad:] for x in body.splitlines()) + "\n", env


def _git(repo, *args, check=True, env=None):
    p = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, env=env, timeout=120)
    if check:
        assert p.returncode == 0, (args, p.stdout, p.stderr)
    return p


@pytest.fixture
def repo(tmp_path):
    """A git repository: main holds models/net.pb (tiny_mobilenet) and models/keras.h5; a branch `feature`
    is checked out. graphreport is on PATH (a shim running this interpreter)."""
    r = tmp_path / "repo"
    (r / "models").mkdir(parents=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "graphreport"
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} -m graphreport \"$@\"\n")
    shim.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    env.pop("GITHUB_STEP_SUMMARY", None)
    _git(r, "init", "-q", "-b", "main", env=env)
    shutil.copy(SAMPLES / "tiny_mobilenet.pb", r / "models" / "net.pb")
    shutil.copy(SAMPLES / "keras_tiny.h5", r / "models" / "keras.h5")
    (r / "README").write_text("models\n")
    _git(r, "add", "-A", env=env)
    _git(r, "commit", "-q", "-m", "v1", env=env)
    _git(r, "checkout", "-q", "-b", "feature", env=env)
    return r, env


def _run_actions(r: Path, env: dict, base: str) -> subprocess.CompletedProcess:
    script, step_env = actions_step()
    assert step_env["BASE_REF"] == "origin/${{ github.base_ref }}"
    summary = r.parent / "summary.md"
    run_env = {**env, "BASE_REF": base, "GATES": step_env["GATES"], "GITHUB_STEP_SUMMARY": str(summary)}
    (r.parent / "step.sh").write_text(script)
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(r.parent / "step.sh")], cwd=r,
                          capture_output=True, text=True, env=run_env, timeout=600)


def test_github_actions_step_flags_a_breaking_change(repo):
    r, env = repo
    # commit 2 replaces the model by one with another input shape (and output name): a breaking change
    shutil.copy(SAMPLES / "tf1_frozen.pb", r / "models" / "net.pb")
    (r / "models" / "new.tflite").write_bytes((SAMPLES / "tiny_mobilenet_float.tflite").read_bytes())
    _git(r, "add", "-A", env=env)
    _git(r, "commit", "-q", "-m", "v2", env=env)
    p = _run_actions(r, env, "main")
    assert p.returncode == 1, p.stdout + p.stderr  # the io gate tripped: the job fails
    assert "gate io tripped" in p.stderr
    out = r / "model-diff"
    assert (out / "changed.txt").read_text().split() == ["models/net.pb", "models/new.tflite"]
    for name in ("models_net.pb.html", "models_new.tflite.html", "models_net.pb.diff.html", "models_net.pb.diff.md"):
        assert (out / name).stat().st_size > 0, name
    assert not (out / "models_new.tflite.diff.md").exists()  # a new model: reported, nothing to diff
    summary = (r.parent / "summary.md").read_text()
    assert summary.startswith("### graphreport diff: `net.pb` (graphdef) → `net.pb` (graphdef)")
    assert "breaking input/output change" in summary and "❌ tripped" in summary


def test_github_actions_step_passes_an_unchanged_model(repo):
    r, env = repo
    # commit 2 rewrites the same GraphDef as text (.pbtxt next to it) and touches the README only
    (r / "README").write_text("models, v2\n")
    shutil.copy(SAMPLES / "tiny_mobilenet.pbtxt", r / "models" / "net.pbtxt")
    _git(r, "add", "-A", env=env)
    _git(r, "commit", "-q", "-m", "v2", env=env)
    p = _run_actions(r, env, "main")
    assert p.returncode == 0, p.stdout + p.stderr
    assert (r / "model-diff" / "changed.txt").read_text().split() == ["models/net.pbtxt"]
    assert (r / "model-diff" / "models_net.pbtxt.html").exists()


def test_pre_commit_hook_refuses_a_breaking_change(repo):
    r, env = repo
    hook = r / ".git" / "hooks" / "pre-commit"
    hook.write_text(_block("ci:pre-commit", "sh") + "\n")
    hook.chmod(0o755)
    # a staged model whose input changed: refused, nothing committed
    shutil.copy(SAMPLES / "tf1_frozen.pb", r / "models" / "net.pb")
    _git(r, "add", "-A", env=env)
    p = _git(r, "commit", "-q", "-m", "breaking", check=False, env=env)
    assert p.returncode != 0 and "gate io tripped" in p.stderr and "models/net.pb" in p.stderr
    assert _git(r, "rev-list", "--count", "HEAD", env=env).stdout.strip() == "1"
    # the same Keras network saved as .keras (a zip) where the .h5 was: no breaking change, committed
    _git(r, "checkout", "-q", "main", "--", "models/net.pb", env=env)
    shutil.copy(SAMPLES / "keras_tiny.keras", r / "models" / "keras.h5")
    _git(r, "add", "-A", env=env)
    p = _git(r, "commit", "-q", "-m", "same model, another writer", check=False, env=env)
    assert p.returncode == 0, p.stderr
    assert _git(r, "rev-list", "--count", "HEAD", env=env).stdout.strip() == "2"
