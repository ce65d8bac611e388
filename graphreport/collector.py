"""The cyclic garbage collector, paused while a big graph's model or report is built.

Reading a 200k-node graph and analysing it make millions of objects that live on, none of them in a
reference cycle: the collector, run every 100,000 allocations in the CLI's worker (watchdog.py), scans the
young ones again and again and frees nothing (about a tenth of the CPU of those phases). Paused, the work is
the same and the memory too (reference counting frees everything that is not in a cycle); cycles made
meanwhile are collected once it runs again.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def paused() -> Iterator[None]:
    """No cyclic collection inside the block (as it was after it)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
