"""Compiled Jinja templates, kept between runs in a per-user cache directory.

Compiling report.html.j2 costs about 0.2 s, more than reading and analysing a small model; the compiled code
is the same on every run. Jinja's bytecode cache stores it (marshalled, with the template source's checksum,
Jinja's bytecode version and the Python version in each entry) so a later run only loads it. The cache is
safe to lose and safe to share with nobody:

- the directory is $XDG_CACHE_HOME/graphreport (else ~/.cache/graphreport), one subfolder per Jinja and
  Python version; it and its parent must be owned by this user and writable by nobody else (created 0700),
  else no cache is used: loading marshalled code from a folder another user can write would run their code;
- an entry's key covers the template name and the Environment options that change the generated code, and
  Jinja checks the source's checksum, so an edited template or option is compiled afresh;
- any failure (no home, read-only disk, a damaged entry) means compiling as if there were no cache.

GRAPHREPORT_NO_CACHE=1 turns it off.
"""
from __future__ import annotations

import hashlib
import os
import stat
import sys
from typing import Optional

import jinja2
from jinja2.bccache import Bucket, FileSystemBytecodeCache


def cache_root() -> Optional[str]:
    base = os.environ.get("XDG_CACHE_HOME") or ""
    if not os.path.isabs(base):
        home = os.path.expanduser("~")
        if not os.path.isabs(home):
            return None
        base = os.path.join(home, ".cache")
    return os.path.join(base, "graphreport")


def _private_dir(path: str) -> bool:
    """Create `path` (0700) when missing; True when it is a real directory of ours that nobody else can write."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.lstat(path)
    except OSError:
        return False
    if not stat.S_ISDIR(st.st_mode) or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return False
    return not hasattr(os, "getuid") or st.st_uid == os.getuid()


def cache_dir() -> Optional[str]:
    """The directory for compiled templates, or None when no safe one is available."""
    if os.environ.get("GRAPHREPORT_NO_CACHE"):
        return None
    root = cache_root()
    if root is None:
        return None
    leaf = os.path.join(root, f"templates-jinja{jinja2.__version__}-py{sys.version_info[0]}{sys.version_info[1]}")
    if not (_private_dir(root) and _private_dir(leaf)):
        return None
    return leaf


class TemplateCache(FileSystemBytecodeCache):
    """Jinja's file cache, keyed by the options that shape the compiled code too, and never fatal."""

    def __init__(self, directory: str, options: str):
        super().__init__(directory, "%s.j2c")
        self.options = options
        self.loaded = self.stored = 0  # counts, for tests

    def get_cache_key(self, name: str, filename: Optional[str] = None) -> str:
        return hashlib.sha256(f"{name}\0{filename}\0{self.options}".encode("utf-8")).hexdigest()[:40]

    def load_bytecode(self, bucket: Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except Exception:  # noqa: BLE001 - a damaged entry is a cache miss
            bucket.reset()
        if bucket.code is not None:
            self.loaded += 1

    def dump_bytecode(self, bucket: Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
            self.stored += 1
        except Exception:  # noqa: BLE001 - read-only or full disk: the next run compiles again
            pass


def bytecode_cache(options: str) -> Optional[TemplateCache]:
    """A cache for an Environment whose code-shaping options are described by `options`, or None."""
    d = cache_dir()
    return TemplateCache(d, options) if d else None
