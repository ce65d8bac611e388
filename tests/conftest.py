import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_models"
sys.path.insert(0, str(Path(__file__).resolve().parent))


def run_cli(*args, cwd=None, env=None):
    """Run `python -m graphreport ...` in a subprocess; returns CompletedProcess (text)."""
    return subprocess.run([sys.executable, "-m", "graphreport", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


def report_json(model_path, *extra) -> dict:
    p = run_cli("report", model_path, "--format", "json", "-o", "-", *extra)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


@pytest.fixture(scope="session")
def manifest():
    return json.loads((SAMPLES / "manifest.json").read_text())


@pytest.fixture(scope="session")
def samples_dir():
    return SAMPLES
